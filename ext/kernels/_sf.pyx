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
from libc.stdlib cimport malloc, calloc, free
from libc.stdint cimport int32_t, int64_t

from _contract cimport Error, PairList, Tables, STATUS_OK
from _parallel cimport parallel_for
from _simd cimport *


cdef enum:
    NEIGHBOR_ROWS = 8   # rows of length `capacity` (per neighbour of the centre)
    PAIR_ROWS = 24      # rows of length `batch` (per neighbour pair)
    MIN_BATCH = 512    # neighbour pairs processed together


cdef Scratch *scratch_new(int64_t capacity, int max_factors, int max_powers,
                          int n_elements) noexcept nogil:
    """Per-thread work arrays for centres with up to `capacity` neighbour entries."""
    cdef Scratch *s = <Scratch *> calloc(1, sizeof(Scratch))
    if s == NULL:
        return NULL
    s.capacity = capacity if capacity > 0 else 1
    s.batch = s.capacity if s.capacity > MIN_BATCH else MIN_BATCH
    s.max_factors = max_factors if max_factors > 0 else 1
    s.max_powers = max_powers
    s.R = <double *> malloc(4 * s.capacity * sizeof(double))
    s.entry = <int64_t *> malloc(s.capacity * sizeof(int64_t))
    s.start = <int64_t *> malloc((n_elements + 2) * sizeof(int64_t))
    s.A = <double *> malloc(2 * s.capacity * s.max_factors * sizeof(double))
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
    s.dA = s.A + s.capacity * s.max_factors
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
    fp_pair_geometry(m, s.pair_j, s.pair_k, s.R, s.X, s.Y, s.Z, s.pair_rows,
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
    cdef int64_t g, q, f, p, f0 = t.factor_offsets[e]
    cdef double fc_rc = -1.0
    cdef double *powers
    finish_pairs(s, m)
    powers = batch_powers(m, base, t, s, False)
    for g in range(t.group_offsets[base], t.group_offsets[base + 1]):
        f = t.group_factor[g]
        fp_take(m, &s.A[f * nn], s.pair_j, W)
        fp_take(m, &s.A[f * nn], s.pair_k, Ak)
        for p in range(m):
            W[p] *= Ak[p]
        if not t.group_wide[g]:
            if t.factor_rc[f0 + f] != fc_rc:  # the R_jk cutoff is shared by groups of equal rc
                fc_rc = t.factor_rc[f0 + f]
                fp_cutoff_block(t.cutoff_type, m, rjk, fc_rc, t.alpha, fcjk, NULL)
            fp_gaussian_times(m, rjk, t.factor_eta[f0 + f], t.factor_rs[f0 + f], fcjk, NULL,
                              tmp, NULL)
            for p in range(m):
                W[p] *= tmp[p]
        for q in range(t.member_offsets[g], t.member_offsets[g + 1]):
            G[t.member_col[q]] += t.member_prefactor[q] * fp_dot(
                m, powers + 2 * t.member_power[q] * B_, W)


cdef void batch_backward(int64_t m, int e, int64_t nn, int64_t base, const Tables *t,
                         Scratch *s, const double *c, double *gx, double *gy,
                         double *gz) noexcept nogil:
    """Add the gradient of the angular part of S_i for one batch of m pairs to the
    neighbours' gradients. Members' weights are folded into four scalars per pair, the
    derivatives with respect to cos(theta), R_j, R_k and R_jk, before any vector is formed."""
    cdef int64_t B_ = s.batch
    cdef double *cosv = s.pair_rows
    cdef double *rjk = s.pair_rows + B_
    cdef double *Aj = s.pair_rows + 2 * B_
    cdef double *dAj = s.pair_rows + 3 * B_
    cdef double *Ak = s.pair_rows + 4 * B_
    cdef double *dAk = s.pair_rows + 5 * B_
    cdef double *fcjk = s.pair_rows + 6 * B_
    cdef double *dfcjk = s.pair_rows + 7 * B_
    cdef double *Bv = s.pair_rows + 8 * B_
    cdef double *dBv = s.pair_rows + 9 * B_
    cdef double *Q = s.pair_rows + 10 * B_
    cdef double *Qc = s.pair_rows + 11 * B_
    cdef double *Sc = s.pair_rows + 12 * B_
    cdef double *Sj = s.pair_rows + 13 * B_
    cdef double *Sk = s.pair_rows + 14 * B_
    cdef double *Sjk = s.pair_rows + 15 * B_
    cdef double *out = s.pair_rows + 16 * B_  # 6 rows
    cdef int64_t g, q, f, p, f0 = t.factor_offsets[e]
    cdef double fc_rc = -1.0, cz
    cdef bint any_member, any_group = False
    cdef double *powers
    finish_pairs(s, m)
    powers = batch_powers(m, base, t, s, True)
    for p in range(m):
        Sc[p] = 0.0
        Sj[p] = 0.0
        Sk[p] = 0.0
        Sjk[p] = 0.0
    for g in range(t.group_offsets[base], t.group_offsets[base + 1]):
        any_member = False
        for q in range(t.member_offsets[g], t.member_offsets[g + 1]):
            cz = c[t.member_col[q]] * t.member_prefactor[q]
            if cz == 0.0:
                continue
            if not any_member:
                for p in range(m):
                    Q[p] = 0.0
                    Qc[p] = 0.0
                any_member = True
            fp_axpy2(m, cz, powers + 2 * t.member_power[q] * B_,
                     powers + (2 * t.member_power[q] + 1) * B_, Q, Qc)
        if not any_member:
            continue
        any_group = True
        f = t.group_factor[g]
        fp_take(m, &s.A[f * nn], s.pair_j, Aj)
        fp_take(m, &s.dA[f * nn], s.pair_j, dAj)
        fp_take(m, &s.A[f * nn], s.pair_k, Ak)
        fp_take(m, &s.dA[f * nn], s.pair_k, dAk)
        if t.group_wide[g]:
            fp_angular_accumulate(m, Aj, dAj, Ak, dAk, NULL, NULL, Q, Qc, Sc, Sj, Sk, Sjk)
        else:
            if t.factor_rc[f0 + f] != fc_rc:
                fc_rc = t.factor_rc[f0 + f]
                fp_cutoff_block(t.cutoff_type, m, rjk, fc_rc, t.alpha, fcjk, dfcjk)
            fp_gaussian_times(m, rjk, t.factor_eta[f0 + f], t.factor_rs[f0 + f], fcjk, dfcjk,
                              Bv, dBv)
            fp_angular_accumulate(m, Aj, dAj, Ak, dAk, Bv, dBv, Q, Qc, Sc, Sj, Sk, Sjk)
    if any_group:
        fp_angular_scatter(m, s.pair_j, s.pair_k, s.R, s.X, s.Y, s.Z, cosv,
                           rjk if t.block_needs_rjk[base] else NULL, Sc, Sj, Sk, Sjk, out, gx,
                           gy, gz)


cdef void angular_pass(int64_t i, int e, int64_t nn, const Tables *t, Scratch *s,
                       const double *c, double *G, double *gx, double *gy,
                       double *gz) noexcept nogil:
    """Loop over the neighbour pairs of centre i in batches, element block by element block:
    values into G when c is NULL, otherwise gradients into gx, gy, gz."""
    cdef int n_el = t.n_elements
    cdef int a, b
    cdef int64_t j, k0, count, base
    cdef double rc_ang = t.angular_rc_max[e]
    cdef double narrow_cut
    for a in range(n_el):
        for b in range(a, n_el):
            base = (e * n_el + a) * n_el + b
            if t.group_offsets[base] == t.group_offsets[base + 1]:
                continue
            narrow_cut = t.block_narrow_cut[base]
            count = 0
            for j in range(s.start[a], s.start[a + 1]):
                if s.R[j] >= rc_ang:
                    continue
                k0 = s.start[b] if s.start[b] > j + 1 else j + 1
                if k0 >= s.start[b + 1]:
                    continue
                if count + (s.start[b + 1] - k0) > s.batch:
                    if c == NULL:
                        batch_values(count, e, nn, base, t, s, G)
                    else:
                        batch_backward(count, e, nn, base, t, s, c, gx, gy, gz)
                    count = 0
                count = add_pairs(s, j, k0, s.start[b + 1], rc_ang, narrow_cut, count)
            if count > 0:
                if c == NULL:
                    batch_values(count, e, nn, base, t, s, G)
                else:
                    batch_backward(count, e, nn, base, t, s, c, gx, gy, gz)


cdef void fill_factors(int e, int64_t nn, const Tables *t, Scratch *s,
                       bint derivatives) noexcept nogil:
    """A[f * nn + n] (and dA) for the angular factors of centre element e. The cutoff
    function is evaluated once per distinct rc (rows 6 and 7 of s.rows hold it)."""
    cdef int64_t f, f0 = t.factor_offsets[e]
    cdef double *fc = s.rows + 6 * s.capacity
    cdef double *dfc = s.rows + 7 * s.capacity
    cdef double rc = -1.0
    for f in range(t.factor_offsets[e + 1] - f0):
        if t.factor_rc[f0 + f] != rc:
            rc = t.factor_rc[f0 + f]
            fp_cutoff_block(t.cutoff_type, nn, s.R, rc, t.alpha, fc,
                            dfc if derivatives else NULL)
        fp_gaussian_times(nn, s.R, t.factor_eta[f0 + f], t.factor_rs[f0 + f], fc,
                          dfc if derivatives else NULL, &s.A[f * nn],
                          &s.dA[f * nn] if derivatives else NULL)


cdef void centre_values(int64_t i, const Tables *t, Scratch *s, const int32_t *species,
                        const PairList *pairs, double *G) noexcept nogil:
    """Symmetry-function values of centre atom i into G (its row, n2p2 order)."""
    cdef int e = species[i]
    cdef int n_el = t.n_elements
    cdef int64_t nn = gather(i, t.rc_max[e], t, s, species, pairs)
    cdef double *tmp = s.rows
    cdef int64_t b, k0, m, q, base
    cdef double *fc = s.rows + s.capacity
    cdef double rc
    # radial: per neighbour element block, one vector loop per function; the cutoff
    # function is evaluated once per distinct rc
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
                fp_cutoff_block(t.cutoff_type, m, &s.R[k0], rc, t.alpha, fc, NULL)
            fp_gaussian_times(m, &s.R[k0], t.radial_eta[q], t.radial_rs[q], fc, NULL, tmp,
                              NULL)
            G[t.radial_col[q]] += fp_sum(m, tmp)
    if t.factor_offsets[e + 1] > t.factor_offsets[e] and nn >= 2:
        fill_factors(e, nn, t, s, False)
        angular_pass(i, e, nn, t, s, NULL, G, NULL, NULL, NULL)


cdef void centre_backward(int64_t i, const Tables *t, Scratch *s, const int32_t *species,
                          const PairList *pairs, const double *c,
                          double *grad_entry) noexcept nogil:
    """Gradient of S_i = sum_s c_s G_is with respect to each entry vector D_n of centre i,
    written to grad_entry[3 * entry] for every entry of its row (zero beyond its cutoffs).
    `c` is centre i's row of dE/dG."""
    cdef int e = species[i]
    cdef int n_el = t.n_elements
    cdef int64_t nn = gather(i, t.rc_max[e], t, s, species, pairs)
    cdef int64_t cap = s.capacity
    cdef double *gx = s.rows
    cdef double *gy = s.rows + cap
    cdef double *gz = s.rows + 2 * cap
    cdef double *acc = s.rows + 3 * cap
    cdef double *tmp = s.rows + 4 * cap
    cdef double *dtmp = s.rows + 5 * cap
    cdef double *fc = s.rows + 6 * cap
    cdef double *dfc = s.rows + 7 * cap
    cdef int64_t n, q, k, m, base, k0, b
    cdef double cz, rc
    for n in range(nn):
        gx[n] = 0.0
        gy[n] = 0.0
        gz[n] = 0.0
    # radial: dS/dD_n = (sum_s c_s dG_s/dR_n) D_n / R_n
    for b in range(n_el):
        k0 = s.start[b]
        m = s.start[b + 1] - k0
        base = e * n_el + b
        if m == 0 or t.radial_offsets[base] == t.radial_offsets[base + 1]:
            continue
        for k in range(m):
            acc[k] = 0.0
        rc = -1.0
        for q in range(t.radial_offsets[base], t.radial_offsets[base + 1]):
            cz = c[t.radial_col[q]]
            if cz == 0.0:
                continue
            if t.radial_rc[q] != rc:
                rc = t.radial_rc[q]
                fp_cutoff_block(t.cutoff_type, m, &s.R[k0], rc, t.alpha, fc, dfc)
            fp_gaussian_times(m, &s.R[k0], t.radial_eta[q], t.radial_rs[q], fc, dfc, tmp, dtmp)
            for k in range(m):
                acc[k] += cz * dtmp[k]
        for k in range(m):
            n = k0 + k
            acc[k] /= s.R[n]
            gx[n] += acc[k] * s.X[n]
            gy[n] += acc[k] * s.Y[n]
            gz[n] += acc[k] * s.Z[n]
    if t.factor_offsets[e + 1] > t.factor_offsets[e] and nn >= 2:
        fill_factors(e, nn, t, s, True)
        angular_pass(i, e, nn, t, s, c, NULL, gx, gy, gz)
    for q in range(3 * pairs.offsets[i], 3 * pairs.offsets[i + 1]):
        grad_entry[q] = 0.0
    for n in range(nn):
        q = 3 * s.entry[n]
        grad_entry[q] = gx[n]
        grad_entry[q + 1] = gy[n]
        grad_entry[q + 2] = gz[n]


cdef void centre_derivatives(int64_t i, const Tables *t, Scratch *s, const int32_t *species,
                             const PairList *pairs, double *local,
                             const int32_t *slot_of_entry, int32_t self_slot, double *block,
                             double *strain) noexcept nogil:
    """dG_is/dr_j for every function s of centre i and every atom j it depends on, added to
    block[slot][s][xyz] (self_slot is atom i's own slot, -1 when it is not kept;
    slot_of_entry maps a neighbour entry to the slot of its atom, -1 when not kept). `local`
    holds per-entry gradients [s][xyz][n] while they are summed.
    strain[s][6] receives dG_is/d(strain) in Voigt order xx yy zz yz xz xy (symmetrised)."""
    cdef int e = species[i]
    cdef int n_el = t.n_elements
    cdef int64_t nn = gather(i, t.rc_max[e], t, s, species, pairs)
    cdef int64_t n_sf = t.n_functions[e]
    cdef int64_t cap = s.capacity
    cdef double *tmp = s.rows
    cdef double *dtmp = s.rows + cap
    cdef int64_t n, q, k, m, base, k0, b, col, slot, x
    cdef double w
    cdef double *gx
    for n in range(n_sf * 3 * nn):
        local[n] = 0.0
    # radial: one function at a time
    for b in range(n_el):
        k0 = s.start[b]
        m = s.start[b + 1] - k0
        base = e * n_el + b
        if m == 0:
            continue
        for q in range(t.radial_offsets[base], t.radial_offsets[base + 1]):
            col = t.radial_col[q]
            fp_gaussian_cutoff_block(t.cutoff_type, m, &s.R[k0], t.radial_eta[q],
                                     t.radial_rs[q], t.radial_rc[q], t.alpha, tmp, dtmp)
            gx = &local[3 * col * nn]
            for k in range(m):
                n = k0 + k
                w = dtmp[k] / s.R[n]
                gx[n] += w * s.X[n]
                gx[nn + n] += w * s.Y[n]
                gx[2 * nn + n] += w * s.Z[n]
    # angular: the backward pass with one member's weight at a time
    if t.factor_offsets[e + 1] > t.factor_offsets[e] and nn >= 2:
        fill_factors(e, nn, t, s, True)
        angular_derivatives(e, nn, t, s, local)
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


cdef void angular_derivatives(int e, int64_t nn, const Tables *t, Scratch *s,
                              double *local) noexcept nogil:
    """Per-function, per-entry gradients of the angular functions of a centre."""
    cdef int n_el = t.n_elements
    cdef int a, b
    cdef int64_t j, k0, count, base, g, q, f, p, f0 = t.factor_offsets[e], col
    cdef double rc_ang = t.angular_rc_max[e]
    cdef int64_t B_ = s.batch
    cdef double *cosv = s.pair_rows
    cdef double *rjk = s.pair_rows + B_
    cdef double *Aj = s.pair_rows + 2 * B_
    cdef double *dAj = s.pair_rows + 3 * B_
    cdef double *Ak = s.pair_rows + 4 * B_
    cdef double *dAk = s.pair_rows + 5 * B_
    cdef double *fcjk = s.pair_rows + 6 * B_
    cdef double *dfcjk = s.pair_rows + 7 * B_
    cdef double *Bv = s.pair_rows + 8 * B_
    cdef double *dBv = s.pair_rows + 9 * B_
    cdef double *Q = s.pair_rows + 10 * B_
    cdef double *Qc = s.pair_rows + 11 * B_
    cdef double *Sc = s.pair_rows + 12 * B_
    cdef double *Sj = s.pair_rows + 13 * B_
    cdef double *Sk = s.pair_rows + 14 * B_
    cdef double *Sjk = s.pair_rows + 15 * B_
    cdef double *out = s.pair_rows + 16 * B_  # 6 rows
    cdef double *powers
    cdef double fc_rc
    for a in range(n_el):
        for b in range(a, n_el):
            base = (e * n_el + a) * n_el + b
            if t.group_offsets[base] == t.group_offsets[base + 1]:
                continue
            count = 0
            j = s.start[a]
            while j < s.start[a + 1] or count > 0:
                # fill a batch (all of j's partners fit, since batch >= capacity)
                while j < s.start[a + 1]:
                    k0 = s.start[b] if s.start[b] > j + 1 else j + 1
                    if s.R[j] >= rc_ang or k0 >= s.start[b + 1]:
                        j += 1
                        continue
                    if count + (s.start[b + 1] - k0) > B_:
                        break
                    count = add_pairs(s, j, k0, s.start[b + 1], rc_ang,
                                      t.block_narrow_cut[base], count)
                    j += 1
                if count == 0:
                    break
                finish_pairs(s, count)
                fc_rc = -1.0
                powers = batch_powers(count, base, t, s, True)
                for g in range(t.group_offsets[base], t.group_offsets[base + 1]):
                    f = t.group_factor[g]
                    fp_take(count, &s.A[f * nn], s.pair_j, Aj)
                    fp_take(count, &s.dA[f * nn], s.pair_j, dAj)
                    fp_take(count, &s.A[f * nn], s.pair_k, Ak)
                    fp_take(count, &s.dA[f * nn], s.pair_k, dAk)
                    if not t.group_wide[g]:
                        if t.factor_rc[f0 + f] != fc_rc:
                            fc_rc = t.factor_rc[f0 + f]
                            fp_cutoff_block(t.cutoff_type, count, rjk, fc_rc, t.alpha, fcjk,
                                            dfcjk)
                        fp_gaussian_times(count, rjk, t.factor_eta[f0 + f], t.factor_rs[f0 + f],
                                          fcjk, dfcjk, Bv, dBv)
                    for q in range(t.member_offsets[g], t.member_offsets[g + 1]):
                        col = t.member_col[q]
                        for p in range(count):
                            Q[p] = 0.0
                            Qc[p] = 0.0
                            Sc[p] = 0.0
                            Sj[p] = 0.0
                            Sk[p] = 0.0
                            Sjk[p] = 0.0
                        fp_axpy2(count, t.member_prefactor[q],
                                 powers + 2 * t.member_power[q] * B_,
                                 powers + (2 * t.member_power[q] + 1) * B_, Q, Qc)
                        if t.group_wide[g]:
                            fp_angular_accumulate(count, Aj, dAj, Ak, dAk, NULL, NULL, Q, Qc, Sc,
                                                  Sj, Sk, Sjk)
                        else:
                            fp_angular_accumulate(count, Aj, dAj, Ak, dAk, Bv, dBv, Q, Qc, Sc,
                                                  Sj, Sk, Sjk)
                        fp_angular_scatter(count, s.pair_j, s.pair_k, s.R, s.X, s.Y, s.Z, cosv,
                                           NULL if t.group_wide[g] else rjk, Sc, Sj, Sk, Sjk,
                                           out, &local[3 * col * nn], &local[(3 * col + 1) * nn],
                                           &local[(3 * col + 2) * nn])
                count = 0


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
    double *local                # sf_derivatives: per-entry gradients of one centre


cdef void *job_scratch(const void *context) noexcept nogil:
    cdef const Job *job = <const Job *> context
    cdef const Tables *t = job.t
    cdef ThreadScratch *ts = <ThreadScratch *> calloc(1, sizeof(ThreadScratch))
    cdef int64_t k, widest = 1
    if ts == NULL:
        return NULL
    ts.s = scratch_new(job.pairs.max_row, t.max_factors, t.max_powers, t.n_elements)
    if job.block_start != NULL:
        for k in range(t.n_elements):
            widest = t.n_functions[k] if t.n_functions[k] > widest else widest
        ts.local = <double *> malloc(3 * widest * (job.pairs.max_row + 1) * sizeof(double))
    if ts.s == NULL or (job.block_start != NULL and ts.local == NULL):
        job_scratch_delete(context, ts)
        return NULL
    return ts


cdef void job_scratch_delete(const void *context, void *scratch) noexcept nogil:
    cdef ThreadScratch *ts = <ThreadScratch *> scratch
    scratch_delete(ts.s)
    free(ts.local)
    free(ts)


cdef int values_item(const void *context, void *scratch, int64_t i) noexcept nogil:
    cdef const Job *job = <const Job *> context
    cdef int64_t s, start = job.row_start[i]
    for s in range(job.t.n_functions[job.species[i]]):
        job.out[start + s] = 0.0
    centre_values(i, job.t, (<ThreadScratch *> scratch).s, job.species, job.pairs,
                  &job.out[start])
    return STATUS_OK


cdef int backward_item(const void *context, void *scratch, int64_t i) noexcept nogil:
    cdef const Job *job = <const Job *> context
    centre_backward(i, job.t, (<ThreadScratch *> scratch).s, job.species, job.pairs,
                    &job.dEdG[job.row_start[i]], job.out)
    return STATUS_OK


cdef int derivatives_item(const void *context, void *scratch, int64_t i) noexcept nogil:
    cdef const Job *job = <const Job *> context
    cdef ThreadScratch *ts = <ThreadScratch *> scratch
    centre_derivatives(i, job.t, ts.s, job.species, job.pairs, ts.local, job.slot_of_entry,
                       job.self_slot[i], &job.out[job.block_start[i]],
                       &job.strain[6 * job.row_start[i]])
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
