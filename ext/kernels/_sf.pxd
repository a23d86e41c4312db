# Symmetry-function kernels of one instruction-set variant (ext/kernels/_sf.pyx), for the
# fused model (ext/kernels/_fused.pyx) and the kernel table.
from libc.stdint cimport int32_t, int64_t

from _contract cimport Error, PairList, Tables
from ._sf_factored cimport FactoredScratch


cdef struct KeptBatch:
    int64_t base          # element block (centre, a, b)
    int64_t count         # pairs
    int64_t rows          # where its rows start in Scratch.kept
    int64_t pairs         # where its (j, k) start in Scratch.kept_pairs


cdef struct Scratch:
    int64_t capacity      # neighbours per centre, at most (also the stride of s.rows)
    int64_t batch         # row stride of the pair rows (a batch holds at most BATCH pairs)
    int max_factors
    int max_powers        # distinct (lambda, zeta) per element block
    # neighbours of the current centre, sorted by element: block b is start[b]..start[b+1]
    double *R
    double *X
    double *Y
    double *Z
    double *inv_R         # 1 / R
    int64_t *entry
    int64_t *start
    # angular factors A[f * nn + n] and their R-derivatives
    double *A
    double *dA
    # their cutoff values C = f_c(R_n) and slopes dC, per factor
    double *C
    double *dC
    double *rows          # NEIGHBOR_ROWS x capacity
    # the current batch of neighbour pairs (j, k), j < k
    int64_t *pair_j
    int64_t *pair_k
    double *pair_rows     # PAIR_ROWS x batch
    # what centre_values_kept keeps for the derivatives of the current centre (growable)
    double *kept          # per batch: cos, R_jk, (P, dP) per power, (T, T_j, T_k, T_jk) per group
    int64_t kept_size
    int64_t kept_used
    int64_t *kept_pairs   # per batch: its j, then its k
    int64_t kept_pairs_size
    int64_t kept_pairs_used
    KeptBatch *kept_batches
    int64_t kept_batches_size
    int64_t n_kept_batches
    double *radial_slopes # dg/dR of each radial function at each neighbour of its block
    int64_t radial_slopes_size
    FactoredScratch *factored  # types 12, 13, 20-25 (made when first needed)



cdef Scratch *scratch_new(int64_t capacity, int max_factors, int max_powers,
                          int n_elements) noexcept nogil
cdef void scratch_delete(Scratch *s) noexcept nogil
cdef int centre_values(int64_t i, const Tables *t, Scratch *s, const int32_t *species,
                        const PairList *pairs, double *G) noexcept nogil
cdef int centre_values_kept(int64_t i, const Tables *t, Scratch *s, const int32_t *species,
                            const PairList *pairs, double *G) noexcept nogil
cdef void centre_backward(int64_t i, const Tables *t, Scratch *s, const int32_t *species,
                          const PairList *pairs, const double *c,
                          double *grad_entry) noexcept nogil

cdef int sf_values(const Tables *t, const int32_t *species, const PairList *pairs,
                   const int64_t *row_start, double *out, int n_threads,
                   Error *error) noexcept nogil
cdef int sf_backward(const Tables *t, const int32_t *species, const PairList *pairs,
                     const int64_t *row_start, const double *dEdG, double *grad_entry,
                     int n_threads, Error *error) noexcept nogil
cdef int sf_derivatives(const Tables *t, const int32_t *species, const PairList *pairs,
                        const int32_t *slot_of_entry, const int32_t *self_slot,
                        const int64_t *block_start, double *blocks, const int64_t *row_start,
                        double *strain, int n_threads, Error *error) noexcept nogil
