"""n2p2 types 12, 13, 20-25: the kernels against a brute-force NumPy reference
(tests/reference_factored.py), finite differences, invariances, threads, n2p2's order and
files, bad definitions, and n2p2's own predictions for its Ethylbenzene potential."""
import re

import numpy as np
import pytest
from ase import Atoms
from ase.io import read

from fastpot import Network, Potential, Scaling
from fastpot.n2p2 import N2P2FormatError, read_symmetry_functions, symmetry_function_lines
from fastpot.symmetry import CUTOFF_TYPES, Radial, SymmetryFunctions
from fastpot.symmetry_factored import (CompactAngular, CompactRadial, WeightedAngular,
                                       WeightedRadial)

from potentials import BOHR, HARTREE
from reference_factored import factored_values_and_gradients


def every_type(center, rc=4.5):
    """One or more functions of every new type, subtypes and windows of every kind."""
    return [
        WeightedRadial(center, 0.5, 0.0, rc), WeightedRadial(center, 1.0, 1.5, rc - 0.5),
        WeightedAngular(center, 0.1, 1, 2.0, rc),
        WeightedAngular(center, 0.05, -1, 1.5, rc - 0.5, 0.5),
        CompactRadial(center, "Cu", 0.0, rc, "p2"),
        CompactRadial(center, "O", -rc, rc, "p3a"),
        CompactRadial(center, None, 1.0, rc - 0.3, "e"),
        CompactRadial(center, None, -2.5, rc, "p4a"),
        CompactAngular(center, "Cu", "O", 0.0, rc, 0, 180, "p2a"),
        CompactAngular(center, "O", "Cu", 1.0, rc, 49.1, 169.1, "p2"),
        CompactAngular(center, "O", "O", -rc, rc, 60, 180, "p1", wide=True),
        CompactAngular(center, "Cu", "Cu", 0.5, rc, 0, 120, "p4a", wide=True),
        CompactAngular(center, None, None, 0.5, rc, -90, 90, "p4"),
        CompactAngular(center, None, None, -2, rc - 0.5, 90, 270, "e", wide=True),
        CompactAngular(center, None, None, -rc, rc, 30, 150, "p3a"),
        CompactAngular(center, None, None, 0.0, rc, 0, 180, "p1a", wide=True),
    ]


def oxide_cell(seed=1):
    """A small triclinic Cu-O-H cell, smaller than twice the cutoff."""
    rng = np.random.default_rng(seed)
    cell = np.array([[5.2, 0.0, 0.0], [0.9, 4.9, 0.0], [0.4, -0.6, 5.4]])
    atoms = Atoms("Cu4O3H", scaled_positions=rng.random((8, 3)), cell=cell, pbc=True)
    # keep atoms apart: push overlapping ones out with a few steps of repulsion
    for _ in range(200):
        d = atoms.get_all_distances(mic=True, vector=True)
        r = np.linalg.norm(d, axis=2) + np.eye(len(atoms)) * 10
        if r.min() > 1.5:
            break
        push = (d / r[..., None] ** 3 * (r < 1.5)[..., None]).sum(axis=1)
        atoms.positions -= 0.3 * push
    return atoms


def functions(cutoff_type="poly2", alpha=0.1):
    return SymmetryFunctions(["Cu", "O", "H"],
                             [f for c in ("Cu", "O", "H") for f in every_type(c)],
                             cutoff_type=cutoff_type, cutoff_alpha=alpha)


def weights_like(values, seed=3):
    rng = np.random.default_rng(seed)
    return {e: rng.normal(size=v.shape) for e, v in values.items()}


@pytest.mark.parametrize("cutoff_type", list(CUTOFF_TYPES))
def test_values_and_gradients_equal_the_brute_force_reference(cutoff_type):
    sf = functions(cutoff_type, 0.0 if cutoff_type in ("tanh", "tanhu") else 0.2)
    atoms = oxide_cell()
    values = sf.compute(atoms, n_threads=1)
    reference, reference_gradients = factored_values_and_gradients(sf, atoms)
    for element in values:
        scale = np.abs(reference[element]).max()
        np.testing.assert_allclose(values[element], reference[element], rtol=0,
                                   atol=1e-13 * scale)
    w = weights_like(values)
    gradient, _ = sf.backward(atoms, w, n_threads=1)
    expected = sum(np.einsum("as,asjx->jx", w[e], reference_gradients[e]) for e in values)
    np.testing.assert_allclose(gradient, expected, rtol=0, atol=1e-12 * np.abs(expected).max())
    stored = sf.derivatives(atoms, n_threads=1)
    by_atom = [w[e][k] for e in sf.elements for k in range(len(values.get(e, [])))]
    order = np.concatenate([np.flatnonzero(np.array(atoms.get_chemical_symbols()) == e)
                            for e in sf.elements])
    per_atom = [None] * len(atoms)
    for atom, weight in zip(order, by_atom):
        per_atom[atom] = weight
    np.testing.assert_allclose(stored.gradient(per_atom), expected, rtol=0,
                               atol=1e-12 * np.abs(expected).max())


@pytest.mark.parametrize("kind", [12, 13, 20, 21, 22, 23, 24, 25])
def test_each_type_against_finite_differences(kind):
    chosen = [f for f in every_type("Cu") + every_type("O") + every_type("H")
              if f.kind == kind]
    sf = SymmetryFunctions(["Cu", "O", "H"], chosen + [Radial(c, "O", 0.1, 0.0, 3.0) for c in
                                                        ("Cu", "O", "H")], cutoff_type="cos")
    atoms = oxide_cell(seed=5)
    w = weights_like(sf.compute(atoms), seed=kind)

    def objective(a):
        return sum((w[e] * g).sum() for e, g in sf.compute(a, n_threads=1).items())

    gradient, strain = sf.backward(atoms, w, n_threads=1)
    h = 1e-5
    numeric = np.zeros_like(gradient)
    for atom in range(len(atoms)):
        for x in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[atom, x] += h
            minus.positions[atom, x] -= h
            numeric[atom, x] = (objective(plus) - objective(minus)) / (2 * h)
    np.testing.assert_allclose(gradient, numeric, rtol=0, atol=1e-6 * np.abs(numeric).max())
    # strain derivative: d/d eps of S(positions and cell (1 + eps))
    numeric_strain = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            eps = np.zeros((3, 3))
            eps[a, b] = eps[b, a] = h / 2 if a != b else h
            plus, minus = atoms.copy(), atoms.copy()
            plus.set_cell(atoms.cell.array @ (np.eye(3) + eps), scale_atoms=True)
            minus.set_cell(atoms.cell.array @ (np.eye(3) - eps), scale_atoms=True)
            numeric_strain[a, b] = (objective(plus) - objective(minus)) / (2 * h)
    np.testing.assert_allclose(strain, numeric_strain, rtol=0,
                               atol=1e-6 * np.abs(numeric_strain).max())


def test_invariances_and_threads():
    sf = functions()
    atoms = oxide_cell(seed=7)
    values = sf.compute(atoms, n_threads=1)
    # 2 threads: the same numbers
    for e, v in sf.compute(atoms, n_threads=2).items():
        np.testing.assert_array_equal(v, values[e])
    w = weights_like(values)
    g1, s1 = sf.backward(atoms, w, n_threads=1)
    g2, s2 = sf.backward(atoms, w, n_threads=2)
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(s1, s2)
    # rotation and translation of everything
    rotated = atoms.copy()
    rotated.rotate(37, (1, 2, 3), rotate_cell=True)
    rotated.translate((0.3, -1.1, 2.0))
    for e, v in sf.compute(rotated).items():
        np.testing.assert_allclose(v, values[e], rtol=1e-12, atol=1e-12)
    # permutation of atoms: rows follow their atoms
    order = np.random.default_rng(0).permutation(len(atoms))
    permuted = atoms[order]
    symbols = np.array(atoms.get_chemical_symbols())
    for e, v in sf.compute(permuted).items():
        rows = np.flatnonzero(symbols == e)
        rank = {atom: k for k, atom in enumerate(rows)}
        expected = values[e][[rank[a] for a in order if symbols[a] == e]]
        np.testing.assert_allclose(v, expected, rtol=1e-13, atol=1e-12)
    # replication: each copy of an atom sees the same environment
    big = atoms.repeat((2, 1, 1))
    for e, v in sf.compute(big).items():
        np.testing.assert_allclose(v, np.vstack([values[e]] * 2), rtol=1e-12, atol=1e-11)


def test_collinear_triples_are_skipped_as_in_n2p2():
    # a window around 180 degrees would give 1 for a straight H-O-H, but n2p2 leaves exactly
    # collinear triples out of the compact angular functions (they are not of type 13)
    atoms = Atoms("HOH", positions=[(-1.0, 0, 0), (0, 0, 0), (1.0, 0, 0)])
    sf = SymmetryFunctions(["O", "H"], [
        CompactAngular("O", "H", "H", 0.0, 3.0, 90, 270, "p2", wide=True),
        WeightedAngular("O", 0.0, -1, 1.0, 3.0), Radial("H", "O", 0.0, 0.0, 3.0)])
    values = sf.compute(atoms)["O"][0]
    # type 13 keeps it: Z_H^2 2^0 (1 + 1) f_c(1)^2 f_c(2), with f_c(r) = (cos(pi r / 3) + 1) / 2
    assert values[0] == pytest.approx(2 * 0.75**2 * 0.25, rel=1e-14)
    assert values[1] == 0.0
    bent = atoms.copy()
    bent.positions[2] = (np.cos(0.2), np.sin(0.2), 0)
    assert sf.compute(bent)["O"][0][1] > 0.5


def test_n2p2_order_and_round_trip(tmp_path):
    lines = ["elements H O C", "cutoff_type 2",
             "symfunction_short O 24 0.0 4.0 0 180 p2",
             "symfunction_short O 24 -1.0 4.0 0 180 p2",     # rc, then rl
             "symfunction_short O 24 0.0 3.0 0 180 p2a",     # the subtype comes first
             "symfunction_short O 22 O H 0.0 4.0 0 180 p2",  # stored as H O
             "symfunction_short O 22 H H 0.0 4.0 0 180 p2",
             "symfunction_short O 13 0.1 0.0 1 2 4.0",
             "symfunction_short O 13 0.1 0.0 -1 4 4.0",      # zeta before lambda
             "symfunction_short O 12 0.1 0.0 4.0",
             "symfunction_short O 20 H -4.0 4.0 e",
             "symfunction_short O 23 0.0 4.0 p4",
             "symfunction_short O 21 C H 0.0 4.0 -90 90 p1",
             "symfunction_short O 25 0.0 4.0 90 270 p3a",
             "symfunction_short H 2 O 0.1 0.0 4.0",
             "symfunction_short C 2 O 0.1 0.0 4.0"]
    path = tmp_path / "input.nn"
    path.write_text("\n".join(lines) + "\n")
    sf = read_symmetry_functions(path, cflength=2.0)
    kinds = [(f.kind, getattr(f, "subtype", None), getattr(f, "rl", None))
             for f in sf.functions["O"]]
    assert kinds == [(12, None, None), (13, None, None), (13, None, None),
                     (20, "e", -2.0), (21, "p1", 0.0), (22, "p2", 0.0), (22, "p2", 0.0),
                     (23, "p4", 0.0), (24, "p2", -0.5), (24, "p2", 0.0), (24, "p2a", 0.0),
                     (25, "p3a", 0.0)]
    assert [f.zeta for f in sf.functions["O"][1:3]] == [2.0, 4.0]
    wide = sf.functions["O"][5:7]
    assert [(f.neighbor1, f.neighbor2) for f in wide] == [("H", "H"), ("H", "O")]
    narrow = sf.functions["O"][4]
    assert (narrow.neighbor1, narrow.neighbor2) == ("H", "C")
    assert sf.functions["O"][0].eta == pytest.approx(0.4)
    back = tmp_path / "back.nn"
    back.write_text("\n".join(["elements H O C"] + symmetry_function_lines(sf, 2.0)) + "\n")
    assert read_symmetry_functions(back, cflength=2.0) == sf


def test_fastpot_file_round_trip(tmp_path):
    sf = functions()
    atoms = oxide_cell()
    scaling = Scaling.from_data(sf, [sf.compute(atoms)], mode="scalecenter")
    rng = np.random.default_rng(0)
    networks = {e: Network([sf.n_functions(e), 5, 1], "tl").initialize(rng)
                for e in sf.elements}
    potential = Potential(sf, scaling, networks, atom_energy={"Cu": -3.0, "O": -1.0, "H": -0.5})
    potential.save(tmp_path / "model.fastpot")
    loaded = Potential.load(tmp_path / "model.fastpot")
    assert loaded.sf == sf
    assert loaded.evaluate(atoms)["energy"] == potential.evaluate(atoms)["energy"]


@pytest.mark.parametrize("function, message", [
    (CompactRadial("O", "H", 0.0, 4.0, "p5"), "subtype must be p1-p4, p1a-p4a or e, got 'p5'"),
    (CompactRadial("O", "H", 0.0, 4.0, "c"), "subtype must be p1-p4, p1a-p4a or e, got 'c'"),
    (CompactRadial("O", "H", 0.0, 4.0, "p2b"), "got 'p2b'"),
    (CompactRadial("O", "H", 4.0, 4.0, "p2"), "rl=4.0 must be below rc=4.0"),
    (CompactRadial("O", "H", -1.0, -0.5, "p2"), "rc must be > 0"),
    (CompactRadial("O", "N", 0.0, 4.0, "p2"), "element 'N' is not one of"),
    (CompactAngular("O", "H", None, 0.0, 4.0, 0, 180), "give both neighbour elements"),
    (CompactAngular("O", "H", "H", 0.0, 4.0, 90, 60), "angle_left=90.0 must be below"),
    (CompactAngular("O", "H", "H", 0.0, 4.0, -30, 90), "must be centred on 0"),
    (CompactAngular("O", "H", "H", 0.0, 4.0, 120, 200), "must be centred on 180"),
    (CompactAngular("O", None, None, 0.0, 4.0, -200, 200), "wider than 360"),
    (CompactAngular("O", None, None, 0.0, float("nan"), 0, 180), "rc must be finite"),
    (WeightedAngular("O", 0.1, 0.5, 1.0, 4.0), "lambda must be +1 or -1"),
    (WeightedAngular("O", 0.1, 1, 0.5, 4.0), "zeta must be >= 1"),
    (WeightedRadial("O", -0.1, 0.0, 4.0), "eta must be >= 0"),
    (WeightedRadial("O", "x", 0.0, 4.0), "eta must be a number"),
])
def test_bad_definitions_name_the_function(function, message):
    with pytest.raises((ValueError, TypeError), match="symmetry function 0 .*" +
                       re.escape(message)):
        SymmetryFunctions(["H", "O"], [function, Radial("H", "O", 0.1, 0.0, 3.0)])


def test_bad_n2p2_lines(tmp_path):
    head = "elements H O\ncutoff_type 1\nsymfunction_short H 2 O 0.1 0 4\n"
    cases = [("symfunction_short O 20 H 0 4", "type 20 needs 'ec 20 e1 rl rc subtype' "
                                             r"\(6 fields\), got 5"),
             ("symfunction_short O 13 0.1 0 1 2", "type 13 needs 'ec 13 eta rs lambda zeta rc'"),
             ("symfunction_short O 24 0 4 0 180 p2 extra", r"\(7 fields\), got 8"),
             ("symfunction_short O 23 0 four p2", "input.nn:4: rc: 'four' is not a number"),
             ("symfunction_short O 22 H H 0 4 0 180 q2", "subtype must be p1-p4"),
             ("symfunction_short O 21 H X 0 4 0 180 p2", "element 'X' is not one of")]
    for line, message in cases:
        path = tmp_path / "input.nn"
        path.write_text(head + line + "\n")
        with pytest.raises(N2P2FormatError, match=message):
            read_symmetry_functions(path)


def test_ethylbenzene_matches_n2p2(shared_data):
    folder = shared_data / "n2p2" / "Ethylbenzene_SCAN"
    potential = Potential.from_n2p2(folder, BOHR, HARTREE)
    frames = read(folder / "reference.extxyz", ":")
    assert len(frames) == 21
    for atoms in frames:
        result = potential.evaluate(atoms)
        assert abs(result["energy"] - atoms.info["n2p2_energy"]) / len(atoms) <= 1e-8
        np.testing.assert_allclose(result["forces"], atoms.arrays["n2p2_forces"], rtol=0,
                                   atol=1e-6)
        assert result["extrapolations"] == atoms.info["n2p2_extrapolation_warnings"]


def test_warns_where_n2p2_grouped_code_differs(tmp_path):
    path = tmp_path / "input.nn"
    head = "elements H O\ncutoff_type 1\nsymfunction_short H 2 O 0.1 0 4\n"
    path.write_text(head + "symfunction_short O 24 0 5 0 180 p2\n"
                    "symfunction_short O 24 0 5 0 180 p2a\n")
    with pytest.warns(UserWarning, match="nnp-predict computes it with the first one's R_jk"):
        read_symmetry_functions(path)
    path.write_text(head + "symfunction_short O 24 0 5 0 180 p2\n"
                    "symfunction_short O 24 0 4 0 180 p2a\n")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_symmetry_functions(path)
