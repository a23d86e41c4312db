"""The C API (fastpot/include/fastpot.h): a C program compiled with the system compiler and
`fastpot config` flags gives the Python API's energies, forces and stress to 1e-12, and
every error path returns a message instead of aborting (the cases are the "C API" table of
tests/test_bad_inputs.py)."""
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from fastpot import neighbor_list
from fastpot.cli import main as cli

from potentials import synthetic_potential

PROGRAM = Path(__file__).with_name("capi_program.c")
LIBRARY = Path(__import__("fastpot").__file__).parent / "lib" / "libfastpot.so"

pytestmark = pytest.mark.skipif(
    not LIBRARY.is_file() or shutil.which("cc") is None,
    reason="no C API library in this installation (Python without a shared library) or no "
           "C compiler")


def flags(kind, capsys):
    assert cli(["config", f"--{kind}"]) == 0
    return capsys.readouterr().out.split()


def build_program(folder):
    """tests/capi_program.c compiled with `fastpot config` flags, in `folder`."""
    executable = folder / "capi_program"
    cflags = subprocess.run([sys.executable, "-m", "fastpot.cli", "config", "--cflags"],
                            capture_output=True, text=True, check=True).stdout.split()
    libs = subprocess.run([sys.executable, "-m", "fastpot.cli", "config", "--libs"],
                          capture_output=True, text=True, check=True).stdout.split()
    subprocess.run(["cc", str(PROGRAM), *cflags, *libs, "-lm", "-o", str(executable)],
                   check=True)
    return executable


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    return build_program(tmp_path_factory.mktemp("capi"))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    potential = synthetic_potential(seed=2)
    path = tmp_path_factory.mktemp("model") / "model.fastpot"
    potential.save(path)
    return potential, path


def oxide(seed=4):
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat((2, 2, 3))
    atoms.symbols[::3] = "O"
    atoms.set_cell(atoms.cell.array + [[0.0, 0.3, 0.1], [0.2, 0.0, 0.0], [0.0, 0.4, 0.0]],
                   scale_atoms=True)
    atoms.rattle(0.12, seed=seed)
    return atoms


def write_structure(path, atoms):
    lines = [str(len(atoms))]
    lines += [f"{z} {x:.17g} {y:.17g} {w:.17g}" for z, (x, y, w) in zip(atoms.numbers,
                                                                          atoms.positions)]
    lines += [" ".join(f"{v:.17g}" for v in row) for row in atoms.cell.array]
    lines.append(" ".join(str(int(p)) for p in atoms.pbc))
    path.write_text("\n".join(lines) + "\n")


def run(program, *args):
    out = subprocess.run([str(program), *map(str, args)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.splitlines()


def rows(lines, key):
    return np.array([[float(v) for v in line.split()[1:]] for line in lines
                     if line.split()[0] == key])


def test_config_flags(capsys):
    assert flags("cflags", capsys) == [f"-I{LIBRARY.parent.parent / 'include'}"]
    libs = flags("libs", capsys)
    assert f"-L{LIBRARY.parent}" in libs and "-lfastpot" in libs
    assert f"-Wl,-rpath,{LIBRARY.parent}" in libs


@pytest.mark.parametrize("pbc", [True, False])
def test_compute_matches_python(program, model, tmp_path, pbc):
    potential, path = model
    atoms = oxide()
    atoms.pbc = pbc
    write_structure(tmp_path / "structure.txt", atoms)
    lines = run(program, "compute", path, tmp_path / "structure.txt")
    expected = potential.evaluate(atoms)
    assert float(lines[0].split()[1]) == potential.cutoff
    assert rows(lines, "energy")[0, 0] == pytest.approx(expected["energy"], rel=1e-12)
    forces = rows(lines, "force")
    assert np.abs(expected["forces"]).max() > 1e-2
    np.testing.assert_allclose(forces, expected["forces"], rtol=1e-12,
                               atol=1e-12 * np.abs(expected["forces"]).max())
    if pbc:
        from ase.stress import voigt_6_to_full_3x3_stress
        np.testing.assert_allclose(rows(lines, "stress"),
                                   voigt_6_to_full_3x3_stress(expected["stress"]), rtol=1e-12,
                                   atol=1e-12 * np.abs(expected["stress"]).max())
    else:
        assert len(rows(lines, "stress")) == 0


def test_compute_neighbors_with_ghost_atoms(program, model, tmp_path):
    """An MD engine's view: centres plus one ghost atom per periodic neighbour entry; ghost
    forces summed back onto their atoms give the periodic forces, the virial the stress."""
    potential, path = model
    atoms = oxide(seed=5)
    n = len(atoms)
    i, j, S = neighbor_list("ijS", atoms, potential.cutoff + 0.3)
    ghost_positions = atoms.positions[j] + S @ atoms.cell.array
    positions = np.vstack([atoms.positions, ghost_positions])
    numbers = np.concatenate([atoms.numbers, atoms.numbers[j]])
    offsets = np.concatenate([[0], np.cumsum(np.bincount(i, minlength=n))])
    neighbors = n + np.arange(len(i))
    lines = [f"{n} {len(positions)} {len(i)}"]
    lines += [f"{z} {x:.17g} {y:.17g} {w:.17g}" for z, (x, y, w) in zip(numbers, positions)]
    lines += [" ".join(map(str, offsets)), " ".join(map(str, neighbors))]
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n")
    out = run(program, "neighbors", path, tmp_path / "list.txt")
    expected = potential.evaluate(atoms)
    np.testing.assert_allclose(rows(out, "energy")[:, 0], expected["energies"], rtol=1e-12,
                               atol=1e-14)
    forces = rows(out, "force")
    summed = forces[:n].copy()
    np.add.at(summed, j, forces[n:])
    np.testing.assert_allclose(summed, expected["forces"], rtol=1e-11,
                               atol=1e-11 * np.abs(expected["forces"]).max())
    virial = rows(out, "virial")
    stress = -0.5 * (virial + virial.T) / atoms.get_volume()
    from ase.stress import voigt_6_to_full_3x3_stress
    np.testing.assert_allclose(stress, voigt_6_to_full_3x3_stress(expected["stress"]),
                               rtol=1e-11, atol=1e-11 * np.abs(expected["stress"]).max())
    traces = rows(out, "atom_virial_trace")[:, 0]
    assert traces.sum() == pytest.approx(np.trace(virial), rel=1e-12)


# every error path of every C API function: the "C API" table of tests/test_bad_inputs.py


def test_malformed_file(program, tmp_path):
    write_structure(tmp_path / "structure.txt", oxide())
    bad = tmp_path / "bad.fastpot"
    bad.write_text("{not json")
    out = subprocess.run([str(program), "compute", str(bad), str(tmp_path / "structure.txt")],
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stdout.startswith("load failed: fastpot_model_load: ")
    assert "not a fastpot potential file" in out.stdout
