cdef extern from "_omp_compat.h" nogil:
    int FASTPOT_HAVE_OPENMP
    int omp_get_max_threads()
    int omp_get_thread_num()
    int omp_get_num_threads()
    long long fastpot_atomic_add(long long *counter, long long v)
