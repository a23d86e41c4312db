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
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memset
from libc.math cimport exp, sqrt, pow
from libc.stdint cimport int32_t, int64_t
from cython.parallel cimport prange, parallel


import numpy as np


cdef struct Tables:
    int n_elements
    int cutoff_type
    double alpha
    const double *rc_max             # [element] radius within which neighbours are gathered
    const double *angular_rc_max     # [element] largest rc of its angular functions
    const int64_t *radial_offsets    # CSR over (centre, neighbour element)
    const double *radial_eta
    const double *radial_rs
    const double *radial_rc
    const int32_t *radial_col
    const int64_t *factor_offsets    # CSR over centre element: distinct (eta, rs, rc)
    const double *factor_eta
    const double *factor_rs
    const double *factor_rc
    const int64_t *group_offsets     # CSR over (centre, element a <= element b)
    const int32_t *group_wide        # 1: type 9 (no R_jk terms), 0: type 3
    const int32_t *group_factor      # factor index local to the centre element
    const int64_t *member_offsets    # CSR over groups
    const double *member_lambda
    const double *member_zeta
    const double *member_prefactor   # 2^(1 - zeta)
    const int32_t *member_izeta      # zeta as an integer, or -1 when not integral
    const int32_t *member_col


cdef extern from "_simd.h" nogil:
    void fp_cutoff_block(int kind, int m, const double *r, double rc, double alpha, double *f,
                         double *df)
    void fp_gaussian_times(int m, const double *r, double eta, double rs, const double *f,
                           const double *df, double *g, double *dg)
    void fp_gaussian_cutoff_block(int kind, int m, const double *r, double eta, double rs,
                                  double rc, double alpha, double *g, double *dg)
    double fp_sum(int m, const double *x)
    double fp_angular_sum(int m, const double *cosv, const double *w, double lam, double zeta,
                          int izeta)
    void fp_angular_weights(int m, const double *cosv, double lam, double zeta, int izeta,
                            double cz, double *Q, double *Qc)
    void fp_angular_accumulate(int m, double Aj, double dAj, const double *Ak, const double *dAk,
                               const double *B, const double *dB, const double *Q,
                               const double *Qc, double *Sc, double *Sj, double *Sk,
                               double *Sjk)
    void fp_angular_scatter(int m, double Rj, double Xj, double Yj, double Zj, const double *Rk,
                            const double *Xk, const double *Yk, const double *Zk,
                            const double *cosv, const double *Rjk, const double *Sc,
                            const double *Sj, const double *Sk, const double *Sjk, double *gj,
                            double *gkx, double *gky, double *gkz)


cdef enum:
    N_ROWS = 16  # per-pair work rows in the scratch (see Scratch)


cdef struct Scratch:
    int64_t capacity
    int max_factors
    int n_elements
    # neighbours of the current centre, sorted by element: block b is start[b]..start[b+1]
    double *R
    double *X
    double *Y
    double *Z
    int64_t *entry
    int64_t *start
    # angular factors A[f * nn + n] and their R-derivatives
    double *A
    double *dA
    # rows of length capacity for the pair loop and the local gradient
    double *rows


cdef Scratch *scratch_new(int64_t capacity, int max_factors, int n_elements) noexcept nogil:
    """Per-thread work arrays for centres with up to `capacity` neighbour entries."""
    cdef Scratch *s = <Scratch *> calloc(1, sizeof(Scratch))
    if s == NULL:
        return NULL
    s.capacity = capacity if capacity > 0 else 1
    s.max_factors = max_factors if max_factors > 0 else 1
    s.n_elements = n_elements
    s.R = <double *> malloc(4 * s.capacity * sizeof(double))
    s.entry = <int64_t *> malloc(s.capacity * sizeof(int64_t))
    s.start = <int64_t *> malloc((n_elements + 2) * sizeof(int64_t))
    s.A = <double *> malloc(2 * s.capacity * s.max_factors * sizeof(double))
    s.rows = <double *> malloc(N_ROWS * s.capacity * sizeof(double))
    if s.R == NULL or s.entry == NULL or s.start == NULL or s.A == NULL or s.rows == NULL:
        scratch_delete(s)
        return NULL
    s.X = s.R + s.capacity
    s.Y = s.X + s.capacity
    s.Z = s.Y + s.capacity
    s.dA = s.A + s.capacity * s.max_factors
    return s


cdef void scratch_delete(Scratch *s) noexcept nogil:
    if s == NULL:
        return
    free(s.R)
    free(s.entry)
    free(s.start)
    free(s.A)
    free(s.rows)
    free(s)


cdef int64_t gather(int64_t i, double radius, const Tables *t, Scratch *s,
                    const int32_t *species, const int64_t *offsets, const int32_t *neighbors,
                    const double *vectors, const double *distances) noexcept nogil:
    """Copy the entries of centre i closer than `radius` into the scratch arrays, grouped by
    neighbour element (input order within an element); returns how many."""
    cdef int64_t p, n, b
    cdef int n_el = t.n_elements
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


cdef inline bint pair_geometry(Scratch *s, int64_t j, int64_t k0, int64_t m, bint need_rjk,
                               double *cosv, double *rjk) noexcept nogil:
    """cos(theta_jk) and, if asked, R_jk for the neighbours k0..k0+m-1 of neighbour j."""
    cdef int64_t k, kk
    cdef double xj = s.X[j], yj = s.Y[j], zj = s.Z[j], inv_rj = 1.0 / s.R[j]
    cdef double dx, dy, dz
    for k in range(m):
        kk = k0 + k
        cosv[k] = (xj * s.X[kk] + yj * s.Y[kk] + zj * s.Z[kk]) * inv_rj / s.R[kk]
    if need_rjk:
        for k in range(m):
            kk = k0 + k
            dx = s.X[kk] - xj
            dy = s.Y[kk] - yj
            dz = s.Z[kk] - zj
            rjk[k] = sqrt(dx * dx + dy * dy + dz * dz)
    return True


cdef void centre_values(int64_t i, const Tables *t, Scratch *s, const int32_t *species,
                        const int64_t *offsets, const int32_t *neighbors, const double *vectors,
                        const double *distances, double *G) noexcept nogil:
    """Symmetry-function values of centre atom i into G (its row, n2p2 order)."""
    cdef int e = species[i]
    cdef int n_el = t.n_elements
    cdef int64_t nn = gather(i, t.rc_max[e], t, s, species, offsets, neighbors, vectors,
                             distances)
    cdef int64_t cap = s.capacity
    cdef double *cosv = s.rows
    cdef double *rjk = s.rows + cap
    cdef double *W = s.rows + 2 * cap
    cdef double *fcjk = s.rows + 3 * cap
    cdef double *tmp = s.rows + 4 * cap
    cdef int64_t n, q, j, k, g, m, base, F, f, f0, k0, b, el_j
    cdef int lo, hi
    cdef bint need_rjk
    cdef double Aj, rc_ang, fc_rc
    # radial: per neighbour element block, one vector loop per function
    for b in range(n_el):
        k0 = s.start[b]
        m = s.start[b + 1] - k0
        if m == 0:
            continue
        base = e * n_el + b
        for q in range(t.radial_offsets[base], t.radial_offsets[base + 1]):
            fp_gaussian_cutoff_block(t.cutoff_type, m, &s.R[k0], t.radial_eta[q],
                                     t.radial_rs[q], t.radial_rc[q], t.alpha, tmp, NULL)
            G[t.radial_col[q]] += fp_sum(m, tmp)
    # angular
    f0 = t.factor_offsets[e]
    F = t.factor_offsets[e + 1] - f0
    if F == 0 or nn < 2:
        return
    for f in range(F):
        fp_gaussian_cutoff_block(t.cutoff_type, nn, s.R, t.factor_eta[f0 + f],
                                 t.factor_rs[f0 + f], t.factor_rc[f0 + f], t.alpha,
                                 &s.A[f * nn], NULL)
    rc_ang = t.angular_rc_max[e]
    el_j = 0
    for j in range(nn):
        while j >= s.start[el_j + 1]:
            el_j += 1
        if s.R[j] >= rc_ang:
            continue
        for b in range(el_j, n_el):
            k0 = s.start[b] if s.start[b] > j + 1 else j + 1
            m = s.start[b + 1] - k0
            if m <= 0:
                continue
            lo = el_j
            hi = b
            base = (e * n_el + lo) * n_el + hi
            if t.group_offsets[base] == t.group_offsets[base + 1]:
                continue
            need_rjk = False
            for g in range(t.group_offsets[base], t.group_offsets[base + 1]):
                if not t.group_wide[g]:
                    need_rjk = True
            pair_geometry(s, j, k0, m, need_rjk, cosv, rjk)
            fc_rc = -1.0
            for g in range(t.group_offsets[base], t.group_offsets[base + 1]):
                f = t.group_factor[g]
                Aj = s.A[f * nn + j]
                if Aj == 0.0:
                    continue
                for k in range(m):
                    W[k] = Aj * s.A[f * nn + k0 + k]
                if not t.group_wide[g]:
                    if t.factor_rc[f0 + f] != fc_rc:  # cutoff of R_jk, shared by equal rc
                        fc_rc = t.factor_rc[f0 + f]
                        fp_cutoff_block(t.cutoff_type, m, rjk, fc_rc, t.alpha, fcjk, NULL)
                    fp_gaussian_times(m, rjk, t.factor_eta[f0 + f], t.factor_rs[f0 + f], fcjk,
                                      NULL, tmp, NULL)
                    for k in range(m):
                        W[k] *= tmp[k]
                for q in range(t.member_offsets[g], t.member_offsets[g + 1]):
                    G[t.member_col[q]] += t.member_prefactor[q] * fp_angular_sum(
                        m, cosv, W, t.member_lambda[q], t.member_zeta[q], t.member_izeta[q])


cdef void centre_backward(int64_t i, const Tables *t, Scratch *s, const int32_t *species,
                          const int64_t *offsets, const int32_t *neighbors,
                          const double *vectors, const double *distances, const double *c,
                          double *grad_entry) noexcept nogil:
    """Gradient of S_i = sum_s c_s G_is with respect to each entry vector D_n of centre i,
    written to grad_entry[3 * entry]. `c` is centre i's row of dE/dG.

    Per pair (j, k) the members' weights are folded into four scalars, the derivatives of S_i
    with respect to cos(theta), R_j, R_k and R_jk, before any vector is touched."""
    cdef int e = species[i]
    cdef int n_el = t.n_elements
    cdef int64_t nn = gather(i, t.rc_max[e], t, s, species, offsets, neighbors, vectors,
                             distances)
    cdef int64_t cap = s.capacity
    cdef double *cosv = s.rows
    cdef double *rjk = s.rows + cap
    cdef double *fcjk = s.rows + 2 * cap
    cdef double *dfcjk = s.rows + 3 * cap
    cdef double *B = s.rows + 4 * cap
    cdef double *dB = s.rows + 5 * cap
    cdef double *Q = s.rows + 6 * cap
    cdef double *Qc = s.rows + 7 * cap
    cdef double *Sc = s.rows + 8 * cap
    cdef double *Sj = s.rows + 9 * cap
    cdef double *Sk = s.rows + 10 * cap
    cdef double *Sjk = s.rows + 11 * cap
    cdef double *gx = s.rows + 12 * cap
    cdef double *gy = s.rows + 13 * cap
    cdef double *gz = s.rows + 14 * cap
    cdef double *acc = s.rows + 15 * cap
    cdef double *tmp = s.A  # radial scratch: the factors are filled after the radial part
    cdef double *dtmp = s.dA
    cdef int64_t n, q, j, k, g, m, base, F, f, f0, k0, b, el_j
    cdef bint need_rjk, any_member
    cdef double Aj, dAj, rc_ang, fc_rc, cz, gj[3]
    for n in range(nn):
        gx[n] = 0.0
        gy[n] = 0.0
        gz[n] = 0.0
    # radial: dS/dD_n = (sum_s c_s dG_s/dR_n) D_n / R_n
    for b in range(n_el):
        k0 = s.start[b]
        m = s.start[b + 1] - k0
        if m == 0:
            continue
        base = e * n_el + b
        if t.radial_offsets[base] == t.radial_offsets[base + 1]:
            continue
        for k in range(m):
            acc[k] = 0.0
        for q in range(t.radial_offsets[base], t.radial_offsets[base + 1]):
            cz = c[t.radial_col[q]]
            if cz == 0.0:
                continue
            fp_gaussian_cutoff_block(t.cutoff_type, m, &s.R[k0], t.radial_eta[q],
                                     t.radial_rs[q], t.radial_rc[q], t.alpha, tmp, dtmp)
            for k in range(m):
                acc[k] += cz * dtmp[k]
        for k in range(m):
            n = k0 + k
            acc[k] /= s.R[n]
            gx[n] += acc[k] * s.X[n]
            gy[n] += acc[k] * s.Y[n]
            gz[n] += acc[k] * s.Z[n]
    # angular
    f0 = t.factor_offsets[e]
    F = t.factor_offsets[e + 1] - f0
    if F > 0 and nn >= 2:
        for f in range(F):
            fp_gaussian_cutoff_block(t.cutoff_type, nn, s.R, t.factor_eta[f0 + f],
                                     t.factor_rs[f0 + f], t.factor_rc[f0 + f], t.alpha,
                                     &s.A[f * nn], &s.dA[f * nn])
        rc_ang = t.angular_rc_max[e]
        el_j = 0
        for j in range(nn):
            while j >= s.start[el_j + 1]:
                el_j += 1
            if s.R[j] >= rc_ang:
                continue
            for b in range(el_j, n_el):
                k0 = s.start[b] if s.start[b] > j + 1 else j + 1
                m = s.start[b + 1] - k0
                if m <= 0:
                    continue
                base = (e * n_el + el_j) * n_el + b
                if t.group_offsets[base] == t.group_offsets[base + 1]:
                    continue
                need_rjk = False
                for g in range(t.group_offsets[base], t.group_offsets[base + 1]):
                    if not t.group_wide[g]:
                        need_rjk = True
                pair_geometry(s, j, k0, m, need_rjk, cosv, rjk)
                for k in range(m):
                    Sc[k] = 0.0
                    Sj[k] = 0.0
                    Sk[k] = 0.0
                    Sjk[k] = 0.0
                fc_rc = -1.0
                for g in range(t.group_offsets[base], t.group_offsets[base + 1]):
                    f = t.group_factor[g]
                    Aj = s.A[f * nn + j]
                    if Aj == 0.0:
                        continue
                    dAj = s.dA[f * nn + j]
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
                        fp_angular_weights(m, cosv, t.member_lambda[q], t.member_zeta[q],
                                           t.member_izeta[q], cz, Q, Qc)
                    if not any_member:
                        continue
                    if t.group_wide[g]:
                        fp_angular_accumulate(m, Aj, dAj, &s.A[f * nn + k0], &s.dA[f * nn + k0],
                                              NULL, NULL, Q, Qc, Sc, Sj, Sk, Sjk)
                    else:
                        if t.factor_rc[f0 + f] != fc_rc:
                            fc_rc = t.factor_rc[f0 + f]
                            fp_cutoff_block(t.cutoff_type, m, rjk, fc_rc, t.alpha, fcjk, dfcjk)
                        fp_gaussian_times(m, rjk, t.factor_eta[f0 + f], t.factor_rs[f0 + f],
                                          fcjk, dfcjk, B, dB)
                        fp_angular_accumulate(m, Aj, dAj, &s.A[f * nn + k0], &s.dA[f * nn + k0],
                                              B, dB, Q, Qc, Sc, Sj, Sk, Sjk)
                gj[0] = 0.0
                gj[1] = 0.0
                gj[2] = 0.0
                fp_angular_scatter(m, s.R[j], s.X[j], s.Y[j], s.Z[j], &s.R[k0], &s.X[k0],
                                   &s.Y[k0], &s.Z[k0], cosv, rjk if need_rjk else NULL, Sc, Sj,
                                   Sk, Sjk, gj, &gx[k0], &gy[k0], &gz[k0])
                gx[j] += gj[0]
                gy[j] += gj[1]
                gz[j] += gj[2]
    for n in range(nn):
        q = 3 * s.entry[n]
        grad_entry[q] = gx[n]
        grad_entry[q + 1] = gy[n]
        grad_entry[q + 2] = gz[n]


cdef class KernelTables:
    """Owns the table arrays and exposes them as a C struct to the kernels."""
    cdef Tables t
    cdef object arrays
    cdef public int max_factors

    def __init__(self, int n_elements, int cutoff_type, double alpha, dict arrays):
        self.arrays = {key: np.ascontiguousarray(value) for key, value in arrays.items()}
        a = self.arrays
        self.t.n_elements = n_elements
        self.t.cutoff_type = cutoff_type
        self.t.alpha = alpha
        self.t.rc_max = _double_ptr(a["rc_max"])
        self.t.angular_rc_max = _double_ptr(a["angular_rc_max"])
        self.t.radial_offsets = _int64_ptr(a["radial_offsets"])
        self.t.radial_eta = _double_ptr(a["radial_eta"])
        self.t.radial_rs = _double_ptr(a["radial_rs"])
        self.t.radial_rc = _double_ptr(a["radial_rc"])
        self.t.radial_col = _int32_ptr(a["radial_col"])
        self.t.factor_offsets = _int64_ptr(a["factor_offsets"])
        self.t.factor_eta = _double_ptr(a["factor_eta"])
        self.t.factor_rs = _double_ptr(a["factor_rs"])
        self.t.factor_rc = _double_ptr(a["factor_rc"])
        self.t.group_offsets = _int64_ptr(a["group_offsets"])
        self.t.group_wide = _int32_ptr(a["group_wide"])
        self.t.group_factor = _int32_ptr(a["group_factor"])
        self.t.member_offsets = _int64_ptr(a["member_offsets"])
        self.t.member_lambda = _double_ptr(a["member_lambda"])
        self.t.member_zeta = _double_ptr(a["member_zeta"])
        self.t.member_prefactor = _double_ptr(a["member_prefactor"])
        self.t.member_izeta = _int32_ptr(a["member_izeta"])
        self.t.member_col = _int32_ptr(a["member_col"])
        factor_offsets = a["factor_offsets"]
        self.max_factors = int(np.diff(factor_offsets).max()) if len(factor_offsets) > 1 else 0


cdef const double *_double_ptr(object array) except NULL:
    cdef const double[::1] view = array  # exact dtype required: no temporary copy
    if view.shape[0] == 0:
        return <const double *> &_EMPTY_DOUBLE
    return &view[0]


cdef const int64_t *_int64_ptr(object array) except NULL:
    cdef const int64_t[::1] view = array  # exact dtype required: no temporary copy
    if view.shape[0] == 0:
        return <const int64_t *> &_EMPTY_INT64
    return &view[0]


cdef const int32_t *_int32_ptr(object array) except NULL:
    cdef const int32_t[::1] view = array  # exact dtype required: no temporary copy
    if view.shape[0] == 0:
        return <const int32_t *> &_EMPTY_INT32
    return &view[0]


cdef double _EMPTY_DOUBLE = 0.0
cdef int64_t _EMPTY_INT64 = 0
cdef int32_t _EMPTY_INT32 = 0


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
        scratch = scratch_new(capacity, tables.max_factors, tables.t.n_elements)
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
        scratch = scratch_new(capacity, tables.max_factors, tables.t.n_elements)
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
                    double[:, ::1] gradient, double[:, ::1] strain):
    """Positions gradient and strain derivative from per-entry gradients (in entry order, so
    the sums are the same for any thread count): entry (i -> j) adds g to j and -g to i;
    the strain derivative is sum over entries of D (x) g."""
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
                    gradient[j, a] += grad_entry[p, a]
                    gradient[i, a] -= grad_entry[p, a]
                    for b in range(3):
                        w[3 * a + b] += grad_entry[p, a] * vectors[p, b]
    for a in range(3):
        for b in range(3):
            strain[a, b] += w[3 * a + b]
