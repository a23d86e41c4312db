from libc.stdint cimport int64_t

from _contract cimport PairList


cdef class Pairs:
    cdef PairList c
    cdef readonly object offsets, neighbors, shifts, vectors, distances
    cdef readonly object incoming_offsets, incoming
    cdef readonly object entry_gradient   # (n_entries, 3) scratch for force kernels
    cdef double *entry_gradient_data
    cpdef transpose(self)


cdef void refresh_pairs(PairList *pairs, const double *x, const double *cell,
                        int n_threads) noexcept nogil
cdef void gather_entry_gradients(const PairList *pairs, const double *grad_entry,
                                 bint skip_self_images, double *gradient, double *strain,
                                 int n_threads) noexcept nogil
cdef bint verlet_needs_rebuild(int64_t n, const double *x, const double *x_ref,
                               const double *cell, const double *cell_ref,
                               bint fully_periodic, double list_radius,
                               double skin) noexcept nogil
