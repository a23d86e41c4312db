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
from libc.string cimport memset
from libc.math cimport exp, sqrt, pow
from libc.stdint cimport int32_t, int64_t
from cython.parallel cimport prange, parallel

from _cutoff cimport cutoff_value

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


cdef struct Scratch:
    int64_t capacity
    int max_factors
    double *R
    double *D
    int32_t *element
    int64_t *entry
    double *A
    double *dA


cdef Scratch *scratch_new(int64_t capacity, int max_factors) noexcept nogil:
    """Per-thread work arrays for centres with up to `capacity` neighbour entries."""
    cdef Scratch *s = <Scratch *> malloc(sizeof(Scratch))
    if s == NULL:
        return NULL
    s.capacity = capacity if capacity > 0 else 1
    s.max_factors = max_factors if max_factors > 0 else 1
    s.R = <double *> malloc(s.capacity * sizeof(double))
    s.D = <double *> malloc(3 * s.capacity * sizeof(double))
    s.element = <int32_t *> malloc(s.capacity * sizeof(int32_t))
    s.entry = <int64_t *> malloc(s.capacity * sizeof(int64_t))
    s.A = <double *> malloc(s.capacity * s.max_factors * sizeof(double))
    s.dA = <double *> malloc(s.capacity * s.max_factors * sizeof(double))
    if (s.R == NULL or s.D == NULL or s.element == NULL or s.entry == NULL or s.A == NULL
            or s.dA == NULL):
        scratch_delete(s)
        return NULL
    return s


cdef void scratch_delete(Scratch *s) noexcept nogil:
    if s == NULL:
        return
    free(s.R)
    free(s.D)
    free(s.element)
    free(s.entry)
    free(s.A)
    free(s.dA)
    free(s)


cdef inline double int_power(double x, int n) noexcept nogil:
    """x^n by repeated multiplication (n2p2 does the same for integer zeta)."""
    cdef double result = 1.0
    cdef int k
    for k in range(n):
        result *= x
    return result


cdef inline double zeta_power(double P, double zeta, int izeta) noexcept nogil:
    if izeta >= 0:
        return int_power(P, izeta)
    return pow(P, zeta)


cdef inline double gaussian_factor(double R, double eta, double rs, double rc, int cutoff_type,
                                   double alpha, double *derivative) noexcept nogil:
    """exp(-eta (R - rs)^2) f_c(R) and its R-derivative."""
    cdef double dfc, x, g
    cdef double fc = cutoff_value(cutoff_type, R, rc, alpha, &dfc)
    if fc == 0.0:
        derivative[0] = 0.0
        return 0.0
    x = R - rs
    g = exp(-eta * x * x)
    derivative[0] = g * (dfc - 2.0 * eta * x * fc)
    return g * fc


cdef int64_t gather(int64_t i, double radius, const Tables *t, Scratch *s,
                    const int32_t *species, const int64_t *offsets, const int32_t *neighbors,
                    const double *vectors, const double *distances) noexcept nogil:
    """Copy the entries of centre i closer than `radius` into the scratch arrays."""
    cdef int64_t p, n = 0
    for p in range(offsets[i], offsets[i + 1]):
        if distances[p] < radius and distances[p] > 0.0:
            s.R[n] = distances[p]
            s.D[3 * n] = vectors[3 * p]
            s.D[3 * n + 1] = vectors[3 * p + 1]
            s.D[3 * n + 2] = vectors[3 * p + 2]
            s.element[n] = species[neighbors[p]]
            s.entry[n] = p
            n += 1
    return n


cdef void fill_factors(int e, int64_t nn, const Tables *t, Scratch *s) noexcept nogil:
    """A[n, f] and dA/dR[n, f] for the angular factors of centre element e."""
    cdef int64_t f0 = t.factor_offsets[e]
    cdef int64_t F = t.factor_offsets[e + 1] - f0
    cdef int64_t n, f
    for n in range(nn):
        for f in range(F):
            s.A[n * F + f] = gaussian_factor(s.R[n], t.factor_eta[f0 + f], t.factor_rs[f0 + f],
                                             t.factor_rc[f0 + f], t.cutoff_type, t.alpha,
                                             &s.dA[n * F + f])


cdef void centre_values(int64_t i, const Tables *t, Scratch *s, const int32_t *species,
                        const int64_t *offsets, const int32_t *neighbors, const double *vectors,
                        const double *distances, double *G) noexcept nogil:
    """Symmetry-function values of centre atom i into G (its row, n2p2 order)."""
    cdef int e = species[i]
    cdef int n_el = t.n_elements
    cdef int64_t nn = gather(i, t.rc_max[e], t, s, species, offsets, neighbors, vectors,
                             distances)
    cdef int64_t n, q, j, k, g, m, base, F, f
    cdef int a, b
    cdef double R, x, fc, dfc, W, B, dB, cosine, Rjk, P, dx, dy, dz, rc_ang
    # radial
    for n in range(nn):
        R = s.R[n]
        base = e * n_el + s.element[n]
        for q in range(t.radial_offsets[base], t.radial_offsets[base + 1]):
            if R < t.radial_rc[q]:
                fc = cutoff_value(t.cutoff_type, R, t.radial_rc[q], t.alpha, &dfc)
                x = R - t.radial_rs[q]
                G[t.radial_col[q]] += exp(-t.radial_eta[q] * x * x) * fc
    # angular
    F = t.factor_offsets[e + 1] - t.factor_offsets[e]
    if F == 0:
        return
    fill_factors(e, nn, t, s)
    rc_ang = t.angular_rc_max[e]
    for j in range(nn):
        if s.R[j] >= rc_ang:
            continue
        for k in range(j + 1, nn):
            if s.R[k] >= rc_ang:
                continue
            a = s.element[j]
            b = s.element[k]
            if a > b:
                a, b = b, a
            base = (e * n_el + a) * n_el + b
            if t.group_offsets[base] == t.group_offsets[base + 1]:
                continue
            cosine = (s.D[3 * j] * s.D[3 * k] + s.D[3 * j + 1] * s.D[3 * k + 1]
                      + s.D[3 * j + 2] * s.D[3 * k + 2]) / (s.R[j] * s.R[k])
            Rjk = -1.0
            for g in range(t.group_offsets[base], t.group_offsets[base + 1]):
                f = t.group_factor[g]
                W = s.A[j * F + f] * s.A[k * F + f]
                if W == 0.0:
                    continue
                if not t.group_wide[g]:
                    if Rjk < 0.0:
                        dx = s.D[3 * k] - s.D[3 * j]
                        dy = s.D[3 * k + 1] - s.D[3 * j + 1]
                        dz = s.D[3 * k + 2] - s.D[3 * j + 2]
                        Rjk = sqrt(dx * dx + dy * dy + dz * dz)
                    f += t.factor_offsets[e]
                    B = gaussian_factor(Rjk, t.factor_eta[f], t.factor_rs[f], t.factor_rc[f],
                                        t.cutoff_type, t.alpha, &dB)
                    W = W * B
                    if W == 0.0:
                        continue
                for m in range(t.member_offsets[g], t.member_offsets[g + 1]):
                    P = 1.0 + t.member_lambda[m] * cosine
                    if P <= 0.0:
                        continue
                    G[t.member_col[m]] += (t.member_prefactor[m] * W
                                           * zeta_power(P, t.member_zeta[m], t.member_izeta[m]))


cdef void centre_backward(int64_t i, const Tables *t, Scratch *s, const int32_t *species,
                          const int64_t *offsets, const int32_t *neighbors,
                          const double *vectors, const double *distances, const double *c,
                          double *grad_entry) noexcept nogil:
    """Gradient of S_i = sum_s c_s G_is with respect to each entry vector D_n of centre i,
    written to grad_entry[3 * entry]. `c` is centre i's row of dE/dG."""
    cdef int e = species[i]
    cdef int n_el = t.n_elements
    cdef int64_t nn = gather(i, t.rc_max[e], t, s, species, offsets, neighbors, vectors,
                             distances)
    cdef int64_t n, q, j, k, g, m, base, F, f, fg
    cdef int a, b
    cdef double R, x, fc, dfc, ex, acc, W, B, dB, cosine, Rjk, P, Pz1, dx, dy, dz, rc_ang
    cdef double Q, Qc, Sc, Sj, Sk, Sjk, Aj, Ak, cz, inv_jk, inv_j2, inv_k2, tj, tk
    cdef double *gj
    cdef double *gk
    # radial: d/dD_n = sum_s c_s dG_s/dR_n * D_n / R_n
    for n in range(nn):
        R = s.R[n]
        base = e * n_el + s.element[n]
        acc = 0.0
        for q in range(t.radial_offsets[base], t.radial_offsets[base + 1]):
            if R < t.radial_rc[q]:
                fc = cutoff_value(t.cutoff_type, R, t.radial_rc[q], t.alpha, &dfc)
                x = R - t.radial_rs[q]
                ex = exp(-t.radial_eta[q] * x * x)
                acc += c[t.radial_col[q]] * ex * (dfc - 2.0 * t.radial_eta[q] * x * fc)
        if acc != 0.0:
            gj = &grad_entry[3 * s.entry[n]]
            acc /= R
            gj[0] += acc * s.D[3 * n]
            gj[1] += acc * s.D[3 * n + 1]
            gj[2] += acc * s.D[3 * n + 2]
    # angular
    F = t.factor_offsets[e + 1] - t.factor_offsets[e]
    if F == 0:
        return
    fill_factors(e, nn, t, s)
    rc_ang = t.angular_rc_max[e]
    for j in range(nn):
        if s.R[j] >= rc_ang:
            continue
        for k in range(j + 1, nn):
            if s.R[k] >= rc_ang:
                continue
            a = s.element[j]
            b = s.element[k]
            if a > b:
                a, b = b, a
            base = (e * n_el + a) * n_el + b
            if t.group_offsets[base] == t.group_offsets[base + 1]:
                continue
            cosine = (s.D[3 * j] * s.D[3 * k] + s.D[3 * j + 1] * s.D[3 * k + 1]
                      + s.D[3 * j + 2] * s.D[3 * k + 2]) / (s.R[j] * s.R[k])
            Rjk = -1.0
            Sc = 0.0
            Sj = 0.0
            Sk = 0.0
            Sjk = 0.0
            for g in range(t.group_offsets[base], t.group_offsets[base + 1]):
                f = t.group_factor[g]
                Aj = s.A[j * F + f]
                Ak = s.A[k * F + f]
                if Aj == 0.0 or Ak == 0.0:
                    continue
                if t.group_wide[g]:
                    B = 1.0
                    dB = 0.0
                else:
                    if Rjk < 0.0:
                        dx = s.D[3 * k] - s.D[3 * j]
                        dy = s.D[3 * k + 1] - s.D[3 * j + 1]
                        dz = s.D[3 * k + 2] - s.D[3 * j + 2]
                        Rjk = sqrt(dx * dx + dy * dy + dz * dz)
                    fg = f + t.factor_offsets[e]
                    B = gaussian_factor(Rjk, t.factor_eta[fg], t.factor_rs[fg], t.factor_rc[fg],
                                        t.cutoff_type, t.alpha, &dB)
                    if B == 0.0:
                        continue
                Q = 0.0
                Qc = 0.0
                for m in range(t.member_offsets[g], t.member_offsets[g + 1]):
                    cz = c[t.member_col[m]]
                    if cz == 0.0:
                        continue
                    P = 1.0 + t.member_lambda[m] * cosine
                    if P <= 0.0:
                        continue
                    if t.member_izeta[m] >= 0:
                        Pz1 = int_power(P, t.member_izeta[m] - 1)
                    else:
                        Pz1 = pow(P, t.member_zeta[m] - 1.0)
                    cz = cz * t.member_prefactor[m]
                    Q += cz * Pz1 * P
                    Qc += cz * t.member_zeta[m] * t.member_lambda[m] * Pz1
                W = Aj * Ak * B
                Sc += Qc * W
                Sj += Q * s.dA[j * F + f] * Ak * B
                Sk += Q * Aj * s.dA[k * F + f] * B
                Sjk += Q * Aj * Ak * dB
            if Sc == 0.0 and Sj == 0.0 and Sk == 0.0 and Sjk == 0.0:
                continue
            inv_jk = 1.0 / (s.R[j] * s.R[k])
            inv_j2 = 1.0 / (s.R[j] * s.R[j])
            inv_k2 = 1.0 / (s.R[k] * s.R[k])
            gj = &grad_entry[3 * s.entry[j]]
            gk = &grad_entry[3 * s.entry[k]]
            tj = Sj / s.R[j] - Sc * cosine * inv_j2
            tk = Sk / s.R[k] - Sc * cosine * inv_k2
            if Rjk > 0.0 and Sjk != 0.0:
                Sjk = Sjk / Rjk
            else:
                Sjk = 0.0
            for a in range(3):
                x = Sjk * (s.D[3 * k + a] - s.D[3 * j + a])
                gj[a] += Sc * inv_jk * s.D[3 * k + a] + tj * s.D[3 * j + a] - x
                gk[a] += Sc * inv_jk * s.D[3 * j + a] + tk * s.D[3 * k + a] + x


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
        scratch = scratch_new(capacity, tables.max_factors)
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
        scratch = scratch_new(capacity, tables.max_factors)
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
