/* The instruction sets this CPU (and its operating system) can run, for choosing a kernel
 * variant at import: 0 baseline (x86-64-v2, or any arm64), 1 AVX2 (x86-64-v3), 2 AVX-512
 * (x86-64-v4). GCC's and clang's __builtin_cpu_supports also check that the OS saves the
 * wide registers. */
#ifndef FASTPOT_CPU_H
#define FASTPOT_CPU_H

static int fastpot_cpu_level(void) {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
    if (__builtin_cpu_supports("x86-64-v4")) return 2;
    if (__builtin_cpu_supports("x86-64-v3")) return 1;
#else
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2")
        && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi2"))
        return 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
        && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2")
        && __builtin_cpu_supports("f16c"))
        return 1;
#endif
#endif
    return 0;
}

#endif
