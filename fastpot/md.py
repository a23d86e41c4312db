"""Molecular dynamics with a fastpot Potential: NVE, Langevin and Nose-Hoover NVT, NPT.

The step loop runs in compiled code (ext/_md.pyx) with forces from the fused model kernel;
Python only writes output and rebuilds the Verlet neighbour list when an atom has moved more
than half the skin. Units at the interface are ASE's: Å, eV, fs, K, GPa.

    from fastpot import md
    dyn = md.run(atoms, potential, ensemble="nvt-langevin", temperature=300, timestep=1.0,
                 steps=10000, thermo="thermo.csv", trajectory="md.extxyz", every=100)

``MolecularDynamics.run(n)`` runs n more steps, as ASE's dynamics do; ``md.run(...,
steps=N, checkpoint=...)`` (and ``fastpot md --steps N --checkpoint ...``) finishes a run of N
steps in total, resuming an interrupted one.
"""
import contextlib
import csv
import io
import json
import signal
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
from ase import units

from fastpot import _md
from fastpot._files import append as append_text, atomic_write
from fastpot._threading import resolve_threads
from fastpot.neighbors import NeighborList, check_pairs

ENSEMBLES = _md.ENSEMBLES
# what save_checkpoint writes and resume reads
CHECKPOINT_FIELDS = ("x", "v", "cell", "xi", "vxi", "rng", "heat", "step", "fingerprint",
                     "numbers")
THERMO_COLUMNS = ["step", "time_ps", "temperature", "epot", "ekin", "etot", "conserved",
                  "pressure", "volume"]
GPA = 1.0 / units.GPa  # eV/Å^3 -> GPa


class MolecularDynamics:
    """A molecular-dynamics run of `atoms` (positions and momenta are updated in place).

    Parameters
    ----------
    atoms : ase.Atoms
    potential : Potential
    ensemble : str
        ``nve``, ``nvt-langevin`` (BAOAB), ``nvt-nh`` (Nose-Hoover chain) or ``npt``
        (stochastic cell rescaling with a Langevin thermostat).
    timestep : float
        fs, > 0.
    temperature : float
        K; required for the thermostatted ensembles. Also the temperature of the initial
        Maxwell-Boltzmann velocities when the atoms have no momenta.
    pressure : float
        GPa, required for ``npt``.
    friction : float
        Langevin friction gamma, 1/fs (velocities lose memory in 1/gamma).
    tau_thermostat : float
        fs, the Nose-Hoover time constant tau: the chain masses are Q_1 = N_f kT tau^2 and
        Q_j = kT tau^2, so the kinetic energy oscillates with a period of about
        2 pi tau / sqrt(2) = 4.4 tau.
    tau_barostat : float
        fs, the barostat's relaxation time: log V relaxes as d log V / dt =
        -(compressibility / tau_barostat) (P_target - P), the same for the isotropic and
        the per-axis barostat.
    compressibility : float
        1/GPa, the barostat's estimate (it sets the coupling, not the physics).
    anisotropic : bool
        ``npt`` scaling each Cartesian axis on its own (diagonal pressure) instead of
        isotropic.
    seed : int
        Seeds the initial velocities and the thermostat noise.
    thermo, trajectory : path or None
        ``thermo.csv`` with columns step, time_ps, temperature (K), epot, ekin, etot (eV),
        conserved (eV, see `conserved_energy`), pressure (GPa), volume (Å^3); trajectory in
        extxyz (or ASE .traj by suffix). Written every `every` steps.
    checkpoint : path or None
        Written every `checkpoint_every` steps and at the end of every ``run``; ``resume()``
        continues from it.
    callback : callable or None
        ``callback(dyn)`` every `every` steps.
    """

    def __init__(self, atoms, potential, ensemble="nve", timestep=1.0, temperature=None,
                 pressure=None, friction=0.01, tau_thermostat=100.0, chain_length=3,
                 tau_barostat=1000.0, compressibility=0.01, anisotropic=False, seed=0,
                 skin=0.5, n_threads=None, thermo=None, trajectory=None, every=100,
                 callback=None, checkpoint=None, checkpoint_every=1000, log=None,
                 max_force_std=None, uncertain_frame="uncertain.extxyz"):
        if ensemble not in ENSEMBLES:
            raise ValueError(f"unknown ensemble {ensemble!r}; choose from {', '.join(ENSEMBLES)}")
        if not (isinstance(timestep, (int, float)) and np.isfinite(timestep) and timestep > 0):
            raise ValueError(f"timestep must be a positive number of fs, got {timestep!r}")
        if ensemble != "nve" and temperature is None:
            raise ValueError(f"ensemble {ensemble!r} needs a temperature (K)")
        if temperature is not None and not (_is_finite(temperature) and temperature >= 0):
            raise ValueError(f"temperature must be >= 0 K, got {temperature!r}")
        if ensemble == "npt" and not temperature > 0:
            raise ValueError("ensemble 'npt' needs a temperature above 0 K (the barostat's "
                             "noise is thermal)")
        if ensemble == "npt":
            if pressure is None:
                raise ValueError("ensemble 'npt' needs a pressure (GPa)")
            if not _is_finite(pressure):
                raise ValueError(f"pressure must be a finite number of GPa, got {pressure!r}")
            if not atoms.pbc.all():
                raise ValueError("ensemble 'npt' needs a cell periodic in all three directions")
        if len(atoms) == 0:
            raise ValueError("the structure has no atoms")
        for name, value in (("friction", friction), ("tau_thermostat", tau_thermostat),
                            ("tau_barostat", tau_barostat), ("compressibility", compressibility)):
            if not (_is_finite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {value!r}")
        for name, value, low in (("every", every, 1), ("checkpoint_every", checkpoint_every, 1),
                                 ("seed", seed, 0)):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or \
                    value < low:
                what = "a positive integer" if low else "an integer >= 0"
                raise ValueError(f"{name} must be {what}, got {value!r}")
        if not isinstance(chain_length, (int, np.integer)) or not 1 <= chain_length <= 10:
            raise ValueError(f"chain_length must be between 1 and 10, got {chain_length!r}")
        if max_force_std is not None:
            if not potential.is_committee:
                raise ValueError("max_force_std needs a committee model (a .fastpot trained "
                                 "with several members); this one has a single network per "
                                 "element")
            if not (isinstance(max_force_std, (int, float)) and np.isfinite(max_force_std)
                    and max_force_std > 0):
                raise ValueError(f"max_force_std must be a positive number of eV/Å, got "
                                 f"{max_force_std!r}")
        self.max_force_std = max_force_std
        self.uncertain_frame = Path(uncertain_frame) if uncertain_frame else None
        self.stop_reason = None
        self.atoms = atoms
        self.potential = potential
        self.ensemble = ensemble
        self.timestep = float(timestep)
        self.temperature = temperature
        self.pressure = pressure
        self.species = potential.sf.species(atoms)  # names any element the model lacks
        self.masses = np.ascontiguousarray(atoms.get_masses(), dtype=float)
        bad = np.flatnonzero(~(self.masses > 0))
        if bad.size:
            raise ValueError(f"every atom needs a positive mass (atom {bad[0]} has "
                             f"{self.masses[bad[0]]})")
        self.n_threads = resolve_threads(n_threads)
        self.every = every
        self.callback = callback
        self.thermo_path = Path(thermo) if thermo else None
        self.trajectory_path = Path(trajectory) if trajectory else None
        self.checkpoint_path = Path(checkpoint) if checkpoint else None
        self.checkpoint_every = int(checkpoint_every)
        self.log = log
        self.seed = int(seed)
        self.rng = _md.seed_state(self.seed)
        self.step = 0
        n = len(atoms)
        # NVE and Nose-Hoover conserve the total momentum: the centre of mass then carries no
        # heat and the temperature counts 3N - 3 degrees of freedom in its frame (a drift
        # the user's momenta have is kept, and left out of the temperature). Langevin and
        # the barostat's thermostat act on every atom: 3N.
        self.com_frame = ensemble in ("nve", "nvt-nh") and n > 1
        self.n_dof = 3 * n - 3 if self.com_frame else 3 * n
        kT = (temperature or 0.0) * units.kB
        tau = tau_thermostat * units.fs
        # integrator settings in ASE's units (also the fingerprint of a checkpoint)
        self.params = {
            "ensemble": ensemble, "dt": self.timestep * units.fs, "kT": kT,
            "friction": friction / units.fs,
            "chain_masses": [max(kT, 1e-12) * tau**2 * (self.n_dof if k == 0 else 1.0)
                             for k in range(int(chain_length))],
            "n_dof": float(self.n_dof),
            "pressure": (pressure or 0.0) * units.GPa, "tau_p": tau_barostat * units.fs,
            "compressibility": compressibility / units.GPa, "anisotropic": bool(anisotropic),
            "com_frame": self.com_frame,
            "skin": float(skin), "list_radius": potential.cutoff + float(skin),
            "fully_periodic": bool(atoms.pbc.all()),
        }
        self.xi = np.zeros(chain_length)
        self.vxi = np.zeros(chain_length)
        self.heat = np.zeros(2)  # eV taken from the thermostat's and the barostat's baths
        self.x = np.ascontiguousarray(atoms.get_positions(), dtype=float)
        self.cell = np.ascontiguousarray(atoms.cell.array, dtype=float)
        momenta = atoms.get_momenta()
        bad = ~np.isfinite(momenta).all(axis=1)
        if bad.any():
            raise ValueError(f"momentum of atom {int(np.flatnonzero(bad)[0])} is not finite")
        if not np.any(momenta) and temperature:
            self.v = self._maxwell_boltzmann(temperature)
        else:
            self.v = np.ascontiguousarray(momenta / self.masses[:, None])
        self.nl = NeighborList(potential.cutoff, skin=skin, n_threads=self.n_threads)
        self.forces = np.zeros((n, 3))
        self.energies = np.zeros(n)
        self.strain = np.zeros((3, 3))
        self._x_ref = self.x.copy()
        self._cell_ref = self.cell.copy()
        self.n_rebuilds = 0
        self.steps_run = 0
        self.wall_time = 0.0
        self._interrupted_inside_a_step = False
        self._interrupted_between_steps = False
        self._fingerprint = json.dumps(self.params, sort_keys=True)
        self.integrator = _md.Integrator(
            **self.params, species=self.species, x=self.x, v=self.v, mass=self.masses,
            cell=self.cell, f=self.forces, energies=self.energies, strain=self.strain,
            x_ref=self._x_ref, cell_ref=self._cell_ref, xi=self.xi, vxi=self.vxi, rng=self.rng,
            heat=self.heat)
        self._rebuild()

    # -- state ----------------------------------------------------------------------------------
    def _maxwell_boltzmann(self, temperature):
        """Seeded Maxwell-Boltzmann velocities at exactly `temperature` under the run's count
        of degrees of freedom (zero total momentum where the ensemble conserves it)."""
        n = len(self.masses)
        xi = _md.normals(self.rng, 3 * n).reshape(n, 3)
        v = xi * np.sqrt(temperature * units.kB / self.masses)[:, None]
        if self.com_frame:
            v -= (self.masses @ v) / self.masses.sum()
        ekin2 = float(np.sum(self.masses[:, None] * v * v))
        if ekin2 > 0:
            v *= np.sqrt(self.n_dof * temperature * units.kB / ekin2)
        return np.ascontiguousarray(v)

    def _rebuild(self):
        self.nl.build(positions=self.x, cell=self.cell, pbc=self.atoms.pbc)
        self.n_rebuilds += 1
        self._x_ref[:] = self.x
        self._cell_ref[:] = self.cell
        if self.step:
            consequence = f"the simulation blew up at step {self.step} (try a smaller timestep)"
        else:
            consequence = "forces are undefined in the starting structure"
        check_pairs(self.nl, consequence)
        self.integrator.forces(self.potential.compiled(), self.nl.pairs,
                               resolve_threads(self.n_threads))  # 1 in a fork

    @property
    def time_ps(self):
        return self.step * self.timestep / 1000.0

    @property
    def epot(self):
        return float(self.energies.sum())

    @property
    def ekin(self):
        return 0.5 * float(np.sum(self.masses[:, None] * self.v * self.v))

    @property
    def thermal_ekin(self):
        """Kinetic energy in the centre-of-mass frame where the ensemble conserves momentum
        (NVE, Nose-Hoover), else all of it; eV."""
        if not self.com_frame:
            return self.ekin
        momentum = self.masses @ self.v
        return self.ekin - 0.5 * float(momentum @ momentum) / self.masses.sum()

    @property
    def current_temperature(self):
        """K, from `thermal_ekin` and the run's degrees of freedom `n_dof`."""
        return 2.0 * self.thermal_ekin / (self.n_dof * units.kB)

    @property
    def volume(self):
        return abs(np.linalg.det(self.cell)) if self.atoms.pbc.all() else float("nan")

    @property
    def pressure_gpa(self):
        if not self.atoms.pbc.all():
            return float("nan")
        kinetic = np.sum(self.masses[:, None] * self.v * self.v)
        virial = -np.trace(self.strain)
        return (kinetic + virial) / (3.0 * self.volume) * GPA

    @property
    def conserved_energy(self):
        """The quantity the ensemble's exact dynamics conserve, eV; its drift is the
        integration error. NVE: the total energy. nvt-nh: the total energy plus the chain's
        energy. nvt-langevin: the effective energy, total energy minus the heat the
        thermostat added. npt: the same with P V added and the barostat's exchange taken
        off too (Bussi & Parrinello, Phys. Rev. E 75, 056707 (2007); Bernetti & Bussi
        2020)."""
        e = self.epot + self.ekin - float(self.heat.sum())
        if self.ensemble == "nvt-nh":
            q = np.array(self.params["chain_masses"])
            kT = self.params["kT"]
            e += 0.5 * float(q @ self.vxi**2) + self.n_dof * kT * self.xi[0] + kT * self.xi[1:].sum()
        if self.ensemble == "npt":
            e += self.params["pressure"] * self.volume
        return e

    def _sync_atoms(self):
        self.atoms.set_cell(self.cell, scale_atoms=False)
        self.atoms.set_positions(self.x)
        self.atoms.set_momenta(self.v * self.masses[:, None])

    # -- running --------------------------------------------------------------------------------
    def run(self, steps):
        """Run `steps` more steps (as ASE's dynamics do); returns self.

        Ctrl-C stops the run at the end of the step it is in (within a second unless one step
        takes longer) with KeyboardInterrupt: the run and its atoms hold that whole step, and
        run() may go on. A second Ctrl-C stops at once, inside the step: this run then
        refuses to go on or to save a checkpoint (start again from its last one)."""
        if not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"steps must be a positive integer, got {steps!r}")
        self._refuse_half_a_step("go on")
        self.integrator.stop_requested = False
        with _ctrl_c_at_whole_steps(self.integrator):
            try:
                self._run(steps)
            except KeyboardInterrupt:
                if not self._interrupted_between_steps:
                    self._interrupted_inside_a_step = True
                raise
        if self.integrator.stop_requested:
            raise KeyboardInterrupt
        return self

    def _refuse_half_a_step(self, what):
        if self._interrupted_inside_a_step:
            raise RuntimeError(
                f"cannot {what}: this run was stopped inside a step (a second Ctrl-C), so its "
                "state is not that of a whole step; start again from its last checkpoint")

    def _run(self, steps):
        """The steps of run(); ends early, at a whole step, when a stop is requested."""
        self._interrupted_between_steps = False
        self.steps_run, self.wall_time = 0, 0.0
        if self.step == 0:
            self._output(write_header=True)
            if self._uncertain():
                return self
        started = time.perf_counter()
        steps_at_start = self.step
        end = self.step + int(steps)
        self.steps_run = 0
        next_checkpoint = (self.step // self.checkpoint_every + 1) * self.checkpoint_every
        while self.step < end:
            target = min(end, (self.step // self.every + 1) * self.every)
            while self.step < target:
                try:
                    done, rebuild = self.integrator.run_segment(
                        self.potential.compiled(), self.nl.pairs, target - self.step,
                        resolve_threads(self.n_threads))
                except KeyboardInterrupt:
                    if self.integrator.steps_interrupted >= 0:  # between two steps: whole
                        self.step += self.integrator.steps_interrupted
                        self._sync_atoms()
                        self._interrupted_between_steps = True
                    raise
                self.step += done
                if rebuild:
                    self._rebuild()
                    self.integrator.finish_step()
                if self.integrator.stop_requested:  # Ctrl-C: this step is whole
                    break
            if self.integrator.stop_requested:
                break
            if not np.isfinite(self.x).all() or not np.isfinite(self.v).all():
                raise FloatingPointError(f"step {self.step}: positions or velocities are not "
                                         "finite (the simulation blew up)")
            self.wall_time = time.perf_counter() - started
            self.steps_run = self.step - steps_at_start
            self._rate = self.ns_per_day
            self._output()
            if self._uncertain():
                break
            if self.checkpoint_path and (self.step >= next_checkpoint or self.step >= end):
                # a resumed run starts from a fresh list and forces; do the same here so that
                # both continue identically
                self._rebuild()
                self.save_checkpoint(self.checkpoint_path)
                next_checkpoint += self.checkpoint_every
        self.wall_time = time.perf_counter() - started
        self.steps_run = self.step - steps_at_start
        self._sync_atoms()
        return self

    @property
    def ns_per_day(self):
        if not getattr(self, "steps_run", 0) or not self.wall_time:
            return float("nan")
        return self.steps_run * self.timestep * 1e-6 / self.wall_time * 86400.0

    def _largest_force_std(self):
        """The committee's largest per-atom force standard deviation (eV/Å, the norm of an
        atom's per-component std) at the current positions."""
        self._sync_atoms()
        result = self.potential.evaluate(self.atoms, stress=False, forces_std=True,
                                         n_threads=self.n_threads)
        return float(np.sqrt((result["forces_std"] ** 2).sum(axis=1)).max())

    def _uncertain(self):
        """True (and the frame saved, the reason logged) when the committee's force std has
        passed max_force_std at this output step."""
        if self.max_force_std is None or self.force_std <= self.max_force_std:
            return False
        self.stop_reason = (f"step {self.step}: the committee's largest force standard "
                            f"deviation {self.force_std:.4g} eV/Å passed max_force_std "
                            f"{self.max_force_std:g} eV/Å")
        if self.uncertain_frame is not None:
            import ase.io
            frame = self.atoms.copy()
            frame.info.update(step=self.step, max_force_std=self.force_std)
            text = io.StringIO()
            ase.io.write(text, frame, format="extxyz")
            atomic_write(self.uncertain_frame, text.getvalue())
            self.stop_reason += f"; frame saved to {self.uncertain_frame}"
        if self.log:
            self.log(self.stop_reason)
        return True

    def _output(self, write_header=False):
        row = [self.step, self.time_ps, self.current_temperature, self.epot, self.ekin,
               self.epot + self.ekin, self.conserved_energy, self.pressure_gpa, self.volume]
        columns = THERMO_COLUMNS
        if self.potential.is_committee:
            self.force_std = self._largest_force_std()
            row.append(self.force_std)
            columns = THERMO_COLUMNS + ["max_force_std"]
        if self.thermo_path:
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\n")
            if write_header:
                writer.writerow(columns)
            writer.writerow([row[0]] + [f"{value:.10g}" for value in row[1:]])
            _write_or_append(self.thermo_path, text.getvalue(), append=not write_header)
        if self.trajectory_path:
            self._sync_atoms()
            self._write_frame(append=not write_header)
        if self.log:
            rate = getattr(self, "_rate", None)
            self.log(f"step {self.step:8d}  t {self.time_ps:9.3f} ps  T {row[2]:8.2f} K  "
                     f"Epot {row[3]:14.6f} eV  Etot {row[5]:14.6f} eV  "
                     f"conserved {row[6]:14.6f} eV"
                     + (f"  {rate:8.3f} ns/day" if rate else ""))
        if self.callback is not None:
            self._sync_atoms()
            self.callback(self)

    def _write_frame(self, append):
        import ase.io
        from ase.calculators.singlepoint import SinglePointCalculator
        frame = self.atoms.copy()
        frame.calc = SinglePointCalculator(frame, energy=self.epot, forces=self.forces.copy())
        frame.info["step"] = self.step
        frame.info["time_ps"] = self.time_ps
        if self.trajectory_path.suffix == ".traj":
            from ase.io.trajectory import Trajectory
            with Trajectory(self.trajectory_path, "a" if append else "w") as traj:
                traj.write(frame)
        else:
            text = io.StringIO()
            ase.io.write(text, frame, format="extxyz")
            _write_or_append(self.trajectory_path, text.getvalue(), append=append)

    # -- checkpoints ----------------------------------------------------------------------------
    def save_checkpoint(self, path):
        self._refuse_half_a_step("save a checkpoint")
        buffer = io.BytesIO()
        np.savez(buffer, x=self.x, v=self.v, cell=self.cell, xi=self.xi, vxi=self.vxi,
                 rng=self.rng, heat=self.heat, step=np.array(self.step),
                 fingerprint=np.array(self._fingerprint),
                 numbers=self.atoms.numbers,
                 output_bytes=np.array([_size(self.thermo_path), _size(self.trajectory_path)]))
        atomic_write(path, buffer.getvalue())

    def resume(self):
        """Continue from the checkpoint file, when there is one ahead of this run: positions,
        velocities, cell, thermostat and random state, step count; output files are cut back
        to that step. Returns True when it resumed."""
        if not (self.checkpoint_path and self.checkpoint_path.is_file()):
            return False
        try:
            with np.load(self.checkpoint_path, allow_pickle=False) as archive:
                f = {key: archive[key] for key in CHECKPOINT_FIELDS}
                # sizes of the output files at the checkpoint (not in older checkpoints)
                output_bytes = (archive["output_bytes"] if "output_bytes" in archive.files
                                else np.array([-1, -1]))
        except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as error:
            raise ValueError(f"{self.checkpoint_path} is not a fastpot MD checkpoint ({error}); "
                             "remove it or choose another checkpoint") from None
        if str(f["fingerprint"]) != self._fingerprint or not np.array_equal(
                f["numbers"], self.atoms.numbers):
            raise ValueError(f"{self.checkpoint_path} belongs to another run (different "
                             "settings or atoms); remove it or choose another checkpoint")
        step = int(f["step"])
        if step <= self.step:
            return False
        self.x[:] = f["x"]
        self.v[:] = f["v"]
        self.cell[:] = f["cell"]
        self.xi[:] = f["xi"]
        self.vxi[:] = f["vxi"]
        self.heat[:] = f["heat"]
        self.rng[:] = f["rng"]
        self.step = step
        if self.log:
            self.log(f"resumed from {self.checkpoint_path} at step {step}")
        self._rebuild()
        # output written after the checkpoint belongs to steps that will be run again: the
        # files are cut back to their sizes at the checkpoint (which also drops a row or
        # frame a kill left half-written), or, for checkpoints without the sizes, to the
        # rows and frames of the steps up to it
        thermo_bytes, trajectory_bytes = (int(b) for b in output_bytes)
        if self.thermo_path and self.thermo_path.is_file() and \
                not _cut_to(self.thermo_path, thermo_bytes):
            rows = self.thermo_path.read_text().splitlines()
            kept = [rows[0]] + [r for r in rows[1:] if int(r.split(",")[0]) <= step]
            atomic_write(self.thermo_path, "\n".join(kept) + "\n")
        if self.trajectory_path and self.trajectory_path.is_file() and \
                self.trajectory_path.suffix != ".traj" and \
                not _cut_to(self.trajectory_path, trajectory_bytes):
            import ase.io
            frames = [a for a in ase.io.read(self.trajectory_path, ":")
                      if a.info.get("step", 0) <= step]
            text = io.StringIO()
            ase.io.write(text, frames, format="extxyz")
            atomic_write(self.trajectory_path, text.getvalue())
        self._sync_atoms()
        return True


@contextlib.contextmanager
def _ctrl_c_at_whole_steps(integrator):
    """Within the block, a first Ctrl-C asks `integrator` to stop after the step it is in
    (run_segment looks for the request between steps, and the Python code between segments
    finishes its step before it stops); a second raises KeyboardInterrupt at once. Only
    Python's own Ctrl-C handler in the main thread is replaced: a handler of the user's, or
    another thread, keeps Ctrl-C as it is."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return

    def stop_after_this_step(signum, frame):
        if integrator.stop_requested:
            raise KeyboardInterrupt
        integrator.stop_requested = True

    signal.signal(signal.SIGINT, stop_after_this_step)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _write_or_append(path, text, append):
    """A new file written atomically, or `text` (one row or frame) appended in one write: a
    kill leaves the rows and frames before it whole (the next resume cuts a partial one)."""
    if append:
        append_text(path, text)
    else:
        atomic_write(path, text)


def _size(path):
    """Bytes in an output file (-1: none); kept in checkpoints to cut the files back."""
    try:
        return path.stat().st_size if path else -1
    except OSError:
        return -1


def _cut_to(path, size):
    """Cut `path` back to its first `size` bytes (atomically); False when that is not
    possible (no size known, or the file is shorter: it was replaced since)."""
    if size < 0:
        return False
    with open(path, "rb") as f:
        kept = f.read(size)
    if len(kept) < size:
        return False
    if path.stat().st_size > size:
        atomic_write(path, kept)
    return True


def _is_finite(value):
    """A real number that is finite (strings and None are not numbers here)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and \
        not isinstance(value, bool) and bool(np.isfinite(value))


def run(atoms, potential, ensemble="nve", temperature=None, timestep=1.0, steps=1000,
        **options):
    """A MolecularDynamics run of `steps` steps in total; returns it.

    With a ``checkpoint`` from an interrupted run of the same setup, it resumes there and runs
    only the steps still missing, so that repeating the same call finishes the job."""
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    dyn = MolecularDynamics(atoms, potential, ensemble=ensemble, timestep=timestep,
                            temperature=temperature, **options)
    dyn.resume()
    if dyn.step < steps:
        dyn.run(steps - dyn.step)
    return dyn
