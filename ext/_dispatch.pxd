from _contract cimport Error, KernelTable
from _committee cimport CommitteeEvaluate

cdef const KernelTable *kernels() except NULL
cdef int check(int status, const Error *error) except -1
cdef CommitteeEvaluate committee_kernel() except NULL
