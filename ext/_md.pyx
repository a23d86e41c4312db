"""Molecular dynamics with the step loop in compiled code.

Units are ASE's: Å, eV, amu, and ASE's time unit (1 fs = ase.units.fs). Forces come from the
fused model kernel (ext/_model.pxi) without the GIL. A segment runs until its step count is
done, an output is due, or an atom moved far enough that the Verlet list must be rebuilt;
the Python layer (fastpot/md.py) then writes output or rebuilds the list and calls again.
Every step starts with forces at the current positions.

Integrators (one step of length dt):
- NVE: velocity Verlet.
- Langevin, BAOAB splitting (Leimkuhler & Matthews, Appl. Math. Res. Express 2013, 34):
  B dt/2, A dt/2, O dt, A dt/2, forces, B dt/2.
- Nose-Hoover chains (Martyna, Klein & Tuckerman, J. Chem. Phys. 97, 2635 (1992)), chain
  length M, Trotter splitting NHC(dt/2) . velocity Verlet . NHC(dt/2).
- NPT: stochastic cell rescaling (Bernetti & Bussi, J. Chem. Phys. 153, 114107 (2020)),
  isotropic, or per cell axis for anisotropic cells (the diagonal form of Del Tatto et al.,
  Appl. Sci. 12, 1139 (2022)), after a BAOAB Langevin step for the temperature.
Random numbers: xoshiro256** (Blackman & Vigna), normals by Box-Muller, drawn serially in
atom order so that a run is the same for any number of threads.
"""
from libc.math cimport exp, sqrt, log, cos, sin, M_PI
from libc.stdint cimport uint64_t

include "_model.pxi"

cdef enum:
    ENSEMBLE_NVE = 0
    ENSEMBLE_LANGEVIN = 1
    ENSEMBLE_NOSE_HOOVER = 2
    ENSEMBLE_NPT = 3
    MAX_CHAIN = 10

cdef enum:
    STOP_DONE = 0
    STOP_REBUILD = 1
    STOP_ERROR = 2


# -- random numbers -----------------------------------------------------------------------

cdef inline uint64_t rotl(uint64_t x, int k) noexcept nogil:
    return (x << k) | (x >> (64 - k))


cdef inline uint64_t next_random(uint64_t *s) noexcept nogil:
    cdef uint64_t result = rotl(s[1] * 5, 7) * 9
    cdef uint64_t t = s[1] << 17
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = rotl(s[3], 45)
    return result


cdef inline double uniform(uint64_t *s) noexcept nogil:
    """In (0, 1]."""
    return ((next_random(s) >> 11) + 1) * (1.0 / 9007199254740992.0)


cdef inline double normal(uint64_t *s) noexcept nogil:
    return sqrt(-2.0 * log(uniform(s))) * cos(2.0 * M_PI * uniform(s))


def seed_state(uint64_t seed):
    """xoshiro256** state from a seed (splitmix64)."""
    state = np.zeros(4, dtype=np.uint64)
    cdef uint64_t z, x = seed
    for k in range(4):
        x += 0x9E3779B97F4A7C15ULL
        z = x
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
        state[k] = z ^ (z >> 31)
    return state


def normals(uint64_t[::1] state, int64_t n):
    """n standard normal numbers from the generator (advances the state)."""
    out = np.empty(n)
    cdef double[::1] o = out
    cdef int64_t k
    for k in range(n):
        o[k] = normal(&state[0])
    return out


# -- the step loop ------------------------------------------------------------------------

cdef struct Params:
    int ensemble
    double dt
    double kT                 # target temperature in eV
    double friction           # Langevin gamma, 1/time
    int chain                 # Nose-Hoover chain length
    double q[MAX_CHAIN]       # chain masses
    double n_dof              # degrees of freedom
    double pressure           # target, eV/Å^3
    double tau_p              # barostat time
    double compressibility    # 1/(eV/Å^3)
    int anisotropic
    double half_skin2         # (skin / 2)^2
    double cutoff_plus_skin


cdef void kick(int64_t n, double[:, ::1] v, const double[:, ::1] f, const double[::1] mass,
               double h) noexcept nogil:
    cdef int64_t i
    cdef int a
    for i in range(n):
        for a in range(3):
            v[i, a] += h * f[i, a] / mass[i]


cdef void drift(int64_t n, double[:, ::1] x, const double[:, ::1] v, double h) noexcept nogil:
    cdef int64_t i
    cdef int a
    for i in range(n):
        for a in range(3):
            x[i, a] += h * v[i, a]


cdef double twice_kinetic(int64_t n, const double[:, ::1] v, const double[::1] mass) noexcept nogil:
    cdef int64_t i
    cdef double s = 0.0
    for i in range(n):
        s += mass[i] * (v[i, 0] * v[i, 0] + v[i, 1] * v[i, 1] + v[i, 2] * v[i, 2])
    return s


cdef void nose_hoover_half(int64_t n, double[:, ::1] v, const double[::1] mass, Params *p,
                           double[::1] xi, double[::1] vxi, double h) noexcept nogil:
    """Propagate the chain and scale the velocities over h (= dt / 2)."""
    cdef int M = p.chain, j
    cdef double ke2 = twice_kinetic(n, v, mass), G, scale
    cdef int64_t i
    cdef int a
    # from the end of the chain to the start
    G = (p.q[M - 2] * vxi[M - 2] * vxi[M - 2] - p.kT) / p.q[M - 1] if M > 1 else \
        (ke2 - p.n_dof * p.kT) / p.q[0]
    vxi[M - 1] += 0.5 * h * G
    for j in range(M - 2, -1, -1):
        vxi[j] *= exp(-0.25 * h * vxi[j + 1])
        G = (p.q[j - 1] * vxi[j - 1] * vxi[j - 1] - p.kT) / p.q[j] if j > 0 else \
            (ke2 - p.n_dof * p.kT) / p.q[0]
        vxi[j] += 0.5 * h * G
        vxi[j] *= exp(-0.25 * h * vxi[j + 1])
    scale = exp(-h * vxi[0])
    for i in range(n):
        for a in range(3):
            v[i, a] *= scale
    ke2 *= scale * scale
    for j in range(M):
        xi[j] += h * vxi[j]
    # and back up the chain
    for j in range(M - 1):
        vxi[j] *= exp(-0.25 * h * vxi[j + 1])
        G = (p.q[j - 1] * vxi[j - 1] * vxi[j - 1] - p.kT) / p.q[j] if j > 0 else \
            (ke2 - p.n_dof * p.kT) / p.q[0]
        vxi[j] += 0.5 * h * G
        vxi[j] *= exp(-0.25 * h * vxi[j + 1])
    G = (p.q[M - 2] * vxi[M - 2] * vxi[M - 2] - p.kT) / p.q[M - 1] if M > 1 else \
        (ke2 - p.n_dof * p.kT) / p.q[0]
    vxi[M - 1] += 0.5 * h * G


cdef void langevin_o(int64_t n, double[:, ::1] v, const double[::1] mass, Params *p,
                     uint64_t *rng) noexcept nogil:
    cdef double c1 = exp(-p.friction * p.dt), c2 = sqrt(1.0 - c1 * c1)
    cdef int64_t i
    cdef int a
    for i in range(n):
        for a in range(3):
            v[i, a] = c1 * v[i, a] + c2 * sqrt(p.kT / mass[i]) * normal(rng)


cdef void pressure_tensor(int64_t n, const double[:, ::1] v, const double[::1] mass,
                          const double *strain, double volume, double *P) noexcept nogil:
    """P_ab = (sum m v_a v_b - dE/d(strain)_ab) / V."""
    cdef int64_t i
    cdef int a, b
    for a in range(3):
        for b in range(3):
            P[3 * a + b] = -0.5 * (strain[3 * a + b] + strain[3 * b + a])
    for i in range(n):
        for a in range(3):
            for b in range(3):
                P[3 * a + b] += mass[i] * v[i, a] * v[i, b]
    for a in range(9):
        P[a] /= volume


cdef double determinant(const double[:, ::1] c) noexcept nogil:
    return (c[0, 0] * (c[1, 1] * c[2, 2] - c[1, 2] * c[2, 1])
            - c[0, 1] * (c[1, 0] * c[2, 2] - c[1, 2] * c[2, 0])
            + c[0, 2] * (c[1, 0] * c[2, 1] - c[1, 1] * c[2, 0]))


cdef void cell_rescaling(int64_t n, double[:, ::1] x, double[:, ::1] v, double[:, ::1] cell,
                         const double[::1] mass, const double *strain, Params *p,
                         uint64_t *rng) noexcept nogil:
    """One stochastic cell rescaling step of length dt (Bernetti & Bussi 2020, eq. 5, with
    eps = log V; anisotropic: the same per cell axis with the diagonal pressure)."""
    cdef double volume = abs(determinant(cell))
    cdef double P[9]
    cdef double mu[3]
    cdef double d_eps, noise, pint
    cdef int64_t i
    cdef int a, b
    pressure_tensor(n, v, mass, strain, volume, P)
    noise = sqrt(2.0 * p.kT * p.compressibility * p.dt / (volume * p.tau_p))
    if p.anisotropic:
        for a in range(3):
            d_eps = (-(p.compressibility / p.tau_p) * (p.pressure - P[4 * a] - p.kT / volume)
                     * p.dt + noise * normal(rng))
            mu[a] = exp(d_eps)
    else:
        pint = (P[0] + P[4] + P[8]) / 3.0
        d_eps = (-(p.compressibility / p.tau_p) * (p.pressure - pint - p.kT / volume) * p.dt
                 + noise * normal(rng))
        mu[0] = exp(d_eps / 3.0)
        mu[1] = mu[0]
        mu[2] = mu[0]
    # scale along the Cartesian axes: positions and cell by mu, velocities by 1 / mu
    for i in range(n):
        for a in range(3):
            x[i, a] *= mu[a]
            v[i, a] /= mu[a]
    for b in range(3):
        for a in range(3):
            cell[b, a] *= mu[a]


cdef bint needs_rebuild(int64_t n, const double[:, ::1] x, const double[:, ::1] x_ref,
                        const double[:, ::1] cell, const double[:, ::1] cell_ref,
                        Params *p) noexcept nogil:
    """True when some pair may have entered the cutoff unseen: twice the largest move plus
    the cell's deformation times the list's reach exceeds the skin."""
    cdef int64_t i
    cdef int a, b
    cdef double d2, largest = 0.0, dc = 0.0, c2 = 0.0, move
    for a in range(3):
        for b in range(3):
            dc += (cell[a, b] - cell_ref[a, b]) ** 2
            c2 += cell_ref[a, b] ** 2
    for i in range(n):
        d2 = 0.0
        for a in range(3):
            d2 += (x[i, a] - x_ref[i, a]) ** 2
        if d2 > largest:
            largest = d2
    move = 2.0 * sqrt(largest)
    if dc > 0.0:
        # relative deformation of the cell, applied to the longest listed pair (bound)
        move += sqrt(dc / c2) * 3.0 * p.cutoff_plus_skin
    return move * move > 4.0 * p.half_skin2


cdef void refresh_list(int64_t n, const double[:, ::1] x, const double[:, ::1] cell,
                       const int64_t[::1] offsets, const int32_t[::1] neighbors,
                       const int32_t[:, ::1] shifts, double[:, ::1] vectors,
                       double[::1] distances) noexcept nogil:
    cdef int64_t i, q, j
    cdef double dx, dy, dz
    for i in range(n):
        for q in range(offsets[i], offsets[i + 1]):
            j = neighbors[q]
            dx = (x[j, 0] - x[i, 0] + shifts[q, 0] * cell[0, 0] + shifts[q, 1] * cell[1, 0]
                  + shifts[q, 2] * cell[2, 0])
            dy = (x[j, 1] - x[i, 1] + shifts[q, 0] * cell[0, 1] + shifts[q, 1] * cell[1, 1]
                  + shifts[q, 2] * cell[2, 1])
            dz = (x[j, 2] - x[i, 2] + shifts[q, 0] * cell[0, 2] + shifts[q, 1] * cell[1, 2]
                  + shifts[q, 2] * cell[2, 2])
            vectors[q, 0] = dx
            vectors[q, 1] = dy
            vectors[q, 2] = dz
            distances[q] = sqrt(dx * dx + dy * dy + dz * dz)


cdef Params read_params(dict params) except *:
    """The integrator settings prepared by fastpot/md.py, as a C struct."""
    cdef Params p
    cdef int k
    p.ensemble = params["ensemble"]
    p.dt = params["dt"]
    p.kT = params["kT"]
    p.friction = params["friction"]
    p.chain = params["chain"]
    for k in range(p.chain):
        p.q[k] = params["q"][k]
    p.n_dof = params["n_dof"]
    p.pressure = params["pressure"]
    p.tau_p = params["tau_p"]
    p.compressibility = params["compressibility"]
    p.anisotropic = params["anisotropic"]
    p.half_skin2 = (0.5 * params["skin"]) ** 2
    p.cutoff_plus_skin = params["cutoff_plus_skin"]
    return p


def run_segment(ModelData model, dict params, const int32_t[::1] species,
                double[:, ::1] x, double[:, ::1] v, const double[::1] mass,
                double[:, ::1] cell, double[:, ::1] f, double[::1] energies,
                double[:, ::1] strain, const double[:, ::1] x_ref,
                const double[:, ::1] cell_ref, const int64_t[::1] offsets,
                const int32_t[::1] neighbors, const int32_t[:, ::1] shifts,
                double[:, ::1] vectors, double[::1] distances, double[::1] xi,
                double[::1] vxi, uint64_t[::1] rng, int64_t max_steps, int n_threads):
    """Advance up to max_steps steps. On entry f, energies and strain hold the forces at x.
    Returns (steps done, reason): reason 0 done, 1 the list must be rebuilt (the step
    in progress is rolled forward to its new positions; call `forces` after rebuilding and
    then `finish_step`), 2 allocation failure."""
    cdef Params p = read_params(params)
    cdef int64_t n = x.shape[0], steps = 0, n_entries = neighbors.shape[0]
    cdef int status
    cdef int reason = STOP_DONE
    cdef double h
    grad_entry_arr = np.zeros((max(n_entries, 1), 3))
    cdef double[:, ::1] ge = grad_entry_arr
    extrapolated_arr = np.zeros(n, dtype=np.int32)
    cdef int32_t[::1] xo = extrapolated_arr
    gradient_arr = np.zeros((n, 3))
    cdef double[:, ::1] g = gradient_arr
    cdef int64_t capacity = int(np.diff(np.asarray(offsets)).max()) if n else 1
    cdef int64_t i
    cdef int a
    cdef const int32_t *nbr = &neighbors[0] if n_entries else NULL
    cdef double *vec = &vectors[0, 0] if n_entries else NULL
    cdef double *dist = &distances[0] if n_entries else NULL
    h = 0.5 * p.dt
    with nogil:
        while steps < max_steps:
            # first half
            if p.ensemble == ENSEMBLE_NOSE_HOOVER:
                nose_hoover_half(n, v, mass, &p, xi, vxi, h)
            kick(n, v, f, mass, h)
            if p.ensemble == ENSEMBLE_LANGEVIN or p.ensemble == ENSEMBLE_NPT:
                drift(n, x, v, h)
                langevin_o(n, v, mass, &p, &rng[0])
                drift(n, x, v, h)
            else:
                drift(n, x, v, p.dt)
            if p.ensemble == ENSEMBLE_NPT:
                cell_rescaling(n, x, v, cell, mass, &strain[0, 0], &p, &rng[0])
            steps += 1
            if needs_rebuild(n, x, x_ref, cell, cell_ref, &p):
                reason = STOP_REBUILD
                break
            # forces at the new positions, second half
            refresh_list(n, x, cell, offsets, neighbors, shifts, vectors, distances)
            for i in range(n_entries):
                for a in range(3):
                    ge[i, a] = 0.0
            status = model_evaluate(&model.m, n, &species[0], &offsets[0], nbr, vec, dist,
                                    capacity, True, False, &energies[0], &ge[0, 0], &g[0, 0],
                                    &strain[0, 0], &xo[0], n_threads)
            if status != 0:
                reason = STOP_ERROR
                break
            for i in range(n):
                for a in range(3):
                    f[i, a] = -g[i, a]
            kick(n, v, f, mass, h)
            if p.ensemble == ENSEMBLE_NOSE_HOOVER:
                nose_hoover_half(n, v, mass, &p, xi, vxi, h)
    return steps, reason


def finish_step(dict params, double[:, ::1] v, const double[::1] mass,
                const double[:, ::1] f, double[::1] xi, double[::1] vxi):
    """The second half of a step interrupted by a list rebuild (forces are now at the new
    positions)."""
    cdef Params p = read_params(params)
    cdef int64_t n = v.shape[0]
    kick(n, v, f, mass, 0.5 * p.dt)
    if p.ensemble == ENSEMBLE_NOSE_HOOVER:
        nose_hoover_half(n, v, mass, &p, xi, vxi, 0.5 * p.dt)


def forces(ModelData model, const int32_t[::1] species, const int64_t[::1] offsets,
           const int32_t[::1] neighbors, const double[:, ::1] vectors,
           const double[::1] distances, double[:, ::1] f, double[::1] energies,
           double[:, ::1] strain, int n_threads):
    """Forces, energies and strain derivative at the list's current vectors."""
    cdef int64_t n = species.shape[0], n_entries = neighbors.shape[0], i
    cdef int a, status
    ge_arr = np.zeros((max(n_entries, 1), 3))
    cdef double[:, ::1] ge = ge_arr
    xo_arr = np.zeros(n, dtype=np.int32)
    cdef int32_t[::1] xo = xo_arr
    g_arr = np.zeros((n, 3))
    cdef double[:, ::1] g = g_arr
    cdef int64_t capacity = int(np.diff(np.asarray(offsets)).max()) if n else 1
    cdef const int32_t *nbr = &neighbors[0] if n_entries else NULL
    cdef const double *vec = &vectors[0, 0] if n_entries else NULL
    cdef const double *dist = &distances[0] if n_entries else NULL
    with nogil:
        status = model_evaluate(&model.m, n, &species[0], &offsets[0], nbr, vec, dist,
                                capacity, True, False, &energies[0], &ge[0, 0], &g[0, 0],
                                &strain[0, 0], &xo[0], n_threads)
        for i in range(n):
            for a in range(3):
                f[i, a] = -g[i, a]
    if status != 0:
        raise MemoryError("MD: cannot allocate per-thread work arrays")
    return int(xo_arr.sum())
