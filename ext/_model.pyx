"""Fused prediction: energies, forces and strain derivative of a Potential in one pass over
the atoms (see ext/_model.pxi)."""
from libc.stdint cimport int32_t, int64_t

include "_model.pxi"


def evaluate(ModelData model, const int32_t[::1] species, const int64_t[::1] offsets,
             const int32_t[::1] neighbors, const double[:, ::1] vectors,
             const double[::1] distances, bint forces, bint skip_self_images, int n_threads):
    """(energies, gradient, strain derivative (3, 3), extrapolated count per atom); gradient
    and strain are None without `forces`."""
    cdef int64_t n_atoms = species.shape[0]
    cdef int64_t n_entries = neighbors.shape[0]
    energies = np.zeros(n_atoms)
    extrapolated = np.zeros(n_atoms, dtype=np.int32)
    gradient = np.zeros((n_atoms, 3))
    strain = np.zeros((3, 3))
    grad_entry = np.zeros((max(n_entries, 1), 3)) if forces else np.zeros((1, 3))
    cdef double[::1] e_view = energies
    cdef int32_t[::1] x_view = extrapolated
    cdef double[:, ::1] g_view = gradient
    cdef double[:, ::1] s_view = strain
    cdef double[:, ::1] ge_view = grad_entry
    cdef int64_t capacity = int(np.diff(np.asarray(offsets)).max()) if n_atoms else 1
    cdef int status
    cdef const double *vec = &vectors[0, 0] if n_entries else NULL
    cdef const double *dist = &distances[0] if n_entries else NULL
    cdef const int32_t *nbr = &neighbors[0] if n_entries else NULL
    if n_atoms == 0:
        return energies, gradient, strain, extrapolated
    with nogil:
        status = model_evaluate(&model.m, n_atoms, &species[0], &offsets[0], nbr, vec, dist,
                                capacity, forces, skip_self_images, &e_view[0],
                                &ge_view[0, 0], &g_view[0, 0], &s_view[0, 0], &x_view[0],
                                n_threads)
    if status != 0:
        raise MemoryError("fused model: cannot allocate per-thread work arrays")
    if not forces:
        return energies, None, None, extrapolated
    return energies, gradient, strain, extrapolated
