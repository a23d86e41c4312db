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
  isotropic, or per cell axis for anisotropic cells (the diagonal form of Del Tatto et al.,
  Appl. Sci. 12, 1139 (2022)), after a BAOAB Langevin step for the temperature.
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


cdef class Integrator:
    """The integrator settings (a C struct) and the state it advances: positions x,
    velocities v, masses, cell, forces f, per-atom energies, strain derivative, thermostat
    chain (xi, vxi) and random state, all numpy arrays shared with fastpot/md.py, which
    creates this once per run. x_ref and cell_ref are where the neighbour list was built."""
    cdef Params p
    cdef double skin, list_radius
    cdef bint fully_periodic
    cdef double[:, ::1] x, v, cell, f, strain, x_ref, cell_ref
    cdef const double[::1] mass
    cdef double[::1] energies, xi, vxi
    cdef uint64_t[::1] rng
    cdef const int32_t[::1] species
    cdef int32_t[::1] extrapolated
    cdef double[:, ::1] gradient

    def __init__(self, *, str ensemble, double dt, double kT, double friction,
                 chain_masses, double n_dof, double pressure, double tau_p,
                 double compressibility, bint anisotropic, double skin, double list_radius,
                 bint fully_periodic, species, x, v, mass, cell, f, energies, strain, x_ref,
                 cell_ref, xi, vxi, rng):
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

    def run_segment(self, ModelData model, Pairs pairs, int64_t max_steps, int n_threads):
        """Advance up to max_steps steps. On entry f, energies and strain hold the forces at x.
        Returns (steps done, rebuild): with rebuild True the list must be rebuilt at the new
        positions; the step in progress then needs `forces` and `finish_step`."""
        cdef int64_t n = self.x.shape[0], steps = 0
        cdef bint rebuild = False
        cdef double h = 0.5 * self.p.dt
        cdef Params *p = &self.p
        cdef const KernelTable *k = kernels()
        if n == 0:
            return 0, False
        pairs.transpose()
        with nogil:
            while steps < max_steps:
                # first half
                if p.ensemble == ENSEMBLE_NOSE_HOOVER:
                    nose_hoover_half(n, self.v, self.mass, p, self.xi, self.vxi, h)
                kick(n, self.v, self.f, self.mass, h)
                if p.ensemble == ENSEMBLE_LANGEVIN or p.ensemble == ENSEMBLE_NPT:
                    drift(n, self.x, self.v, h)
                    langevin_o(n, self.v, self.mass, p, &self.rng[0])
                    drift(n, self.x, self.v, h)
                else:
                    drift(n, self.x, self.v, p.dt)
                if p.ensemble == ENSEMBLE_NPT:
                    cell_rescaling(n, self.x, self.v, self.cell, self.mass, &self.strain[0, 0], p,
                                   &self.rng[0])
                steps += 1
                if verlet_needs_rebuild(n, &self.x[0, 0], &self.x_ref[0, 0], &self.cell[0, 0],
                                        &self.cell_ref[0, 0], self.fully_periodic,
                                        self.list_radius, self.skin):
                    rebuild = True
                    break
                # forces at the new positions, second half
                refresh_pairs(&pairs.c, &self.x[0, 0], &self.cell[0, 0], n_threads)
                self.compute_forces(k, model, pairs, n_threads)
                kick(n, self.v, self.f, self.mass, h)
                if p.ensemble == ENSEMBLE_NOSE_HOOVER:
                    nose_hoover_half(n, self.v, self.mass, p, self.xi, self.vxi, h)
        return steps, rebuild

    def finish_step(self):
        """The second half of a step interrupted by a list rebuild (forces are now at the new
        positions)."""
        cdef int64_t n = self.v.shape[0]
        kick(n, self.v, self.f, self.mass, 0.5 * self.p.dt)
        if self.p.ensemble == ENSEMBLE_NOSE_HOOVER:
            nose_hoover_half(n, self.v, self.mass, &self.p, self.xi, self.vxi, 0.5 * self.p.dt)
