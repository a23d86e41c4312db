# The committee kernel (ext/kernels/_fused.pyx committee_evaluate): K models sharing one set
# of symmetry functions and scaling, evaluated in one pass over the atoms. Its type lives
# here because the kernel table (ext/_contract.pxd) has no slot for it; ext/_dispatch.pyx
# takes it from the installed variant.
from libc.stdint cimport int32_t

from _contract cimport Error, Model, PairList

ctypedef int (*CommitteeEvaluate)(const Model *members, int n_members, const int32_t *species,
                                  const PairList *pairs, double *energies,
                                  int32_t *extrapolated, double *grad_mean,
                                  double *grad_members, int n_threads,
                                  Error *error) noexcept nogil
