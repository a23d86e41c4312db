"""Bad inputs at every entry point, as one matrix (issue 12, the robustness campaign).

Each table lists inputs that must be refused with a clear error: the exception type and a
message naming the field, file, line, atom or structure at fault (``match=``). Nothing may
crash, hang, return NaN silently or allocate gigabytes. One small runner per table; the
valid inputs they corrupt are built by the helpers below.
"""
import json
import re
import shutil
from types import SimpleNamespace

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from fastpot import (Angular, NeighborList, Potential, Radial, SymmetryFunctions,
                     neighbor_list, read_input_data)
from fastpot.symmetry_factored import (CompactAngular, CompactRadial, WeightedAngular,
                                       WeightedRadial)

from conftest import shared_data_dir
from potentials import ideal_gas_potential, synthetic_potential

H2O = shared_data_dir() / "n2p2" / "H2O_RPBE-D3"
needs_h2o = pytest.mark.skipif(not H2O.is_dir(), reason=f"n2p2 reference data not at {H2O}")


# -- small valid inputs -------------------------------------------------------------------------
def _cell():
    return np.eye(3) * 4.0


def _positions():
    return np.array([[0.0, 0.0, 0.0], [1.5, 0.0, 0.0], [0.0, 1.5, 0.0]])


def _readonly(array):
    array = np.array(array)
    array.flags.writeable = False
    return array


def _copper(n=1):
    return bulk("Cu", "fcc", a=3.6, cubic=True).repeat(n)


@pytest.fixture(scope="module")
def potential():
    return synthetic_potential()


@pytest.fixture(scope="module")
def gas():
    """A zero-energy copper potential with a short cutoff: MD with it is cheap."""
    return ideal_gas_potential()


# -- neighbour lists ----------------------------------------------------------------------------
NAN_POSITIONS = np.array([[0.0, 0.0, 0.0], [np.nan, 0.0, 0.0]])
NEIGHBOR_LIST_CASES = [
    pytest.param(dict(positions=NAN_POSITIONS), ValueError, r"positions of atom 1 is not finite",
                 id="nan-position"),
    pytest.param(dict(positions=[[0.0, np.inf, 0.0]]), ValueError, r"atom 0 is not finite",
                 id="inf-position"),
    pytest.param(dict(positions=np.zeros((3, 2))), ValueError,
                 r"positions must have shape \(n_atoms, 3\)", id="positions-2-columns"),
    pytest.param(dict(positions=np.zeros(3)), ValueError, r"positions must have shape",
                 id="positions-1d"),
    pytest.param(dict(positions=np.zeros((2, 3, 1))), ValueError, r"positions must have shape",
                 id="positions-3d"),
    pytest.param(dict(positions=[[0, 0, 0], [1, 2]]), TypeError, r"positions must be an array",
                 id="positions-ragged"),
    pytest.param(dict(positions=np.array([["a", "b", "c"]])), TypeError,
                 r"positions must be an array of real numbers, got dtype", id="positions-str"),
    pytest.param(dict(positions=np.zeros((2, 3), dtype=complex)), TypeError,
                 r"positions must be an array of real numbers", id="positions-complex"),
    pytest.param(dict(positions=np.zeros((2, 3), dtype=bool)), TypeError,
                 r"positions must be an array of real numbers", id="positions-bool"),
    pytest.param(dict(positions=np.array([[0, 0, 0], [1, 1, None]], dtype=object)), TypeError,
                 r"positions must be an array of real numbers", id="positions-object-none"),
    pytest.param(dict(positions=np.array([[0.0, 0.0, 0.0], [np.nan, 1, 1]], dtype=">f8")),
                 ValueError, r"positions of atom 1", id="positions-big-endian-nan"),
    pytest.param(dict(positions=np.repeat(NAN_POSITIONS, 2, axis=1)[:, ::2]),
                 ValueError, r"positions of atom 1", id="positions-non-contiguous-nan"),
    pytest.param(dict(positions=_readonly(NAN_POSITIONS)), ValueError, r"positions of atom 1",
                 id="positions-read-only-nan"),
    pytest.param(dict(cell=np.full((3, 3), np.nan)), ValueError, r"cell has non-finite entries",
                 id="cell-nan"),
    pytest.param(dict(cell=[1.0, np.inf, 1.0]), ValueError, r"cell has non-finite entries",
                 id="cell-lengths-inf"),
    pytest.param(dict(cell=np.eye(2)), ValueError, r"cell must have shape \(3, 3\) or \(3,\)",
                 id="cell-2x2"),
    pytest.param(dict(cell=np.zeros((3, 3), dtype=complex)), TypeError,
                 r"cell must be an array of real numbers", id="cell-complex"),
    pytest.param(dict(cell=np.zeros((3, 3))), ValueError,
                 r"cell vector 0 is zero but direction 0 is periodic", id="cell-zero-periodic"),
    pytest.param(dict(cell=[[4, 0, 0], [8, 0, 0], [0, 0, 4]]), ValueError,
                 r"cell is singular", id="cell-singular"),
    pytest.param(dict(cell=[[4, 0, 0], [0, 4, 0], [0, 4, 1e-14]]), ValueError,
                 r"cell is singular", id="cell-nearly-singular"),
    pytest.param(dict(cell=[[4, 0, 0], [8, 0, 0], [0, 0, 4]], pbc=[True, True, False]),
                 ValueError, r"periodic cell vectors 0 and 1 are parallel",
                 id="cell-parallel-2d"),
    pytest.param(dict(cell=[[0, 0, 0], [0, 4, 0], [0, 0, 4]], pbc=[True, False, False]),
                 ValueError, r"cell vector 0 is zero", id="cell-zero-1d"),
    pytest.param(dict(pbc=[True, False]), ValueError, r"pbc must be one boolean or three",
                 id="pbc-two"),
    pytest.param(dict(pbc="yes"), TypeError, r"pbc must be booleans", id="pbc-string"),
    pytest.param(dict(pbc=[0.5, 1.0, 1.0]), TypeError, r"pbc must be booleans", id="pbc-float"),
    pytest.param(dict(cutoff=0.0), ValueError, r"cutoff must be a finite number > 0",
                 id="cutoff-zero"),
    pytest.param(dict(cutoff=-1.0), ValueError, r"cutoff must be a finite number > 0",
                 id="cutoff-negative"),
    pytest.param(dict(cutoff=np.nan), ValueError, r"cutoff must be a finite number > 0",
                 id="cutoff-nan"),
    pytest.param(dict(cutoff=np.inf), ValueError, r"cutoff must be a finite number > 0",
                 id="cutoff-inf"),
    pytest.param(dict(cutoff="3.0"), TypeError, r"cutoff must be a real number", id="cutoff-str"),
    pytest.param(dict(cutoff=True), TypeError, r"cutoff must be a real number", id="cutoff-bool"),
    pytest.param(dict(cutoff=None), TypeError, r"cutoff is required", id="cutoff-missing"),
    pytest.param(dict(cutoff=[2.0, 3.0]), TypeError, r"cutoff must be a single number",
                 id="cutoff-per-atom"),
    pytest.param(dict(cutoff=1e6), ValueError, r"cutoff 1e\+06 is .* times the shortest cell",
                 id="cutoff-huge-periodic"),
    pytest.param(dict(cutoff=1e6, pbc=False, max_pairs=4), ValueError,
                 r"would hold more than max_pairs=4 pairs", id="cutoff-huge-max-pairs"),
    pytest.param(dict(quantities="ijx"), ValueError, r"unknown quantity letter\(s\) 'x'",
                 id="quantities-unknown"),
    pytest.param(dict(quantities=""), TypeError, r"quantities must be a string",
                 id="quantities-empty"),
    pytest.param(dict(quantities=["i", "j"]), TypeError, r"quantities must be a string",
                 id="quantities-list"),
    pytest.param(dict(n_threads=0), ValueError, r"n_threads must be a positive integer",
                 id="threads-zero"),
    pytest.param(dict(n_threads=1.5), TypeError, r"n_threads must be a positive integer",
                 id="threads-float"),
    pytest.param(dict(atoms="Cu", positions=None, cell=None, pbc=None), TypeError,
                 r"expected an ase.Atoms object, got str", id="atoms-not-atoms"),
    pytest.param(dict(atoms=Atoms("Cu")), TypeError, r"either an Atoms object or positions",
                 id="atoms-and-positions"),
]


@pytest.mark.parametrize("change, error, match", NEIGHBOR_LIST_CASES)
def test_neighbor_list(change, error, match):
    arguments = dict(quantities="ijd", cutoff=2.0, positions=_positions(), cell=_cell(),
                     pbc=True)
    arguments.update(change)
    with pytest.raises(error, match=match):
        neighbor_list(**arguments)


NEIGHBOR_OBJECT_CASES = [
    pytest.param(dict(cutoff=0.0), {}, ValueError, r"cutoff must be a finite number > 0",
                 id="cutoff-zero"),
    pytest.param(dict(cutoff=np.nan), {}, ValueError, r"cutoff must be a finite number > 0",
                 id="cutoff-nan"),
    pytest.param(dict(cutoff=-np.inf), {}, ValueError, r"cutoff must be a finite number > 0",
                 id="cutoff-minus-inf"),
    pytest.param(dict(skin=-0.1), {}, ValueError, r"skin must be a finite number >= 0",
                 id="skin-negative"),
    pytest.param(dict(skin=np.nan), {}, ValueError, r"skin must be a finite number >= 0",
                 id="skin-nan"),
    pytest.param(dict(skin="0.5"), {}, TypeError, r"skin must be a real number", id="skin-str"),
    pytest.param(dict(n_threads=-2), {}, ValueError, r"n_threads must be a positive integer",
                 id="threads-negative"),
    pytest.param({}, dict(positions=NAN_POSITIONS), ValueError, r"positions of atom 1",
                 id="build-nan"),
    pytest.param({}, dict(positions=np.zeros((2, 4))), ValueError, r"positions must have shape",
                 id="build-shape"),
    pytest.param({}, dict(cell=[[4, 0, 0], [4, 0, 0], [0, 0, 4]]), ValueError,
                 r"cell is singular", id="build-singular-cell"),
    pytest.param({}, dict(positions=None), TypeError, r"no structure given", id="build-nothing"),
    pytest.param(dict(max_pairs=2), {}, ValueError, r"more than max_pairs=2 pairs",
                 id="build-max-pairs"),
]


@pytest.mark.parametrize("options, structure, error, match", NEIGHBOR_OBJECT_CASES)
def test_neighbor_list_object(options, structure, error, match):
    with pytest.raises(error, match=match):
        nl = NeighborList(**{"cutoff": 2.0, **options})
        nl.build(**{"positions": _positions(), "cell": _cell(), "pbc": True, **structure})


def test_neighbor_list_update_refuses_nan_and_keeps_the_list():
    nl = NeighborList(2.0, skin=0.3).build(positions=_positions(), cell=_cell(), pbc=True)
    with pytest.raises(ValueError, match=r"positions of atom 1 is not finite"):
        nl.update(positions=NAN_POSITIONS.tolist() + [[0, 0, 0]], cell=_cell(), pbc=True)
    assert nl.n_pairs > 0 and np.isfinite(nl.distances).all()


# -- symmetry-function definitions ------------------------------------------------------------
def _radial(**change):
    return Radial(**{"center": "Cu", "neighbor": "Cu", "eta": 0.5, "rs": 0.0, "rc": 4.0,
                     **change})


def _angular(**change):
    return Angular(**{"center": "Cu", "neighbor1": "Cu", "neighbor2": "Cu", "eta": 0.1,
                      "lam": 1.0, "zeta": 2.0, "rc": 4.0, **change})


def _compact_angular(**change):
    return CompactAngular(**{"center": "Cu", "neighbor1": "Cu", "neighbor2": "Cu", "rl": 0.0,
                             "rc": 4.0, "angle_left": 0.0, "angle_right": 90.0, **change})


SYMMETRY_CASES = [
    pytest.param(dict(functions=[_radial(eta=-1.0)]), ValueError,
                 r"symmetry function 0 \(Cu type 2 .*\): eta must be >= 0", id="radial-eta-neg"),
    pytest.param(dict(functions=[_radial(eta=np.nan)]), ValueError,
                 r"symmetry function 0 .*: eta must be finite", id="radial-eta-nan"),
    pytest.param(dict(functions=[_radial(eta="wide")]), TypeError,
                 r"symmetry function 0 .*: eta must be a number, got 'wide'",
                 id="radial-eta-str"),
    pytest.param(dict(functions=[_radial(rs=None)]), TypeError,
                 r"symmetry function 0 .*: rs must be a number, got None", id="radial-rs-none"),
    pytest.param(dict(functions=[_radial(rc=0.0)]), ValueError,
                 r"symmetry function 0 .*: rc must be > 0", id="radial-rc-zero"),
    pytest.param(dict(functions=[_radial(rc=-4.0)]), ValueError,
                 r"symmetry function 0 .*: rc must be > 0", id="radial-rc-negative"),
    pytest.param(dict(functions=[_radial(rc=np.inf)]), ValueError,
                 r"symmetry function 0 .*: rc must be finite", id="radial-rc-inf"),
    pytest.param(dict(functions=[_radial(neighbor="O")]), ValueError,
                 r"symmetry function 0 .*: element 'O' is not one of \('Cu',\)",
                 id="radial-neighbor-absent"),
    pytest.param(dict(functions=[_radial(center="Xx")]), ValueError,
                 r"element 'Xx' is not one of", id="radial-center-unknown"),
    pytest.param(dict(functions=[_radial(), _radial()]), ValueError,
                 r"symmetry function defined twice: Cu type 2", id="radial-twice"),
    pytest.param(dict(functions=[_radial(), _angular(lam=0.5)]), ValueError,
                 r"symmetry function 1 .*: lambda must be \+1 or -1, got 0.5",
                 id="angular-lambda"),
    pytest.param(dict(functions=[_angular(zeta=0.5)]), ValueError,
                 r"symmetry function 0 .*: zeta must be >= 1", id="angular-zeta-small"),
    pytest.param(dict(functions=[_angular(zeta=np.nan)]), ValueError,
                 r"symmetry function 0 .*: zeta must be finite", id="angular-zeta-nan"),
    pytest.param(dict(functions=[_angular(lam="plus")]), TypeError,
                 r"symmetry function 0 .*: lambda must be a number", id="angular-lambda-str"),
    pytest.param(dict(functions=[_angular(neighbor2="H")]), ValueError,
                 r"element 'H' is not one of", id="angular-neighbor-absent"),
    pytest.param(dict(functions=[WeightedRadial("Cu", -0.1, 0.0, 4.0)]), ValueError,
                 r"symmetry function 0 \(Cu type 12 .*\): eta must be >= 0",
                 id="weighted-radial-eta"),
    pytest.param(dict(functions=[WeightedRadial("Cu", 0.1, 0.0, "far")]), TypeError,
                 r"symmetry function 0 \(Cu type 12 .*\): rc must be a number, got 'far'",
                 id="weighted-radial-rc-str"),
    pytest.param(dict(functions=[WeightedAngular("Cu", 0.1, 2.0, 1.0, 4.0)]), ValueError,
                 r"type 13 .*: lambda must be \+1 or -1", id="weighted-angular-lambda"),
    pytest.param(dict(functions=[WeightedAngular("Cu", 0.1, 1.0, 0.0, 4.0)]), ValueError,
                 r"type 13 .*: zeta must be >= 1", id="weighted-angular-zeta"),
    pytest.param(dict(functions=[WeightedAngular("Cu", 0.1, 1.0, 1.0, np.nan)]), ValueError,
                 r"type 13 .*: rc must be finite", id="weighted-angular-rc-nan"),
    pytest.param(dict(functions=[CompactRadial("Cu", "Cu", 4.0, 3.0)]), ValueError,
                 r"type 20 .*: the lower radial boundary rl=4.0 must be below rc=3.0",
                 id="compact-radial-rl-above-rc"),
    pytest.param(dict(functions=[CompactRadial("Cu", "Cu", 0.0, 4.0, "p9")]), ValueError,
                 r"type 20 .*: compact subtype must be p1-p4, p1a-p4a or e, got 'p9'",
                 id="compact-radial-subtype"),
    pytest.param(dict(functions=[CompactRadial("Cu", "Cu", 0.0, 4.0, 2)]), ValueError,
                 r"compact subtype must be .* got 2", id="compact-radial-subtype-int"),
    pytest.param(dict(functions=[CompactRadial("Cu", None, 0.0, -1.0)]), ValueError,
                 r"type 23 .*: rc must be > 0", id="compact-radial-rc-negative"),
    pytest.param(dict(functions=[CompactRadial("Cu", "Cu", "zero", 4.0)]), TypeError,
                 r"type 20 .*: rl must be a number, got 'zero'", id="compact-radial-rl-str"),
    pytest.param(dict(functions=[_compact_angular(angle_left=90.0, angle_right=90.0)]),
                 ValueError, r"type 21 .*: angle_left=90.0 must be below angle_right=90.0",
                 id="compact-angular-empty-window"),
    pytest.param(dict(functions=[_compact_angular(angle_left=-10.0, angle_right=90.0)]),
                 ValueError, r"type 21 .*: an angle window reaching below 0 degrees must be "
                 r"centred on 0", id="compact-angular-below-zero"),
    pytest.param(dict(functions=[_compact_angular(angle_left=90.0, angle_right=200.0)]),
                 ValueError, r"reaching above 180 degrees must be centred on 180",
                 id="compact-angular-above-180"),
    pytest.param(dict(functions=[_compact_angular(angle_left=-200.0, angle_right=200.0)]),
                 ValueError, r"wider than 360 degrees", id="compact-angular-too-wide"),
    pytest.param(dict(functions=[_compact_angular(neighbor2=None)]), ValueError,
                 r"give both neighbour elements .* or neither", id="compact-angular-one-neighbor"),
    pytest.param(dict(functions=[_compact_angular(angle_right=np.nan)]), ValueError,
                 r"type 21 .*: angle_right must be finite", id="compact-angular-nan"),
    pytest.param(dict(functions=["Cu 2 Cu 0.5 0 4"]), TypeError,
                 r"symmetry function 0: expected one of Radial, Angular", id="function-string"),
    pytest.param(dict(elements=["Cu", "Cu"]), ValueError,
                 r"elements must be distinct and not empty", id="elements-repeated"),
    pytest.param(dict(elements=[]), ValueError, r"elements must be distinct and not empty",
                 id="elements-empty"),
    pytest.param(dict(elements=["Cu", "Qq"]), ValueError, r"unknown element 'Qq'",
                 id="elements-unknown"),
    pytest.param(dict(elements=["X"]), ValueError, r"unknown element 'X'", id="elements-dummy"),
    pytest.param(dict(elements=["Cu", "O"]), ValueError, r"element O has no symmetry functions",
                 id="element-without-functions"),
    pytest.param(dict(cutoff_type="smooth"), ValueError, r"unknown cutoff function 'smooth'",
                 id="cutoff-type-name"),
    pytest.param(dict(cutoff_type=9), ValueError, r"unknown cutoff type 9", id="cutoff-type-9"),
    pytest.param(dict(cutoff_type=1.0), TypeError, r"cutoff_type must be a name or an n2p2",
                 id="cutoff-type-float"),
    pytest.param(dict(cutoff_alpha=1.0), ValueError, r"cutoff alpha must be in \[0, 1\)",
                 id="cutoff-alpha-one"),
    pytest.param(dict(cutoff_alpha=np.nan), ValueError, r"cutoff alpha must be finite",
                 id="cutoff-alpha-nan"),
    pytest.param(dict(cutoff_alpha="half"), TypeError, r"cutoff alpha must be a number",
                 id="cutoff-alpha-str"),
]


@pytest.mark.parametrize("change, error, match", SYMMETRY_CASES)
def test_symmetry_functions(change, error, match):
    arguments = dict(elements=["Cu"], functions=[_radial()], cutoff_type="cos")
    arguments.update(change)
    with pytest.raises(error, match=match):
        SymmetryFunctions(**arguments)


def _sf():
    return SymmetryFunctions(["Cu"], [_radial(), _angular()])


COMPUTE_CASES = [
    pytest.param(Atoms("CuO", positions=[[0, 0, 0], [2, 0, 0]]), ValueError,
                 r"atom 1 is O, which has no symmetry functions \(elements: Cu\)",
                 id="element-absent"),
    pytest.param(Atoms("Cu2", positions=[[0, 0, 0], [np.nan, 0, 0]]), ValueError,
                 r"positions of atom 1 is not finite", id="nan-position"),
    pytest.param(Atoms("Cu2", positions=[[1, 1, 1], [1, 1, 1]]), ValueError,
                 r"atoms 0 and 1 overlap", id="overlapping-atoms"),
    pytest.param(Atoms("Cu", cell=[[3, 0, 0], [3, 0, 0], [0, 0, 3]], pbc=True), ValueError,
                 r"cell is singular", id="singular-cell"),
]


@pytest.mark.parametrize("atoms, error, match", COMPUTE_CASES)
def test_symmetry_compute(atoms, error, match):
    with pytest.raises(error, match=match):
        _sf().compute(atoms)


# -- n2p2 potential files -----------------------------------------------------------------------
def _edit(name, old, new, count=1):
    """A change to file `name` of an n2p2 folder: `old` (text) replaced by `new`."""
    def change(folder):
        text = (folder / name).read_text()
        assert old in text, (name, old)
        (folder / name).write_text(text.replace(old, new, count))
    return change


def _write(name, content):
    def change(folder):
        if isinstance(content, bytes):
            (folder / name).write_bytes(content)
        else:
            (folder / name).write_text(content)
    return change


def _remove(name):
    return lambda folder: (folder / name).unlink()


def _keep_lines(name, fraction):
    """Truncate file `name` to its first `fraction` of lines (an interrupted copy)."""
    def change(folder):
        lines = (folder / name).read_text().splitlines(keepends=True)
        (folder / name).write_text("".join(lines[:int(len(lines) * fraction)]))
    return change


def _cut_bytes(name, n_bytes):
    """Truncate file `name` to `n_bytes` bytes, in the middle of a line."""
    def change(folder):
        (folder / name).write_bytes((folder / name).read_bytes()[:n_bytes])
    return change


GARBAGE = bytes(range(256)) * 8
N2P2_CASES = [
    pytest.param(_remove("input.nn"), FileNotFoundError,
                 r"n2p2 settings file not found: .*input.nn", id="no-input-nn"),
    pytest.param(_remove("scaling.data"), FileNotFoundError,
                 r"n2p2 scaling file not found: .*scaling.data", id="no-scaling"),
    pytest.param(_remove("weights.008.data"), FileNotFoundError,
                 r"n2p2 weights file not found: .*weights.008.data", id="no-weights-O"),
    pytest.param(_keep_lines("weights.001.data", 0.5), ValueError,
                 r"weights.001.data: \d+ weights, but the network needs \d+",
                 id="weights-truncated"),
    pytest.param(_cut_bytes("weights.001.data", 3000), ValueError,
                 r"weights.001.data(:\d+: weight: .* is not a number|: \d+ weights, but)",
                 id="weights-cut-mid-line"),
    pytest.param(_edit("weights.001.data", "\n", "\n 1.0 a 1 1 1 1\n", count=-1), ValueError,
                 r"weights.001.data: \d+ weights, but the network needs \d+",
                 id="weights-extra-lines"),
    pytest.param(_write("weights.001.data", ""), ValueError,
                 r"weights.001.data: 0 weights, but the network needs", id="weights-empty"),
    pytest.param(_write("weights.008.data", GARBAGE), ValueError,
                 r"weights.008.data:\d+: weight: .* is not a number", id="weights-binary"),
    pytest.param(_edit("weights.001.data", "E-", "D-"), ValueError,
                 r"weights.001.data:\d+: weight: '.*D-.*' is not a number",
                 id="weights-fortran-exponent"),
    pytest.param(_edit("weights.008.data", "\n", "\nnan a 1 1 1 1\n", count=1), ValueError,
                 r"weights.008.data:\d+: weight: 'nan' is not finite", id="weights-nan"),
    pytest.param(_edit("weights.001.data", "\n", "\n   \n", count=1), ValueError,
                 r"weights.001.data:\d+: whitespace-only line", id="weights-blank-spaces"),
    pytest.param(_keep_lines("scaling.data", 0.5), ValueError,
                 r"scaling.data: \d+ data lines, but the symmetry functions", id="scaling-short"),
    pytest.param(_edit("scaling.data", "\n", "\n\n", count=8), ValueError,
                 r"scaling.data:\d+: blank line", id="scaling-blank-line"),
    pytest.param(_write("scaling.data", GARBAGE), ValueError, r"scaling.data:\d+:",
                 id="scaling-binary"),
    pytest.param(_edit("input.nn", "cutoff_type                     2",
                       "cutoff_type 2\ncutoff_type 2"), ValueError,
                 r"input.nn:\d+: keyword 'cutoff_type' given twice \(first on line \d+\)",
                 id="duplicate-keyword"),
    pytest.param(_edit("input.nn", "t t l", "t x l"), ValueError,
                 r"input.nn: network of H: unknown activation\(s\) \['x'\]",
                 id="unknown-activation"),
    pytest.param(_edit("input.nn", "t t l", "t t"), ValueError,
                 r"input.nn:\d+: global_activation_short needs 3 single letters",
                 id="too-few-activations"),
    pytest.param(_edit("input.nn", "25 25", "25"), ValueError,
                 r"input.nn:\d+: global_nodes_short has 1 values for 2 hidden layer",
                 id="nodes-count"),
    pytest.param(_edit("input.nn", "25 25", "25 -3"), ValueError,
                 r"input.nn: network of H: layers must be .* positive sizes", id="nodes-negative"),
    pytest.param(_edit("input.nn", "25 25", "25 2.5"), ValueError,
                 r"input.nn:\d+: global_nodes_short: '2.5' is not an integer", id="nodes-float"),
    pytest.param(_edit("input.nn", "25 25", "25 1000000000"), ValueError,
                 r"input.nn: network of H: .* weights", id="nodes-huge"),
    pytest.param(_edit("input.nn", "elements                        H O",
                       "elements H Cu"), ValueError, r"input.nn.*element 'O' is not one of",
                 id="elements-mismatch-functions"),
    pytest.param(_edit("input.nn", "number_of_elements              2",
                       "number_of_elements 3"), ValueError,
                 r"input.nn:\d+: number_of_elements 3 but 2 element\(s\) listed",
                 id="number-of-elements"),
    pytest.param(_edit("input.nn", "elements                        H O", "elements H Zz"),
                 ValueError, r"input.nn:\d+: unknown element 'Zz'", id="elements-unknown"),
    pytest.param(_edit("input.nn", "elements                        H O", "elements H H"),
                 ValueError, r"input.nn:\d+: repeated element", id="elements-repeated"),
    pytest.param(_edit("input.nn", "symfunction_short H 2 H 0.001 0.0 12.00",
                       "symfunction_short H 2 H 1.0d-3 0.0 12.00"), ValueError,
                 r"input.nn:\d+: .*'1.0d-3' is not a number", id="symfunction-fortran-d"),
    pytest.param(_edit("input.nn", "symfunction_short H 2 H 0.001 0.0 12.00",
                       "symfunction_short H 2 H nan 0.0 12.00"), ValueError,
                 r"input.nn:\d+: .*'nan' is not finite", id="symfunction-nan"),
    pytest.param(_edit("input.nn", "symfunction_short H 2 H 0.001 0.0 12.00",
                       "symfunction_short H 2 H 0.001 0.0"), ValueError,
                 r"input.nn:\d+: type 2 needs 'ec 2 e1 eta rs rc'", id="symfunction-short"),
    pytest.param(_edit("input.nn", "symfunction_short H 2 H 0.001 0.0 12.00",
                       "symfunction_short H 5 H 0.001 0.0 12.00"), ValueError,
                 r"input.nn:\d+: symmetry function type 5 is not supported",
                 id="symfunction-type"),
    pytest.param(_edit("input.nn", "symfunction_short H 2 H 0.001 0.0 12.00",
                       "symfunction H 2 H 0.001 0.0 12.00"), ValueError,
                 r"input.nn:\d+: both symfunction and symfunction_short", id="symfunction-both"),
    pytest.param(_edit("input.nn", "symfunction_short H 2 H 0.01  0.0 12.00",
                       "symfunction_short H 2 H 0.001 0.0 12.00"), ValueError,
                 r"input.nn: symmetry function defined twice: H type 2",
                 id="symfunction-twice"),
    pytest.param(_edit("input.nn", "cutoff_type                     2", "cutoff_type 12"),
                 ValueError, r"input.nn:\d+: unknown cutoff type 12", id="cutoff-type"),
    pytest.param(_edit("input.nn", "cutoff_type                     2", "cutoff_type"),
                 ValueError, r"input.nn:\d+: cutoff_type needs a value", id="cutoff-type-empty"),
    pytest.param(_edit("input.nn", "cutoff_type                     2", "#"), ValueError,
                 r"input.nn: keyword 'cutoff_type' is missing", id="cutoff-type-missing"),
    pytest.param(_edit("input.nn", "conv_energy   2.4265748255366972E+02", "conv_energy 0"),
                 ValueError, r"input.nn: conv_energy and conv_length must be nonzero",
                 id="conv-energy-zero"),
    pytest.param(_edit("input.nn", "conv_length   5.8038448995319847E+00", "#"), ValueError,
                 r"input.nn: mean_energy, conv_energy and conv_length must be given together",
                 id="conv-length-missing"),
    pytest.param(_edit("input.nn", "mean_energy  -2.5521343547039809E+01",
                       "mean_energy -2.55D+01"), ValueError,
                 r"input.nn:\d+: mean_energy: '-2.55D\+01' is not a number",
                 id="mean-energy-fortran"),
    pytest.param(_edit("input.nn", "mean_energy", "atom_energy Cu 1.0\nmean_energy"),
                 ValueError, r"input.nn:\d+: atom_energy needs an element of the potential",
                 id="atom-energy-element"),
    pytest.param(_edit("input.nn", "mean_energy", "nnp_type 4G-HDNNP\nmean_energy"),
                 ValueError, r"input.nn:\d+: only 2G-HDNNP", id="nnp-type"),
    pytest.param(_edit("input.nn", "scale_min_short                 0.0",
                       "scale_min_short 2.0"), ValueError,
                 r"scaling range must have smin < smax", id="scale-min-above-max"),
    pytest.param(_write("input.nn", GARBAGE), ValueError, r"input.nn",
                 id="input-nn-binary"),
    pytest.param(_write("input.nn", ""), ValueError,
                 r"input.nn: keyword 'elements' is missing", id="input-nn-empty"),
]


def _n2p2_copy(tmp_path):
    target = tmp_path / "h2o"
    shutil.copytree(H2O, target, ignore=shutil.ignore_patterns("n2p2-*", "*.extxyz",
                                                               "box_1080.data", "input.data"))
    for path in target.iterdir():
        path.chmod(0o644)
    return target


@needs_h2o
@pytest.mark.filterwarnings("ignore:.*unknown keyword")
@pytest.mark.parametrize("change, error, match", N2P2_CASES)
def test_n2p2_potential(tmp_path, change, error, match):
    folder = _n2p2_copy(tmp_path)
    change(folder)
    with pytest.raises(error, match=match):
        Potential.from_n2p2(folder)


@needs_h2o
@pytest.mark.parametrize("units, match", [
    pytest.param(dict(cflength=0.0), r"cflength must be a finite number > 0", id="cflength-0"),
    pytest.param(dict(cfenergy=np.nan), r"cfenergy must be a finite number > 0",
                 id="cfenergy-nan"),
    pytest.param(dict(cflength=-1.0), r"cflength must be a finite number > 0",
                 id="cflength-negative"),
])
def test_n2p2_units(tmp_path, units, match):
    with pytest.raises(ValueError, match=match):
        Potential.from_n2p2(_n2p2_copy(tmp_path), **units)


def test_n2p2_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"n2p2 settings file not found: .*nowhere"):
        Potential.from_n2p2(tmp_path / "nowhere")


# -- n2p2 input.data ----------------------------------------------------------------------------
ATOM = "atom 0.0 0.0 0.0 Cu 0.0 0.0 0.1 0.2 0.3\n"
ATOM2 = "atom 1.8 0.0 0.0 Cu 0.0 0.0 0.1 0.2 0.3\n"
LATTICE = "lattice 4 0 0\nlattice 0 4 0\nlattice 0 0 4\n"
INPUT_DATA_CASES = [
    pytest.param("begin\n" + ATOM + "energy 1.0\n", r"input.data: structure started on line 1 "
                 r"has no 'end'", id="truncated-no-end"),
    pytest.param("begin\n" + ATOM + "energy 1.0\nend\nbegin\natom 0.0 0.0", r"input.data:6: atom "
                 r"needs 'x y z element charge energy fx fy fz' \(9 fields\), got 2",
                 id="truncated-atom-line"),
    pytest.param("begin\natom 0.0 0.0 0.0 Cu 0.0 0.0 0.1 0.2\nend\n",
                 r"input.data:2: atom needs .* got 8", id="atom-too-few-fields"),
    pytest.param("begin\natom 1.0d0 0.0 0.0 Cu 0.0 0.0 0.1 0.2 0.3\nend\n",
                 r"input.data:2: position: '1.0d0' is not a number", id="fortran-d-position"),
    pytest.param("begin\n" + ATOM + "energy -1.5D+02\nend\n",
                 r"input.data:3: energy: '-1.5D\+02' is not a number", id="fortran-d-energy"),
    pytest.param("begin\natom 0.0 0.0 0.0 Cu 0.0 0.0 0.1 nan 0.3\nend\n",
                 r"input.data:2: force: 'nan' is not finite", id="nan-force"),
    pytest.param("begin\natom 0.0 inf 0.0 Cu 0.0 0.0 0.1 0.2 0.3\nend\n",
                 r"input.data:2: position: 'inf' is not finite", id="inf-position"),
    pytest.param("begin\n" + ATOM + "energy 1_000\nend\n",
                 r"input.data:3: energy: '1_000' is not a number", id="underscore-number"),
    pytest.param("begin\natom 0.0 0.0 0.0 Qq 0.0 0.0 0.1 0.2 0.3\nend\n",
                 r"input.data:1: unknown element 'Qq'", id="unknown-element"),
    pytest.param("begin\natom 0.0 0.0 0.0 X 0.0 0.0 0.1 0.2 0.3\nend\n",
                 r"input.data:1: unknown element 'X'", id="dummy-element"),
    pytest.param("begin\nlattice 4 0 0\nlattice 0 4 0\n" + ATOM + "end\n",
                 r"input.data:1: structure has 2 lattice lines \(need 0 or 3\)",
                 id="two-lattice-lines"),
    pytest.param("begin\nlattice 4 0\n" + ATOM + "end\n", r"input.data:2: lattice needs 3 "
                 r"numbers", id="lattice-short"),
    pytest.param("begin\n" + ATOM + "energy\nend\n", r"input.data:3: energy needs a value",
                 id="energy-empty"),
    pytest.param("begin\n" + ATOM + "begin\n" + ATOM + "end\n",
                 r"input.data:3: 'begin' inside a structure \(started on line 1\)",
                 id="begin-twice"),
    pytest.param(ATOM, r"input.data:1: 'atom' outside a begin/end block", id="no-begin"),
    pytest.param("begin\n" + ATOM + "weight 1.0\nend\n", r"input.data:3: unknown line type "
                 r"'weight'", id="unknown-line"),
    pytest.param(GARBAGE, r"input.data:1: .* outside a begin/end block", id="binary"),
]


@pytest.mark.parametrize("content, match", INPUT_DATA_CASES)
def test_read_input_data(tmp_path, content, match):
    path = tmp_path / "input.data"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ValueError, match=match):
        read_input_data(path)


@pytest.mark.parametrize("units, match", [
    pytest.param(dict(cflength=0.0), r"cflength must be a finite number > 0", id="cflength-0"),
    pytest.param(dict(cfenergy=-1.0), r"cfenergy must be a finite number > 0", id="cfenergy-neg"),
    pytest.param(dict(cflength=np.nan), r"cflength must be a finite number > 0",
                 id="cflength-nan"),
])
def test_read_input_data_units(tmp_path, units, match):
    path = tmp_path / "input.data"
    path.write_text("begin\n" + ATOM + "energy 1.0\nend\n")
    with pytest.raises(ValueError, match=match):
        read_input_data(path, **units)


def test_read_input_data_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothing.data"):
        read_input_data(tmp_path / "nothing.data")


# -- .fastpot files -----------------------------------------------------------------------------
def _set(*keys, value):
    """A change to the potential's dict: the entry at `keys` set to `value`."""
    def change(data):
        for key in keys[:-1]:
            data = data[key]
        data[keys[-1]] = value
    return change


def _delete(*keys):
    def change(data):
        for key in keys[:-1]:
            data = data[key]
        del data[keys[-1]]
    return change


def _nan_weight(data):
    data["networks"]["Cu"]["weights"][3] = float("nan")


FASTPOT_DICT_CASES = [
    pytest.param(_set("format", value="something-else"), r"not a fastpot potential file",
                 id="wrong-format"),
    pytest.param(_set("version", value=99), r"unsupported format version 99 \(this fastpot "
                 r"reads versions 1, 2\)", id="wrong-version"),
    pytest.param(_set("version", value="2"), r"unsupported format version '2'",
                 id="version-string"),
    pytest.param(_nan_weight, r"network weights must be finite", id="nan-weight"),
    pytest.param(_set("networks", "Cu", "weights", value=[0.0] * 5),
                 r"network \[\d+, 8, 6, 1\] has \d+ weights, got 5", id="too-few-weights"),
    pytest.param(_set("networks", "Cu", "layers", value=[10, 10**9, 1]),
                 r"would have \d+ weights, more than", id="huge-layer"),
    pytest.param(_set("networks", "Cu", "layers", value=[10, 10**15, 1]),
                 r"would have \d+ weights, more than", id="huge-layer-int64"),
    pytest.param(_set("networks", "Cu", "layers", value=[10, 8.5, 1]),
                 r"malformed potential file .*layers must be a sequence of integers",
                 id="layer-float"),
    pytest.param(_set("networks", "Cu", "activations", value="tqz"),
                 r"unknown activation\(s\) \['q', 'z'\]", id="unknown-activation"),
    pytest.param(_set("networks", "Cu", "activations", value=3),
                 r"malformed potential file .*activations must be a string", id="activation-int"),
    pytest.param(_delete("networks", "O"), r"no network for element\(s\) \['O'\]",
                 id="missing-network"),
    pytest.param(_delete("scaling"), r"malformed potential file \(KeyError\('scaling'\)\)",
                 id="missing-scaling"),
    pytest.param(_set("scaling", "mode", value="zscore"), r"unknown scaling mode 'zscore'",
                 id="scaling-mode"),
    pytest.param(_set("scaling", "stats", "Cu", value=[[0, 1, 0.5]]),
                 r"scaling statistics of Cu must have shape \(n_functions, 4\)",
                 id="scaling-shape"),
    pytest.param(_set("scaling", "smin", value=float("nan")), r"scaling range must have smin",
                 id="scaling-nan"),
    pytest.param(_set("energy_unit", value=0.0), r"energy_unit must be finite and nonzero",
                 id="energy-unit-zero"),
    pytest.param(_set("energy_unit", value="eV"),
                 r"energy_unit must be a finite number, got 'eV'", id="energy-unit-str"),
    pytest.param(_set("atom_energy", "Cu", value=float("nan")),
                 r"atom_energy of Cu must be a finite number", id="atom-energy-nan"),
    pytest.param(_set("atom_energy", "Cu", value="low"),
                 r"atom_energy of Cu must be a finite number", id="atom-energy-str"),
    pytest.param(_set("atom_energy", "Zn", value=1.0), r"atom_energy for element\(s\) \['Zn'\]",
                 id="atom-energy-extra"),
    pytest.param(_set("functions", value=[]), r"malformed potential file", id="functions-list"),
    pytest.param(_set("functions", "Cu", 0, "type", value=7),
                 r"unknown symmetry function type 7", id="function-type"),
    pytest.param(_set("functions", "Cu", 0, "rc", value=-1.0), r"Cu type 2 .*rc must be > 0",
                 id="function-rc"),
    pytest.param(_delete("functions", "Cu", 0, "eta"), r"malformed potential file \(KeyError",
                 id="function-field-missing"),
    pytest.param(_set("elements", value=["Cu", "O", "Zn"]),
                 r"element Zn has no symmetry functions", id="elements-extra"),
    pytest.param(_set("cutoff_type", value="soft"), r"unknown cutoff function 'soft'",
                 id="cutoff-type"),
    pytest.param(_set("members", value=[]), r"a committee needs at least 2 members",
                 id="committee-empty"),
]


@pytest.mark.parametrize("change, match", FASTPOT_DICT_CASES)
def test_fastpot_file_contents(tmp_path, potential, change, match):
    data = potential.to_dict()
    change(data)
    path = tmp_path / "model.fastpot"
    path.write_text(json.dumps(data))  # NaN goes out as JSON's non-standard NaN literal
    with pytest.raises(ValueError, match=rf"model.fastpot: .*{match}|model.fastpot: {match}"):
        Potential.load(path)


FASTPOT_TEXT_CASES = [
    pytest.param(lambda text: text[:len(text) // 2], r"model.fastpot: not a fastpot potential "
                 r"file \(.*line \d+", id="truncated"),
    pytest.param(lambda text: "", r"model.fastpot: not a fastpot potential file",
                 id="empty"),
    pytest.param(lambda text: GARBAGE, r"model.fastpot: not a fastpot potential file",
                 id="binary"),
    pytest.param(lambda text: "[1, 2, 3]", r"model.fastpot: not a fastpot potential file",
                 id="json-list"),
    pytest.param(lambda text: text.replace('"weights": [', '"weights": [1e999, ', 1),
                 r"model.fastpot: .*weights", id="tampered-overflow"),
    pytest.param(lambda text: text.replace('"weights": [', '"weights": ["0.1", ', 1),
                 r"model.fastpot: .*weights", id="tampered-string-weight"),
    pytest.param(lambda text: text.replace('"weights": [', '"weights": [Infinity, ', 1),
                 r"model.fastpot: .*weights", id="tampered-infinity"),
]


@pytest.mark.parametrize("change, match", FASTPOT_TEXT_CASES)
def test_fastpot_file_text(tmp_path, potential, change, match):
    path = tmp_path / "model.fastpot"
    potential.save(path)
    content = change(path.read_text())
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ValueError, match=match):
        Potential.load(path)


def test_fastpot_file_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"potential file not found: .*none.fastpot"):
        Potential.load(tmp_path / "none.fastpot")


def test_fastpot_file_is_a_folder(tmp_path):
    (tmp_path / "folder.fastpot").mkdir()
    with pytest.raises(FileNotFoundError, match=r"potential file not found: .*folder.fastpot"):
        Potential.load(tmp_path / "folder.fastpot")


def test_fastpot_save_wrong_suffix(tmp_path, potential):
    with pytest.raises(ValueError, match=r"potential files end in .fastpot, got 'model.json'"):
        potential.save(tmp_path / "model.json")


# -- the ASE calculator -------------------------------------------------------------------------
def _oxide():
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True)
    atoms.symbols[::2] = "O"
    return atoms


def _with(atoms, **arrays):
    for name, value in arrays.items():
        setattr(atoms, name, value)
    return atoms


CALCULATOR_CASES = [
    pytest.param(lambda: Atoms("CuZn", positions=[[0, 0, 0], [2, 0, 0]]), ValueError,
                 r"atom 1 is Zn, which has no symmetry functions \(elements: O, Cu\)",
                 id="unknown-element"),
    pytest.param(lambda: Atoms(), ValueError, r"the structure has no atoms", id="empty"),
    pytest.param(lambda: Atoms("Cu2O", positions=[[0, 0, 0], [np.nan, 0, 0], [0, 2, 0]]),
                 ValueError, r"positions of atom 1 is not finite", id="nan-position"),
    pytest.param(lambda: Atoms("CuO", positions=[[0, 0, 0], [0, 0, 0]]), ValueError,
                 r"atoms 0 and 1 overlap", id="overlap"),
    pytest.param(lambda: _with(_oxide(), cell=np.zeros((3, 3))), ValueError,
                 r"cell vector 0 is zero but direction 0 is periodic", id="zero-cell"),
    pytest.param(lambda: _with(_oxide(), cell=[[3.7, 0, 0], [3.7, 0, 0], [0, 0, 3.7]]),
                 ValueError, r"cell is singular", id="singular-cell"),
    pytest.param(lambda: _with(_oxide(), cell=[[1e-3, 0, 0], [0, 3.7, 0], [0, 0, 3.7]]),
                 ValueError, r"atom 0 has \d+ neighbours within the cutoff, more than 10000",
                 id="tiny-cell"),
]


@pytest.mark.parametrize("make, error, match", CALCULATOR_CASES)
def test_calculator(potential, make, error, match):
    atoms = make()
    atoms.calc = potential.calculator()
    with pytest.raises(error, match=match):
        atoms.get_potential_energy()


@pytest.mark.parametrize("options, error, match", [
    pytest.param(dict(skin=-1.0), ValueError, r"skin must be a finite number >= 0",
                 id="skin-negative"),
    pytest.param(dict(n_threads="all"), TypeError, r"n_threads must be a positive integer",
                 id="threads-str"),
    pytest.param(dict(cutoff=3.0), TypeError, r"unknown option\(s\) cutoff for "
                 r"FastpotCalculator", id="unknown-option"),
])
def test_calculator_options(potential, options, error, match):
    with pytest.raises(error, match=match):
        potential.calculator(**options)


def test_calculator_committee_properties(potential):
    from ase.calculators.calculator import PropertyNotImplementedError
    atoms = _oxide()
    atoms.calc = potential.calculator()
    with pytest.raises(PropertyNotImplementedError, match=r"forces_std need a committee"):
        atoms.calc.get_property("forces_std", atoms)


# -- training data ------------------------------------------------------------------------------
def _extxyz(tmp_path, frames, name="data.extxyz"):
    import ase.io
    path = tmp_path / name
    ase.io.write(path, frames, format="extxyz")
    return path


def _labelled(energy=-1.0, forces=None, n=2, symbols="Cu"):
    from ase.calculators.singlepoint import SinglePointCalculator
    atoms = Atoms(symbols * n, positions=[[2.0 * k, 0, 0] for k in range(n)])
    atoms.calc = SinglePointCalculator(atoms, energy=energy,
                                       forces=np.zeros((n, 3)) if forces is None else forces)
    return atoms


def _file(content, name="data.extxyz"):
    def make(tmp_path):
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return path
    return make


def _frames(*frames):
    return lambda tmp_path: _extxyz(tmp_path, [f() for f in frames])


def _unlabelled():
    return Atoms("Cu2", positions=[[0, 0, 0], [2, 0, 0]])


SAMPLE_FILE_CASES = [
    pytest.param(lambda tmp_path: tmp_path / "missing.extxyz", FileNotFoundError,
                 r"data file not found: .*missing.extxyz", id="missing-file"),
    pytest.param(lambda tmp_path: tmp_path, FileNotFoundError, r"data file not found",
                 id="a-folder"),
    pytest.param(_file(""), ValueError, r"data.extxyz", id="empty-file"),
    pytest.param(_file(GARBAGE), ValueError, r"data.extxyz: cannot read structures",
                 id="binary-file"),
    pytest.param(_file("2\nProperties=species:S:1:pos:R:3 energy=1.0\nCu 0 0 0\n"), ValueError,
                 r"data.extxyz: cannot read structures", id="truncated-extxyz"),
    pytest.param(_frames(_unlabelled, _unlabelled), ValueError,
                 r"data.extxyz: no energies and no forces to learn from", id="no-labels"),
    pytest.param(_frames(lambda: _labelled(energy=np.nan)), ValueError,
                 r"data.extxyz structure 0: energy is nan", id="nan-energy"),
    pytest.param(_frames(_labelled, lambda: _labelled(forces=np.full((2, 3), np.inf))),
                 ValueError, r"data.extxyz structure 1: force on atom 0 is not finite",
                 id="inf-force"),
    pytest.param(_frames(lambda: _with(_labelled(), positions=[[0, 0, 0], [np.nan, 0, 0]])),
                 ValueError, r"data.extxyz structure 0: position of atom 1 is not finite",
                 id="nan-position"),
    pytest.param(_file("begin\nenergy 1.0\nend\n", name="input.data"), ValueError,
                 r"input.data structure 0: structure has no atoms", id="zero-atoms-n2p2"),
    pytest.param(_file("0\nenergy=1.0 pbc=\"F F F\"\n"), ValueError,
                 r"data.extxyz structure 0: structure has no atoms|cannot read",
                 id="zero-atoms-extxyz"),
    pytest.param(_file("begin\n" + ATOM + "energy 1.0d0\nend\n", name="train.data"),
                 ValueError, r"train.data:3: energy: '1.0d0' is not a number",
                 id="fortran-d-n2p2"),
]


@pytest.mark.parametrize("make, error, match", SAMPLE_FILE_CASES)
def test_read_samples(tmp_path, make, error, match):
    from fastpot.data import read_samples
    with pytest.raises(error, match=match):
        read_samples(make(tmp_path))


def test_sample_forces_of_the_wrong_shape():
    from fastpot.data import sample_from_atoms
    atoms = _labelled()
    atoms.calc.results["forces"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"frame 7: forces have shape \(3, 3\), expected "
                                         r"\(2, 3\)"):
        sample_from_atoms(atoms, "frame 7")


def test_sample_stress_of_the_wrong_shape():
    from fastpot.data import sample_from_atoms
    atoms = _labelled()
    atoms.info["stress"] = [1.0, 2.0]
    with pytest.raises(ValueError, match=r"frame 2: stress must be 6 finite numbers"):
        sample_from_atoms(atoms, "frame 2")


TRAINER_OPTION_CASES = [
    pytest.param(dict(hidden_layer=[5]), r"unknown option\(s\) hidden_layer; valid options:",
                 id="misspelt-key"),
    pytest.param(dict(cutof=4.0, epochs=3), r"unknown option\(s\) cutof, epochs",
                 id="two-unknown-keys"),
    pytest.param(dict(cutoff="4"), r"cutoff must be a positive number, got '4'",
                 id="cutoff-str"),
    pytest.param(dict(cutoff=-4.0), r"cutoff must be a positive number", id="cutoff-negative"),
    pytest.param(dict(cutoff=np.nan), r"cutoff must be a positive number", id="cutoff-nan"),
    pytest.param(dict(cutoff=np.inf), r"cutoff must be a positive number", id="cutoff-inf"),
    pytest.param(dict(time_budget=0), r"time_budget must be a positive number",
                 id="time-budget-zero"),
    pytest.param(dict(learning_rate=np.nan), r"learning_rate must be a positive number",
                 id="learning-rate-nan"),
    pytest.param(dict(energy_weight=-1.0), r"energy_weight must be a number >= 0",
                 id="energy-weight-negative"),
    pytest.param(dict(force_weight=np.nan), r"force_weight must be a number >= 0",
                 id="force-weight-nan"),
    pytest.param(dict(l2=np.inf), r"l2 must be a number >= 0", id="l2-inf"),
    pytest.param(dict(energy_weight=0, force_weight=0, stress_weight=0),
                 r"energy_weight, force_weight and stress_weight cannot all be 0",
                 id="all-weights-zero"),
    pytest.param(dict(batch_size=0), r"batch_size must be a positive integer", id="batch-zero"),
    pytest.param(dict(batch_size=2.5), r"batch_size must be a positive integer",
                 id="batch-float"),
    pytest.param(dict(seed=-1), r"seed must be an integer >= 0", id="seed-negative"),
    pytest.param(dict(committee=True), r"committee must be a positive integer",
                 id="committee-bool"),
    pytest.param(dict(max_iterations="100"), r"max_iterations must be a positive integer",
                 id="iterations-str"),
    pytest.param(dict(max_force=0.0), r"max_force must be a positive number or None",
                 id="max-force-zero"),
    pytest.param(dict(committee_leave_out=1.0), r"committee_leave_out must be in \[0, 1\)",
                 id="leave-out-one"),
    pytest.param(dict(adam_time_fraction=0.0), r"adam_time_fraction must be in \(0, 1\]",
                 id="adam-fraction-zero"),
    pytest.param(dict(optimizer="sgd"), r"optimizer must be one of auto, lbfgs",
                 id="optimizer"),
    pytest.param(dict(descriptors="soap"), r"descriptors must be one of gaussian, polynomial",
                 id="descriptors"),
    pytest.param(dict(hidden_layers=[25, 0]), r"hidden_layers must be a list of positive "
                 r"integers", id="hidden-zero"),
    pytest.param(dict(hidden_layers="25,25"), r"hidden_layers must be a list", id="hidden-str"),
    pytest.param(dict(activation="q"), r"activation must be one of n2p2's letters .*got 'q'",
                 id="activation-unknown"),
    pytest.param(dict(activation="tt"), r"activation must be one of n2p2's letters",
                 id="activation-two-letters"),
    pytest.param(dict(scaling="zscore"), r"scaling must be one of none, scale, center",
                 id="scaling-mode"),
    pytest.param(dict(scale_min=1.0, scale_max=-1.0), r"scale_min must be below scale_max",
                 id="scale-range"),
    pytest.param(dict(cutoff_type="smooth"), r"cutoff_type: unknown cutoff function 'smooth'",
                 id="cutoff-type"),
    pytest.param(dict(valid_fraction=1.0), r"valid_fraction must be in \[0, 1\)",
                 id="valid-fraction"),
    pytest.param(dict(zetas=[0.5, 2.0]), r"zetas must be a list of numbers >= 1",
                 id="zetas-small"),
    pytest.param(dict(zetas=2.0), r"zetas must be a list of numbers >= 1", id="zetas-number"),
    pytest.param(dict(n_shifted=-1), r"n_shifted must be an integer >= 0",
                 id="n-shifted-negative"),
    pytest.param(dict(n_shifted=0, n_centred=0), r"n_shifted and n_centred cannot both be 0",
                 id="no-radial-functions"),
    pytest.param(dict(r_inner=-1.0), r"r_inner must be a positive number below the cutoff",
                 id="r-inner-negative"),
    pytest.param(dict(r_inner=8.0), r"r_inner must be a positive number below the cutoff",
                 id="r-inner-beyond-cutoff"),
    pytest.param(dict(n_threads=0), r"n_threads must be a positive integer", id="threads-zero"),
    pytest.param(dict(atom_energies=5), r"atom_energies must be a \{element: eV\} table",
                 id="atom-energies-number"),
]


@pytest.mark.parametrize("options, match", TRAINER_OPTION_CASES)
def test_trainer_options(options, match):
    from fastpot.training import Trainer
    with pytest.raises((ValueError, TypeError), match=rf"training options: {match}"):
        Trainer(options, log=None)


def _fit_data(n=4):
    from fastpot.emt_data import emt_samples
    return emt_samples(n, element="Cu", size=1, seed=0)


def _sample(change):
    def make():
        samples = _fit_data()
        change(samples)
        return samples
    return make


def _zero_atoms(samples):
    samples[1].atoms = Atoms()
    samples[1].forces = np.zeros((0, 3))


def _bad_forces(samples):
    samples[2].forces = np.zeros((3, 3))


def _nan_energy(samples):
    samples[0].energy = float("nan")


def _nan_force(samples):
    samples[3].forces[1, 2] = np.nan


def _nan_position(samples):
    samples[1].atoms.positions[0, 0] = np.nan


def _no_labels(samples):
    for s in samples:
        s.energy = s.forces = None


def _overlap_in_2(samples):
    samples[2].atoms.positions[1] = samples[2].atoms.positions[0]


def _energy_str(samples):
    samples[1].energy = "low"


def _zero_cell(samples):
    samples[3].atoms.set_cell(np.zeros((3, 3)))


FIT_CASES = [
    pytest.param(_sample(_overlap_in_2), {}, r"EMT structure 2: atoms 0 and 1 overlap",
                 id="overlapping-atoms"),
    pytest.param(_sample(_energy_str), {}, r"EMT structure 1: energy 'low' is not a number",
                 id="energy-str"),
    pytest.param(_sample(_zero_cell), {}, r"EMT structure 3: cell vector 0 is zero",
                 id="zero-cell"),
    pytest.param(lambda: [], {}, r"training data: no structures", id="empty"),
    pytest.param(_sample(_no_labels), {}, r"training data: no energies and no forces",
                 id="no-energies-no-forces"),
    pytest.param(_sample(_zero_atoms), {}, r"EMT structure 1: structure has no atoms",
                 id="zero-atom-structure"),
    pytest.param(_sample(_bad_forces), {}, r"EMT structure 2: forces have shape \(3, 3\), "
                 r"expected \(4, 3\)", id="forces-shape"),
    pytest.param(_sample(_nan_energy), {}, r"EMT structure 0: energy is nan", id="nan-energy"),
    pytest.param(_sample(_nan_force), {}, r"EMT structure 3: force on atom 1 is not finite",
                 id="nan-force"),
    pytest.param(_sample(_nan_position), {}, r"EMT structure 1: position of atom 0 is not "
                 r"finite", id="nan-position"),
    pytest.param(_fit_data, dict(atom_energies={"Cu": np.nan}),
                 r"atom_energies: the energy of Cu must be a finite", id="atom-energy-nan"),
    pytest.param(_fit_data, dict(atom_energies={"Ag": -0.1}),
                 r"isolated-atom energies are given for Ag but not for Cu",
                 id="atom-energy-element-absent"),
    pytest.param(_fit_data, dict(max_force=1e-9),
                 r"max_force / max_energy_above_minimum leave no training structure",
                 id="outliers-leave-nothing"),
]


@pytest.mark.parametrize("make, options, match", FIT_CASES)
def test_trainer_fit(make, options, match):
    from fastpot.training import Trainer
    trainer = Trainer(dict(cutoff=3.0, n_shifted=2, n_centred=1, n_angular_eta=1, zetas=[1.0],
                           hidden_layers=[3], time_budget=5.0, max_iterations=2, **options),
                      log=None)
    with pytest.raises(ValueError, match=match):
        trainer.fit(make())


def test_trainer_fit_validation_element_absent_from_the_model():
    from fastpot.emt_data import emt_samples
    from fastpot.training import Trainer
    trainer = Trainer(dict(cutoff=3.0, n_shifted=2, n_centred=1, n_angular_eta=1, zetas=[1.0],
                           hidden_layers=[3], time_budget=5.0, max_iterations=2), log=None)
    valid = emt_samples(2, element="Cu", size=1, seed=1, alloy="Ag")
    with pytest.raises(ValueError, match=r"validation data has element\(s\) \['Ag'\] absent "
                                         r"from the training data"):
        trainer.fit(_fit_data(), valid)


def test_trainer_fit_refuses_what_is_not_a_sample():
    from fastpot.training import Trainer
    with pytest.raises(TypeError, match=r"training data structure 1: expected a "
                                        r"fastpot.data.Sample, got str"):
        Trainer(log=None).fit(_fit_data(1) + ["not a sample"])


# -- molecular dynamics -------------------------------------------------------------------------
def _gas_cell():
    """Eight copper atoms far apart in a periodic box, for the ideal-gas potential."""
    atoms = bulk("Cu", "sc", a=1.0).repeat(2)
    return atoms


MD_CASES = [
    pytest.param(dict(ensemble="nvt"), r"unknown ensemble 'nvt'; choose from", id="ensemble"),
    pytest.param(dict(timestep=0.0), r"timestep must be a positive number of fs",
                 id="timestep-zero"),
    pytest.param(dict(timestep=np.nan), r"timestep must be a positive number of fs",
                 id="timestep-nan"),
    pytest.param(dict(timestep="1"), r"timestep must be a positive number of fs, got '1'",
                 id="timestep-str"),
    pytest.param(dict(ensemble="nvt-langevin"), r"ensemble 'nvt-langevin' needs a temperature",
                 id="temperature-missing"),
    pytest.param(dict(temperature=-5.0), r"temperature must be >= 0 K, got -5.0",
                 id="temperature-negative"),
    pytest.param(dict(temperature=np.nan), r"temperature must be >= 0 K", id="temperature-nan"),
    pytest.param(dict(temperature="hot"), r"temperature must be >= 0 K, got 'hot'",
                 id="temperature-str"),
    pytest.param(dict(ensemble="npt", temperature=300.0), r"ensemble 'npt' needs a pressure",
                 id="npt-no-pressure"),
    pytest.param(dict(ensemble="npt", temperature=0.0, pressure=1.0),
                 r"ensemble 'npt' needs a temperature above 0 K", id="npt-zero-temperature"),
    pytest.param(dict(ensemble="npt", temperature=300.0, pressure=np.nan),
                 r"pressure must be a finite number of GPa", id="npt-nan-pressure"),
    pytest.param(dict(friction=0.0, ensemble="nvt-langevin", temperature=300.0),
                 r"friction must be > 0", id="friction-zero"),
    pytest.param(dict(tau_thermostat=np.inf), r"tau_thermostat must be > 0", id="tau-inf"),
    pytest.param(dict(tau_barostat="slow"), r"tau_barostat must be > 0, got 'slow'",
                 id="tau-barostat-str"),
    pytest.param(dict(compressibility=-1.0), r"compressibility must be > 0",
                 id="compressibility"),
    pytest.param(dict(chain_length=0), r"chain_length must be between 1 and 10",
                 id="chain-zero"),
    pytest.param(dict(chain_length=2.5), r"chain_length must be between 1 and 10",
                 id="chain-float"),
    pytest.param(dict(every=0), r"every must be a positive integer", id="every-zero"),
    pytest.param(dict(checkpoint_every=0), r"checkpoint_every must be a positive integer",
                 id="checkpoint-every-zero"),
    pytest.param(dict(skin=-0.5), r"skin must be a finite number >= 0", id="skin-negative"),
    pytest.param(dict(seed="abc"), r"seed must be an integer >= 0, got 'abc'", id="seed-str"),
    pytest.param(dict(n_threads=0), r"n_threads must be a positive integer", id="threads-zero"),
    pytest.param(dict(max_force_std=0.1), r"max_force_std needs a committee model",
                 id="max-force-std-single-model"),
]


@pytest.mark.parametrize("options, match", MD_CASES)
def test_md_options(gas, options, match):
    from fastpot.md import MolecularDynamics
    with pytest.raises(ValueError, match=match):
        MolecularDynamics(_gas_cell(), gas, **options)


def _md_structure(change):
    def make():
        atoms = _gas_cell()
        change(atoms)
        return atoms
    return make


def _nan_x(atoms):
    atoms.positions[3, 1] = np.nan


def _overlap(atoms):
    atoms.positions[1] = atoms.positions[0]


def _zinc(atoms):
    atoms.symbols[2] = "Zn"


def _no_atoms(atoms):
    del atoms[:]


def _zero_mass(atoms):
    masses = atoms.get_masses()
    masses[5] = 0.0
    atoms.set_masses(masses)


def _nan_momentum(atoms):
    momenta = np.zeros((len(atoms), 3))
    momenta[4, 0] = np.nan
    atoms.set_momenta(momenta)


def _singular(atoms):
    atoms.set_cell([[2, 0, 0], [2, 0, 0], [0, 0, 2]])


def _molecule(atoms):
    atoms.pbc = False


MD_STRUCTURE_CASES = [
    pytest.param(_md_structure(_nan_x), {}, r"positions of atom 3 is not finite",
                 id="nan-position"),
    pytest.param(_md_structure(_overlap), {}, r"atoms 0 and 1 overlap .*forces are undefined "
                 r"in the starting structure", id="overlap"),
    pytest.param(_md_structure(_zinc), {}, r"atom 2 is Zn, which has no symmetry functions",
                 id="element-absent"),
    pytest.param(_md_structure(_no_atoms), {}, r"the structure has no atoms", id="empty"),
    pytest.param(_md_structure(_zero_mass), {}, r"every atom needs a positive mass \(atom 5",
                 id="zero-mass"),
    pytest.param(_md_structure(_nan_momentum), {}, r"momentum of atom 4 is not finite",
                 id="nan-momentum"),
    pytest.param(_md_structure(_singular), {}, r"cell is singular", id="singular-cell"),
    pytest.param(_md_structure(_molecule), dict(ensemble="npt", temperature=300.0,
                                                pressure=0.0),
                 r"ensemble 'npt' needs a cell periodic in all three directions",
                 id="npt-molecule"),
]


@pytest.mark.parametrize("make, options, match", MD_STRUCTURE_CASES)
def test_md_structures(gas, make, options, match):
    from fastpot.md import MolecularDynamics
    with pytest.raises(ValueError, match=match):
        MolecularDynamics(make(), gas, **options)


@pytest.mark.parametrize("steps", [pytest.param(0, id="zero"), pytest.param(-3, id="negative"),
                                   pytest.param(2.0, id="float"), pytest.param("5", id="str")])
def test_md_steps(gas, steps):
    from fastpot import md
    with pytest.raises(ValueError, match=rf"steps must be a positive integer, got {steps!r}"):
        md.run(_gas_cell(), gas, steps=steps)
    with pytest.raises(ValueError, match=rf"steps must be a positive integer, got {steps!r}"):
        md.MolecularDynamics(_gas_cell(), gas).run(steps)


def test_md_checkpoint_of_another_run(gas, tmp_path):
    from fastpot import md
    checkpoint = tmp_path / "run.npz"
    md.run(_gas_cell(), gas, steps=2, checkpoint=checkpoint, every=1, thermo=None)
    with pytest.raises(ValueError, match=r"run.npz belongs to another run"):
        md.run(_gas_cell(), gas, steps=4, timestep=0.5, checkpoint=checkpoint, every=1)


# -- the command line ---------------------------------------------------------------------------
@pytest.fixture
def files(tmp_path, potential):
    """Paths of valid and broken inputs for the commands, as strings."""
    import ase.io
    model = tmp_path / "model.fastpot"
    potential.save(model)
    structure = tmp_path / "cell.extxyz"
    ase.io.write(structure, _oxide())
    zinc = _oxide()
    zinc.symbols[0] = "Zn"
    ase.io.write(tmp_path / "zinc.extxyz", zinc)
    (tmp_path / "garbage.bin").write_bytes(GARBAGE)
    (tmp_path / "empty.extxyz").write_text("")
    (tmp_path / "bad.toml").write_text("cutoff = = 4\n")
    (tmp_path / "typo.toml").write_text("[train]\nhidden_layer = [5]\n")
    (tmp_path / "value.toml").write_text("[train]\ncutoff = \"far\"\n")
    (tmp_path / "scalar.toml").write_text("train = 5\n")
    (tmp_path / "nan.data").write_text("begin\n" + ATOM + "energy nan\nend\n")
    (tmp_path / "a_file").write_text("")
    return SimpleNamespace(**{name.replace(".", "_"): str(tmp_path / name) for name in (
        "model.fastpot", "cell.extxyz", "zinc.extxyz", "garbage.bin", "empty.extxyz",
        "bad.toml", "typo.toml", "value.toml", "scalar.toml", "nan.data", "a_file")},
        model=str(model), cell=str(structure), missing=str(tmp_path / "missing"),
        out=str(tmp_path / "out"))


def _model_text(f, text):
    with open(f.model, "w") as out:
        out.write(text)
    return f.model


CLI_CASES = [
    # argparse's own errors, for every command
    pytest.param(lambda f: [], r"^fastpot: error: the following arguments are required: "
                 r"command", id="no-command"),
    pytest.param(lambda f: ["frobnicate"], r"^fastpot: error: argument command: invalid "
                 r"choice: 'frobnicate'", id="unknown-command"),
    pytest.param(lambda f: ["info", "--verbose"], r"unrecognized arguments: --verbose",
                 id="info-extra-option"),
    pytest.param(lambda f: ["config", "--libz"], r"unrecognized arguments: --libz",
                 id="config-unknown-option"),
    pytest.param(lambda f: ["lammps-plugin", "now"], r"unrecognized arguments: now",
                 id="lammps-plugin-extra-argument"),
    pytest.param(lambda f: ["demo", "--structures", "many"], r"argument --structures: invalid "
                 r"int value: 'many'", id="demo-structures-str"),
    pytest.param(lambda f: ["demo", "--structures", "0", "--out", f.out],
                 r"n_structures must be an integer >= 12, got 0", id="demo-structures-zero"),
    pytest.param(lambda f: ["demo", "--train-seconds", "-1", "--out", f.out],
                 r"train_seconds must be a positive number, got -1.0", id="demo-seconds"),
    pytest.param(lambda f: ["demo", "--train-seconds", "nan", "--out", f.out],
                 r"train_seconds must be a positive number, got nan", id="demo-seconds-nan"),
    pytest.param(lambda f: ["demo", "--md-steps", "0", "--out", f.out],
                 r"md_steps must be an integer >= 1, got 0", id="demo-md-steps"),
    pytest.param(lambda f: ["demo", "--threads", "0", "--out", f.out],
                 r"n_threads must be a positive integer", id="demo-threads"),
    pytest.param(lambda f: ["train", "--out", f.out], r"the following arguments are required: "
                 r"--train", id="train-no-data"),
    pytest.param(lambda f: ["train", "--train", f.cell], r"the following arguments are "
                 r"required: --out", id="train-no-out"),
    pytest.param(lambda f: ["train", "--train", f.missing, "--out", f.out],
                 r"data file not found: .*missing", id="train-data-missing"),
    pytest.param(lambda f: ["train", "--train", f.empty_extxyz, "--out", f.out],
                 r"empty.extxyz", id="train-data-empty"),
    pytest.param(lambda f: ["train", "--train", f.garbage_bin, "--out", f.out],
                 r"garbage.bin: cannot read structures", id="train-data-binary"),
    pytest.param(lambda f: ["train", "--train", f.cell, "--out", f.out],
                 r"cell.extxyz: no energies and no forces to learn from",
                 id="train-data-unlabelled"),
    pytest.param(lambda f: ["train", "--train", f.nan_data, "--out", f.out],
                 r"nan.data:3: energy: 'nan' is not finite", id="train-data-nan"),
    pytest.param(lambda f: ["train", "--train", f.nan_data, "--valid", f.missing, "--out",
                            f.out, "--config", f.typo_toml], r"unknown option\(s\) hidden_layer",
                 id="train-config-typo"),
    pytest.param(lambda f: ["train", "--train", f.cell, "--out", f.out, "--config", f.missing],
                 r"No such file or directory: .*missing", id="train-config-missing"),
    pytest.param(lambda f: ["train", "--train", f.cell, "--out", f.out, "--config", f.bad_toml],
                 r"bad.toml: not a TOML file", id="train-config-not-toml"),
    pytest.param(lambda f: ["train", "--train", f.cell, "--out", f.out, "--config",
                            f.value_toml], r"cutoff must be a positive number, got 'far'",
                 id="train-config-value"),
    pytest.param(lambda f: ["train", "--train", f.cell, "--out", f.out, "--config",
                            f.scalar_toml], r"scalar.toml: 'train' must be a table",
                 id="train-config-scalar"),
    pytest.param(lambda f: ["train", "--train", f.cell, "--out", f.out, "--threads", "0"],
                 r"n_threads must be a positive integer", id="train-threads"),
    pytest.param(lambda f: ["train", "--train", f.cell, "--out", f.out, "--time-budget", "-5"],
                 r"time_budget must be a positive number, got -5.0", id="train-time-budget"),
    pytest.param(lambda f: ["train", "--train", f.cell, "--out", f.out, "--committee", "0"],
                 r"committee must be a positive integer, got 0", id="train-committee"),
    pytest.param(lambda f: ["train", "--train", f.cell, "--out", f.a_file],
                 r"File exists: .*a_file", id="train-out-is-a-file"),
    pytest.param(lambda f: ["evaluate", f.model], r"the following arguments are required: "
                 r"data", id="evaluate-no-data"),
    pytest.param(lambda f: ["evaluate", f.missing, f.cell], r"potential file not found: "
                 r".*missing", id="evaluate-model-missing"),
    pytest.param(lambda f: ["evaluate", f.garbage_bin, f.cell], r"garbage.bin: not a fastpot "
                 r"potential file", id="evaluate-model-binary"),
    pytest.param(lambda f: ["evaluate", _model_text(f, '{"format": "fastpot-potential", '
                                                       '"version": 7}'), f.cell],
                 r"unsupported format version 7", id="evaluate-model-version"),
    pytest.param(lambda f: ["evaluate", f.model, f.missing], r"data file not found",
                 id="evaluate-data-missing"),
    pytest.param(lambda f: ["evaluate", f.model, f.nan_data], r"nan.data:3: energy",
                 id="evaluate-data-nan"),
    pytest.param(lambda f: ["evaluate", f.model, f.cell, "--threads", "two"],
                 r"argument --threads: invalid int value: 'two'", id="evaluate-threads"),
    pytest.param(lambda f: ["md", f.model, f.cell], r"the following arguments are required: "
                 r"--steps", id="md-no-steps"),
    pytest.param(lambda f: ["md", f.model, f.cell, "--steps", "0"],
                 r"steps must be a positive integer, got 0", id="md-steps-zero"),
    pytest.param(lambda f: ["md", f.model, f.cell, "--steps", "1e3"],
                 r"argument --steps: invalid int value: '1e3'", id="md-steps-float"),
    pytest.param(lambda f: ["md", f.missing, f.cell, "--steps", "5"],
                 r"potential file not found", id="md-model-missing"),
    pytest.param(lambda f: ["md", f.model, f.missing, "--steps", "5"],
                 r"structure file not found: .*missing", id="md-structure-missing"),
    pytest.param(lambda f: ["md", f.model, f.garbage_bin, "--steps", "5"],
                 r"cannot read .*garbage.bin", id="md-structure-binary"),
    pytest.param(lambda f: ["md", f.model, f.empty_extxyz, "--steps", "5"],
                 r"cannot read .*empty.extxyz", id="md-structure-empty"),
    pytest.param(lambda f: ["md", f.model, f.zinc_extxyz, "--steps", "5"],
                 r"atom 0 is Zn, which has no symmetry functions", id="md-unknown-element"),
    pytest.param(lambda f: ["md", f.model, f.cell, "--steps", "5", "--ensemble", "nvt"],
                 r"argument --ensemble: invalid choice: 'nvt'", id="md-ensemble"),
    pytest.param(lambda f: ["md", f.model, f.cell, "--steps", "5", "--timestep", "-1"],
                 r"timestep must be a positive number of fs, got -1.0", id="md-timestep"),
    pytest.param(lambda f: ["md", f.model, f.cell, "--steps", "5", "--temperature", "hot"],
                 r"argument --temperature: invalid float value: 'hot'", id="md-temperature"),
    pytest.param(lambda f: ["md", f.model, f.cell, "--steps", "5", "--ensemble",
                            "nvt-langevin"], r"ensemble 'nvt-langevin' needs a temperature",
                 id="md-thermostat-no-temperature"),
    pytest.param(lambda f: ["md", f.model, f.cell, "--steps", "5", "--ensemble", "npt",
                            "--temperature", "300"], r"ensemble 'npt' needs a pressure",
                 id="md-npt-no-pressure"),
    pytest.param(lambda f: ["md", f.model, f.cell, "--steps", "5", "--every", "0"],
                 r"every must be a positive integer, got 0", id="md-every"),
    pytest.param(lambda f: ["md", f.model, f.cell, "--steps", "5", "--max-force-std", "0.2"],
                 r"max_force_std needs a committee model", id="md-max-force-std"),
    pytest.param(lambda f: ["md", f.model, f.cell, "--steps", "5", "--checkpoint",
                            f.garbage_bin], r"garbage.bin is not a fastpot MD checkpoint",
                 id="md-checkpoint-garbage"),
    pytest.param(lambda f: ["md", f.model, f.cell, "--steps", "5", "--log",
                            f.missing + "/thermo.csv"], r"cannot write .*missing/thermo.csv: "
                 r"No such file or directory", id="md-log-folder-missing"),
    pytest.param(lambda f: ["select", f.model, f.cell], r"the following arguments are "
                 r"required: --n", id="select-no-n"),
    pytest.param(lambda f: ["select", f.model, f.cell, "--n", "3"],
                 r"model.fastpot is a single model; selection needs a committee",
                 id="select-single-model"),
    pytest.param(lambda f: ["select", f.model, f.cell, "--n", "3", "--by", "stress"],
                 r"argument --by: invalid choice: 'stress'", id="select-by"),
    pytest.param(lambda f: ["select", f.missing, f.cell, "--n", "3"],
                 r"potential file not found", id="select-model-missing"),
    pytest.param(lambda f: ["ipi", f.model, f.cell], r"the following arguments are required: "
                 r"--address", id="ipi-no-address"),
    pytest.param(lambda f: ["ipi", f.model, f.cell, "--address", "localhost"],
                 r"i-PI address must be unix:NAME or HOST:PORT, got 'localhost'",
                 id="ipi-address-no-port"),
    pytest.param(lambda f: ["ipi", f.model, f.cell, "--address", "localhost:99999"],
                 r"port must be in 1..65535", id="ipi-port-range"),
    pytest.param(lambda f: ["ipi", f.model, f.cell, "--address", "localhost:http"],
                 r"port 'http' is not a number", id="ipi-port-name"),
    pytest.param(lambda f: ["ipi", f.model, f.cell, "--address", "unix:"],
                 r"unix:NAME needs a socket name", id="ipi-unix-empty"),
    pytest.param(lambda f: ["ipi", f.model, f.missing, "--address", "unix:fp-none"],
                 r"structure file not found", id="ipi-structure-missing"),
    pytest.param(lambda f: ["ipi", f.model, f.cell, "--address", f"unix:{f.missing}"],
                 r"cannot connect to the i-PI server at unix socket", id="ipi-no-server"),
]


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("make_argv, match", CLI_CASES)
def test_cli(files, capsys, make_argv, match):
    from fastpot.cli import main
    argv = make_argv(files)
    status = main(argv)
    err = capsys.readouterr().err
    assert status != 0, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    prefix = f"fastpot {argv[0]}: error: " if argv and not match.startswith("^") else ""
    assert lines[0].startswith(prefix), lines[0]
    assert re.search(match, lines[0]), lines[0]


# -- potentials, networks and scaling built in code ----------------------------------------------
def _network(**change):
    from fastpot import Network
    arguments = dict(layers=[3, 4, 1], activations="tl", weights=None)
    arguments.update(change)
    return Network(**arguments)


NETWORK_CASES = [
    pytest.param(dict(layers=[3, 4, 2]), ValueError, r"the output layer must have one neuron",
                 id="two-outputs"),
    pytest.param(dict(layers=[3]), ValueError, r"layers must be at least \[inputs, 1\]",
                 id="one-layer"),
    pytest.param(dict(layers=[3, 0, 1]), ValueError, r"positive sizes, got \[3, 0, 1\]",
                 id="empty-layer"),
    pytest.param(dict(layers=["3", 4, 1]), TypeError, r"layers must be a sequence of integers",
                 id="layer-str"),
    pytest.param(dict(layers=[3, 10**7, 10**7, 1]), ValueError, r"would have \d+ weights, "
                 r"more than 100000000: a layer size is wrong", id="huge"),
    pytest.param(dict(activations="t"), ValueError, r"need 2 activation letters",
                 id="too-few-activations"),
    pytest.param(dict(activations="tz"), ValueError, r"unknown activation\(s\) \['z'\]",
                 id="unknown-activation"),
    pytest.param(dict(activations=["t", "l"]), TypeError, r"activations must be a string",
                 id="activation-list"),
    pytest.param(dict(weights=np.zeros(3)), ValueError, r"network \[3, 4, 1\] has 21 weights, "
                 r"got 3", id="weights-count"),
    pytest.param(dict(weights=np.full(21, np.nan)), ValueError, r"network weights must be "
                 r"finite", id="weights-nan"),
]


@pytest.mark.parametrize("change, error, match", NETWORK_CASES)
def test_network(change, error, match):
    with pytest.raises(error, match=match):
        _network(**change)


def _potential_parts(potential):
    return dict(symmetry_functions=potential.sf, scaling=potential.scaling,
                networks=dict(potential.networks), energy_unit=1.0, atom_energy=None)


def _drop_o(parts):
    del parts["networks"]["O"]


def _wrong_inputs(parts):
    parts["networks"]["O"] = _network()


def _committee_of_one(parts):
    parts["networks"] = [parts["networks"]]


def _committee_mismatch(parts):
    other = dict(parts["networks"])
    n_inputs = other["O"].n_inputs
    other["O"] = _network(layers=[n_inputs, 5, 1])
    parts["networks"] = [parts["networks"], other]


def _scaling_missing_element(parts):
    from fastpot import Scaling
    parts["scaling"] = Scaling("none", {"Cu": parts["scaling"].stats["Cu"]})


POTENTIAL_CASES = [
    pytest.param(_drop_o, ValueError, r"no network for element\(s\) \['O'\]", id="no-network"),
    pytest.param(_wrong_inputs, ValueError, r"network of O takes 3 inputs but the element has "
                 r"\d+ symmetry functions", id="wrong-inputs"),
    pytest.param(_committee_of_one, ValueError, r"a committee needs at least 2 members, got 1",
                 id="committee-of-one"),
    pytest.param(_committee_mismatch, ValueError, r"committee member 1 has network .* for O, "
                 r"member 0 .*: members need the same layers", id="committee-layers"),
    pytest.param(_scaling_missing_element, ValueError, r"no scaling statistics for element O",
                 id="scaling-element"),
    pytest.param(lambda parts: parts.update(networks="Cu"), TypeError,
                 r"networks must be a dict element -> Network", id="networks-str"),
    pytest.param(lambda parts: parts.update(energy_unit=np.inf), ValueError,
                 r"energy_unit must be a finite number, got inf", id="energy-unit-inf"),
    pytest.param(lambda parts: parts.update(atom_energy={"O": None}), ValueError,
                 r"atom_energy of O must be a finite number, got None", id="atom-energy-none"),
]


@pytest.mark.parametrize("structure", [pytest.param("Cu", id="str"),
                                       pytest.param(np.zeros((3, 3)), id="array"),
                                       pytest.param(None, id="none")])
def test_potential_evaluate_not_atoms(potential, structure):
    with pytest.raises(TypeError, match=r"expected an ase.Atoms object, got"):
        potential.evaluate(structure)


@pytest.mark.parametrize("change, error, match", POTENTIAL_CASES)
def test_potential_parts(potential, change, error, match):
    parts = _potential_parts(potential)
    change(parts)
    with pytest.raises(error, match=match):
        Potential(**parts)


def test_potential_forces_std_needs_a_committee(potential):
    with pytest.raises(ValueError, match=r"forces_std needs a committee potential"):
        potential.evaluate(_oxide(), forces_std=True)


def test_potential_stress_needs_a_periodic_cell(potential):
    atoms = _oxide()
    atoms.pbc = [True, True, False]
    with pytest.raises(ValueError, match=r"stress needs a cell that is periodic in all three"):
        potential.stress(atoms)


SCALING_CASES = [
    pytest.param(dict(mode="minmax"), r"unknown scaling mode 'minmax'", id="mode"),
    pytest.param(dict(smin=1.0, smax=0.0), r"scaling range must have smin < smax",
                 id="range"),
    pytest.param(dict(stats={"Cu": [[0.0, 1.0, np.nan, 0.1]]}), r"scaling statistics of Cu are "
                 r"not finite", id="nan"),
    pytest.param(dict(stats={"Cu": [0.0, 1.0, 0.5, 0.1]}), r"scaling statistics of Cu must "
                 r"have shape \(n_functions, 4\), got \(4,\)", id="shape"),
    pytest.param(dict(stats={"Cu": [[0.5, 0.5, 0.5, 0.0]]}), r"Gmax - Gmin is zero for element "
                 r"Cu function 1", id="constant-function"),
]


@pytest.mark.parametrize("change, match", SCALING_CASES)
def test_scaling(change, match):
    from fastpot import Scaling
    arguments = dict(mode="scale", stats={"Cu": [[0.0, 1.0, 0.5, 0.1]]})
    arguments.update(change)
    with pytest.raises(ValueError, match=match):
        Scaling(**arguments)


# -- committees: selection and MD stops ---------------------------------------------------------
@pytest.fixture(scope="module")
def committee(potential):
    other = synthetic_potential(seed=1)
    return Potential(potential.sf, potential.scaling, [potential.networks, other.networks],
                     potential.energy_unit, potential.atom_energy)


SELECT_CASES = [
    pytest.param(dict(n=0), r"the number of frames to select must be a positive integer",
                 id="n-zero"),
    pytest.param(dict(n=2.5), r"the number of frames to select must be a positive integer",
                 id="n-float"),
    pytest.param(dict(by="stress"), r"by must be one of", id="by"),
    pytest.param(dict(min_distance=-0.1), r"min_distance must be a number >= 0",
                 id="min-distance"),
    pytest.param(dict(frames=[]), r"there are no frames to select from", id="no-frames"),
    pytest.param(dict(frames=[_oxide(), Atoms("Zn", positions=[[0, 0, 0]])]),
                 r"frame 1: atom 0 is Zn, which has no symmetry functions", id="unknown-element"),
]


@pytest.mark.parametrize("change, match", SELECT_CASES)
def test_select(committee, change, match):
    from fastpot.select import select_frames
    arguments = dict(frames=[_oxide(), _oxide()], n=1)
    arguments.update(change)
    frames = arguments.pop("frames")
    names = [f"frame {k}" for k in range(len(frames))]
    with pytest.raises(ValueError, match=match):
        select_frames(committee, frames, names=names, **arguments)


@pytest.mark.parametrize("value", [pytest.param(0.0, id="zero"), pytest.param(np.nan, id="nan"),
                                   pytest.param("0.1", id="str")])
def test_md_max_force_std(committee, value):
    from fastpot.md import MolecularDynamics
    with pytest.raises(ValueError, match=r"max_force_std must be a positive number of eV/Å"):
        MolecularDynamics(_oxide(), committee, max_force_std=value)


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("extra, match", [
    pytest.param(["--n", "0"], r"the number of frames to select must be a positive integer",
                 id="n-zero"),
    pytest.param(["--n", "2", "--min-distance", "-1"], r"min_distance must be a number >= 0",
                 id="min-distance"),
    pytest.param(["--n", "2", "--threads", "-1"], r"n_threads must be a positive integer",
                 id="threads"),
])
def test_cli_select_committee(tmp_path, capsys, committee, extra, match):
    import ase.io

    from fastpot.cli import main
    committee.save(tmp_path / "committee.fastpot")
    ase.io.write(tmp_path / "frames.extxyz", [_oxide(), _oxide()])
    status = main(["select", str(tmp_path / "committee.fastpot"),
                   str(tmp_path / "frames.extxyz"), "--out", str(tmp_path / "picked.extxyz"),
                   *extra])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(lines) == 1, lines
    assert lines[0].startswith("fastpot select: error: ") and re.search(match, lines[0])


# The array layouts of the neighbour-list table are not errors in themselves: with finite
# values they must give the list of plain float64 arrays.
@pytest.mark.parametrize("convert", [
    pytest.param(lambda a: a.astype(">f8"), id="big-endian"),
    pytest.param(lambda a: np.repeat(a, 2, axis=1)[:, ::2], id="non-contiguous"),
    pytest.param(_readonly, id="read-only"),
    pytest.param(lambda a: a.astype(np.float32), id="float32"),
    pytest.param(lambda a: np.asfortranarray(a), id="fortran-order"),
])
def test_neighbor_list_accepts_any_layout_of_finite_numbers(convert):
    expected = neighbor_list("ijdS", cutoff=2.0, positions=_positions(), cell=_cell(), pbc=True)
    got = neighbor_list("ijdS", cutoff=2.0, positions=convert(_positions()),
                        cell=convert(_cell()), pbc=True)
    for a, b in zip(expected, got):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("content", [
    pytest.param(GARBAGE, id="binary"),
    pytest.param(b"", id="empty"),
    pytest.param("npz-without-fields", id="other-npz"),
])
def test_md_checkpoint_not_a_checkpoint(gas, tmp_path, content):
    from fastpot import md
    checkpoint = tmp_path / "run.npz"
    if content == "npz-without-fields":
        np.savez(checkpoint, a=np.zeros(3))
    else:
        checkpoint.write_bytes(content)
    with pytest.raises(ValueError, match=r"run.npz is not a fastpot MD checkpoint"):
        md.run(_gas_cell(), gas, steps=2, checkpoint=checkpoint, thermo=None)


# -- the C API (fastpot/include/fastpot.h) -------------------------------------------------------
# Run by tests/capi_program.c (its `errors` mode), one line "case: message" per call: every
# public function with each NULL pointer, each bad size and each bad value. The program must
# finish (no crash), and each call must fail with the message here, or succeed where
# "(no error)" is expected (NULL for an optional output, an empty list without an array).
NO_ERROR = r"\(no error\)"
COMPUTE = "fastpot_model_compute: "
NEIGHBORS = "fastpot_model_compute_neighbors: "
THREADS = r"fastpot_model_set_threads: n_threads must be in 0\.\.4096 \(0: the default\), got "
CAPI_CASES = [
    ("load missing file", r"fastpot_model_load: potential file not found: "
                          r"/nonexistent/model.fastpot"),
    ("load wrong suffix", r"fastpot_model_load: .*structure.txt: the C API reads .fastpot files"),
    ("load garbage", r"fastpot_model_load: .*garbage.fastpot: not a fastpot potential file"),
    ("model after a failed load", r"NULL"),
    ("compute after a failed load", COMPUTE + "model is NULL"),
    ("load NULL path", r"fastpot_model_load: path is NULL"),
    ("load NULL model", r"fastpot_model_load: model is NULL"),
    ("load NULL error", r"status 1"),
    ("cutoff NULL model", r"fastpot_model_cutoff: model is NULL"),
    ("cutoff NULL cutoff", r"fastpot_model_cutoff: cutoff is NULL"),
    ("elements NULL model", r"fastpot_model_elements: model is NULL"),
    ("elements NULL elements", r"fastpot_model_elements: elements is NULL"),
    ("threads NULL model", r"fastpot_model_set_threads: model is NULL"),
    ("threads negative", THREADS + "-1"),
    ("threads huge", THREADS + "1000000"),
    ("atomic number NULL symbol", r"fastpot_atomic_number: symbol is NULL"),
    ("atomic number NULL output", r"fastpot_atomic_number: atomic_number is NULL"),
    ("atomic number unknown symbol", r"fastpot_atomic_number: 'Xx' is not a chemical symbol"),
    ("atomic number empty symbol", r"fastpot_atomic_number: '' is not a chemical symbol"),
    ("atomic number lower case", r"fastpot_atomic_number: 'cu' is not a chemical symbol"),
    ("compute NULL model", COMPUTE + "model is NULL"),
    ("compute n_atoms 0", COMPUTE + "n_atoms must be > 0, got 0"),
    ("compute n_atoms negative", COMPUTE + "n_atoms must be > 0, got -5"),
    ("compute n_atoms huge", COMPUTE + "n_atoms must be <= 2147483646, got 9223372036854775807"),
    ("compute n_atoms 2^40", COMPUTE + "n_atoms must be <= 2147483646, got 1099511627776"),
    ("compute NULL atomic_numbers", COMPUTE + "atomic_numbers is NULL"),
    ("compute NULL positions", COMPUTE + "positions is NULL"),
    ("compute NULL cell", COMPUTE + "cell is NULL"),
    ("compute NULL pbc", COMPUTE + "pbc is NULL"),
    ("compute NULL energy", COMPUTE + "energy is NULL"),
    ("compute element not in the model", COMPUTE + r"atom 1 is Fe, which has no symmetry "
                                                   r"functions \(elements: O, Cu\)"),
    ("compute negative atomic number", COMPUTE + "atom 1 has atomic number -3, which is not "
                                                 "an element"),
    ("compute atomic number 200", COMPUTE + "atom 1 has atomic number 200, which is not an "
                                            "element"),
    ("compute NaN position", COMPUTE + r"positions of atom 1 is not finite: \[.*nan"),
    ("compute overlapping atoms", COMPUTE + r"atoms 0 and 1 overlap \(distance 0\)"),
    ("compute singular cell", COMPUTE + r"cell is singular \(volume .*\) but all directions "
                                        r"are periodic"),
    ("compute infinite cell", COMPUTE + r"cell has non-finite entries: \[\[inf"),
    ("compute stress of a slab", COMPUTE + r"stress needs a cell periodic in all three "
                                           r"directions, got pbc=\[1, 1, 0\]"),
    ("compute NULL forces and stress", NO_ERROR),
    ("compute still usable", NO_ERROR),
    ("neighbors NULL model", NEIGHBORS + "model is NULL"),
    ("neighbors n_centres negative", NEIGHBORS + "need 0 <= n_centres <= n_atoms, got -1 and 3"),
    ("neighbors n_centres > n_atoms", NEIGHBORS + "need 0 <= n_centres <= n_atoms, got 3 and 2"),
    ("neighbors n_atoms negative", NEIGHBORS + "need 0 <= n_centres <= n_atoms, got 0 and -1"),
    ("neighbors n_atoms huge", NEIGHBORS + "n_atoms must be <= 2147483646, got "
                                           "9223372036854775807"),
    ("neighbors NULL atomic_numbers", NEIGHBORS + "atomic_numbers is NULL"),
    ("neighbors NULL positions", NEIGHBORS + "positions is NULL"),
    ("neighbors NULL offsets", NEIGHBORS + "offsets is NULL"),
    ("neighbors NULL neighbors", NEIGHBORS + r"neighbors is NULL but offsets\[n_centres\] = 4"),
    ("neighbors NULL forces", NEIGHBORS + "forces is NULL"),
    ("neighbors NULL neighbors of an empty list", NO_ERROR),
    ("neighbors offsets[0] not 0", NEIGHBORS + r"offsets\[0\] must be 0, got 1"),
    ("neighbors offsets decreasing", NEIGHBORS + "offsets decrease at centre 1"),
    ("neighbors offsets huge", NEIGHBORS + r"offsets\[n_centres\] = 4611686018427387903 "
                                           r"neighbour entries, more than 1099511627776"),
    ("neighbors index out of range", NEIGHBORS + r"neighbour 1 of centre 0 is atom 3, outside "
                                                 r"0\.\.2"),
    ("neighbors index negative", NEIGHBORS + r"neighbour 1 of centre 0 is atom -1, outside "
                                             r"0\.\.2"),
    ("neighbors element not in the model", NEIGHBORS + r"atom 2 has atomic number 26, which is "
                                                       r"not an element of the model "
                                                       r"\(elements: O Cu\)"),
    ("neighbors atomic number 0", NEIGHBORS + "atom 2 has atomic number 0, which is not an "
                                              "element of the model"),
    ("neighbors NaN position", NEIGHBORS + "position of atom 2 is not finite"),
    ("neighbors overlapping atoms", NEIGHBORS + r"atoms 0 and 2 overlap \(distance 0\)"),
    ("neighbors still usable", NO_ERROR),
    ("neighbors NULL error", r"status 1"),
    ("free NULL", NO_ERROR),
]


@pytest.fixture(scope="module")
def capi_messages(tmp_path_factory, potential):
    """Case -> message of one run of tests/capi_program.c in its `errors` mode."""
    import shutil as _shutil
    import subprocess
    from test_capi import LIBRARY, build_program, oxide as capi_structure, write_structure
    if not LIBRARY.is_file() or _shutil.which("cc") is None:
        pytest.skip("no C API library in this installation or no C compiler")
    folder = tmp_path_factory.mktemp("capi_errors")
    potential.save(folder / "model.fastpot")
    write_structure(folder / "structure.txt", capi_structure())
    out = subprocess.run([str(build_program(folder)), "errors", str(folder / "model.fastpot"),
                          str(folder / "structure.txt")], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]  # no crash, no abort
    return dict(line.split(": ", 1) for line in out.stdout.splitlines())


def test_capi_table_covers_every_case(capi_messages):
    assert list(capi_messages) == [case for case, _ in CAPI_CASES]


@pytest.mark.parametrize("case, match", [pytest.param(c, m, id=c) for c, m in CAPI_CASES])
def test_capi(capi_messages, case, match):
    assert re.fullmatch(match, capi_messages[case]) or (
        match != NO_ERROR and re.match(match, capi_messages[case])), capi_messages[case]
