"""Molecular dynamics: conservation, thermostats, barostat, reproducibility, restarts,
agreement with ASE's integrator, bad input."""
import numpy as np
import pytest
from ase import units
from ase.build import bulk

from fastpot import md


def cell(size=2, a=3.6):
    return bulk("Cu", "fcc", a=a, cubic=True).repeat(size)


def test_nve_conserves_energy_with_second_order_error(copper):
    spreads = []
    for timestep in (2.0, 1.0):
        dyn = md.MolecularDynamics(cell(), copper, timestep=timestep, temperature=400, seed=1)
        energies = []
        for _ in range(20):
            dyn.run(int(20 / timestep))
            energies.append(dyn.epot + dyn.ekin)
        spreads.append(np.ptp(energies) / len(dyn.atoms))
    assert spreads[1] < 1e-4                   # eV/atom over 0.4 ps at 1 fs
    assert 2.5 < spreads[0] / spreads[1] < 6   # error ~ timestep^2


def test_compiled_nve_follows_ase_velocity_verlet(copper):
    from ase.md.verlet import VelocityVerlet
    start = cell()
    start.rattle(0.05, seed=2)
    start.set_momenta(np.random.default_rng(3).normal(size=(len(start), 3)) * 0.3)
    ours = md.run(start.copy(), copper, timestep=1.0, steps=50, every=50)
    theirs = start.copy()
    theirs.calc = copper.calculator()
    VelocityVerlet(theirs, timestep=1.0 * units.fs).run(50)
    np.testing.assert_allclose(ours.atoms.positions, theirs.positions, atol=1e-9)
    np.testing.assert_allclose(ours.atoms.get_momenta(), theirs.get_momenta(), atol=1e-9)


@pytest.mark.parametrize("ensemble", ["nvt-langevin", "nvt-nh"])
def test_thermostats_reach_canonical_temperature(copper, ensemble):
    target = 500.0
    dyn = md.MolecularDynamics(cell(), copper, ensemble=ensemble, temperature=target,
                               timestep=2.0, friction=0.05, tau_thermostat=40.0, seed=4,
                               every=5)
    dyn.run(1000)  # equilibrate
    kinetic = []
    dyn.callback = lambda d: kinetic.append(d.ekin)
    dyn.run(6000)
    kinetic = np.array(kinetic)
    n_dof = dyn.n_dof
    mean_t = 2 * kinetic.mean() / (n_dof * units.kB)
    assert abs(mean_t - target) < 0.06 * target
    # canonical: var(K) = (n_dof / 2) (kT)^2
    expected_var = 0.5 * n_dof * (units.kB * target) ** 2
    assert 0.6 < kinetic.var() / expected_var < 1.5


def test_nose_hoover_conserved_quantity(copper):
    dyn = md.MolecularDynamics(cell(), copper, ensemble="nvt-nh", temperature=300,
                               timestep=1.0, tau_thermostat=50.0, seed=5, every=10)
    values = []
    dyn.callback = lambda d: values.append(d.conserved_energy)
    dyn.run(600)
    assert np.ptp(values) / len(dyn.atoms) < 2e-4


def test_npt_holds_pressure_and_finds_the_equation_of_state_volume(copper):
    # static equation of state of the model: volume of zero pressure at 0 K
    lattice = np.linspace(3.5, 3.75, 11)
    energies = []
    for a in lattice:
        atoms = cell(a=a)
        energies.append(copper.evaluate(atoms)["energy"])
    fit = np.polyfit(lattice, energies, 3)
    roots = np.roots(np.polyder(fit))
    a0 = float(np.real(roots[np.argmin(np.abs(roots - 3.6))]))
    v0 = a0**3 * 8
    dyn = md.MolecularDynamics(cell(a=3.66), copper, ensemble="npt", temperature=20.0,
                               pressure=0.0, timestep=2.0, tau_barostat=200.0,
                               compressibility=0.01, seed=6, every=10)
    dyn.run(1500)
    volumes, pressures = [], []
    dyn.callback = lambda d: (volumes.append(d.volume), pressures.append(d.pressure_gpa))
    dyn.run(3000)
    assert abs(np.mean(volumes) - v0) / v0 < 0.01
    assert abs(np.mean(pressures)) < 0.3  # GPa, fluctuations of a 32-atom cell are large
    # and a compressed target gives a smaller cell
    dense = md.run(cell(a=3.6), copper, ensemble="npt", temperature=20.0, pressure=5.0,
                   timestep=2.0, tau_barostat=200.0, seed=7, steps=3000, every=10)
    assert dense.volume < 0.99 * v0


def test_same_seed_same_trajectory_and_threads_agree(copper):
    runs = [md.run(cell(), copper, ensemble="nvt-langevin", temperature=300, timestep=1.0,
                   steps=150, seed=8, n_threads=t) for t in (1, 2, 1)]
    np.testing.assert_array_equal(runs[0].atoms.positions, runs[1].atoms.positions)
    np.testing.assert_array_equal(runs[0].atoms.positions, runs[2].atoms.positions)
    other = md.run(cell(), copper, ensemble="nvt-langevin", temperature=300, timestep=1.0,
                   steps=150, seed=9)
    assert np.abs(other.atoms.positions - runs[0].atoms.positions).max() > 1e-3


def test_restart_equals_uninterrupted_run(copper, tmp_path):
    options = dict(ensemble="nvt-langevin", temperature=300, timestep=1.0, seed=10,
                   every=20, checkpoint_every=100)
    straight = md.MolecularDynamics(cell(), copper, thermo=tmp_path / "a.csv",
                                    checkpoint=tmp_path / "a.npz", **options).run(300)
    first = md.MolecularDynamics(cell(), copper, thermo=tmp_path / "b.csv",
                                 trajectory=tmp_path / "b.extxyz",
                                 checkpoint=tmp_path / "b.npz", **options)
    first.run(200)  # "killed" after the checkpoint at step 200
    resumed = md.MolecularDynamics(cell(), copper, thermo=tmp_path / "b.csv",
                                   trajectory=tmp_path / "b.extxyz",
                                   checkpoint=tmp_path / "b.npz", **options)
    assert resumed.resume() and resumed.step == 200
    resumed.run(100)
    assert resumed.step == 300
    np.testing.assert_array_equal(straight.atoms.positions, resumed.atoms.positions)
    np.testing.assert_array_equal(straight.atoms.get_momenta(), resumed.atoms.get_momenta())
    assert (tmp_path / "a.csv").read_text() == (tmp_path / "b.csv").read_text()
    rows = (tmp_path / "b.csv").read_text().splitlines()
    assert rows[0] == "step,time_ps,temperature,epot,ekin,etot,conserved,pressure,volume"
    assert [int(r.split(",")[0]) for r in rows[1:]] == list(range(0, 301, 20))


@pytest.mark.parametrize("ensemble", ["nve", "nvt-langevin", "nvt-nh", "npt"])
def test_run_runs_that_many_more_steps(copper, tmp_path, ensemble):
    """run(5) twice is run(10): the same trajectory, output and step count."""
    options = dict(ensemble=ensemble, temperature=300, pressure=0.0, timestep=2.0, seed=12,
                   every=5)
    dyns = []
    for name, calls in (("once", [10]), ("twice", [5, 5])):
        dyn = md.MolecularDynamics(cell(), copper, thermo=tmp_path / f"{name}.csv",
                                   trajectory=tmp_path / f"{name}.extxyz", **options)
        for steps in calls:
            dyn.run(steps)
        assert dyn.step == 10
        dyns.append(dyn)
    once, twice = dyns
    np.testing.assert_array_equal(once.atoms.positions, twice.atoms.positions)
    np.testing.assert_array_equal(once.atoms.get_momenta(), twice.atoms.get_momenta())
    np.testing.assert_array_equal(once.atoms.cell.array, twice.atoms.cell.array)
    for suffix in ("csv", "extxyz"):
        assert (tmp_path / f"once.{suffix}").read_text() == \
            (tmp_path / f"twice.{suffix}").read_text()
    assert twice.steps_run == 5  # of the last call


def test_md_run_finishes_an_interrupted_job(copper, tmp_path):
    options = dict(ensemble="nvt-langevin", temperature=300, timestep=1.0, seed=13, every=20,
                   checkpoint_every=40, thermo=tmp_path / "thermo.csv",
                   checkpoint=tmp_path / "run.npz")
    md.run(cell(), copper, steps=80, **options)  # "killed" after the checkpoint at step 80
    rows = (tmp_path / "thermo.csv").read_text()
    done = md.run(cell(), copper, steps=120, **options)
    assert done.step == 120 and done.steps_run == 40
    again = md.run(cell(), copper, steps=120, **options)  # the job is done: nothing to run
    assert again.step == 120 and again.steps_run == 0
    np.testing.assert_array_equal(again.atoms.positions, done.atoms.positions)
    thermo = (tmp_path / "thermo.csv").read_text()
    assert thermo.startswith(rows)
    assert [int(r.split(",")[0]) for r in thermo.splitlines()[1:]] == list(range(0, 121, 20))


def test_checkpoint_of_another_run_is_refused(copper, tmp_path):
    md.run(cell(), copper, ensemble="nvt-langevin", temperature=300, steps=10,
           checkpoint=tmp_path / "run.npz")
    with pytest.raises(ValueError, match="run.npz belongs to another run"):
        md.run(cell(), copper, ensemble="nvt-langevin", temperature=400, steps=20,
               checkpoint=tmp_path / "run.npz")


def test_output_files_and_initial_velocities(copper, tmp_path):
    import ase.io
    atoms = cell()
    md.run(atoms, copper, ensemble="nve", temperature=250, timestep=1.0, steps=40, every=10,
           trajectory=tmp_path / "t.extxyz", seed=11)
    frames = ase.io.read(tmp_path / "t.extxyz", ":")
    assert [f.info["step"] for f in frames] == [0, 10, 20, 30, 40]
    np.testing.assert_allclose(frames[-1].positions, atoms.positions, atol=1e-7)  # 8 decimals
    assert "forces" in frames[-1].calc.results
    start = md.MolecularDynamics(cell(), copper, temperature=250, seed=11)
    assert start.current_temperature == pytest.approx(250, rel=1e-12)
    np.testing.assert_allclose(start.masses @ start.v, 0.0, atol=1e-12)


def test_bad_input(copper):
    with pytest.raises(ValueError, match="timestep must be a positive number"):
        md.MolecularDynamics(cell(), copper, timestep=-1.0)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        md.run(cell(), copper, steps=0)
    with pytest.raises(ValueError, match="unknown ensemble 'nvt'"):
        md.MolecularDynamics(cell(), copper, ensemble="nvt", temperature=300)
    with pytest.raises(ValueError, match="needs a temperature"):
        md.MolecularDynamics(cell(), copper, ensemble="nvt-langevin")
    with pytest.raises(ValueError, match="needs a pressure"):
        md.MolecularDynamics(cell(), copper, ensemble="npt", temperature=300)
    with pytest.raises(ValueError, match="'npt' needs a temperature above 0 K"):
        md.MolecularDynamics(cell(), copper, ensemble="npt", temperature=0.0, pressure=0.0)
    gold = cell()
    gold.symbols[3] = "Au"
    with pytest.raises(ValueError, match="atom 3 is Au, which has no symmetry functions"):
        md.MolecularDynamics(gold, copper)
    cluster = cell()
    cluster.pbc = False
    with pytest.raises(ValueError, match="periodic in all three directions"):
        md.MolecularDynamics(cluster, copper, ensemble="npt", temperature=300, pressure=0.0)


def test_overlapping_atoms_are_named(copper):
    start = cell()
    start.positions[4] = start.positions[3]
    with pytest.raises(ValueError, match=r"atoms 3 and 4 overlap \(distance 0\): forces are "
                                         "undefined in the starting structure"):
        md.MolecularDynamics(start, copper)
    dyn = md.MolecularDynamics(cell(), copper, timestep=1.0)
    dyn.run(3)
    dyn.x[5] = dyn.x[6]  # as if a step had thrown two atoms onto each other
    with pytest.raises(ValueError, match="atoms 5 and 6 overlap .*blew up at step 3 "
                                         r"\(try a smaller timestep\)"):
        dyn._rebuild()


def test_command_line_md(copper, tmp_path):
    import ase.io

    from fastpot.cli import main
    copper.save(tmp_path / "cu.fastpot")
    ase.io.write(tmp_path / "start.extxyz", cell())
    assert main(["md", str(tmp_path / "cu.fastpot"), str(tmp_path / "start.extxyz"),
                 "--ensemble", "nvt-langevin", "--temperature", "300", "--timestep", "1",
                 "--steps", "60", "--every", "20", "--log", str(tmp_path / "thermo.csv"),
                 "--traj", str(tmp_path / "md.extxyz")]) == 0
    assert len((tmp_path / "thermo.csv").read_text().splitlines()) == 5
    assert main(["md", str(tmp_path / "cu.fastpot"), str(tmp_path / "start.extxyz"),
                 "--ensemble", "nvt-nh", "--steps", "10"]) == 2


def test_command_line_md_resumes_to_the_steps_asked(copper, tmp_path, capsys):
    """--steps N --checkpoint F means a run of N steps in total: the same command after an
    interruption finishes it, and once more does nothing."""
    import ase.io

    from fastpot.cli import main
    copper.save(tmp_path / "cu.fastpot")
    ase.io.write(tmp_path / "start.extxyz", cell())

    def command(name, steps):
        return ["md", str(tmp_path / "cu.fastpot"), str(tmp_path / "start.extxyz"),
                "--ensemble", "nvt-langevin", "--temperature", "300", "--steps", str(steps),
                "--every", "20", "--log", str(tmp_path / f"{name}.csv"),
                "--checkpoint", str(tmp_path / f"{name}.npz"),
                "--output", str(tmp_path / f"{name}.extxyz")]

    assert main(command("straight", 60)) == 0
    assert main(command("interrupted", 40)) == 0  # as if killed after step 40
    capsys.readouterr()
    assert main(command("interrupted", 60)) == 0
    out = capsys.readouterr().out
    assert "resumed from" in out and "at step 40" in out and "20 steps in" in out
    straight = ase.io.read(tmp_path / "straight.extxyz")
    resumed = ase.io.read(tmp_path / "interrupted.extxyz")
    # the interrupted run restarted from a fresh neighbour list at step 40: round-off only
    np.testing.assert_allclose(resumed.positions, straight.positions, rtol=0, atol=1e-9)
    rows = (tmp_path / "interrupted.csv").read_text().splitlines()
    assert [int(r.split(",")[0]) for r in rows[1:]] == [0, 20, 40, 60]
    assert main(command("interrupted", 60)) == 0
    assert "nothing to run: the checkpoint is at step 60 of 60" in capsys.readouterr().out
    assert (tmp_path / "interrupted.csv").read_text().splitlines() == rows
