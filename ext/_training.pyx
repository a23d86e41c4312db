"""Contractions of stored symmetry-function derivatives over a whole training set.

The derivatives of centre i are a block B_i[slot][s][xyz] = dG_is / dr_(atom of slot), for
the atoms ("slots") it depends on (fastpot/symmetry.py StoredDerivatives, concatenated over
structures with global atom indices). Per-atom vectors over functions (dE/dG, and the
projections below) use the element-grouped flat layout: atom a's row starts at row_start[a].

- forces: F_j = -sum_i sum_s c_is B_i[slot(j)][s]  (c = dE/dG), parallel over structures so
  that each structure's forces are summed by one thread in a fixed order;
- projection: v_is = sum_slot u_(atom of slot) . B_i[slot][s], parallel over centres (each
  writes only its own row). With u = dLoss/dF this is what the force term of the loss
  gradient needs (see fastpot/training.py).
"""
from libc.stdint cimport int32_t, int64_t
from cython.parallel cimport prange


def forces(const int64_t[::1] structure_start, const int64_t[::1] slot_offsets,
           const int64_t[::1] slot_atoms, const int64_t[::1] block_start,
           const double[::1] blocks, const int32_t[::1] n_functions,
           const int64_t[::1] row_start, const double[::1] c, double[:, ::1] out,
           int n_threads):
    """out[j] = -sum_i sum_s c[row_start[i] + s] B_i[slot(j)][s] (out zeroed by the caller)."""
    cdef int64_t n_structures = structure_start.shape[0] - 1
    cdef int64_t st, i, slot, j, s, base, n_sf, r
    cdef double fx, fy, fz, w
    for st in prange(n_structures, nogil=True, schedule="dynamic", num_threads=n_threads):
        for i in range(structure_start[st], structure_start[st + 1]):
            n_sf = n_functions[i]
            r = row_start[i]
            base = block_start[i]
            for slot in range(slot_offsets[i], slot_offsets[i + 1]):
                j = slot_atoms[slot]
                fx = 0.0
                fy = 0.0
                fz = 0.0
                for s in range(n_sf):
                    w = c[r + s]
                    fx = fx + w * blocks[base]
                    fy = fy + w * blocks[base + 1]
                    fz = fz + w * blocks[base + 2]
                    base = base + 3
                out[j, 0] -= fx
                out[j, 1] -= fy
                out[j, 2] -= fz


def project(const int64_t[::1] slot_offsets, const int64_t[::1] slot_atoms,
            const int64_t[::1] block_start, const double[::1] blocks,
            const int32_t[::1] n_functions, const int64_t[::1] row_start,
            const double[:, ::1] u, double[::1] v, int n_threads):
    """v[row_start[i] + s] = sum_slot u[atom(slot)] . B_i[slot][s] for every centre i."""
    cdef int64_t n_atoms = n_functions.shape[0]
    cdef int64_t i, slot, j, s, base, n_sf, r
    cdef double ux, uy, uz
    for i in prange(n_atoms, nogil=True, schedule="dynamic", chunksize=16,
                    num_threads=n_threads):
        n_sf = n_functions[i]
        r = row_start[i]
        for s in range(n_sf):
            v[r + s] = 0.0
        base = block_start[i]
        for slot in range(slot_offsets[i], slot_offsets[i + 1]):
            j = slot_atoms[slot]
            ux = u[j, 0]
            uy = u[j, 1]
            uz = u[j, 2]
            if ux == 0.0 and uy == 0.0 and uz == 0.0:
                base = base + 3 * n_sf
                continue
            for s in range(n_sf):
                v[r + s] += ux * blocks[base] + uy * blocks[base + 1] + uz * blocks[base + 2]
                base = base + 3
