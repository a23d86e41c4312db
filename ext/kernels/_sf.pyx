"""Atom-centred symmetry functions (n2p2 types 2, 3, 9) and their exact derivatives: the
per-centre kernels and their parallel drivers. Compiled once per instruction set (see
ext/kernels/__init__.pxd); definitions and ordering follow N2P2_FORMAT.md §3-§4, and the
Python layer (fastpot/symmetry.py) sorts the functions into n2p2's order and builds the
tables (ext/_contract.pxd `Tables`).

Neighbour entries come from a PairList (CSR) with D_n = r_n - r_i. Work is organised around
what functions share:
- radial functions are looped per neighbour, grouped by neighbour element;
- angular functions share per-neighbour "factors" A_n = exp(-eta (R_n - rs)^2) f_c(R_n) for
  each distinct (eta, rs, rc), and are grouped by (type, factor) so that one pair (j, k)
  evaluates each factor product once and then only the cheap P^zeta per member;
- neighbour pairs are processed in batches per element block, so the vector loops are long.
The backward pass never forms dG/dR: per pair it folds the members' weights into four scalars
(d/dcos, d/dR_j, d/dR_k, d/dR_jk) and writes one gradient vector per neighbour entry.
Each centre atom writes only its own outputs, so results do not depend on the thread count.
"""
from libc.stdlib cimport malloc, calloc, realloc, free
from libc.string cimport memcpy
from libc.stdint cimport int32_t, int64_t

from _contract cimport Error, PairList, Tables, STATUS_OK, STATUS_NO_MEMORY
from _parallel cimport parallel_for
from _simd cimport *
from ._sf_factored cimport (Neighbours, factored_scratch_new, factored_scratch_delete,
                            factored_values, factored_backward, factored_derivatives)


cdef enum:
    NEIGHBOR_ROWS = 8   # rows of length `capacity` (per neighbour of the centre)
    PAIR_ROWS = 24      # rows of length `batch` (per neighbour pair)
    BATCH = 256         # neighbour pairs processed together (their rows stay in L1)
    ROW_PAD = 8         # doubles added to each row stride (see scratch_new)
    MIN_ROOM = 8       # a batch with less room left than this is processed first


cdef Scratch *scratch_new(int64_t capacity, int max_factors, int max_powers,
                          int n_elements) noexcept nogil:
    """Per-thread work arrays for centres with up to `capacity` neighbour entries."""
    cdef Scratch *s = <Scratch *> calloc(1, sizeof(Scratch))
    if s == NULL:
        return NULL
    # Row strides are padded off powers of two: rows 2 or 4 KiB apart make the loads of one
    # row falsely wait on stores to another (4K aliasing), which cost up to a fifth of the
    # time depending on where malloc placed the arrays.
    s.capacity = ((capacity if capacity > 0 else 1) + 7) // 8 * 8 + ROW_PAD
    s.batch = BATCH + ROW_PAD
    s.max_factors = max_factors if max_factors > 0 else 1
    s.max_powers = max_powers
    s.R = <double *> malloc(5 * s.capacity * sizeof(double))
    s.entry = <int64_t *> malloc(s.capacity * sizeof(int64_t))
    s.start = <int64_t *> malloc((n_elements + 2) * sizeof(int64_t))
    s.A = <double *> malloc(4 * s.capacity * s.max_factors * sizeof(double))
    s.rows = <double *> malloc(NEIGHBOR_ROWS * s.capacity * sizeof(double))
    s.pair_j = <int64_t *> malloc(2 * s.batch * sizeof(int64_t))
    s.pair_rows = <double *> malloc((PAIR_ROWS + 2 * max_powers) * s.batch * sizeof(double))
    if (s.R == NULL or s.entry == NULL or s.start == NULL or s.A == NULL or s.rows == NULL
            or s.pair_j == NULL or s.pair_rows == NULL):
        scratch_delete(s)
        return NULL
    s.X = s.R + s.capacity
    s.Y = s.X + s.capacity
    s.Z = s.Y + s.capacity
    s.inv_R = s.Z + s.capacity
    s.dA = s.A + s.capacity * s.max_factors
    s.C = s.dA + s.capacity * s.max_factors
    s.dC = s.C + s.capacity * s.max_factors
    s.pair_k = s.pair_j + s.batch
    return s


cdef void scratch_delete(Scratch *s) noexcept nogil:
    if s == NULL:
        return
    free(s.R)
    free(s.entry)
    free(s.start)
    free(s.A)
    free(s.rows)
    free(s.pair_j)
    free(s.pair_rows)
    free(s.kept)
    free(s.kept_pairs)
    free(s.kept_batches)
    free(s.radial_slopes)
    factored_scratch_delete(s.factored)
    free(s)


cdef int64_t gather(int64_t i, double radius, const Tables *t, Scratch *s,
                    const int32_t *species, const PairList *pairs) noexcept nogil:
    """Copy the entries of centre i closer than `radius` into the scratch arrays, grouped by
    neighbour element (input order within an element); returns how many."""
    cdef int64_t p, n, b
    cdef int n_el = t.n_elements
    cdef const int64_t *offsets = pairs.offsets
    cdef const int32_t *neighbors = pairs.neighbors
    cdef const double *vectors = pairs.vectors
    cdef const double *distances = pairs.distances
    for b in range(n_el + 2):
        s.start[b] = 0
    for p in range(offsets[i], offsets[i + 1]):
        if distances[p] < radius:
            s.start[species[neighbors[p]] + 2] += 1
    for b in range(2, n_el + 2):
        s.start[b] += s.start[b - 1]
    # start[b + 1] is now where element b begins; filling advances it to where b ends
    for p in range(offsets[i], offsets[i + 1]):
        if distances[p] < radius:
            b = species[neighbors[p]] + 1
            n = s.start[b]
            s.start[b] += 1
            s.R[n] = distances[p]
            s.X[n] = vectors[3 * p]
            s.Y[n] = vectors[3 * p + 1]
            s.Z[n] = vectors[3 * p + 2]
            s.entry[n] = p
    # reciprocals once per neighbour: the pair loops then multiply instead of dividing
    for n in range(s.start[n_el]):
        s.inv_R[n] = 1.0 / s.R[n]
    return s.start[n_el]


cdef int64_t add_pairs(Scratch *s, int64_t j, int64_t k0, int64_t k1, double rc_ang,
                       double narrow_cut, int64_t count) noexcept nogil:
    """Append the pairs (j, k), k0 <= k < k1, that can contribute to the batch at `count`:
    R_k < rc_ang, and R_jk < narrow_cut when every function of the block is narrow
    (narrow_cut > 0). Stores R_jk^2 for now (see finish_pairs). Returns the new count.

    Branch-free: every candidate is written at `count`, which advances only for the kept
    ones (the caller guarantees room for k1 - k0 more entries)."""
    cdef double *r2 = s.pair_rows + s.batch
    cdef double xj = s.X[j], yj = s.Y[j], zj = s.Z[j]
    cdef double dx, dy, dz, d2
    cdef double cut2 = narrow_cut * narrow_cut if narrow_cut > 0.0 else 1e300
    cdef int64_t k
    for k in range(k0, k1):
        dx = s.X[k] - xj
        dy = s.Y[k] - yj
        dz = s.Z[k] - zj
        d2 = dx * dx + dy * dy + dz * dz
        s.pair_j[count] = j
        s.pair_k[count] = k
        r2[count] = d2
        count += (s.R[k] < rc_ang) & (d2 < cut2)
    return count


cdef void finish_pairs(Scratch *s, int64_t m) noexcept nogil:
    """cos(theta_jk) and R_jk of the m pairs of the batch (vectorised, kept pairs only)."""
    fp_pair_geometry(m, s.pair_j, s.pair_k, s.inv_R, s.X, s.Y, s.Z, s.pair_rows,
                     s.pair_rows + s.batch)


cdef double *batch_powers(int64_t m, int64_t base, const Tables *t, Scratch *s,
                          bint derivatives) noexcept nogil:
    """Fill the power rows of the batch for its block; returns the first row. Row 2 t holds
    P^zeta and row 2 t + 1 zeta lambda P^(zeta - 1) of the block's power t."""
    cdef double *rows = s.pair_rows + PAIR_ROWS * s.batch
    cdef int64_t q, p0 = t.power_offsets[base]
    for q in range(t.power_offsets[base + 1] - p0):
        fp_angular_powers(m, s.pair_rows, t.power_lambda[p0 + q], t.power_zeta[p0 + q],
                          t.power_izeta[p0 + q], rows + 2 * q * s.batch,
                          rows + (2 * q + 1) * s.batch if derivatives else NULL)
    return rows


cdef void batch_values(int64_t m, int e, int64_t nn, int64_t base, const Tables *t, Scratch *s,
                       double *G) noexcept nogil:
    """Add the angular functions of one batch of m pairs (element block `base`) to G."""
    cdef int64_t B_ = s.batch
    cdef double *cosv = s.pair_rows
    cdef double *rjk = s.pair_rows + B_
    cdef double *W = s.pair_rows + 2 * B_
    cdef double *Ak = s.pair_rows + 3 * B_
    cdef double *fcjk = s.pair_rows + 4 * B_
    cdef double *tmp = s.pair_rows + 5 * B_
    cdef double *Rj = s.pair_rows + 6 * B_
    cdef double *Rk = s.pair_rows + 7 * B_
    cdef double *S = s.pair_rows + 8 * B_
    cdef double *F = s.pair_rows + 9 * B_
    cdef double *cj = s.pair_rows + 10 * B_
    cdef double *ck = s.pair_rows + 11 * B_
    cdef int64_t g, q, f, p, f0 = t.factor_offsets[e]
    cdef double fc_rc = -1.0, shared_rc = -1.0
    cdef bint have_squares = False
    cdef double *powers
    finish_pairs(s, m)
    powers = batch_powers(m, base, t, s, False)
    for g in range(t.group_offsets[base], t.group_offsets[base + 1]):
        f = t.group_factor[g]
        if not t.group_wide[g]:
            if t.factor_rc[f0 + f] != fc_rc:  # the R_jk cutoff is shared by groups of equal rc
                fc_rc = t.factor_rc[f0 + f]
                fp_cutoff_block(t.cutoff_type, m, rjk, fc_rc, t.alpha, fcjk, NULL)
        if not t.group_wide[g] and t.factor_rs[f0 + f] == 0.0:
            # one exponential of R_j^2 + R_k^2 + R_jk^2 (fp_narrow_products)
            if not have_squares:
                fp_pair_squares(m, s.pair_j, s.pair_k, s.R, rjk, Rj, Rk, S)
                have_squares = True
            if shared_rc != fc_rc:
                shared_rc = fc_rc
                fp_take(m, &s.C[f * nn], s.pair_j, cj)
                fp_take(m, &s.C[f * nn], s.pair_k, ck)
                fp_cutoff_products(m, cj, NULL, ck, NULL, fcjk, NULL, F, NULL, NULL, NULL)
            fp_narrow_products(m, t.factor_eta[f0 + f], S, NULL, NULL, NULL, F, NULL, NULL,
                               NULL, W, NULL, NULL, NULL)
        else:
            fp_take(m, &s.A[f * nn], s.pair_j, W)
            fp_take(m, &s.A[f * nn], s.pair_k, Ak)
            for p in range(m):
                W[p] *= Ak[p]
            if not t.group_wide[g]:
                fp_gaussian_times(m, rjk, t.factor_eta[f0 + f], t.factor_rs[f0 + f], fcjk,
                                  NULL, tmp, NULL)
                for p in range(m):
                    W[p] *= tmp[p]
        for q in range(t.member_offsets[g], t.member_offsets[g + 1]):
            G[t.member_col[q]] += t.member_prefactor[q] * fp_dot(
                m, powers + 2 * t.member_power[q] * B_, W)


cdef struct PairCursor:
    int64_t j             # current first neighbour of a pair
    int64_t k             # next partner of j to consider (-1: start of j's partners)


cdef int64_t next_batch(Scratch *s, int64_t a0, int64_t a1, int64_t b0, int64_t b1,
                        double rc_ang, double narrow_cut, PairCursor *cursor) noexcept nogil:
    """Fill the batch with the next pairs (j, k), a0 <= j < a1, b0 <= k < b1, k > j, that
    can contribute (see add_pairs); returns how many (0: the block is done). A long row of
    partners is split over batches, so a batch stays small enough for the L1 cache."""
    cdef int64_t count = 0, j, k0, take
    while cursor.j < a1:
        j = cursor.j
        k0 = b0 if b0 > j + 1 else j + 1
        if cursor.k < k0:
            cursor.k = k0
        if s.R[j] >= rc_ang or cursor.k >= b1:
            cursor.j += 1
            cursor.k = -1
            continue
        take = BATCH - count
        if take < MIN_ROOM:
            break
        if take > b1 - cursor.k:
            take = b1 - cursor.k
        count = add_pairs(s, j, cursor.k, cursor.k + take, rc_ang, narrow_cut, count)
        cursor.k += take
    return count


cdef int angular_batches(int e, int64_t nn, const Tables *t, Scratch *s, double *G,
                         bint keep) noexcept nogil:
    """Add the angular functions of the current centre (element e) to G: its neighbour
    pairs in batches, element block by element block; with `keep`, each batch also keeps
    what the derivatives need (batch_keep). Returns 0, or -1 when memory runs out."""
    cdef int n_el = t.n_elements
    cdef int a, b
    cdef int64_t count, base
    cdef PairCursor cursor
    for a in range(n_el):
        for b in range(a, n_el):
            base = (e * n_el + a) * n_el + b
            if t.group_offsets[base] == t.group_offsets[base + 1]:
                continue
            cursor.j = s.start[a]
            cursor.k = -1
            while True:
                count = next_batch(s, s.start[a], s.start[a + 1], s.start[b], s.start[b + 1],
                                   t.angular_rc_max[e], t.block_narrow_cut[base], &cursor)
                if count == 0:
                    break
                if not keep:
                    batch_values(count, e, nn, base, t, s, G)
                elif batch_keep(count, e, nn, base, t, s, G) != 0:
                    return -1
    return 0


cdef void fill_factors(int e, int64_t nn, const Tables *t, Scratch *s,
                       bint derivatives) noexcept nogil:
    """A[f * nn + n] (and dA) for the angular factors of centre element e, and their
    cutoff values C (and dC), which the narrow groups with rs = 0 use on their own. The cutoff
    function is evaluated once per distinct rc."""
    cdef int64_t f, last = -1, f0 = t.factor_offsets[e]
    for f in range(t.factor_offsets[e + 1] - f0):
        if last >= 0 and t.factor_rc[f0 + f] == t.factor_rc[f0 + last]:
            memcpy(&s.C[f * nn], &s.C[last * nn], nn * sizeof(double))
            if derivatives:
                memcpy(&s.dC[f * nn], &s.dC[last * nn], nn * sizeof(double))
        else:
            fp_cutoff_block(t.cutoff_type, nn, s.R, t.factor_rc[f0 + f], t.alpha, &s.C[f * nn],
                            &s.dC[f * nn] if derivatives else NULL)
            last = f
        fp_gaussian_times(nn, s.R, t.factor_eta[f0 + f], t.factor_rs[f0 + f], &s.C[f * nn],
                          &s.dC[f * nn] if derivatives else NULL, &s.A[f * nn],
                          &s.dA[f * nn] if derivatives else NULL)


cdef int centre_values(int64_t i, const Tables *t, Scratch *s, const int32_t *species,
                       const PairList *pairs, double *G) noexcept nogil:
    """Symmetry-function values of centre atom i added to G (its row, n2p2 order), when no
    derivative is needed (see centre_values_kept). Returns 0, or -1 when memory runs out."""
    return centre_pass(i, t, s, species, pairs, G, False)


cdef void neighbours_of(const Tables *t, Scratch *s, Neighbours *nb) noexcept nogil:
    """The gathered neighbours of the current centre, as the factored kernels read them."""
    nb.n = s.start[t.n_elements]
    nb.n_elements = t.n_elements
    nb.cutoff_type = t.cutoff_type
    nb.alpha = t.alpha
    nb.start = s.start
    nb.R = s.R
    nb.X = s.X
    nb.Y = s.Y
    nb.Z = s.Z
    nb.inv_R = s.inv_R


# -- values with everything the derivatives need ------------------------------------------
#
# centre_values_kept computes the values of centre i and keeps, in its Scratch, what any
# derivative needs: for every radial function the slope dg/dR at each neighbour, and for
# every batch of neighbour pairs its (j, k), cos(theta), R_jk, the angular powers with their
# cos-derivatives and, per group, the factor product T with its partial derivatives. The
# backward pass (one weighted sum over functions) and the stored derivatives (one function at
# a time) then only combine kept numbers: no pair is generated and no exponential evaluated
# twice. The kept rows of one centre are written and read in order (cache-friendly).

cdef int grow(void **data, int64_t *size, int64_t needed, size_t item) noexcept nogil:
    """Make room for `needed` items of `item` bytes; 0, or -1 when memory runs out."""
    cdef int64_t new_size = 2 * size[0]
    cdef void *p
    if needed <= size[0]:
        return 0
    if new_size < needed:
        new_size = needed
    if new_size < 1024:
        new_size = 1024
    p = realloc(data[0], new_size * item)
    if p == NULL:
        return -1
    data[0] = p
    size[0] = new_size
    return 0


cdef inline int64_t kept_rows(int64_t base, const Tables *t) noexcept nogil:
    """Rows a kept batch of block `base` has: cos, 1 / R_jk, 2 per power, 4 per group."""
    return (2 + 2 * (t.power_offsets[base + 1] - t.power_offsets[base])
            + 4 * (t.group_offsets[base + 1] - t.group_offsets[base]))


cdef int batch_keep(int64_t m, int e, int64_t nn, int64_t base, const Tables *t, Scratch *s,
                    double *G) noexcept nogil:
    """Add the angular functions of one batch of m pairs to G and keep its rows (see above).
    Returns 0, or -1 when memory runs out."""
    cdef int64_t B_ = s.batch
    cdef double *Aj = s.pair_rows + 2 * B_
    cdef double *dAj = s.pair_rows + 3 * B_
    cdef double *Ak = s.pair_rows + 4 * B_
    cdef double *dAk = s.pair_rows + 5 * B_
    cdef double *fcjk = s.pair_rows + 6 * B_
    cdef double *dfcjk = s.pair_rows + 7 * B_
    cdef double *Bv = s.pair_rows + 8 * B_
    cdef double *dBv = s.pair_rows + 9 * B_
    cdef double *Rj = s.pair_rows + 10 * B_
    cdef double *Rk = s.pair_rows + 11 * B_
    cdef double *S = s.pair_rows + 12 * B_
    cdef double *F = s.pair_rows + 13 * B_
    cdef double *Pj = s.pair_rows + 14 * B_
    cdef double *Pk = s.pair_rows + 15 * B_
    cdef double *Pjk = s.pair_rows + 16 * B_
    cdef int64_t n_powers = t.power_offsets[base + 1] - t.power_offsets[base]
    cdef int64_t g, gi, q, f, p, p0 = t.power_offsets[base], f0 = t.factor_offsets[e]
    cdef double fc_rc = -1.0, shared_rc = -1.0
    cdef bint have_squares = False
    cdef double *rows
    cdef double *T
    cdef KeptBatch *batch
    if (grow(<void **> &s.kept, &s.kept_size, s.kept_used + kept_rows(base, t) * m,
             sizeof(double)) != 0
            or grow(<void **> &s.kept_pairs, &s.kept_pairs_size, s.kept_pairs_used + 2 * m,
                    sizeof(int64_t)) != 0
            or grow(<void **> &s.kept_batches, &s.kept_batches_size, s.n_kept_batches + 1,
                    sizeof(KeptBatch)) != 0):
        return -1
    batch = &s.kept_batches[s.n_kept_batches]
    batch.base = base
    batch.count = m
    batch.rows = s.kept_used
    batch.pairs = s.kept_pairs_used
    s.n_kept_batches += 1
    rows = s.kept + s.kept_used
    s.kept_used += kept_rows(base, t) * m
    memcpy(&s.kept_pairs[s.kept_pairs_used], s.pair_j, m * sizeof(int64_t))
    memcpy(&s.kept_pairs[s.kept_pairs_used + m], s.pair_k, m * sizeof(int64_t))
    s.kept_pairs_used += 2 * m
    # geometry: cos into row 0, R_jk into row 1 (add_pairs left R_jk^2 in pair_rows row 1)
    memcpy(rows + m, s.pair_rows + B_, m * sizeof(double))
    fp_pair_geometry(m, s.pair_j, s.pair_k, s.inv_R, s.X, s.Y, s.Z, rows, rows + m)
    for q in range(n_powers):
        fp_angular_powers(m, rows, t.power_lambda[p0 + q], t.power_zeta[p0 + q],
                          t.power_izeta[p0 + q], rows + (2 + 2 * q) * m,
                          rows + (3 + 2 * q) * m)
    for gi in range(t.group_offsets[base + 1] - t.group_offsets[base]):
        g = t.group_offsets[base] + gi
        f = t.group_factor[g]
        T = rows + (2 + 2 * n_powers + 4 * gi) * m
        if not t.group_wide[g] and t.factor_rc[f0 + f] != fc_rc:
            fc_rc = t.factor_rc[f0 + f]  # the R_jk cutoff is shared by groups of equal rc
            fp_cutoff_block(t.cutoff_type, m, rows + m, fc_rc, t.alpha, fcjk, dfcjk)
        if not t.group_wide[g] and t.factor_rs[f0 + f] == 0.0:
            # one exponential of R_j^2 + R_k^2 + R_jk^2, no gathers (fp_narrow_products)
            if not have_squares:
                fp_pair_squares(m, s.pair_j, s.pair_k, s.R, rows + m, Rj, Rk, S)
                have_squares = True
            if shared_rc != fc_rc:
                shared_rc = fc_rc
                fp_take(m, &s.C[f * nn], s.pair_j, Aj)
                fp_take(m, &s.dC[f * nn], s.pair_j, dAj)
                fp_take(m, &s.C[f * nn], s.pair_k, Ak)
                fp_take(m, &s.dC[f * nn], s.pair_k, dAk)
                fp_cutoff_products(m, Aj, dAj, Ak, dAk, fcjk, dfcjk, F, Pj, Pk, Pjk)
            fp_narrow_products(m, t.factor_eta[f0 + f], S, Rj, Rk, rows + m, F, Pj, Pk, Pjk,
                               T, T + m, T + 2 * m, T + 3 * m)
        else:
            fp_take(m, &s.A[f * nn], s.pair_j, Aj)
            fp_take(m, &s.dA[f * nn], s.pair_j, dAj)
            fp_take(m, &s.A[f * nn], s.pair_k, Ak)
            fp_take(m, &s.dA[f * nn], s.pair_k, dAk)
            if t.group_wide[g]:
                fp_pair_products(m, Aj, dAj, Ak, dAk, NULL, NULL, T, T + m, T + 2 * m,
                                 T + 3 * m)
            else:
                fp_gaussian_times(m, rows + m, t.factor_eta[f0 + f], t.factor_rs[f0 + f],
                                  fcjk, dfcjk, Bv, dBv)
                fp_pair_products(m, Aj, dAj, Ak, dAk, Bv, dBv, T, T + m, T + 2 * m,
                                 T + 3 * m)
        for q in range(t.member_offsets[g], t.member_offsets[g + 1]):
            G[t.member_col[q]] += t.member_prefactor[q] * fp_dot(
                m, rows + (2 + 2 * t.member_power[q]) * m, T)
    # the derivatives need only 1 / R_jk: kept so, they divide nothing (fp_angular_scatter)
    if t.block_needs_rjk[base]:
        fp_reciprocal_positive(m, rows + m)
    return 0


cdef int centre_values_kept(int64_t i, const Tables *t, Scratch *s, const int32_t *species,
                            const PairList *pairs, double *G) noexcept nogil:
    """Symmetry-function values of centre i added to G (its row, n2p2 order), keeping what
    its derivatives need in `s` (until the next centre). Returns 0, or -1 when memory runs
    out."""
    return centre_pass(i, t, s, species, pairs, G, True)


cdef int centre_pass(int64_t i, const Tables *t, Scratch *s, const int32_t *species,
                     const PairList *pairs, double *G, bint keep) noexcept nogil:
    """The values of centre i added to G and, with `keep`, what their derivatives need kept
    in `s`: radial functions per neighbour element block, one vector loop per function with
    the cutoff evaluated once per distinct rc, then the angular batches. Returns 0, or -1
    when memory runs out."""
    cdef int e = species[i]
    cdef int n_el = t.n_elements
    cdef int64_t nn = gather(i, t.rc_max[e], t, s, species, pairs)
    cdef double *tmp = s.rows
    cdef double *fc = s.rows + s.capacity
    cdef double *dfc = s.rows + 2 * s.capacity if keep else NULL
    cdef int64_t b, k0, m, q, base, used = 0
    cdef double rc
    cdef Neighbours nb
    s.n_kept_batches = 0
    s.kept_used = 0
    s.kept_pairs_used = 0
    if keep and grow(<void **> &s.radial_slopes, &s.radial_slopes_size,
                     (t.radial_offsets[(e + 1) * n_el] - t.radial_offsets[e * n_el]) * nn,
                     sizeof(double)) != 0:
        return -1
    for b in range(n_el):
        k0 = s.start[b]
        m = s.start[b + 1] - k0
        if m == 0:
            continue
        base = e * n_el + b
        rc = -1.0
        for q in range(t.radial_offsets[base], t.radial_offsets[base + 1]):
            if t.radial_rc[q] != rc:
                rc = t.radial_rc[q]
                fp_cutoff_block(t.cutoff_type, m, &s.R[k0], rc, t.alpha, fc, dfc)
            fp_gaussian_times(m, &s.R[k0], t.radial_eta[q], t.radial_rs[q], fc, dfc, tmp,
                              &s.radial_slopes[used] if keep else NULL)
            G[t.radial_col[q]] += fp_sum(m, tmp)
            used += m
    if t.factored != NULL:
        if s.factored == NULL:
            s.factored = factored_scratch_new(s.capacity, t.factored)
            if s.factored == NULL:
                return -1
        neighbours_of(t, s, &nb)
        factored_values(e, t.factored, &nb, s.factored, G)
    if t.factor_offsets[e + 1] == t.factor_offsets[e] or nn < 2:
        return 0
    fill_factors(e, nn, t, s, keep)
    return angular_batches(e, nn, t, s, G, keep)


cdef void centre_backward(int64_t i, const Tables *t, Scratch *s, const int32_t *species,
                          const PairList *pairs, const double *c,
                          double *grad_entry) noexcept nogil:
    """Gradient of S_i = sum_s c_s G_is with respect to each entry vector D_n of centre i,
    written to grad_entry[3 * entry] for every entry of its row (zero beyond its cutoffs).
    `c` is centre i's row of dE/dG; `s` holds what centre_values_kept kept for centre i."""
    cdef int e = species[i]
    cdef int n_el = t.n_elements
    cdef int64_t nn = s.start[n_el], cap = s.capacity
    cdef double *gx = s.rows
    cdef double *gy = s.rows + cap
    cdef double *gz = s.rows + 2 * cap
    cdef double *acc = s.rows + 3 * cap
    cdef int64_t B_ = s.batch
    cdef double *Q = s.pair_rows + 2 * B_
    cdef double *Qc = s.pair_rows + 3 * B_
    cdef double *Sc = s.pair_rows + 4 * B_
    cdef double *Sj = s.pair_rows + 5 * B_
    cdef double *Sk = s.pair_rows + 6 * B_
    cdef double *Sjk = s.pair_rows + 7 * B_
    cdef double *out = s.pair_rows + 8 * B_  # 6 rows
    cdef int64_t n, q, k, m, base, k0, b, used = 0, r, g, gi, n_powers
    cdef double cz
    cdef bint any_member, any_group
    cdef const KeptBatch *batch
    cdef double *rows
    cdef double *T
    cdef const int64_t *jj
    cdef Neighbours nb
    for n in range(nn):
        gx[n] = 0.0
        gy[n] = 0.0
        gz[n] = 0.0
    # radial: dS/dD_n = (sum_s c_s dg_s/dR_n) D_n / R_n
    for b in range(n_el):
        k0 = s.start[b]
        m = s.start[b + 1] - k0
        base = e * n_el + b
        if m == 0:
            continue
        for k in range(m):
            acc[k] = 0.0
        for q in range(t.radial_offsets[base], t.radial_offsets[base + 1]):
            fp_axpy(m, c[t.radial_col[q]], &s.radial_slopes[used], acc)
            used += m
        for k in range(m):
            n = k0 + k
            acc[k] *= s.inv_R[n]
            gx[n] += acc[k] * s.X[n]
            gy[n] += acc[k] * s.Y[n]
            gz[n] += acc[k] * s.Z[n]
    # angular: per kept batch, the members' weights folded into four scalars per pair
    for r in range(s.n_kept_batches):
        batch = &s.kept_batches[r]
        m = batch.count
        base = batch.base
        rows = s.kept + batch.rows
        jj = s.kept_pairs + batch.pairs
        n_powers = t.power_offsets[base + 1] - t.power_offsets[base]
        for k in range(m):
            Sc[k] = 0.0
            Sj[k] = 0.0
            Sk[k] = 0.0
            Sjk[k] = 0.0
        any_group = False
        for gi in range(t.group_offsets[base + 1] - t.group_offsets[base]):
            g = t.group_offsets[base] + gi
            any_member = False
            for q in range(t.member_offsets[g], t.member_offsets[g + 1]):
                cz = c[t.member_col[q]] * t.member_prefactor[q]
                if cz == 0.0:
                    continue
                if not any_member:
                    for k in range(m):
                        Q[k] = 0.0
                        Qc[k] = 0.0
                    any_member = True
                fp_axpy2(m, cz, rows + (2 + 2 * t.member_power[q]) * m,
                         rows + (3 + 2 * t.member_power[q]) * m, Q, Qc)
            if not any_member:
                continue
            any_group = True
            T = rows + (2 + 2 * n_powers + 4 * gi) * m
            fp_angular_accumulate(m, T, T + m, T + 2 * m, T + 3 * m, Q, Qc, Sc, Sj, Sk, Sjk)
        if any_group:
            fp_angular_scatter(m, jj, jj + m, s.inv_R, s.X, s.Y, s.Z, rows,
                               rows + m if t.block_needs_rjk[base] else NULL, Sc, Sj, Sk, Sjk,
                               out, gx, gy, gz)
    if t.factored != NULL:
        neighbours_of(t, s, &nb)
        factored_backward(e, t.factored, &nb, s.factored, c, gx, gy, gz)
    for q in range(3 * pairs.offsets[i], 3 * pairs.offsets[i + 1]):
        grad_entry[q] = 0.0
    for n in range(nn):
        q = 3 * s.entry[n]
        grad_entry[q] = gx[n]
        grad_entry[q + 1] = gy[n]
        grad_entry[q + 2] = gz[n]


cdef int centre_derivatives(int64_t i, const Tables *t, Scratch *s, const int32_t *species,
                            const PairList *pairs, double *G, double *local,
                            const int32_t *slot_of_entry, int32_t self_slot, double *block,
                            double *strain) noexcept nogil:
    """dG_is/dr_j for every function s of centre i and every atom j it depends on, added to
    block[slot][s][xyz] (self_slot is atom i's own slot, -1 when it is not kept;
    slot_of_entry maps a neighbour entry to the slot of its atom, -1 when not kept). G is a
    row of scratch for the values, `local` holds per-entry gradients [s][xyz][n] while they
    are summed. strain[s][6] receives dG_is/d(strain) in Voigt order xx yy zz yz xz xy
    (symmetrised). Returns 0, or -1 when memory runs out."""
    cdef int e = species[i]
    cdef int n_el = t.n_elements
    cdef int64_t n_sf = t.n_functions[e]
    cdef int64_t nn, B_ = s.batch
    cdef double *Sc = s.pair_rows + 4 * B_
    cdef double *Sj = s.pair_rows + 5 * B_
    cdef double *Sk = s.pair_rows + 6 * B_
    cdef double *Sjk = s.pair_rows + 7 * B_
    cdef double *out = s.pair_rows + 8 * B_  # 6 rows
    cdef int64_t n, q, k, m, base, k0, b, col, slot, x, used = 0, r, g, gi, n_powers
    cdef double w, pref
    cdef double *gx
    cdef double *rows
    cdef double *T
    cdef double *P
    cdef const int64_t *jj
    cdef const KeptBatch *batch
    cdef Neighbours nb
    for q in range(n_sf):
        G[q] = 0.0
    if centre_values_kept(i, t, s, species, pairs, G) != 0:
        return -1
    nn = s.start[n_el]
    for n in range(n_sf * 3 * nn):
        local[n] = 0.0
    # radial: one function at a time, from its kept slopes
    for b in range(n_el):
        k0 = s.start[b]
        m = s.start[b + 1] - k0
        base = e * n_el + b
        if m == 0:
            continue
        for q in range(t.radial_offsets[base], t.radial_offsets[base + 1]):
            gx = &local[3 * t.radial_col[q] * nn]
            for k in range(m):
                n = k0 + k
                w = s.radial_slopes[used + k] * s.inv_R[n]
                gx[n] += w * s.X[n]
                gx[nn + n] += w * s.Y[n]
                gx[2 * nn + n] += w * s.Z[n]
            used += m
    # angular: the backward pass with one member's weight at a time
    for r in range(s.n_kept_batches):
        batch = &s.kept_batches[r]
        m = batch.count
        base = batch.base
        rows = s.kept + batch.rows
        jj = s.kept_pairs + batch.pairs
        n_powers = t.power_offsets[base + 1] - t.power_offsets[base]
        for gi in range(t.group_offsets[base + 1] - t.group_offsets[base]):
            g = t.group_offsets[base] + gi
            T = rows + (2 + 2 * n_powers + 4 * gi) * m
            for q in range(t.member_offsets[g], t.member_offsets[g + 1]):
                col = t.member_col[q]
                pref = t.member_prefactor[q]
                P = rows + (2 + 2 * t.member_power[q]) * m
                for k in range(m):
                    Sc[k] = pref * P[m + k] * T[k]
                    Sj[k] = pref * P[k] * T[m + k]
                    Sk[k] = pref * P[k] * T[2 * m + k]
                    Sjk[k] = pref * P[k] * T[3 * m + k]
                fp_angular_scatter(m, jj, jj + m, s.inv_R, s.X, s.Y, s.Z, rows,
                                   rows + m if t.block_needs_rjk[base] else NULL, Sc, Sj, Sk,
                                   Sjk, out, &local[3 * col * nn], &local[(3 * col + 1) * nn],
                                   &local[(3 * col + 2) * nn])
    if t.factored != NULL:
        neighbours_of(t, s, &nb)
        factored_derivatives(e, t.factored, &nb, s.factored, local)
    # strain derivative: sum over entries of g (x) D, symmetrised
    for col in range(n_sf):
        gx = &local[3 * col * nn]
        for x in range(6):
            strain[6 * col + x] = 0.0
        for n in range(nn):
            strain[6 * col] += gx[n] * s.X[n]
            strain[6 * col + 1] += gx[nn + n] * s.Y[n]
            strain[6 * col + 2] += gx[2 * nn + n] * s.Z[n]
            strain[6 * col + 3] += 0.5 * (gx[nn + n] * s.Z[n] + gx[2 * nn + n] * s.Y[n])
            strain[6 * col + 4] += 0.5 * (gx[n] * s.Z[n] + gx[2 * nn + n] * s.X[n])
            strain[6 * col + 5] += 0.5 * (gx[n] * s.Y[n] + gx[nn + n] * s.X[n])
    # sum entries into atoms: +g for the entry's atom, -g for the centre
    for n in range(nn):
        slot = slot_of_entry[s.entry[n]]
        for col in range(n_sf):
            for x in range(3):
                w = local[(3 * col + x) * nn + n]
                if slot >= 0:
                    block[(slot * n_sf + col) * 3 + x] += w
                if self_slot >= 0:
                    block[(self_slot * n_sf + col) * 3 + x] -= w
    return 0


# -- parallel drivers (the KernelTable entry points) ---------------------------------------

cdef struct Job:
    const Tables *t
    const int32_t *species
    const PairList *pairs
    const int64_t *row_start
    const double *dEdG           # sf_backward
    double *out                  # values, entry gradients, or derivative blocks
    const int32_t *slot_of_entry # sf_derivatives
    const int32_t *self_slot
    const int64_t *block_start
    double *strain


cdef struct ThreadScratch:
    Scratch *s
    double *G                    # values of one centre
    double *local                # sf_derivatives: per-entry gradients of one centre


cdef void *job_scratch(const void *context) noexcept nogil:
    cdef const Job *job = <const Job *> context
    cdef const Tables *t = job.t
    cdef ThreadScratch *ts = <ThreadScratch *> calloc(1, sizeof(ThreadScratch))
    cdef int64_t k, widest = 1
    if ts == NULL:
        return NULL
    ts.s = scratch_new(job.pairs.max_row, t.max_factors, t.max_powers, t.n_elements)
    for k in range(t.n_elements):
        widest = t.n_functions[k] if t.n_functions[k] > widest else widest
    ts.G = <double *> malloc(widest * sizeof(double))
    if job.block_start != NULL:
        ts.local = <double *> malloc(3 * widest * (job.pairs.max_row + 1) * sizeof(double))
    if ts.s == NULL or ts.G == NULL or (job.block_start != NULL and ts.local == NULL):
        job_scratch_delete(context, ts)
        return NULL
    return ts


cdef void job_scratch_delete(const void *context, void *scratch) noexcept nogil:
    cdef ThreadScratch *ts = <ThreadScratch *> scratch
    scratch_delete(ts.s)
    free(ts.G)
    free(ts.local)
    free(ts)


cdef int values_item(const void *context, void *scratch, int64_t i) noexcept nogil:
    cdef const Job *job = <const Job *> context
    cdef int64_t s, start = job.row_start[i]
    for s in range(job.t.n_functions[job.species[i]]):
        job.out[start + s] = 0.0
    if centre_values(i, job.t, (<ThreadScratch *> scratch).s, job.species, job.pairs,
                     &job.out[start]) != 0:
        return STATUS_NO_MEMORY
    return STATUS_OK


cdef int backward_item(const void *context, void *scratch, int64_t i) noexcept nogil:
    cdef const Job *job = <const Job *> context
    cdef ThreadScratch *ts = <ThreadScratch *> scratch
    if centre_values_kept(i, job.t, ts.s, job.species, job.pairs, ts.G) != 0:
        return STATUS_NO_MEMORY
    centre_backward(i, job.t, ts.s, job.species, job.pairs, &job.dEdG[job.row_start[i]],
                    job.out)
    return STATUS_OK


cdef int derivatives_item(const void *context, void *scratch, int64_t i) noexcept nogil:
    cdef const Job *job = <const Job *> context
    cdef ThreadScratch *ts = <ThreadScratch *> scratch
    if centre_derivatives(i, job.t, ts.s, job.species, job.pairs, ts.G, ts.local,
                          job.slot_of_entry, job.self_slot[i], &job.out[job.block_start[i]],
                          &job.strain[6 * job.row_start[i]]) != 0:
        return STATUS_NO_MEMORY
    return STATUS_OK


cdef int sf_values(const Tables *t, const int32_t *species, const PairList *pairs,
                   const int64_t *row_start, double *out, int n_threads,
                   Error *error) noexcept nogil:
    cdef Job job
    job.t = t
    job.species = species
    job.pairs = pairs
    job.row_start = row_start
    job.out = out
    job.block_start = NULL
    return parallel_for(pairs.n_atoms, 4, n_threads, job_scratch, values_item,
                        job_scratch_delete, &job, "symmetry functions", error)


cdef int sf_backward(const Tables *t, const int32_t *species, const PairList *pairs,
                     const int64_t *row_start, const double *dEdG, double *grad_entry,
                     int n_threads, Error *error) noexcept nogil:
    cdef Job job
    job.t = t
    job.species = species
    job.pairs = pairs
    job.row_start = row_start
    job.dEdG = dEdG
    job.out = grad_entry
    job.block_start = NULL
    return parallel_for(pairs.n_atoms, 4, n_threads, job_scratch, backward_item,
                        job_scratch_delete, &job, "symmetry-function gradients", error)


cdef int sf_derivatives(const Tables *t, const int32_t *species, const PairList *pairs,
                        const int32_t *slot_of_entry, const int32_t *self_slot,
                        const int64_t *block_start, double *blocks, const int64_t *row_start,
                        double *strain, int n_threads, Error *error) noexcept nogil:
    """Stored derivatives: centre i's block blocks[block_start[i]:] is [slot][function][xyz]
    (zeroed by the caller); strain[6 (row_start[i] + s)] gets the strain derivative of its
    function s (Voigt order)."""
    cdef Job job
    job.t = t
    job.species = species
    job.pairs = pairs
    job.row_start = row_start
    job.out = blocks
    job.slot_of_entry = slot_of_entry
    job.self_slot = self_slot
    job.block_start = block_start
    job.strain = strain
    return parallel_for(pairs.n_atoms, 4, n_threads, job_scratch, derivatives_item,
                        job_scratch_delete, &job, "stored symmetry-function derivatives",
                        error)
