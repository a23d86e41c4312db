"""Molecular dynamics with the step loop in compiled code.

Units are ASE's: Å, eV, amu, and ASE's time unit (1 fs = ase.units.fs). Forces come from the
fused model kernel of the installed variant (ext/kernels/_fused.pyx) without the GIL. A segment runs until its step count is
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
  isotropic, or per Cartesian axis (the diagonal form of Del Tatto et al., Appl. Sci. 12,
  1139 (2022)), in its time-reversible form: O dt/2, B dt/2, positions and cell moved
  together with the barostat over dt, forces, B dt/2, O dt/2 (Langevin O steps).
Every ensemble keeps the energy its thermostat and barostat exchanged with their baths
(`heat`), so that a conserved quantity exists for each (fastpot/md.py): the total energy
(NVE), the chain's extended energy (Nose-Hoover), and the effective energy, total energy
(+ P V) minus that heat, for Langevin and cell rescaling.
Random numbers: xoshiro256** (Blackman & Vigna), normals by Box-Muller, drawn serially in
atom order so that a run is the same for any number of threads.
"""
from libc.math cimport exp, sqrt, log, cos, sin, M_PI
from libc.stdint cimport int32_t, int64_t, uint64_t

from _contract cimport *
from fastpot._dispatch cimport kernels, check
from fastpot._model cimport ModelData
from fastpot._neighbors cimport (Pairs, refresh_pairs, gather_entry_gradients,
                                 verlet_needs_rebuild)

import numpy as np

from _interrupt cimport (_check_signals, monotonic_seconds, raise_pending,
                        SIGNAL_INTERVAL_MS)

# The ensemble codes of ext/_contract.pxd, by the names fastpot.md uses.
ENSEMBLES = {"nve": ENSEMBLE_NVE, "nvt-langevin": ENSEMBLE_LANGEVIN,
             "nvt-nh": ENSEMBLE_NOSE_HOOVER, "npt": ENSEMBLE_NPT}

cdef enum:
    MAX_CHAIN = 10

# Why a segment of steps stopped.
cdef enum:
    STOP_DONE = 0
    STOP_REBUILD = 1


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
    int com_frame             # temperature (and Nose-Hoover) in the centre-of-mass frame


# A cell rescaling move in progress: the barostat coordinates y (sqrt V, or sqrt L_a per
# axis), their diffusion coefficients D and forces f before the move, the step dy, and the
# log-probability of the forward move (see barostat_move).
cdef struct Barostat:
    int n_axes
    double y[3]
    double D[3]
    double f[3]
    double dy[3]
    double log_forward


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


cdef void centre_of_mass_velocity(int64_t n, const double[:, ::1] v, const double[::1] mass,
                                  bint wanted, double *com) noexcept nogil:
    """The centre-of-mass velocity, or zero when not `wanted`."""
    cdef double total = 0.0
    cdef int64_t i
    cdef int a
    for a in range(3):
        com[a] = 0.0
    if not wanted:
        return
    for i in range(n):
        total += mass[i]
        for a in range(3):
            com[a] += mass[i] * v[i, a]
    for a in range(3):
        com[a] /= total


cdef double thermal_twice_kinetic(int64_t n, const double[:, ::1] v, const double[::1] mass,
                                  const double *com) noexcept nogil:
    """Twice the kinetic energy relative to the velocity com."""
    cdef int64_t i
    cdef double s = 0.0, dx, dy, dz
    for i in range(n):
        dx = v[i, 0] - com[0]
        dy = v[i, 1] - com[1]
        dz = v[i, 2] - com[2]
        s += mass[i] * (dx * dx + dy * dy + dz * dz)
    return s


cdef void nose_hoover_half(int64_t n, double[:, ::1] v, const double[::1] mass, Params *p,
                           double[::1] xi, double[::1] vxi, double h) noexcept nogil:
    """Propagate the chain and scale the velocities over h (= dt / 2). With com_frame the
    chain acts on the velocities relative to the centre of mass (whose motion the forces
    conserve), so a drift the user gave the atoms is neither heated nor cooled."""
    cdef int M = p.chain, j
    cdef double G, scale, ke2
    cdef double com[3]
    cdef int64_t i
    cdef int a
    centre_of_mass_velocity(n, v, mass, p.com_frame, com)
    ke2 = thermal_twice_kinetic(n, v, mass, com)
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
            v[i, a] = com[a] + scale * (v[i, a] - com[a])
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


cdef double langevin_o(int64_t n, double[:, ::1] v, const double[::1] mass, Params *p,
                       double h, uint64_t *rng) noexcept nogil:
    """The Ornstein-Uhlenbeck step of length h (exact); returns the kinetic energy it added
    (the heat from the bath)."""
    cdef double c1 = exp(-p.friction * h), c2 = sqrt(1.0 - c1 * c1)
    cdef double added = 0.0, old
    cdef int64_t i
    cdef int a
    for i in range(n):
        for a in range(3):
            old = v[i, a]
            v[i, a] = c1 * old + c2 * sqrt(p.kT / mass[i]) * normal(rng)
            added += mass[i] * (v[i, a] * v[i, a] - old * old)
    return 0.5 * added


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


cdef void barostat_state(int64_t n, const double[:, ::1] v, const double[:, ::1] cell,
                         const double[::1] mass, const double *strain, const Params *p,
                         Barostat *b) noexcept nogil:
    """The barostat coordinates of the current state, their diffusion coefficients and
    forces (b.y, b.D, b.f).

    Isotropic: y = sqrt(V), with additive noise D = kT beta_T / (4 tau_p) and force
    f = kT / y - 2 y (P_target - P_int), P_int a third of the pressure tensor's trace.
    Per axis: the cell is scaled along each Cartesian axis a by its own factor; with A_a the
    area of the cell's projection on the plane normal to a (unchanged by scaling a) and
    L_a = V / A_a, y_a = sqrt(L_a), D_a = kT beta_T / (12 A_a tau_p) and
    f_a = kT / y_a - 2 y_a A_a (P_target - P_aa). Both sample V^N exp(-(U + K + P V) / kT)
    dV (measure dL_1 dL_2 dL_3 per axis), and log V relaxes at the same rate beta_T / tau_p
    in both. The kT / y terms are the Jacobian of y (dV = 2 y dy)."""
    cdef double volume = abs(determinant(cell))
    cdef double P[9]
    cdef double area, cross
    cdef int a, i, j
    pressure_tensor(n, v, mass, strain, volume, P)
    if not p.anisotropic:
        b.n_axes = 1
        b.y[0] = sqrt(volume)
        b.D[0] = p.kT * p.compressibility / (4.0 * p.tau_p)
        b.f[0] = p.kT / b.y[0] - 2.0 * b.y[0] * (p.pressure - (P[0] + P[4] + P[8]) / 3.0)
        return
    b.n_axes = 3
    for a in range(3):
        # projected area: the sum over cell faces of |(c_i x c_j)_a|
        area = 0.0
        for i in range(3):
            j = (i + 1) % 3
            cross = (cell[i, (a + 1) % 3] * cell[j, (a + 2) % 3]
                     - cell[i, (a + 2) % 3] * cell[j, (a + 1) % 3])
            area += abs(cross)
        b.y[a] = sqrt(volume / area)
        b.D[a] = p.kT * p.compressibility / (12.0 * area * p.tau_p)
        b.f[a] = p.kT / b.y[a] - 2.0 * b.y[a] * area * (p.pressure - P[4 * a])


cdef double log_move_probability(const Barostat *b, const double *dy, double dt,
                                 double kT) noexcept nogil:
    """log of the Gaussian density (up to a constant) of the Euler-Maruyama step dy from the
    state b: mean (D / kT) f dt, variance 2 D dt per coordinate."""
    cdef double total = 0.0, r
    cdef int k
    for k in range(b.n_axes):
        r = dy[k] - b.D[k] / kT * b.f[k] * dt
        total -= r * r / (4.0 * b.D[k] * dt) + 0.5 * log(b.D[k])
    return total


cdef int barostat_move(int64_t n, double[:, ::1] x, double[:, ::1] v, double[:, ::1] cell,
                       const double[::1] mass, const double *strain, Params *p,
                       Barostat *b, uint64_t *rng) noexcept nogil:
    """The drift of positions over dt together with a stochastic cell rescaling move of the
    barostat coordinates (Bernetti & Bussi 2020, its time-reversible form): y -> y + dy by
    Euler-Maruyama, the cell and positions scaled by s_a along each axis while they drift,
    x' = s x + (s + 1/s)/2 v dt, and the velocities by 1/s. Forces are evaluated after it;
    barostat_finish then counts the energy the move took from the bath. Returns 0, or -1
    when a coordinate would become negative (the move collapsed the cell)."""
    cdef double s[3]
    cdef double r2[3]
    cdef int64_t i
    cdef int a, k
    barostat_state(n, v, cell, mass, strain, p, b)
    for k in range(b.n_axes):
        b.dy[k] = (b.D[k] / p.kT * b.f[k] * p.dt
                   + sqrt(2.0 * b.D[k] * p.dt) * normal(rng))
        if b.y[k] + b.dy[k] <= 0.0:
            return -1
    b.log_forward = log_move_probability(b, b.dy, p.dt, p.kT)
    # length scale factors: (V'/V)^(1/3) on every axis, or L_a'/L_a = (y_a'/y_a)^2
    for a in range(3):
        if b.n_axes == 1:
            s[a] = ((b.y[0] + b.dy[0]) / b.y[0]) ** (2.0 / 3.0)
        else:
            s[a] = ((b.y[a] + b.dy[a]) / b.y[a]) ** 2
        r2[a] = 0.5 * (s[a] + 1.0 / s[a])
    for i in range(n):
        for a in range(3):
            x[i, a] = s[a] * x[i, a] + r2[a] * v[i, a] * p.dt
            v[i, a] /= s[a]
    for i in range(3):
        for a in range(3):
            cell[i, a] *= s[a]
    return 0


cdef double barostat_finish(int64_t n, const double[:, ::1] v, const double[:, ::1] cell,
                            const double[::1] mass, const double *strain, const Params *p,
                            const Barostat *b) noexcept nogil:
    """With forces (strain) at the moved positions: the energy the move took from the bath,
    kT log(J'/J) - kT log(T(forward) / T(backward)), J = prod y the Jacobian. Exact dynamics
    would make it equal the change of U + K + P V; the difference is the integration
    error that the effective energy shows."""
    cdef Barostat after
    cdef double back[3]
    cdef double jacobian = 0.0
    cdef int k
    barostat_state(n, v, cell, mass, strain, p, &after)
    for k in range(b.n_axes):
        back[k] = -b.dy[k]
        jacobian += log((b.y[k] + b.dy[k]) / b.y[k])
    return p.kT * (jacobian - b.log_forward + log_move_probability(&after, back, p.dt, p.kT))


cdef class Integrator:
    """The integrator settings (a C struct) and the state it advances: positions x,
    velocities v, masses, cell, forces f, per-atom energies, strain derivative, thermostat
    chain (xi, vxi), random state and the heat taken from the baths (heat[0] thermostat,
    heat[1] barostat, eV), all numpy arrays shared with fastpot/md.py, which creates this
    once per run. x_ref and cell_ref are where the neighbour list was built."""
    cdef Params p
    cdef Barostat barostat
    cdef double[::1] heat
    cdef double skin, list_radius
    cdef bint fully_periodic
    # steps run_segment had done when a signal handler raised (0 otherwise)
    cdef public int64_t steps_interrupted
    # set by fastpot.md's Ctrl-C handler: stop after the current step (run_segment looks
    # for it between steps)
    cdef public bint stop_requested
    cdef double[:, ::1] x, v, cell, f, strain, x_ref, cell_ref
    cdef const double[::1] mass
    cdef double[::1] energies, xi, vxi
    cdef uint64_t[::1] rng
    cdef const int32_t[::1] species
    cdef int32_t[::1] extrapolated
    cdef double[:, ::1] gradient

    def __init__(self, *, str ensemble, double dt, double kT, double friction,
                 chain_masses, double n_dof, double pressure, double tau_p,
                 double compressibility, bint anisotropic, bint com_frame, double skin,
                 double list_radius, bint fully_periodic, species, x, v, mass, cell, f,
                 energies, strain, x_ref, cell_ref, xi, vxi, rng, heat):
        if ensemble not in ENSEMBLES:
            raise ValueError(f"unknown ensemble {ensemble!r}")
        if not 1 <= len(chain_masses) <= MAX_CHAIN:
            raise ValueError(f"chain length must be between 1 and {MAX_CHAIN}")
        self.p.ensemble = ENSEMBLES[ensemble]
        self.p.dt = dt
        self.p.kT = kT
        self.p.friction = friction
        self.p.chain = len(chain_masses)
        for k, q in enumerate(chain_masses):
            self.p.q[k] = q
        self.p.n_dof = n_dof
        self.p.pressure = pressure
        self.p.tau_p = tau_p
        self.p.compressibility = compressibility
        self.p.anisotropic = anisotropic
        self.p.com_frame = com_frame
        self.skin = skin
        self.list_radius = list_radius
        self.fully_periodic = fully_periodic
        self.species = species
        self.x = x
        self.v = v
        self.mass = mass
        self.cell = cell
        self.f = f
        self.energies = energies
        self.strain = strain
        self.x_ref = x_ref
        self.cell_ref = cell_ref
        self.xi = xi
        self.vxi = vxi
        self.rng = rng
        self.heat = heat
        n = len(species)
        self.extrapolated = np.zeros(n, dtype=np.int32)
        self.gradient = np.zeros((n, 3))

    cdef int compute_forces(self, const KernelTable *k, ModelData model, Pairs pairs,
                            int n_threads) except -1 nogil:
        """Energies, forces and strain derivative at the list's current vectors."""
        cdef Error error
        cdef int status
        cdef int64_t i, n = self.x.shape[0]
        cdef int a
        cdef double *ge = pairs.entry_gradient_data
        error.code = STATUS_OK
        status = k.model_evaluate(&model.m, &self.species[0], &pairs.c, &self.energies[0],
                                  &self.extrapolated[0], ge, n_threads, &error)
        if status != STATUS_OK:
            with gil:
                check(status, &error)
        for a in range(9):
            self.strain[a // 3, a % 3] = 0.0
        gather_entry_gradients(&pairs.c, ge, False, &self.gradient[0, 0], &self.strain[0, 0],
                               n_threads)
        for i in range(n):
            for a in range(3):
                self.f[i, a] = -self.gradient[i, a]
        return 0

    def forces(self, ModelData model, Pairs pairs, int n_threads):
        """Forces, energies and strain derivative at the current positions (the list must be
        current); returns the number of (atom, function) values outside the training range."""
        cdef const KernelTable *k = kernels()
        pairs.transpose()
        with nogil:
            self.compute_forces(k, model, pairs, n_threads)
        return int(np.asarray(self.extrapolated).sum())

    cdef int first_half(self, double h) except -1 nogil:
        """A step up to the new positions (the forces there come next)."""
        cdef Params *p = &self.p
        cdef int64_t n = self.x.shape[0]
        if p.ensemble == ENSEMBLE_NOSE_HOOVER:
            nose_hoover_half(n, self.v, self.mass, p, self.xi, self.vxi, h)
        elif p.ensemble == ENSEMBLE_NPT:
            self.heat[0] += langevin_o(n, self.v, self.mass, p, h, &self.rng[0])
        kick(n, self.v, self.f, self.mass, h)
        if p.ensemble == ENSEMBLE_LANGEVIN:
            drift(n, self.x, self.v, h)
            self.heat[0] += langevin_o(n, self.v, self.mass, p, p.dt, &self.rng[0])
            drift(n, self.x, self.v, h)
        elif p.ensemble == ENSEMBLE_NPT:
            if barostat_move(n, self.x, self.v, self.cell, self.mass, &self.strain[0, 0], p,
                             &self.barostat, &self.rng[0]) != 0:
                with gil:
                    raise FloatingPointError(
                        "the barostat step collapsed the cell (tau_barostat too short or "
                        "compressibility too large for this timestep)")
        else:
            drift(n, self.x, self.v, p.dt)
        return 0

    cdef int second_half(self, double h) except -1 nogil:
        """The rest of the step, with forces at the new positions."""
        cdef Params *p = &self.p
        cdef int64_t n = self.x.shape[0]
        if p.ensemble == ENSEMBLE_NPT:
            self.heat[1] += barostat_finish(n, self.v, self.cell, self.mass,
                                            &self.strain[0, 0], p, &self.barostat)
        kick(n, self.v, self.f, self.mass, h)
        if p.ensemble == ENSEMBLE_NOSE_HOOVER:
            nose_hoover_half(n, self.v, self.mass, p, self.xi, self.vxi, h)
        elif p.ensemble == ENSEMBLE_NPT:
            self.heat[0] += langevin_o(n, self.v, self.mass, p, h, &self.rng[0])
        return 0

    def run_segment(self, ModelData model, Pairs pairs, int64_t max_steps, int n_threads):
        """Advance up to max_steps steps. On entry f, energies and strain hold the forces at x.
        Returns (steps done, rebuild): with rebuild True the list must be rebuilt at the new
        positions; the step in progress then needs `forces` and `finish_step`."""
        cdef int64_t n = self.x.shape[0], steps = 0
        cdef bint rebuild = False
        cdef double h = 0.5 * self.p.dt
        cdef const KernelTable *k = kernels()
        if n == 0:
            return 0, False
        cdef double last_look
        cdef int signalled = 0
        pairs.transpose()
        # -1 until the loop ends: a KeyboardInterrupt raised from inside a step (a force
        # evaluation longer than the signal interval, ext/_interrupt.pxd) leaves it so
        self.steps_interrupted = -1
        with nogil:
            last_look = monotonic_seconds()
            while steps < max_steps:
                self.first_half(h)
                steps += 1
                if verlet_needs_rebuild(n, &self.x[0, 0], &self.x_ref[0, 0], &self.cell[0, 0],
                                        &self.cell_ref[0, 0], self.fully_periodic,
                                        self.list_radius, self.skin):
                    rebuild = True
                    break
                refresh_pairs(&pairs.c, &self.x[0, 0], &self.cell[0, 0], n_threads)
                self.compute_forces(k, model, pairs, n_threads)
                self.second_half(h)
                # Ctrl-C is only seen by Python code: look for it between whole steps
                if (monotonic_seconds() - last_look > 1e-3 * SIGNAL_INTERVAL_MS
                        and steps < max_steps):
                    with gil:
                        signalled = _check_signals()
                    if signalled or self.stop_requested:
                        break
                    last_look = monotonic_seconds()
        self.steps_interrupted = steps if signalled else 0
        if signalled:
            raise_pending()
        return steps, rebuild

    def finish_step(self):
        """The second half of a step interrupted by a list rebuild (forces are now at the new
        positions)."""
        with nogil:
            self.second_half(0.5 * self.p.dt)
