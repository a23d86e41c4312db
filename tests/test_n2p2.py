"""n2p2's files: input.nn settings and symmetry functions, scaling.data, weights.NNN.data,
whole potentials read and written back, strict parsing with file:line errors."""
import ast
import shutil
from pathlib import Path

import numpy as np
import pytest

from fastpot import Potential
from fastpot.n2p2 import (InputNN, N2P2FormatError, read_input_data, read_scaling,
                          read_symmetry_functions, scaling_mode, symmetry_function_lines,
                          write_scaling)
from fastpot.symmetry import Angular, Radial, SymmetryFunctions

from potentials import BOHR, HARTREE, assert_same_predictions


def write(tmp_path, text):
    path = tmp_path / "input.nn"
    path.write_text(text)
    return path


def test_the_format_lives_only_here():
    """The classes the files describe never import this module, not even lazily: no circle."""
    package = Path(__file__).resolve().parent.parent / "fastpot"
    for name in ("symmetry.py", "scaling.py", "network.py"):
        tree = ast.parse((package / name).read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for alias in node.names}
        assert "fastpot.n2p2" not in imported, name


# -- symmetry functions --------------------------------------------------------------------

def test_n2p2_order_example_cu2s(shared_data):
    sf = read_symmetry_functions(shared_data / "n2p2" / "Cu2S_PBE" / "input.nn")
    assert sf.elements == ("S", "Cu")
    first = sf.functions["S"][:8]
    assert [f.kind for f in first] == [2] * 7 + [3]
    assert [(f.neighbor, f.rs) for f in first[:4]] == [("S", 1.5), ("Cu", 1.5), ("S", 2.0),
                                                      ("Cu", 2.0)]
    assert (first[7].neighbor1, first[7].neighbor2, first[7].lam) == ("S", "S", -1.0)
    assert len(sf.functions["S"]) == 72 and len(sf.functions["Cu"]) == 66


def test_symmetry_function_settings_errors(tmp_path):
    head = "number_of_elements 1\nelements Si\ncutoff_type 1\n"
    with pytest.raises(N2P2FormatError, match=r"input.nn:4: eta: '1.0d-3' is not a number"):
        read_symmetry_functions(write(tmp_path, head + "symfunction_short Si 2 Si 1.0d-3 0 5\n"))
    with pytest.raises(N2P2FormatError, match="input.nn:4: symmetry function type 14 is not "
                                              "supported"):
        read_symmetry_functions(write(tmp_path, head + "symfunction_short Si 14 Si 1 0 5\n"))
    with pytest.raises(N2P2FormatError, match="type 2 needs"):
        read_symmetry_functions(write(tmp_path, head + "symfunction_short Si 2 Si 1 0\n"))
    with pytest.raises(N2P2FormatError, match="keyword 'cutoff_type' given twice"):
        read_symmetry_functions(write(tmp_path, head + "cutoff_type 2\n"))
    with pytest.raises(N2P2FormatError, match="number_of_elements 2 but 1 element"):
        read_symmetry_functions(write(tmp_path, head.replace("elements 1", "elements 2")
                                      + "symfunction_short Si 2 Si 1 0 5\n"))
    with pytest.raises(N2P2FormatError, match="zeta must be >= 1"):
        read_symmetry_functions(write(tmp_path, head + "symfunction_short Si 3 Si Si 0.1 1 0.5 5\n"))
    with pytest.raises(N2P2FormatError, match="both symfunction and symfunction_short"):
        read_symmetry_functions(write(tmp_path, head + "symfunction Si 2 Si 1 0 5\n"
                                      "symfunction_short Si 2 Si 2 0 5\n"))
    with pytest.raises(FileNotFoundError, match="n2p2 settings file not found"):
        read_symmetry_functions(tmp_path / "missing.nn")


def test_comments_tabs_and_units(tmp_path):
    text = ("elements\tSi O ! comment\n# a comment line\ncutoff_type 6 0.2 # poly2\n"
            "symfunction_short Si 2 O 0.5 1.0 10.0\n"
            "symfunction_short O 3 Si Si 0.02 -1 2 10.0 0.5\n"
            "symfunction_short Si 9 O Si 0.01 1 1 8.0\n")
    sf = read_symmetry_functions(write(tmp_path, text), cflength=2.0)
    assert sf.elements == ("O", "Si") and sf.cutoff_type == 6 and sf.cutoff_alpha == 0.2
    radial, wide = sf.functions["Si"]
    assert radial == Radial("Si", "O", 2.0, 0.5, 5.0)
    assert (wide.neighbor1, wide.neighbor2, wide.wide, wide.rc) == ("O", "Si", True, 4.0)
    angular, = sf.functions["O"]
    assert angular == Angular("O", "Si", "Si", 0.08, -1.0, 2.0, 5.0, rs=0.25)
    # written back in file units, read again: the same definitions
    lines = "\n".join(["elements Si O"] + symmetry_function_lines(sf, cflength=2.0)) + "\n"
    assert read_symmetry_functions(write(tmp_path, lines), cflength=2.0) == sf


# -- scaling -------------------------------------------------------------------------------

@pytest.mark.parametrize("name, mode", [("Cu2S_PBE", "sigma"), ("H2O_RPBE-D3", "scalecenter")])
def test_read_scaling_and_round_trip(shared_data, tmp_path, name, mode):
    folder = shared_data / "n2p2" / name
    settings = InputNN(folder / "input.nn")
    sf = read_symmetry_functions(settings)
    assert scaling_mode(settings) == mode
    scaling = read_scaling(folder / "scaling.data", sf, mode)
    first = sf.elements[0]
    line = next(l for l in open(folder / "scaling.data") if not l.startswith("#")).split()
    np.testing.assert_array_equal(scaling.stats[first][0], [float(x) for x in line[2:6]])
    write_scaling(scaling, sf, tmp_path / "scaling.data")
    assert read_scaling(tmp_path / "scaling.data", sf, mode) == scaling


def test_scaling_file_errors(tmp_path):
    sf = SymmetryFunctions(["Cu"], [Radial("Cu", "Cu", eta, 0.0, 5.0) for eta in (0.1, 1.0)])
    path = tmp_path / "scaling.data"
    path.write_text("# header\n1 1 0.0 1.0 0.5 0.1\n\n1 2 0.0 1.0 0.5 0.1\n")
    with pytest.raises(N2P2FormatError, match="scaling.data:3: blank line"):
        read_scaling(path, sf, "scale")
    path.write_text("1 1 0.0 1.0 0.5 0.1\n")
    with pytest.raises(N2P2FormatError, match="1 data lines, but the symmetry functions need 2"):
        read_scaling(path, sf, "scale")
    path.write_text("1 1 0.0 1.0d0 0.5 0.1\n1 2 0 1 0.5 0.1\n")
    with pytest.raises(N2P2FormatError, match="scaling.data:1: scaling value: '1.0d0'"):
        read_scaling(path, sf, "scale")
    path.write_text("1 1 0.0 1.0\n")
    with pytest.raises(N2P2FormatError, match="expected 'element function Gmin Gmax Gmean"):
        read_scaling(path, sf, "scale")
    with pytest.raises(FileNotFoundError, match="n2p2 scaling file not found"):
        read_scaling(tmp_path / "nope", sf, "scale")


# -- whole potentials ----------------------------------------------------------------------

def test_potential_round_trip_is_exact(shared_data, tmp_path):
    folder = shared_data / "n2p2" / "H2O_RPBE-D3"
    potential = Potential.from_n2p2(folder, BOHR, HARTREE)
    potential.to_n2p2(tmp_path / "copy")
    again = Potential.from_n2p2(tmp_path / "copy", BOHR, HARTREE)
    structures = read_input_data(folder / "input.data", BOHR, HARTREE)[:3]
    assert_same_predictions(potential, again, structures)
    assert again.sf == potential.sf and again.scaling == potential.scaling
    for element in potential.elements:
        assert again.networks[element] == potential.networks[element]
    # exported in Å and eV instead: same physics up to round-off
    potential.to_n2p2(tmp_path / "ev", cflength=1.0, cfenergy=1.0)
    in_ev = Potential.from_n2p2(tmp_path / "ev")
    assert_same_predictions(potential, in_ev, structures, rtol=1e-12, atol=1e-12)


@pytest.fixture
def n2p2_copy(shared_data, tmp_path):
    target = tmp_path / "pot"
    shutil.copytree(shared_data / "n2p2" / "Cu2S_PBE", target,
                    ignore=shutil.ignore_patterns("n2p2-*", "input.data"))
    return target


def test_weights_file_errors(n2p2_copy):
    weights = n2p2_copy / "weights.029.data"
    lines = weights.read_text().splitlines()
    weights.write_text("\n".join(lines[:-5]) + "\n")
    with pytest.raises(N2P2FormatError, match=r"weights.029.data: \d+ weights, but the network "
                                              r"needs \d+"):
        Potential.from_n2p2(n2p2_copy)
    weights.write_text("\n".join(lines + ["1.0"]) + "\n")
    with pytest.raises(N2P2FormatError, match="but the network needs"):
        Potential.from_n2p2(n2p2_copy)
    weights.write_text("\n".join(lines[:3] + ["   "] + lines[3:]) + "\n")
    with pytest.raises(N2P2FormatError, match="whitespace-only line"):
        Potential.from_n2p2(n2p2_copy)
    weights.unlink()
    with pytest.raises(FileNotFoundError, match="weights.029.data"):
        Potential.from_n2p2(n2p2_copy)


def test_potential_settings_errors(n2p2_copy):
    settings = n2p2_copy / "input.nn"
    text = settings.read_text()
    settings.write_text(text.replace("conv_energy", "# conv_energy"))
    with pytest.raises(N2P2FormatError, match="must be given together"):
        Potential.from_n2p2(n2p2_copy)
    settings.write_text(text.replace("global_nodes_short              25 25",
                                     "global_nodes_short 25"))
    with pytest.raises(N2P2FormatError, match="global_nodes_short has 1 values for 2 hidden"):
        Potential.from_n2p2(n2p2_copy)
    settings.write_text(text + "nnp_type 4G-HDNNP\n")
    with pytest.raises(N2P2FormatError, match="only 2G-HDNNP"):
        Potential.from_n2p2(n2p2_copy)
    settings.write_text(text)
    (n2p2_copy / "scaling.data").unlink()
    with pytest.raises(FileNotFoundError, match="scaling file not found"):
        Potential.from_n2p2(n2p2_copy)


def test_input_data_round_trip(tmp_path):
    from ase import Atoms
    from ase.build import bulk
    from ase.calculators.singlepoint import SinglePointCalculator

    from fastpot.n2p2 import read_input_data, write_input_data
    crystal = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((2, 1, 1))
    crystal.symbols[0] = "O"
    crystal.rattle(0.1, seed=3)
    rng = np.random.default_rng(0)
    crystal.calc = SinglePointCalculator(crystal, energy=-12.5, forces=rng.normal(size=(8, 3)))
    molecule = Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    path = tmp_path / "input.data"
    write_input_data(path, [crystal, molecule], cflength=BOHR, cfenergy=HARTREE)
    back = read_input_data(path, cflength=BOHR, cfenergy=HARTREE)
    assert [a.get_chemical_symbols() for a in back] == [crystal.get_chemical_symbols(),
                                                        ["H", "H", "O"]]
    np.testing.assert_allclose(back[0].positions, crystal.positions, rtol=1e-15, atol=1e-14)
    np.testing.assert_allclose(back[0].cell.array, crystal.cell.array, rtol=1e-15)
    assert back[0].pbc.all() and not back[1].pbc.any()
    assert back[0].get_potential_energy() == pytest.approx(-12.5, rel=1e-15)
    np.testing.assert_allclose(back[0].get_forces(), crystal.get_forces(), rtol=1e-14)
    np.testing.assert_allclose(back[1].get_forces(), 0.0)
    slab = bulk("Cu", "fcc", a=3.6, cubic=True)
    slab.pbc = [True, True, False]
    with pytest.raises(ValueError, match=r"structure 0: n2p2 needs a cell periodic in all three "
                                         r"directions or in none, got pbc=\[True, True, False\]"):
        write_input_data(tmp_path / "slab.data", [slab])
