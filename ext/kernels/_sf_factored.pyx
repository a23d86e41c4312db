"""Symmetry functions in factored form: n2p2 types 12 and 13 (element-weighted Gaussian,
Gastegger et al. 2018) and 20-25 (polynomial or "compact", Bircher et al. 2021), with their
exact derivatives. ext/kernels/n2p2_types_12_to_25.md has the definitions; the Python layer
(fastpot/symmetry.py) sorts the functions into n2p2's order and builds the tables
(ext/_contract.pxd `Factored`).

Every one of these functions is
- radial: a sum over neighbours n (of one element, or all of them weighted by Z_n) of a
  per-neighbour radial factor F(R_n), or
- angular: a sum over neighbour pairs (j, k) of F(R_j) F(R_k) [F(R_jk)] A(theta_jk) (times
  Z_j Z_k for the weighted types), where F is one of the centre's radial factors and A an
  angular factor (a power of 1 + lambda cos, or a compact bump of the angle).
Functions sharing neighbour elements form a group; a pair of a group evaluates each of its
distinct radial and angular factors once, and each member (one function) is then one product
per pair: G[col] = sum over pairs of RW[factor] CA[angle], a small matrix product over a batch
of pairs. The backward pass folds the members' weights into per-factor sums (SR, SA), so that
it costs about two value passes whatever the number of functions, and keeps nothing between
passes (it regenerates the pairs: memory stays one batch of rows).

Each centre writes only its own outputs, in a fixed order: results do not depend on threads.
"""
from libc.stdlib cimport malloc, calloc, free
from libc.stdint cimport int32_t, int64_t

from _contract cimport (Factored, FACTOR_GAUSSIAN, FACTOR_COMPACT, ANGLE_POWER,
                        ANGLE_COMPACT)
from _simd cimport *
from _compact cimport fp_compact_block, fp_pair_angles


cdef enum:
    BATCH = 256          # neighbour pairs processed together
    ROW_PAD = 8          # doubles added to the row strides (4K aliasing, see _sf.pyx)
    FIXED_ROWS = 23      # pair rows besides the per-factor and per-angle ones (see rows_of)


cdef struct Rows:
    # the pair rows of one batch (each `stride` long)
    double *cosv
    double *rjk          # R_jk (narrow groups)
    double *inv_rjk
    double *theta
    double *dtheta       # d theta / d cos
    double *valid        # 1 where -1 < cos < 1
    double *W            # pair weight Z_j Z_k (weighted groups)
    double *Sc           # d/dcos, d/dR_j, d/dR_k, d/dR_jk of the weighted sum (backward)
    double *Sj
    double *Sk
    double *Sjk
    double *Fj           # one radial factor at R_j, R_k, R_jk and its slopes
    double *Fk
    double *dFj
    double *dFk
    double *Fjk
    double *dFjk
    double *out          # 6 rows for fp_angular_scatter
    double *RW           # [group factor] F(R_j) F(R_k) [F(R_jk)]
    double *SR           # [group factor] sum over its members of c CA
    double *Tj           # [group factor] partial derivatives of RW (stored derivatives)
    double *Tk
    double *Tjk
    double *CA           # [group angle] angular factor (times W)
    double *dCA          # its cos-derivative
    double *SA           # [group angle] sum over its members of c RW


cdef Rows rows_of(FactoredScratch *fs, const Factored *ft) noexcept nogil:
    cdef Rows r
    cdef int64_t B_ = fs.stride
    cdef int64_t nf = ft.max_group_factors, na = ft.max_group_angles
    cdef double *p = fs.rows
    r.cosv = p
    r.rjk = p + B_
    r.inv_rjk = p + 2 * B_
    r.theta = p + 3 * B_
    r.dtheta = p + 4 * B_
    r.valid = p + 5 * B_
    r.W = p + 6 * B_
    r.Sc = p + 7 * B_
    r.Sj = p + 8 * B_
    r.Sk = p + 9 * B_
    r.Sjk = p + 10 * B_
    r.Fj = p + 11 * B_
    r.Fk = p + 12 * B_
    r.dFj = p + 13 * B_
    r.dFk = p + 14 * B_
    r.Fjk = p + 15 * B_
    r.dFjk = p + 16 * B_
    r.out = p + 17 * B_
    p = p + FIXED_ROWS * B_
    r.RW = p
    r.SR = p + nf * B_
    r.Tj = p + 2 * nf * B_
    r.Tk = p + 3 * nf * B_
    r.Tjk = p + 4 * nf * B_
    p = p + 5 * nf * B_
    r.CA = p
    r.dCA = p + na * B_
    r.SA = p + 2 * na * B_
    return r


cdef FactoredScratch *factored_scratch_new(int64_t capacity,
                                           const Factored *ft) noexcept nogil:
    """Per-thread work arrays for centres with up to `capacity` neighbours."""
    cdef FactoredScratch *fs = <FactoredScratch *> calloc(1, sizeof(FactoredScratch))
    cdef int64_t nf = ft.max_factors if ft.max_factors > 0 else 1
    if fs == NULL:
        return NULL
    fs.capacity = ((capacity if capacity > 0 else 1) + 7) // 8 * 8 + ROW_PAD
    fs.stride = BATCH + ROW_PAD
    fs.n_rows = FIXED_ROWS + 5 * ft.max_group_factors + 3 * ft.max_group_angles
    fs.F = <double *> malloc(2 * nf * fs.capacity * sizeof(double))
    fs.weight = <double *> malloc(2 * fs.capacity * sizeof(double))
    fs.pair_j = <int64_t *> malloc(2 * fs.stride * sizeof(int64_t))
    fs.rows = <double *> malloc(fs.n_rows * fs.stride * sizeof(double))
    if fs.F == NULL or fs.weight == NULL or fs.pair_j == NULL or fs.rows == NULL:
        factored_scratch_delete(fs)
        return NULL
    fs.dF = fs.F + nf * fs.capacity
    fs.acc = fs.weight + fs.capacity
    fs.pair_k = fs.pair_j + fs.stride
    return fs


cdef void factored_scratch_delete(FactoredScratch *fs) noexcept nogil:
    if fs == NULL:
        return
    free(fs.F)
    free(fs.weight)
    free(fs.pair_j)
    free(fs.rows)
    free(fs)


# -- per-neighbour radial factors ------------------------------------------------------------

cdef void radial_factor(const Factored *ft, int64_t f, const Neighbours *nb, int64_t m,
                        const double *r, double *F, double *dF) noexcept nogil:
    """Radial factor f (global index) at the m distances r, slopes into dF unless NULL."""
    if ft.factor_shape[f] == FACTOR_COMPACT:
        fp_compact_block(m, r, ft.factor_rl[f], ft.factor_rc[f], ft.factor_core[f],
                         ft.factor_asym[f], F, dF)
    else:
        fp_cutoff_block(nb.cutoff_type, m, r, ft.factor_rc[f], nb.alpha, F, dF)
        fp_gaussian_times(m, r, ft.factor_eta[f], ft.factor_rs[f], F, dF, F, dF)


cdef void fill_factors(int e, const Factored *ft, const Neighbours *nb, FactoredScratch *fs,
                       bint slopes) noexcept nogil:
    """F (and dF) of every radial factor of element e at every neighbour, and the neighbour
    weights Z."""
    cdef int64_t f, f0 = ft.factor_offsets[e], b, n, cap = fs.capacity
    for f in range(ft.factor_offsets[e + 1] - f0):
        radial_factor(ft, f0 + f, nb, nb.n, nb.R, &fs.F[f * cap],
                      &fs.dF[f * cap] if slopes else NULL)
    for b in range(nb.n_elements):
        for n in range(nb.start[b], nb.start[b + 1]):
            fs.weight[n] = ft.z[b]


cdef void radial_range(const Factored *ft, const Neighbours *nb, int64_t q, int64_t *n0,
                       int64_t *n1) noexcept nogil:
    if ft.radial_neighbor[q] >= 0:
        n0[0] = nb.start[ft.radial_neighbor[q]]
        n1[0] = nb.start[ft.radial_neighbor[q] + 1]
    else:
        n0[0] = 0
        n1[0] = nb.n


# -- neighbour pairs ---------------------------------------------------------------------------

cdef struct PairCursor:
    int64_t j            # current first neighbour
    int64_t k            # next partner of j to consider (-1: start of j's partners)


cdef int64_t next_batch(const Factored *ft, int64_t g, const Neighbours *nb,
                        FactoredScratch *fs, PairCursor *cursor) noexcept nogil:
    """The next batch of pairs (j, k) of group g, k > j, with both distances inside the
    group's widest window (and, for narrow groups, R_jk below its rc); R_jk^2 goes to row 1.
    Returns how many (0: the group is done)."""
    cdef int64_t a0, a1, b0, b1, k0, k, count = 0
    cdef double rl = ft.group_rl[g], rc = ft.group_rc[g]
    cdef double cut2 = rc * rc if ft.group_narrow[g] else 1e300
    cdef double xj, yj, zj, dx, dy, dz, d2
    cdef double *r2 = fs.rows + fs.stride
    if ft.group_a[g] >= 0:
        a0 = nb.start[ft.group_a[g]]
        a1 = nb.start[ft.group_a[g] + 1]
        b0 = nb.start[ft.group_b[g]]
        b1 = nb.start[ft.group_b[g] + 1]
    else:
        a0 = 0
        a1 = nb.n
        b0 = 0
        b1 = nb.n
    while cursor.j < a1:
        k0 = b0 if b0 > cursor.j + 1 else cursor.j + 1
        if cursor.k < k0:
            cursor.k = k0
        if not (nb.R[cursor.j] > rl and nb.R[cursor.j] < rc) or cursor.k >= b1:
            cursor.j += 1
            cursor.k = -1
            continue
        if count == BATCH:
            break
        xj = nb.X[cursor.j]
        yj = nb.Y[cursor.j]
        zj = nb.Z[cursor.j]
        # branch-free: every candidate is written, the count advances for the kept ones
        while cursor.k < b1 and count < BATCH:
            k = cursor.k
            dx = nb.X[k] - xj
            dy = nb.Y[k] - yj
            dz = nb.Z[k] - zj
            d2 = dx * dx + dy * dy + dz * dz
            fs.pair_j[count] = cursor.j
            fs.pair_k[count] = k
            r2[count] = d2
            count += (nb.R[k] > rl) & (nb.R[k] < rc) & (d2 < cut2)
            cursor.k += 1
    return count


cdef void batch_angles(const Factored *ft, int64_t g, const Neighbours *nb,
                       FactoredScratch *fs, Rows *r, int64_t m, bint slopes) noexcept nogil:
    """Geometry of the m pairs and the group's angular factors CA (and dCA), times W."""
    cdef int64_t p, q, a0 = ft.angle_offsets[g], na = ft.angle_offsets[g + 1] - a0
    cdef int64_t B_ = fs.stride
    cdef bint compact = False, weighted = ft.group_a[g] < 0
    cdef double *CA
    cdef double *dCA
    fp_pair_geometry(m, fs.pair_j, fs.pair_k, nb.inv_R, nb.X, nb.Y, nb.Z, r.cosv, r.rjk)
    for q in range(na):
        compact = compact or ft.angle_shape[a0 + q] == ANGLE_COMPACT
    if compact:
        fp_pair_angles(m, r.cosv, r.theta, r.dtheta if slopes else NULL, r.valid)
    if weighted:
        fp_take(m, fs.weight, fs.pair_j, r.W)
        fp_take(m, fs.weight, fs.pair_k, r.Fj)
        for p in range(m):
            r.W[p] *= r.Fj[p]
    for q in range(na):
        CA = r.CA + q * B_
        dCA = r.dCA + q * B_
        if ft.angle_shape[a0 + q] == ANGLE_COMPACT:
            fp_compact_block(m, r.theta, ft.angle_p1[a0 + q], ft.angle_p2[a0 + q],
                             ft.angle_core[a0 + q], 0, CA, dCA if slopes else NULL)
            for p in range(m):
                CA[p] *= r.valid[p]
            if slopes:
                for p in range(m):
                    dCA[p] *= r.dtheta[p]
        else:
            fp_angular_powers(m, r.cosv, ft.angle_p1[a0 + q], ft.angle_p2[a0 + q],
                              ft.angle_izeta[a0 + q], CA, dCA if slopes else NULL)
            for p in range(m):
                CA[p] *= ft.angle_prefactor[a0 + q]
            if slopes:
                for p in range(m):
                    dCA[p] *= ft.angle_prefactor[a0 + q]
        if weighted:
            for p in range(m):
                CA[p] *= r.W[p]
            if slopes:
                for p in range(m):
                    dCA[p] *= r.W[p]


cdef void batch_factor(int e, const Factored *ft, int64_t g, int64_t w,
                       const Neighbours *nb, FactoredScratch *fs, Rows *r, int64_t m,
                       bint slopes) noexcept nogil:
    """RW[w] of the m pairs: group factor w at R_j, R_k (and R_jk), and with `slopes` the
    factors and slopes left in Fj, Fk, Fjk, dFj, dFk, dFjk (Fjk = 1, dFjk = 0 when wide)."""
    cdef int64_t f = ft.gfactor[ft.gfactor_offsets[g] + w]
    cdef int64_t cap = fs.capacity, p
    cdef double *RW = r.RW + w * fs.stride
    fp_take(m, &fs.F[f * cap], fs.pair_j, r.Fj)
    fp_take(m, &fs.F[f * cap], fs.pair_k, r.Fk)
    if slopes:
        fp_take(m, &fs.dF[f * cap], fs.pair_j, r.dFj)
        fp_take(m, &fs.dF[f * cap], fs.pair_k, r.dFk)
    if ft.group_narrow[g]:
        radial_factor(ft, ft.factor_offsets[e] + f, nb, m, r.rjk, r.Fjk,
                      r.dFjk if slopes else NULL)
        for p in range(m):
            RW[p] = r.Fj[p] * r.Fk[p] * r.Fjk[p]
    else:
        for p in range(m):
            RW[p] = r.Fj[p] * r.Fk[p]
        if slopes:
            for p in range(m):
                r.Fjk[p] = 1.0
                r.dFjk[p] = 0.0


cdef void scatter(const Factored *ft, int64_t g, const Neighbours *nb, FactoredScratch *fs,
                  Rows *r, int64_t m, double *gx, double *gy, double *gz) noexcept nogil:
    """Sc, Sj, Sk, Sjk of the m pairs turned into gradients of the neighbour vectors."""
    if ft.group_narrow[g]:
        fp_reciprocal_positive(m, r.rjk)  # R_jk -> 1 / R_jk (rjk is not needed after this)
    fp_angular_scatter(m, fs.pair_j, fs.pair_k, nb.inv_R, nb.X, nb.Y, nb.Z, r.cosv,
                       r.rjk if ft.group_narrow[g] else NULL, r.Sc, r.Sj, r.Sk, r.Sjk,
                       r.out, gx, gy, gz)


# -- the three passes --------------------------------------------------------------------------

cdef void factored_values(int e, const Factored *ft, const Neighbours *nb,
                          FactoredScratch *fs, double *G) noexcept nogil:
    """The factored functions of a centre of element e added to its row G."""
    cdef int64_t q, g, w, n, n0, n1, m, nf, B_ = fs.stride
    cdef double sum
    cdef PairCursor cursor
    cdef Rows r = rows_of(fs, ft)
    if nb.n == 0:
        return
    fill_factors(e, ft, nb, fs, False)
    for q in range(ft.radial_offsets[e], ft.radial_offsets[e + 1]):
        radial_range(ft, nb, q, &n0, &n1)
        if ft.radial_neighbor[q] >= 0:
            G[ft.radial_col[q]] += fp_sum(n1 - n0, &fs.F[ft.radial_factor[q] * fs.capacity
                                                         + n0])
        else:
            G[ft.radial_col[q]] += fp_dot(n1, &fs.F[ft.radial_factor[q] * fs.capacity],
                                          fs.weight)
    for g in range(ft.group_offsets[e], ft.group_offsets[e + 1]):
        nf = ft.gfactor_offsets[g + 1] - ft.gfactor_offsets[g]
        cursor.j = 0 if ft.group_a[g] < 0 else nb.start[ft.group_a[g]]
        cursor.k = -1
        while True:
            m = next_batch(ft, g, nb, fs, &cursor)
            if m == 0:
                break
            batch_angles(ft, g, nb, fs, &r, m, False)
            for w in range(nf):
                batch_factor(e, ft, g, w, nb, fs, &r, m, False)
            for q in range(ft.member_offsets[g], ft.member_offsets[g + 1]):
                G[ft.member_col[q]] += fp_dot(m, r.RW + ft.member_factor[q] * B_,
                                              r.CA + ft.member_angle[q] * B_)


cdef void factored_backward(int e, const Factored *ft, const Neighbours *nb,
                            FactoredScratch *fs, const double *c, double *gx, double *gy,
                            double *gz) noexcept nogil:
    """Adds to (gx, gy, gz)[n] the gradient of sum_s c_s G_s (factored functions of a centre
    of element e) with respect to the neighbour vector D_n."""
    cdef int64_t q, g, w, a, n, n0, n1, m, nf, na, p, f, cap = fs.capacity, B_ = fs.stride
    cdef double cq, s
    cdef double *SR
    cdef bint any_member
    cdef PairCursor cursor
    cdef Rows r = rows_of(fs, ft)
    if nb.n == 0:
        return
    fill_factors(e, ft, nb, fs, True)
    # radial: dS/dD_n = (sum_s c_s w_n dF_s/dR_n) D_n / R_n
    any_member = False
    for n in range(nb.n):
        fs.acc[n] = 0.0
    for q in range(ft.radial_offsets[e], ft.radial_offsets[e + 1]):
        cq = c[ft.radial_col[q]]
        if cq == 0.0:
            continue
        any_member = True
        radial_range(ft, nb, q, &n0, &n1)
        f = ft.radial_factor[q]
        if ft.radial_neighbor[q] >= 0:
            fp_axpy(n1 - n0, cq, &fs.dF[f * cap + n0], &fs.acc[n0])
        else:
            for n in range(n1):
                fs.acc[n] += cq * fs.weight[n] * fs.dF[f * cap + n]
    if any_member:
        for n in range(nb.n):
            s = fs.acc[n] * nb.inv_R[n]
            gx[n] += s * nb.X[n]
            gy[n] += s * nb.Y[n]
            gz[n] += s * nb.Z[n]
    for g in range(ft.group_offsets[e], ft.group_offsets[e + 1]):
        any_member = False
        for q in range(ft.member_offsets[g], ft.member_offsets[g + 1]):
            any_member = any_member or c[ft.member_col[q]] != 0.0
        if not any_member:
            continue
        nf = ft.gfactor_offsets[g + 1] - ft.gfactor_offsets[g]
        na = ft.angle_offsets[g + 1] - ft.angle_offsets[g]
        cursor.j = 0 if ft.group_a[g] < 0 else nb.start[ft.group_a[g]]
        cursor.k = -1
        while True:
            m = next_batch(ft, g, nb, fs, &cursor)
            if m == 0:
                break
            batch_angles(ft, g, nb, fs, &r, m, True)
            # SR[w] = sum over the members of factor w of c CA[angle]
            for w in range(nf):
                SR = r.SR + w * B_
                for p in range(m):
                    SR[p] = 0.0
            for q in range(ft.member_offsets[g], ft.member_offsets[g + 1]):
                cq = c[ft.member_col[q]]
                if cq != 0.0:
                    fp_axpy(m, cq, r.CA + ft.member_angle[q] * B_,
                            r.SR + ft.member_factor[q] * B_)
            for p in range(m):
                r.Sj[p] = 0.0
                r.Sk[p] = 0.0
                r.Sjk[p] = 0.0
                r.Sc[p] = 0.0
            for w in range(nf):
                batch_factor(e, ft, g, w, nb, fs, &r, m, True)
                SR = r.SR + w * B_
                for p in range(m):
                    r.Sj[p] += SR[p] * r.dFj[p] * r.Fk[p] * r.Fjk[p]
                    r.Sk[p] += SR[p] * r.Fj[p] * r.dFk[p] * r.Fjk[p]
                    r.Sjk[p] += SR[p] * r.Fj[p] * r.Fk[p] * r.dFjk[p]
            # SA[a] = sum over the members of angle a of c RW[factor]; Sc = sum SA dCA
            for a in range(na):
                for p in range(m):
                    r.SA[a * B_ + p] = 0.0
            for q in range(ft.member_offsets[g], ft.member_offsets[g + 1]):
                cq = c[ft.member_col[q]]
                if cq != 0.0:
                    fp_axpy(m, cq, r.RW + ft.member_factor[q] * B_,
                            r.SA + ft.member_angle[q] * B_)
            for a in range(na):
                for p in range(m):
                    r.Sc[p] += r.SA[a * B_ + p] * r.dCA[a * B_ + p]
            scatter(ft, g, nb, fs, &r, m, gx, gy, gz)


cdef void factored_derivatives(int e, const Factored *ft, const Neighbours *nb,
                               FactoredScratch *fs, double *local) noexcept nogil:
    """Adds the gradient of every factored function s of a centre of element e with respect
    to each neighbour vector D_n into local[(3 s + x) nn + n] (nn = nb.n)."""
    cdef int64_t q, g, w, n, n0, n1, m, nf, p, f, col, nn = nb.n
    cdef int64_t cap = fs.capacity, B_ = fs.stride
    cdef double s
    cdef double *gx
    cdef double *CA
    cdef double *RW
    cdef PairCursor cursor
    cdef Rows r = rows_of(fs, ft)
    if nn == 0:
        return
    fill_factors(e, ft, nb, fs, True)
    for q in range(ft.radial_offsets[e], ft.radial_offsets[e + 1]):
        radial_range(ft, nb, q, &n0, &n1)
        f = ft.radial_factor[q]
        gx = &local[3 * ft.radial_col[q] * nn]
        for n in range(n0, n1):
            s = fs.dF[f * cap + n] * nb.inv_R[n]
            if ft.radial_neighbor[q] < 0:
                s *= fs.weight[n]
            gx[n] += s * nb.X[n]
            gx[nn + n] += s * nb.Y[n]
            gx[2 * nn + n] += s * nb.Z[n]
    for g in range(ft.group_offsets[e], ft.group_offsets[e + 1]):
        nf = ft.gfactor_offsets[g + 1] - ft.gfactor_offsets[g]
        cursor.j = 0 if ft.group_a[g] < 0 else nb.start[ft.group_a[g]]
        cursor.k = -1
        while True:
            m = next_batch(ft, g, nb, fs, &cursor)
            if m == 0:
                break
            batch_angles(ft, g, nb, fs, &r, m, True)
            for w in range(nf):
                batch_factor(e, ft, g, w, nb, fs, &r, m, True)
                for p in range(m):
                    r.Tj[w * B_ + p] = r.dFj[p] * r.Fk[p] * r.Fjk[p]
                    r.Tk[w * B_ + p] = r.Fj[p] * r.dFk[p] * r.Fjk[p]
                    r.Tjk[w * B_ + p] = r.Fj[p] * r.Fk[p] * r.dFjk[p]
            if ft.group_narrow[g]:
                fp_reciprocal_positive(m, r.rjk)
            for q in range(ft.member_offsets[g], ft.member_offsets[g + 1]):
                col = ft.member_col[q]
                w = ft.member_factor[q]
                CA = r.CA + ft.member_angle[q] * B_
                RW = r.RW + w * B_
                for p in range(m):
                    r.Sc[p] = RW[p] * r.dCA[ft.member_angle[q] * B_ + p]
                    r.Sj[p] = CA[p] * r.Tj[w * B_ + p]
                    r.Sk[p] = CA[p] * r.Tk[w * B_ + p]
                    r.Sjk[p] = CA[p] * r.Tjk[w * B_ + p]
                gx = &local[3 * col * nn]
                fp_angular_scatter(m, fs.pair_j, fs.pair_k, nb.inv_R, nb.X, nb.Y, nb.Z,
                                   r.cosv, r.rjk if ft.group_narrow[g] else NULL, r.Sc, r.Sj,
                                   r.Sk, r.Sjk, r.out, gx, gx + nn, gx + 2 * nn)
