"""What the compiled kernels know about OpenMP."""
from _omp cimport FASTPOT_HAVE_OPENMP, FASTPOT_NATIVE, omp_get_max_threads


def openmp_enabled():
    """True when the kernels were compiled with OpenMP."""
    return bool(FASTPOT_HAVE_OPENMP)


def max_threads():
    """OpenMP's default team size (honours OMP_NUM_THREADS); 1 without OpenMP."""
    return omp_get_max_threads()


def built_for_this_cpu():
    """True when the kernels were compiled with -march=native (FASTPOT_PORTABLE unset)."""
    return bool(FASTPOT_NATIVE)
