"""Atom-centred symmetry functions (n2p2 types 2, 3, 9) and their exact derivatives.

Definitions and ordering follow N2P2_FORMAT.md §3-§4; the Python layer
(fastpot/symmetry.py) sorts the functions into n2p2's order and builds the tables below.

Neighbour entries come from a NeighborList (CSR: offsets, neighbors, vectors, distances) with
D_n = r_n - r_i. Work is organised around what functions share:
- radial functions are looped per neighbour, grouped by neighbour element;
- angular functions share per-neighbour "factors" A_n = exp(-eta (R_n - rs)^2) f_c(R_n) for
  each distinct (eta, rs, rc), and are grouped by (type, factor) so that one pair (j, k)
  evaluates each factor product once and then only the cheap P^zeta per member.
The backward pass never forms dG/dR: per pair it folds the members' weights into four scalars
(d/dcos, d/dR_j, d/dR_k, d/dR_jk) and writes one gradient vector per neighbour entry.
Each centre atom writes only its own outputs, so results do not depend on the thread count.
"""
from libc.stdlib cimport malloc, free
from libc.stdint cimport int32_t, int64_t
from cython.parallel cimport prange, parallel


import numpy as np


include "_sf_kernel.pxi"


cdef class KernelTables:
    """Owns the table arrays and exposes them as a C struct to the kernels."""
    cdef Tables t
    cdef object arrays
    cdef public int max_factors
    cdef public int max_powers
    cdef public object source

    def __init__(self, int n_elements, int cutoff_type, double alpha, dict arrays):
        self.arrays = {key: np.ascontiguousarray(value) for key, value in arrays.items()}
        self.source = (n_elements, cutoff_type, alpha, self.arrays)
        fill_tables(&self.t, n_elements, cutoff_type, alpha, self.arrays)
        factor_offsets = self.arrays["factor_offsets"]
        self.max_factors = int(np.diff(factor_offsets).max()) if len(factor_offsets) > 1 else 0
        self.max_powers = int(np.diff(self.arrays["power_offsets"]).max())


def values(KernelTables tables, const int32_t[::1] species, const int64_t[::1] offsets,
           const int32_t[::1] neighbors, const double[:, ::1] vectors,
           const double[::1] distances, const int64_t[::1] row_start, double[::1] out,
           int n_threads):
    """Symmetry-function values of every atom: atom i's row starts at out[row_start[i]]
    (rows must be zeroed by the caller)."""
    cdef int64_t n_atoms = species.shape[0]
    cdef int64_t i, capacity
    cdef Scratch *scratch
    cdef int[::1] failed = np.zeros(1, dtype=np.intc)
    if n_atoms == 0 or neighbors.shape[0] == 0:
        return
    capacity = int(np.diff(np.asarray(offsets)).max())
    with nogil, parallel(num_threads=n_threads):
        scratch = scratch_new(capacity, tables.max_factors, tables.max_powers, tables.t.n_elements)
        for i in prange(n_atoms, schedule="dynamic", chunksize=4):
            if scratch == NULL:
                failed[0] = 1
                continue
            centre_values(i, &tables.t, scratch, &species[0], &offsets[0], &neighbors[0],
                          &vectors[0, 0], &distances[0], &out[row_start[i]])
        scratch_delete(scratch)
    if failed[0]:
        raise MemoryError("symmetry functions: cannot allocate per-thread scratch")


def entry_gradients(KernelTables tables, const int32_t[::1] species, const int64_t[::1] offsets,
                    const int32_t[::1] neighbors, const double[:, ::1] vectors,
                    const double[::1] distances, const int64_t[::1] row_start,
                    const double[::1] dEdG, double[:, ::1] grad_entry, int n_threads):
    """d(sum_i dEdG_i . G_i)/dD for every neighbour entry. Entries a centre does not use
    (beyond its cutoffs) must be zeroed by the caller."""
    cdef int64_t n_atoms = species.shape[0]
    cdef int64_t i, capacity
    cdef Scratch *scratch
    cdef int[::1] failed = np.zeros(1, dtype=np.intc)
    if n_atoms == 0 or neighbors.shape[0] == 0:
        return
    capacity = int(np.diff(np.asarray(offsets)).max())
    with nogil, parallel(num_threads=n_threads):
        scratch = scratch_new(capacity, tables.max_factors, tables.max_powers, tables.t.n_elements)
        for i in prange(n_atoms, schedule="dynamic", chunksize=4):
            if scratch == NULL:
                failed[0] = 1
                continue
            centre_backward(i, &tables.t, scratch, &species[0], &offsets[0], &neighbors[0],
                            &vectors[0, 0], &distances[0], &dEdG[row_start[i]],
                            &grad_entry[0, 0])
        scratch_delete(scratch)
    if failed[0]:
        raise MemoryError("symmetry functions: cannot allocate per-thread scratch")


def gather_gradient(const int64_t[::1] offsets, const int32_t[::1] neighbors,
                    const double[:, ::1] vectors, const double[:, ::1] grad_entry,
                    double[:, ::1] gradient, double[:, ::1] strain, bint skip_self_images=False):
    """Positions gradient and strain derivative from per-entry gradients (in entry order, so
    the sums are the same for any thread count): entry (i -> j) adds g to j and -g to i;
    the strain derivative is sum over entries of g (x) D.

    skip_self_images reproduces n2p2's nnp-predict (N2P2_FORMAT.md §8): for an entry that is
    an image of the centre itself, the +g part is dropped. That is not the gradient of the
    energy; it exists for digit-by-digit comparisons only."""
    cdef int64_t n_atoms = offsets.shape[0] - 1
    cdef int64_t i, p, j
    cdef int a, b
    cdef double w[9]
    for a in range(9):
        w[a] = 0.0
    with nogil:
        for i in range(n_atoms):
            for p in range(offsets[i], offsets[i + 1]):
                j = neighbors[p]
                for a in range(3):
                    if not (skip_self_images and j == i):
                        gradient[j, a] += grad_entry[p, a]
                    gradient[i, a] -= grad_entry[p, a]
                    for b in range(3):
                        w[3 * a + b] += grad_entry[p, a] * vectors[p, b]
    for a in range(3):
        for b in range(3):
            strain[a, b] += w[3 * a + b]


def derivatives(KernelTables tables, const int32_t[::1] species, const int64_t[::1] offsets,
                const int32_t[::1] neighbors, const double[:, ::1] vectors,
                const double[::1] distances, const int32_t[::1] n_functions,
                const int32_t[::1] slot_of_entry, const int32_t[::1] self_slot,
                const int64_t[::1] block_start,
                double[::1] out, const int64_t[::1] row_start, double[:, ::1] strain,
                int n_threads):
    """Stored derivatives: centre i's block out[block_start[i]:] is [slot][function][xyz]
    (zeroed by the caller); n_functions[i] is the number of functions of its element.
    strain[row_start[i] + s] gets the strain derivative of function s of centre i."""
    cdef int64_t n_atoms = species.shape[0]
    cdef int64_t i, capacity, max_sf
    cdef Scratch *scratch
    cdef double *local
    cdef int[::1] failed = np.zeros(1, dtype=np.intc)
    if n_atoms == 0 or neighbors.shape[0] == 0:
        return
    capacity = int(np.diff(np.asarray(offsets)).max())
    max_sf = int(np.asarray(n_functions).max())
    with nogil, parallel(num_threads=n_threads):
        scratch = scratch_new(capacity, tables.max_factors, tables.max_powers, tables.t.n_elements)
        local = <double *> malloc(3 * max_sf * capacity * sizeof(double))
        for i in prange(n_atoms, schedule="dynamic", chunksize=4):
            if scratch == NULL or local == NULL:
                failed[0] = 1
                continue
            centre_derivatives(i, &tables.t, scratch, &species[0], &offsets[0], &neighbors[0],
                               &vectors[0, 0], &distances[0], n_functions[i], local,
                               &slot_of_entry[0], self_slot[i], &out[block_start[i]],
                               &strain[row_start[i], 0])
        free(local)
        scratch_delete(scratch)
    if failed[0]:
        raise MemoryError("symmetry functions: cannot allocate per-thread scratch")
