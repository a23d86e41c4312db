# Symmetry functions in factored form, n2p2 types 12, 13, 20-25 (ext/kernels/_sf_factored.pyx),
# for the per-centre passes of ext/kernels/_sf.pyx.
from libc.stdint cimport int64_t

from _contract cimport Factored


cdef struct Neighbours:
    # one centre's neighbours as ext/kernels/_sf.pyx gathers them: grouped by element, block
    # b is start[b]..start[b + 1]; D_n = (X, Y, Z)[n] = r_n - r_i, R = |D|
    int64_t n
    int n_elements
    int cutoff_type      # the global cutoff function (types 12 and 13)
    double alpha
    const int64_t *start
    const double *R
    const double *X
    const double *Y
    const double *Z
    const double *inv_R


cdef struct FactoredScratch:
    int64_t capacity     # neighbours per centre, at most (stride of F, dF)
    int64_t stride       # stride of the pair rows
    int n_rows
    double *F            # [factor][n]: radial factors of the current centre
    double *dF           # their slopes dF/dR
    double *weight       # [n]: Z of each neighbour
    double *acc          # [n]: radial backward sums
    int64_t *pair_j
    int64_t *pair_k
    double *rows


cdef FactoredScratch *factored_scratch_new(int64_t capacity,
                                           const Factored *ft) noexcept nogil
cdef void factored_scratch_delete(FactoredScratch *fs) noexcept nogil
cdef void factored_values(int e, const Factored *ft, const Neighbours *nb,
                          FactoredScratch *fs, double *G) noexcept nogil
cdef void factored_backward(int e, const Factored *ft, const Neighbours *nb,
                            FactoredScratch *fs, const double *c, double *gx, double *gy,
                            double *gz) noexcept nogil
cdef void factored_derivatives(int e, const Factored *ft, const Neighbours *nb,
                               FactoredScratch *fs, double *local) noexcept nogil
