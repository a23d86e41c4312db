/* OpenMP when the build has it, single-thread stand-ins when it does not. */
#ifndef FASTPOT_OMP_COMPAT_H
#define FASTPOT_OMP_COMPAT_H
#ifdef _OPENMP
#include <omp.h>
#define FASTPOT_HAVE_OPENMP 1
#else
#define FASTPOT_HAVE_OPENMP 0
static inline int omp_get_max_threads(void) { return 1; }
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_threads(void) { return 1; }
#endif

/* Add v to *counter and return the new value, atomically across threads. */
#include <stdint.h>
static inline long long fastpot_atomic_add(long long *counter, long long v) {
    long long result;
#ifdef _OPENMP
    #pragma omp atomic capture
    result = *counter += v;
#else
    result = *counter += v;
#endif
    return result;
}

#endif
