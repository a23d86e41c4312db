"""Cell-list neighbour search: every pair (i, j, S) with |r_j + S.cell - r_i| < cutoff.

The Python layer (fastpot/neighbors.py) validates the input and chooses the binning frame;
this module only does arithmetic on arrays it is handed.

How it works
- Each atom gets fractional coordinates in the binning frame. Periodic directions are
  wrapped into [0, 1) (the integer wrap is remembered, so shifts are reported against the
  caller's original positions); non-periodic directions are shrink-wrapped to the atoms' extent.
- Atoms are counting-sorted into bins (a few per cutoff length, never more bins than atoms),
  and their wrapped positions are copied in bin order so the inner loop streams memory.
- For each centre atom the bins within `reach` bins in every direction are visited; a bin index
  outside a periodic range is folded back and becomes a lattice shift, which is how cutoffs
  longer than the cell find many images of one atom (its own included).
- Centres are processed in fixed chunks of consecutive atoms, in parallel. Each chunk owns a
  growable buffer; buffers are concatenated in chunk order, so the output order depends on the
  input alone, never on the number of threads.

The list then lives in a `Pairs` object (the C struct PairList of ext/_contract.pxd plus the
arrays behind it) that every other kernel takes. This module also holds what is done to a
list as atoms move: `refresh_pairs` (new vectors for the same pairs), `verlet_needs_rebuild`
(the one criterion for searching again) and `gather_entry_gradients` (per-entry gradients
summed into atoms and the strain derivative, the last step of every force evaluation).
"""
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memcpy
from libc.math cimport floor, sqrt
from libc.stdint cimport int32_t, int64_t
from cython.parallel cimport prange

from _contract cimport (PairList, STATUS_OK, STATUS_NO_MEMORY, STATUS_TOO_MANY_PAIRS,
                       STATUS_INTERRUPTED)
from _interrupt cimport first_look, signal_pending, raise_pending
from _omp cimport fastpot_atomic_add
from _parallel cimport team_size

import numpy as np

cdef enum:
    CHUNK = 256  # centres per work unit


cdef struct PairChunk:
    int64_t n
    int64_t capacity
    int32_t *j
    int32_t *shift
    double *vector
    double *distance


cdef int reserve(PairChunk *chunk, int64_t needed, bint want_shift, bint want_vector,
                 bint want_distance) noexcept nogil:
    """Make room for `needed` pairs; returns a status code."""
    cdef int64_t capacity = chunk.capacity
    cdef void *p
    if needed <= capacity:
        return STATUS_OK
    if capacity < 1024:
        capacity = 1024
    while capacity < needed:
        capacity *= 2
    p = realloc(chunk.j, capacity * sizeof(int32_t))
    if p == NULL:
        return STATUS_NO_MEMORY
    chunk.j = <int32_t *> p
    if want_shift:
        p = realloc(chunk.shift, 3 * capacity * sizeof(int32_t))
        if p == NULL:
            return STATUS_NO_MEMORY
        chunk.shift = <int32_t *> p
    if want_vector:
        p = realloc(chunk.vector, 3 * capacity * sizeof(double))
        if p == NULL:
            return STATUS_NO_MEMORY
        chunk.vector = <double *> p
    if want_distance:
        p = realloc(chunk.distance, capacity * sizeof(double))
        if p == NULL:
            return STATUS_NO_MEMORY
        chunk.distance = <double *> p
    chunk.capacity = capacity
    return STATUS_OK


cdef inline int floor_div(int a, int b) noexcept nogil:
    """Floor division for b > 0 (C's / truncates towards zero)."""
    cdef int q = a / b
    if a % b != 0 and a < 0:
        q -= 1
    return q


cdef int search_chunk(
    int64_t first, int64_t last, PairChunk *chunk, const double *positions,
    const double *wrapped, const int32_t *wrap, const int32_t *atom_bin, const double *bin_coord,
    const double *bin_width, double metric_floor,
    const int64_t *bin_start, const int32_t *bin_atoms, const double *sorted_positions,
    const double *sorted_original, const int32_t *sorted_wrap,
    const double *cell, const int32_t *periodic, const int32_t *nbins, const int32_t *reach,
    double cutoff, bint self_interaction, bint want_shift, bint want_vector,
    bint want_distance, int64_t *counts, long long *total_pairs, int64_t max_pairs,
) noexcept nogil:
    """Find the neighbours of centres first..last-1, appending them to `chunk`."""
    cdef double cutoff2 = cutoff * cutoff
    # candidates are screened on wrapped positions with a little slack, then decided exactly
    cdef double loose_cutoff2 = cutoff2 * (1.0 + 1e-8)
    cdef int64_t i, m, p, bin_index, reported = 0
    cdef int32_t j, b0, b1, b2, o0, o1, o2, n0, n1, n2, s0, s1, s2, t0, t1, t2, status
    cdef double xi, yi, zi, sx, sy, sz, dx, dy, dz, r2
    cdef int width0 = 2 * reach[0] + 1, width1 = 2 * reach[1] + 1, width2 = 2 * reach[2] + 1
    # Per-chunk scratch: for each direction and offset, the folded bin and its lattice shift,
    # and the squared gap between the centre atom and that bin along the direction.
    cdef int32_t *folded = <int32_t *> malloc(2 * (width0 + width1 + width2) * sizeof(int32_t))
    cdef double *gaps = <double *> malloc((width0 + width1 + width2) * sizeof(double))
    cdef int32_t *fold0
    cdef int32_t *fold1
    cdef int32_t *fold2
    cdef double *gap0
    cdef double *gap1
    cdef double *gap2
    cdef double gap01, prune2
    if folded == NULL or gaps == NULL:
        free(folded)
        free(gaps)
        return STATUS_NO_MEMORY
    fold0 = folded
    fold1 = fold0 + 2 * width0
    fold2 = fold1 + 2 * width1
    gap0 = gaps
    gap1 = gap0 + width0
    gap2 = gap1 + width1
    # A bin whose lower bound on the distance exceeds this cannot hold a neighbour.
    prune2 = loose_cutoff2 / metric_floor
    status = STATUS_OK
    for i in range(first, last):
        xi = wrapped[3 * i]
        yi = wrapped[3 * i + 1]
        zi = wrapped[3 * i + 2]
        b0 = atom_bin[3 * i]
        b1 = atom_bin[3 * i + 1]
        b2 = atom_bin[3 * i + 2]
        fold_offsets(b0, bin_coord[3 * i], bin_width[0], reach[0], nbins[0], periodic[0],
                     fold0, gap0)
        fold_offsets(b1, bin_coord[3 * i + 1], bin_width[1], reach[1], nbins[1], periodic[1],
                     fold1, gap1)
        fold_offsets(b2, bin_coord[3 * i + 2], bin_width[2], reach[2], nbins[2], periodic[2],
                     fold2, gap2)
        p = chunk.n
        for o0 in range(width0):
            n0 = fold0[2 * o0]
            if n0 < 0 or gap0[o0] > prune2:
                continue
            s0 = fold0[2 * o0 + 1]
            for o1 in range(width1):
                n1 = fold1[2 * o1]
                gap01 = gap0[o0] + gap1[o1]
                if n1 < 0 or gap01 > prune2:
                    continue
                s1 = fold1[2 * o1 + 1]
                for o2 in range(width2):
                    n2 = fold2[2 * o2]
                    if n2 < 0 or gap01 + gap2[o2] > prune2:
                        continue
                    s2 = fold2[2 * o2 + 1]
                    sx = s0 * cell[0] + s1 * cell[3] + s2 * cell[6] - xi
                    sy = s0 * cell[1] + s1 * cell[4] + s2 * cell[7] - yi
                    sz = s0 * cell[2] + s1 * cell[5] + s2 * cell[8] - zi
                    bin_index = (<int64_t> n0 * nbins[1] + n1) * nbins[2] + n2
                    if chunk.n + (bin_start[bin_index + 1] - bin_start[bin_index]) > chunk.capacity:
                        status = reserve(chunk, chunk.n + bin_start[bin_index + 1]
                                         - bin_start[bin_index], want_shift, want_vector,
                                         want_distance)
                        if status != STATUS_OK:
                            free(folded)
                            free(gaps)
                            return status
                    for m in range(bin_start[bin_index], bin_start[bin_index + 1]):
                        dx = sorted_positions[3 * m] + sx
                        dy = sorted_positions[3 * m + 1] + sy
                        dz = sorted_positions[3 * m + 2] + sz
                        r2 = dx * dx + dy * dy + dz * dz
                        if r2 >= loose_cutoff2:
                            continue
                        j = bin_atoms[m]
                        if j == i and s0 == 0 and s1 == 0 and s2 == 0 and not self_interaction:
                            continue
                        # The shift against the caller's (unwrapped) positions, and the vector
                        # recomputed from those: wrapping far from the origin costs digits.
                        t0 = s0 + wrap[3 * i] - sorted_wrap[3 * m]
                        t1 = s1 + wrap[3 * i + 1] - sorted_wrap[3 * m + 1]
                        t2 = s2 + wrap[3 * i + 2] - sorted_wrap[3 * m + 2]
                        dx = (sorted_original[3 * m] - positions[3 * i]
                              + (t0 * cell[0] + t1 * cell[3] + t2 * cell[6]))
                        dy = (sorted_original[3 * m + 1] - positions[3 * i + 1]
                              + (t0 * cell[1] + t1 * cell[4] + t2 * cell[7]))
                        dz = (sorted_original[3 * m + 2] - positions[3 * i + 2]
                              + (t0 * cell[2] + t1 * cell[5] + t2 * cell[8]))
                        r2 = dx * dx + dy * dy + dz * dz
                        if r2 >= cutoff2:
                            continue
                        chunk.j[chunk.n] = j
                        if want_shift:
                            chunk.shift[3 * chunk.n] = t0
                            chunk.shift[3 * chunk.n + 1] = t1
                            chunk.shift[3 * chunk.n + 2] = t2
                        if want_vector:
                            chunk.vector[3 * chunk.n] = dx
                            chunk.vector[3 * chunk.n + 1] = dy
                            chunk.vector[3 * chunk.n + 2] = dz
                        if want_distance:
                            chunk.distance[chunk.n] = r2
                        chunk.n += 1
        counts[i] = chunk.n - p
        # Tell the other threads how many pairs exist so far, so a runaway cutoff stops early.
        if chunk.n - reported > 65536 or i == last - 1:
            if fastpot_atomic_add(total_pairs, chunk.n - reported) > max_pairs:
                free(folded)
                free(gaps)
                return STATUS_TOO_MANY_PAIRS
            reported = chunk.n
    free(folded)
    free(gaps)
    return STATUS_OK


cdef inline void fold_offsets(int32_t centre_bin, double coord, double width, int32_t reach,
                              int32_t nbins, int32_t periodic, int32_t *out,
                              double *gap2) noexcept nogil:
    """For offsets -reach..reach around centre_bin: (folded bin or -1, lattice shift), and the
    squared distance (in units where a bin is `width` long) from the atom at continuous bin
    coordinate `coord` to that bin."""
    cdef int32_t o, b, s
    cdef double gap
    for o in range(-reach, reach + 1):
        b = centre_bin + o
        if o > 0:
            gap = (b - coord) * width
        elif o < 0:
            gap = (coord - (b + 1)) * width
        else:
            gap = 0.0
        if gap < 0.0:
            gap = 0.0
        gap2[o + reach] = gap * gap
        if periodic:
            s = floor_div(b, nbins)
            b -= s * nbins
        else:
            s = 0
            if b < 0 or b >= nbins:
                b = -1
        out[2 * (o + reach)] = b
        out[2 * (o + reach) + 1] = s


def search(double[:, ::1] positions, plan, double cutoff, bint self_interaction,
           str quantities, int64_t max_pairs, int n_threads):
    """Run the search. Returns (offsets, j, shift, vector, distance, status); of shift
    ("S"), vector ("D") and distance ("d") only those in `quantities` are made, the others
    are None. `plan` is the binning plan of fastpot/neighbors.py (_BinningPlan): `lattice`
    (periodic rows of the cell, zero otherwise), `to_frame` maps Cartesian rows to frame
    coordinates (r @ to_frame); frame coordinate a of an atom becomes bin
    floor((s_a - origin_a) / extent_a * nbins_a); `bin_width` is each direction's bin width
    in a length unit u such that |r|^2 >= metric_floor * |u|^2, which lets the search skip
    bins that lie wholly beyond the cutoff."""
    cdef double[:, ::1] cell = plan.lattice
    cdef double[:, ::1] to_frame = plan.to_frame
    cdef double[::1] frame_origin = plan.origin
    cdef double[::1] frame_extent = plan.extent
    cdef int32_t[::1] periodic = plan.periodic
    cdef int32_t[::1] nbins = plan.nbins
    cdef int32_t[::1] reach = plan.reach
    cdef double[::1] bin_width = plan.bin_width
    cdef double metric_floor = plan.metric_floor
    cdef bint want_shift = "S" in quantities
    cdef bint want_vector = "D" in quantities
    cdef bint want_distance = "d" in quantities
    cdef int64_t n_atoms = positions.shape[0]
    cdef int64_t n_bins = <int64_t> nbins[0] * nbins[1] * nbins[2]
    cdef int64_t i, m, a, b, n_chunks, c, total
    cdef double s
    cdef int status = STATUS_OK
    cdef long long total_pairs = 0

    wrapped_arr = np.empty((n_atoms, 3), dtype=np.float64)
    wrap_arr = np.zeros((n_atoms, 3), dtype=np.int32)
    atom_bin_arr = np.empty((n_atoms, 3), dtype=np.int32)
    bin_coord_arr = np.empty((n_atoms, 3), dtype=np.float64)
    bin_start_arr = np.zeros(n_bins + 1, dtype=np.int64)
    bin_atoms_arr = np.empty(n_atoms, dtype=np.int32)
    sorted_arr = np.empty((n_atoms, 3), dtype=np.float64)
    sorted_original_arr = np.empty((n_atoms, 3), dtype=np.float64)
    sorted_wrap_arr = np.empty((n_atoms, 3), dtype=np.int32)
    counts_arr = np.zeros(n_atoms, dtype=np.int64)
    cdef double[:, ::1] wrapped = wrapped_arr
    cdef int32_t[:, ::1] wrap = wrap_arr
    cdef int32_t[:, ::1] atom_bin = atom_bin_arr
    cdef double[:, ::1] bin_coord = bin_coord_arr
    cdef int64_t[::1] bin_start = bin_start_arr
    cdef int32_t[::1] bin_atoms = bin_atoms_arr
    cdef double[:, ::1] sorted_positions = sorted_arr
    cdef double[:, ::1] sorted_original = sorted_original_arr
    cdef int32_t[:, ::1] sorted_wrap = sorted_wrap_arr
    cdef int64_t[::1] counts = counts_arr
    cdef int64_t[::1] fill
    cdef int32_t w, b_a
    cdef double q
    cdef int64_t linear

    with nogil:
        # 1. wrap periodic directions, bin every atom
        for i in range(n_atoms):
            for a in range(3):
                wrapped[i, a] = positions[i, a]
            for a in range(3):
                s = (positions[i, 0] * to_frame[0, a] + positions[i, 1] * to_frame[1, a]
                     + positions[i, 2] * to_frame[2, a])
                if periodic[a]:
                    w = <int32_t> floor(s)
                    s -= w
                    wrap[i, a] = w
                    for b in range(3):
                        wrapped[i, b] -= w * cell[a, b]
                q = (s - frame_origin[a]) / frame_extent[a] * nbins[a]
                b_a = <int32_t> floor(q)
                if b_a < 0:
                    b_a = 0
                if b_a >= nbins[a]:
                    b_a = nbins[a] - 1
                atom_bin[i, a] = b_a
                bin_coord[i, a] = q
            linear = (<int64_t> atom_bin[i, 0] * nbins[1] + atom_bin[i, 1]) * nbins[2] + atom_bin[i, 2]
            bin_start[linear + 1] += 1
        # 2. counting sort into bins, positions copied in bin order
        for b in range(n_bins):
            bin_start[b + 1] += bin_start[b]
    fill_arr = bin_start_arr[:-1].copy()
    fill = fill_arr
    with nogil:
        for i in range(n_atoms):
            linear = (<int64_t> atom_bin[i, 0] * nbins[1] + atom_bin[i, 1]) * nbins[2] + atom_bin[i, 2]
            m = fill[linear]
            fill[linear] += 1
            bin_atoms[m] = <int32_t> i
            for a in range(3):
                sorted_positions[m, a] = wrapped[i, a]
                sorted_original[m, a] = positions[i, a]
                sorted_wrap[m, a] = wrap[i, a]

    # 3. search, chunk by chunk
    n_chunks = (n_atoms + CHUNK - 1) // CHUNK
    cdef PairChunk *chunks = <PairChunk *> malloc(max(n_chunks, 1) * sizeof(PairChunk))
    if chunks == NULL:
        raise MemoryError("neighbour search: cannot allocate chunk table")
    chunk_status_arr = np.zeros(max(n_chunks, 1), dtype=np.int32)
    cdef int32_t[::1] chunk_status = chunk_status_arr
    for c in range(n_chunks):
        chunks[c].n = 0
        chunks[c].capacity = 0
        chunks[c].j = NULL
        chunks[c].shift = NULL
        chunks[c].vector = NULL
        chunks[c].distance = NULL
    cdef double next_look[1]
    cdef int stop[1]
    next_look[0] = first_look()
    stop[0] = 0
    try:
        for c in prange(n_chunks, nogil=True, schedule="dynamic", num_threads=n_threads):
            if stop[0]:  # Ctrl-C: the remaining chunks are skipped
                chunk_status[c] = STATUS_INTERRUPTED
                continue
            chunk_status[c] = search_chunk(
                c * CHUNK, min((c + 1) * CHUNK, n_atoms), &chunks[c], &positions[0, 0],
                &wrapped[0, 0], &wrap[0, 0], &atom_bin[0, 0], &bin_coord[0, 0], &bin_width[0],
                metric_floor, &bin_start[0], &bin_atoms[0],
                &sorted_positions[0, 0], &sorted_original[0, 0], &sorted_wrap[0, 0], &cell[0, 0], &periodic[0], &nbins[0], &reach[0],
                cutoff, self_interaction, want_shift, want_vector, want_distance,
                &counts[0], &total_pairs, max_pairs)
            if signal_pending(next_look):
                stop[0] = 1
        if stop[0]:
            raise_pending()
        for c in range(n_chunks):
            if chunk_status[c] != STATUS_OK:
                status = chunk_status[c]
                if status == STATUS_NO_MEMORY:
                    break
        if status != STATUS_OK:
            return None, None, None, None, None, status

        # 4. concatenate chunk buffers in chunk order
        offsets_arr = np.zeros(n_atoms + 1, dtype=np.int64)
        np.cumsum(counts_arr, out=offsets_arr[1:])
        total = offsets_arr[n_atoms]
        j_arr = np.empty(total, dtype=np.int32)
        shift_arr = np.empty((total, 3), dtype=np.int32) if want_shift else None
        vector_arr = np.empty((total, 3), dtype=np.float64) if want_vector else None
        distance_arr = np.empty(total, dtype=np.float64) if want_distance else None
        _concatenate(chunks, n_chunks, offsets_arr, j_arr, shift_arr, vector_arr, distance_arr,
                     n_threads)
        if want_distance:
            np.sqrt(distance_arr, out=distance_arr)
        return offsets_arr, j_arr, shift_arr, vector_arr, distance_arr, STATUS_OK
    finally:
        for c in range(n_chunks):
            free(chunks[c].j)
            free(chunks[c].shift)
            free(chunks[c].vector)
            free(chunks[c].distance)
        free(chunks)


cdef _concatenate(PairChunk *chunks, int64_t n_chunks, int64_t[::1] offsets, int32_t[::1] j,
                  shift_arr, vector_arr, distance_arr, int n_threads):
    cdef int32_t *shift = NULL
    cdef double *vector = NULL
    cdef double *distance = NULL
    cdef int32_t[:, ::1] shift_view
    cdef double[:, ::1] vector_view
    cdef double[::1] distance_view
    cdef int64_t c, start, n
    if j.shape[0] == 0:
        return
    if shift_arr is not None:
        shift_view = shift_arr
        shift = &shift_view[0, 0]
    if vector_arr is not None:
        vector_view = vector_arr
        vector = &vector_view[0, 0]
    if distance_arr is not None:
        distance_view = distance_arr
        distance = &distance_view[0]
    for c in prange(n_chunks, nogil=True, schedule="static", num_threads=n_threads):
        start = offsets[c * CHUNK]
        n = chunks[c].n
        if n == 0:
            continue
        memcpy(&j[start], chunks[c].j, n * sizeof(int32_t))
        if shift != NULL:
            memcpy(&shift[3 * start], chunks[c].shift, 3 * n * sizeof(int32_t))
        if vector != NULL:
            memcpy(&vector[3 * start], chunks[c].vector, 3 * n * sizeof(double))
        if distance != NULL:
            memcpy(&distance[start], chunks[c].distance, n * sizeof(double))


# -- the list as a kernel argument ------------------------------------------------------

cdef class Pairs:
    """A full neighbour list in CSR layout (see fastpot.NeighborList) as the kernels take it:
    the arrays, the C struct pointing into them, the transposed list (for each atom, the
    entries that have it as neighbour) and a scratch array of per-entry gradients."""

    def __init__(self, offsets, neighbors, shifts, vectors, distances):
        self.offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        self.neighbors = np.ascontiguousarray(neighbors, dtype=np.int32)
        self.shifts = np.ascontiguousarray(shifts, dtype=np.int32).reshape(-1, 3)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float64).reshape(-1, 3)
        self.distances = np.ascontiguousarray(distances, dtype=np.float64)
        n_atoms = len(self.offsets) - 1
        n_entries = len(self.neighbors)
        if (n_atoms < 0 or self.offsets[0] != 0 or self.offsets[n_atoms] != n_entries
                or len(self.shifts) != n_entries or len(self.vectors) != n_entries
                or len(self.distances) != n_entries):
            raise ValueError("inconsistent neighbour-list arrays")
        counts = np.diff(self.offsets)
        self.incoming_offsets = None  # made by transpose() when forces need them
        self.incoming = None
        self.entry_gradient = np.empty((max(n_entries, 1), 3))
        self.entry_gradient_data = <double *> _address(self.entry_gradient)
        self.c.n_atoms = n_atoms
        self.c.n_entries = n_entries
        self.c.max_row = int(counts.max()) if n_atoms else 0
        self.c.offsets = <const int64_t *> _address(self.offsets)
        self.c.neighbors = <const int32_t *> _address(self.neighbors)
        self.c.shifts = <const int32_t *> _address(self.shifts)
        self.c.vectors = <double *> _address(self.vectors)
        self.c.distances = <double *> _address(self.distances)
        self.c.incoming_offsets = NULL
        self.c.incoming = NULL

    cpdef transpose(self):
        """Make the transposed list (for each atom, the entries that have it as neighbour, in
        increasing entry order) that gather_entry_gradients needs; once per list."""
        if self.incoming is not None:
            return
        cdef int64_t n = self.c.n_atoms, p, a
        offsets_arr = np.zeros(n + 1, dtype=np.int64)
        incoming_arr = np.empty(max(self.c.n_entries, 1), dtype=np.int64)
        cdef int64_t[::1] start = offsets_arr
        cdef int64_t[::1] incoming = incoming_arr
        cdef const int32_t *j = self.c.neighbors
        with nogil:
            # a counting sort by neighbour, stable: O(entries)
            for p in range(self.c.n_entries):
                start[j[p] + 1] += 1
            for a in range(n):
                start[a + 1] += start[a]
            for p in range(self.c.n_entries):
                a = j[p]
                incoming[start[a]] = p
                start[a] += 1
            for a in range(n, 0, -1):
                start[a] = start[a - 1]
            start[0] = 0
        self.incoming_offsets = offsets_arr
        self.incoming = incoming_arr
        self.c.incoming_offsets = <const int64_t *> _address(self.incoming_offsets)
        self.c.incoming = <const int64_t *> _address(self.incoming)

    def refresh(self, double[:, ::1] positions, double[:, ::1] cell, int n_threads):
        """New vectors and distances of the same pairs for new positions and cell (the
        Verlet-list update: no search)."""
        if positions.shape[0] != self.c.n_atoms:
            raise ValueError(f"{positions.shape[0]} positions for a list of {self.c.n_atoms} atoms")
        with nogil:
            refresh_pairs(&self.c, &positions[0, 0], &cell[0, 0], n_threads)

    def gather(self, bint skip_self_images=False, int n_threads=1):
        """(gradient (n_atoms, 3), strain derivative (3, 3)) from the per-entry gradients in
        `entry_gradient` (see gather_entry_gradients)."""
        self.transpose()
        gradient = np.empty((self.c.n_atoms, 3))
        strain = np.zeros((3, 3))
        cdef double[:, ::1] g = gradient
        cdef double[:, ::1] w = strain
        if self.c.n_atoms:
            with nogil:
                gather_entry_gradients(&self.c, self.entry_gradient_data, skip_self_images,
                                       &g[0, 0], &w[0, 0], n_threads)
        return gradient, strain


cdef size_t _address(object array) except 0:
    """Address of a C-contiguous array's data (never 0, also for empty arrays)."""
    cdef size_t address = array.__array_interface__["data"][0]
    return address if address != 0 else <size_t> &_EMPTY


cdef double _EMPTY = 0.0


cdef void refresh_pairs(PairList *pairs, const double *x, const double *cell,
                        int n_threads) noexcept nogil:
    """D = r_j - r_i + S cell and |D| for every entry, in parallel over centres."""
    cdef int64_t i, p, j
    cdef const int32_t *S
    cdef double dx, dy, dz
    for i in prange(pairs.n_atoms, schedule="static",
                    num_threads=team_size(pairs.n_atoms, 512, n_threads)):
        for p in range(pairs.offsets[i], pairs.offsets[i + 1]):
            j = pairs.neighbors[p]
            S = &pairs.shifts[3 * p]
            dx = x[3 * j] - x[3 * i] + S[0] * cell[0] + S[1] * cell[3] + S[2] * cell[6]
            dy = x[3 * j + 1] - x[3 * i + 1] + S[0] * cell[1] + S[1] * cell[4] + S[2] * cell[7]
            dz = x[3 * j + 2] - x[3 * i + 2] + S[0] * cell[2] + S[1] * cell[5] + S[2] * cell[8]
            pairs.vectors[3 * p] = dx
            pairs.vectors[3 * p + 1] = dy
            pairs.vectors[3 * p + 2] = dz
            pairs.distances[p] = sqrt(dx * dx + dy * dy + dz * dz)


cdef enum:
    GATHER_CHUNK = 256   # atoms per strain accumulator


cdef void gather_entry_gradients(const PairList *pairs, const double *grad_entry,
                                 bint skip_self_images, double *gradient, double *strain,
                                 int n_threads) noexcept nogil:
    """Gradient with respect to positions (n_atoms x 3, overwritten) and strain derivative
    (3 x 3, added to) of a function of the entry vectors, from its gradient g_p with respect
    to every entry vector D_p = r_j - r_i + S cell: atom a gets +g from the entries that have
    it as neighbour and -g from its own entries; the strain derivative is sum_p g_p (x) D_p.
    Needs the transposed list (Pairs.transpose).
    Each atom sums its own terms and strain partials are summed in chunk order, so the result
    is the same for any thread count.

    skip_self_images reproduces n2p2's nnp-predict (N2P2_FORMAT.md §8): for an entry that is
    an image of the centre itself, the +g part is dropped. That is not the gradient of the
    energy; it exists for digit-by-digit comparisons only."""
    cdef int64_t n = pairs.n_atoms, a, p, q, chunk
    cdef int64_t n_chunks = (n + GATHER_CHUNK - 1) // GATHER_CHUNK
    cdef int x, y
    cdef double gx, gy, gz
    cdef double *partial = <double *> malloc(9 * n_chunks * sizeof(double))
    cdef double *w
    cdef const double *D
    cdef const double *g
    for chunk in prange(n_chunks, schedule="static",
                        num_threads=team_size(n_chunks, 1, n_threads)):
        w = &partial[9 * chunk] if partial != NULL else NULL
        if w != NULL:
            for x in range(9):
                w[x] = 0.0
        for a in range(chunk * GATHER_CHUNK, min((chunk + 1) * GATHER_CHUNK, n)):
            gx = 0.0
            gy = 0.0
            gz = 0.0
            for q in range(pairs.incoming_offsets[a], pairs.incoming_offsets[a + 1]):
                p = pairs.incoming[q]
                if skip_self_images and pairs.offsets[a] <= p < pairs.offsets[a + 1]:
                    continue
                gx = gx + grad_entry[3 * p]
                gy = gy + grad_entry[3 * p + 1]
                gz = gz + grad_entry[3 * p + 2]
            for p in range(pairs.offsets[a], pairs.offsets[a + 1]):
                g = &grad_entry[3 * p]
                gx = gx - g[0]
                gy = gy - g[1]
                gz = gz - g[2]
                if w != NULL:
                    D = &pairs.vectors[3 * p]
                    for x in range(3):
                        for y in range(3):
                            w[3 * x + y] += g[x] * D[y]
            gradient[3 * a] = gx
            gradient[3 * a + 1] = gy
            gradient[3 * a + 2] = gz
    if partial == NULL:
        # no room for chunk partials: sum the strain derivative in one serial pass
        for p in range(pairs.n_entries):
            for x in range(3):
                for y in range(3):
                    strain[3 * x + y] += grad_entry[3 * p + x] * pairs.vectors[3 * p + y]
        return
    for chunk in range(n_chunks):
        for x in range(9):
            strain[x] += partial[9 * chunk + x]
    free(partial)


# -- when to search again -----------------------------------------------------------------

def needs_rebuild(const double[:, ::1] x, const double[:, ::1] x_ref,
                  const double[:, ::1] cell, const double[:, ::1] cell_ref,
                  bint fully_periodic, double list_radius, double skin):
    """verlet_needs_rebuild for arrays (see there)."""
    if x.shape[0] != x_ref.shape[0]:
        return True
    if x.shape[0] == 0:
        return False
    return verlet_needs_rebuild(x.shape[0], &x[0, 0], &x_ref[0, 0], &cell[0, 0],
                                &cell_ref[0, 0], fully_periodic, list_radius, skin)


cdef bint verlet_needs_rebuild(int64_t n, const double *x, const double *x_ref,
                               const double *cell, const double *cell_ref,
                               bint fully_periodic, double list_radius,
                               double skin) noexcept nogil:
    """True when a pair may have come closer than the cutoff since the list was built with
    positions x_ref and cell cell_ref, holding every pair closer than list_radius = cutoff +
    skin.

    A listed pair vector D = (s_j - s_i + S) cell (s: scaled positions) changes by
    u_j - u_i + D_ref M, where u = (s - s_ref) cell is an atom's move relative to its cell
    and M = cell_ref^-1 (cell - cell_ref) the strain. A pair outside the list (|D_ref| >=
    list_radius) stays beyond the cutoff while 2 max|u| + list_radius |M| <= skin (|M|: the
    Frobenius norm, an upper bound of the spectral one). A cell that changed and is not
    periodic in all directions always needs a new search."""
    cdef double inv_ref[9]
    cdef double inv[9]
    cdef double M[9]
    cdef double s[3]
    cdef double u, largest = 0.0, d2, strain_norm = 0.0
    cdef int64_t i
    cdef int a, b, k
    cdef bint cell_changed = False
    if skin <= 0.0:
        return True
    for a in range(9):
        if cell[a] != cell_ref[a]:
            cell_changed = True
    if cell_changed:
        if not fully_periodic or not invert3(cell_ref, inv_ref) or not invert3(cell, inv):
            return True
        for a in range(3):
            for b in range(3):
                M[3 * a + b] = 0.0
                for k in range(3):
                    M[3 * a + b] += inv_ref[3 * a + k] * (cell[3 * k + b] - cell_ref[3 * k + b])
                strain_norm += M[3 * a + b] * M[3 * a + b]
        strain_norm = sqrt(strain_norm)
    for i in range(n):
        if cell_changed:
            # u = (x inv - x_ref inv_ref) cell
            for b in range(3):
                s[b] = 0.0
                for k in range(3):
                    s[b] += x[3 * i + k] * inv[3 * k + b] - x_ref[3 * i + k] * inv_ref[3 * k + b]
            d2 = 0.0
            for b in range(3):
                u = s[0] * cell[b] + s[1] * cell[3 + b] + s[2] * cell[6 + b]
                d2 += u * u
        else:
            d2 = 0.0
            for b in range(3):
                u = x[3 * i + b] - x_ref[3 * i + b]
                d2 += u * u
        if d2 > largest:
            largest = d2
    return 2.0 * sqrt(largest) + list_radius * strain_norm > skin


cdef bint invert3(const double *m, double *inv) noexcept nogil:
    """inv = m^-1 for a 3 x 3 row-major matrix; False when m is singular."""
    cdef double det
    cdef int a
    inv[0] = m[4] * m[8] - m[5] * m[7]
    inv[1] = m[2] * m[7] - m[1] * m[8]
    inv[2] = m[1] * m[5] - m[2] * m[4]
    inv[3] = m[5] * m[6] - m[3] * m[8]
    inv[4] = m[0] * m[8] - m[2] * m[6]
    inv[5] = m[2] * m[3] - m[0] * m[5]
    inv[6] = m[3] * m[7] - m[4] * m[6]
    inv[7] = m[1] * m[6] - m[0] * m[7]
    inv[8] = m[0] * m[4] - m[1] * m[3]
    det = m[0] * inv[0] + m[1] * inv[3] + m[2] * inv[6]
    if det == 0.0:
        return False
    for a in range(9):
        inv[a] /= det
    return True
