"""What the compiled code knows about OpenMP and the CPU it runs on."""
from _omp cimport FASTPOT_HAVE_OPENMP


cdef extern from "_cpu.h" nogil:
    int fastpot_cpu_level()


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(FASTPOT_HAVE_OPENMP)


def cpu_level():
    """0: baseline only, 1: AVX2 (x86-64-v3), 2: AVX-512 (x86-64-v4)."""
    return fastpot_cpu_level()
