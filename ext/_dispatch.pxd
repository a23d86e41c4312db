from _contract cimport Error, KernelTable

cdef const KernelTable *kernels() except NULL
cdef int check(int status, const Error *error) except -1
