"""Symmetry functions: brute-force and n2p2 references, finite differences, invariances,
threads, bad input (reading and writing input.nn: test_n2p2.py)."""
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule

from fastpot.n2p2 import read_input_data, read_symmetry_functions
from fastpot.symmetry import CUTOFF_TYPES, Angular, Radial, SymmetryFunctions

from reference_symmetry import reference_values


def mixed_set(cutoff_type="cos", alpha=0.0, rc=4.2):
    """Radial and both angular types, shifted and centred, integer and fractional zeta,
    two cutoff radii, three elements."""
    elements = ["O", "H", "Si"]
    functions = []
    for center in elements:
        for neighbor in elements:
            functions.append(Radial(center, neighbor, 0.5, 0.0, rc))
            functions.append(Radial(center, neighbor, 2.0, 1.3, rc * 0.8))
        for n1, n2 in [("H", "O"), ("O", "O"), ("Si", "H")]:
            functions.append(Angular(center, n1, n2, 0.1, 1.0, 1.0, rc))
            functions.append(Angular(center, n1, n2, 0.1, -1.0, 4.0, rc))
            functions.append(Angular(center, n1, n2, 0.3, 1.0, 2.5, rc * 0.8, rs=0.7))
            functions.append(Angular(center, n1, n2, 0.05, -1.0, 2.0, rc, wide=True))
            functions.append(Angular(center, n1, n2, 0.2, 1.0, 16.0, rc * 0.9, rs=0.4, wide=True))
    return SymmetryFunctions(elements, functions, cutoff_type=cutoff_type, cutoff_alpha=alpha)


def random_cell(seed, n_atoms=9, pbc=True):
    rng = np.random.default_rng(seed)
    cell = np.eye(3) * 5.0 + rng.normal(size=(3, 3)) * 0.6
    positions = rng.random((n_atoms, 3)) @ cell
    # keep atoms apart (>= 0.9 Å) so no function is dominated by one close contact
    for _ in range(200):
        atoms = Atoms(rng.choice(["O", "H", "Si"], size=n_atoms), positions=positions, cell=cell,
                      pbc=pbc)
        if n_atoms < 2 or atoms.get_all_distances(mic=pbc).max() == 0 or \
                min(atoms.get_distance(a, b, mic=pbc) for a in range(n_atoms)
                    for b in range(a)) > 0.9:
            return atoms
        positions = rng.random((n_atoms, 3)) @ cell
    return atoms


def weighted_sum(sf, atoms, weights):
    G = sf.compute(atoms)
    return sum(float((G[s] * weights[s]).sum()) for s in G)


def random_weights(sf, atoms, seed=0):
    rng = np.random.default_rng(seed)
    return {s: rng.normal(size=g.shape) for s, g in sf.compute(atoms).items()}


# -- values --------------------------------------------------------------------------------

@pytest.mark.parametrize("cutoff_type", list(CUTOFF_TYPES))
def test_values_match_brute_force_for_every_cutoff(cutoff_type):
    sf = mixed_set(cutoff_type, alpha=0.25)
    for seed in range(2):
        atoms = random_cell(seed)
        got = sf.compute(atoms)
        expected = reference_values(sf, atoms)
        assert got.keys() == expected.keys()
        for s in got:
            np.testing.assert_allclose(got[s], expected[s], rtol=1e-12, atol=1e-14)
        assert max(np.abs(g).max() for g in got.values()) > 1e-2  # not trivially zero


@pytest.mark.parametrize("pbc", [(True, True, False), (False, False, False)])
def test_values_match_brute_force_slab_and_cluster(pbc):
    sf = mixed_set("poly3")
    atoms = random_cell(5, n_atoms=12, pbc=pbc)
    got, expected = sf.compute(atoms), reference_values(sf, atoms)
    for s in got:
        np.testing.assert_allclose(got[s], expected[s], rtol=1e-12, atol=1e-14)


def test_small_cell_sees_own_images():
    sf = mixed_set("cos", rc=6.0)
    atoms = Atoms("SiO", positions=[[0, 0, 0], [1.1, 0.9, 0.7]], cell=np.eye(3) * 2.6, pbc=True)
    got, expected = sf.compute(atoms), reference_values(sf, atoms)
    for s in got:
        np.testing.assert_allclose(got[s], expected[s], rtol=1e-12)


def read_function_data(path):
    """n2p2's raw symmetry-function output (nnp-scaling function.data): per structure a list
    of (Z, values) per atom."""
    structures = []
    lines = iter(path.read_text().splitlines())
    for line in lines:
        n_atoms = int(line.split()[0])
        rows = [np.array(next(lines).split(), dtype=float) for _ in range(n_atoms)]
        next(lines)  # energy line
        structures.append(rows)
    return structures


@pytest.mark.parametrize("name, cflength", [("Cu2S_PBE", 1.0), ("H2O_RPBE-D3", 1.8897261328)])
def test_values_match_n2p2_function_data(shared_data, name, cflength):
    folder = shared_data / "n2p2" / name
    sf = read_symmetry_functions(folder / "input.nn", cflength=cflength)
    structures = read_input_data(folder / "input.data", cflength=cflength)
    reference = read_function_data(folder / "n2p2-scaling" / "function.data")
    assert len(structures) == len(reference) == 10
    for atoms, rows in zip(structures, reference):
        G = sf.compute(atoms)
        seen = {}
        for atom, row in zip(atoms, rows):
            assert atom.number == int(row[0])
            k = seen.get(atom.symbol, 0)
            seen[atom.symbol] = k + 1
            # n2p2 printed 10 decimals
            np.testing.assert_allclose(G[atom.symbol][k], row[1:], rtol=0, atol=5.1e-11)


# -- derivatives ---------------------------------------------------------------------------

def finite_difference_gradient(sf, atoms, weights, atom_index, h=1e-5):
    gradient = np.zeros(3)
    for c in range(3):
        shifted = atoms.copy()
        shifted.positions[atom_index, c] += h
        plus = weighted_sum(sf, shifted, weights)
        shifted.positions[atom_index, c] -= 2 * h
        minus = weighted_sum(sf, shifted, weights)
        gradient[c] = (plus - minus) / (2 * h)
    return gradient


def finite_difference_strain(sf, atoms, weights, h=1e-5):
    strain = np.zeros((3, 3))
    for a in range(3):
        for b in range(3):
            values = []
            for sign in (1, -1):
                deformation = np.eye(3)
                deformation[a, b] += sign * h
                strained = atoms.copy()
                strained.set_cell(atoms.cell.array @ deformation, scale_atoms=True)
                if not atoms.pbc.any():
                    strained.positions = atoms.positions @ deformation
                values.append(weighted_sum(sf, strained, weights))
            strain[a, b] = (values[0] - values[1]) / (2 * h)
    return 0.5 * (strain + strain.T)


@pytest.mark.parametrize("cutoff_type, alpha", [(name, 0.3) for name in CUTOFF_TYPES
                                                if name != "hard"])
def test_gradient_and_strain_match_finite_differences(cutoff_type, alpha):
    sf = mixed_set(cutoff_type, alpha=alpha)
    atoms = random_cell(11)
    weights = random_weights(sf, atoms)
    gradient, strain = sf.backward(atoms, weights)
    for atom_index in (0, 4, 8):
        expected = finite_difference_gradient(sf, atoms, weights, atom_index)
        assert np.abs(expected).max() > 1e-2
        np.testing.assert_allclose(gradient[atom_index], expected, rtol=2e-6, atol=2e-7)
    expected = finite_difference_strain(sf, atoms, weights)
    assert np.abs(expected).max() > 1e-2
    np.testing.assert_allclose(strain, expected, rtol=2e-6, atol=2e-7)
    np.testing.assert_allclose(gradient.sum(axis=0), 0.0, atol=1e-10)  # translation invariance


@pytest.mark.parametrize("kind", [2, 3, 9])
def test_gradient_of_each_function_type_alone(kind):
    if kind == 2:
        functions = [Radial(c, n, 0.7, 0.9, 4.0) for c in ("Si", "O") for n in ("Si", "O")]
    else:
        functions = [Radial(c, "Si", 0.7, 0.9, 4.0) for c in ("Si", "O")]
        functions += [Angular(c, "Si", "O", 0.2, lam, 3.0, 4.0, rs=0.5, wide=(kind == 9))
                      for c in ("Si", "O") for lam in (1.0, -1.0)]
    sf = SymmetryFunctions(["Si", "O"], functions, cutoff_type="poly2")
    atoms = random_cell(3, n_atoms=8)
    atoms.symbols = ["Si", "O"] * 4
    weights = random_weights(sf, atoms, seed=kind)
    if kind != 2:  # only the angular columns count
        for s in weights:
            weights[s][:, :2] = 0.0
    gradient, strain = sf.backward(atoms, weights)
    for atom_index in range(0, 8, 3):
        expected = finite_difference_gradient(sf, atoms, weights, atom_index)
        assert np.abs(expected).max() > 1e-3
        np.testing.assert_allclose(gradient[atom_index], expected, rtol=2e-6, atol=2e-7)
    np.testing.assert_allclose(strain, finite_difference_strain(sf, atoms, weights), rtol=2e-6,
                               atol=2e-7)


def test_gradient_cluster_without_cell():
    sf = mixed_set("tanhu")
    atoms = molecule("CH3CH2OH")
    atoms.symbols = ["Si" if s == "C" else s for s in atoms.get_chemical_symbols()]
    weights = random_weights(sf, atoms)
    gradient, strain = sf.backward(atoms, weights)
    for atom_index in (0, 2, 5):
        np.testing.assert_allclose(gradient[atom_index],
                                   finite_difference_gradient(sf, atoms, weights, atom_index),
                                   rtol=2e-6, atol=2e-7)
    np.testing.assert_allclose(strain, finite_difference_strain(sf, atoms, weights), rtol=2e-6,
                               atol=2e-7)


# -- invariances ---------------------------------------------------------------------------

def assert_same_values(a, b, rtol=1e-11):
    assert a.keys() == b.keys()
    for s in a:
        np.testing.assert_allclose(a[s], b[s], rtol=rtol, atol=1e-12)


def test_translation_rotation_and_image_invariance():
    sf = mixed_set("cos")
    atoms = random_cell(21, n_atoms=10)
    reference = sf.compute(atoms)
    moved = atoms.copy()
    moved.positions += [3.7, -11.2, 0.4]
    assert_same_values(reference, sf.compute(moved))
    rotated = atoms.copy()
    rotated.rotate(37, (1, 2, 3), rotate_cell=True)
    assert_same_values(reference, sf.compute(rotated))
    imaged = atoms.copy()
    imaged.positions[3] += atoms.cell[0] * 2 - atoms.cell[2]
    assert_same_values(reference, sf.compute(imaged))


def test_permutation_invariance():
    sf = mixed_set("poly1")
    atoms = random_cell(22, n_atoms=10)
    order = np.random.default_rng(0).permutation(len(atoms))
    permuted = atoms[order]
    reference, got = sf.compute(atoms), sf.compute(permuted)
    for s in reference:
        rows = [k for k, i in enumerate(order) if atoms[i].symbol == s]
        original = [i for i in order if atoms[i].symbol == s]
        rank = {i: r for r, i in enumerate(np.flatnonzero(np.array(atoms.get_chemical_symbols())
                                                          == s))}
        np.testing.assert_allclose(got[s], reference[s][[rank[i] for i in original]],
                                   rtol=1e-11, atol=1e-12)
        assert len(rows) == len(original)


def test_supercell_gives_the_same_rows():
    sf = mixed_set("poly2")
    atoms = random_cell(23, n_atoms=6)
    reference = sf.compute(atoms)
    supercell = sf.compute(atoms.repeat(2))
    for s in reference:
        np.testing.assert_allclose(supercell[s], np.tile(reference[s], (8, 1)), rtol=1e-10,
                                   atol=1e-12)


def test_threads_agree():
    sf = mixed_set("cos")
    atoms = bulk("Si", "diamond", a=5.43).repeat(3)
    atoms.symbols = ["Si", "O", "H"] * (len(atoms) // 3)
    atoms.rattle(0.1, seed=1)
    one = sf.compute(atoms, n_threads=1)
    two = sf.compute(atoms, n_threads=2)
    for s in one:
        np.testing.assert_array_equal(one[s], two[s])
    weights = random_weights(sf, atoms)
    g1, s1 = sf.backward(atoms, weights, n_threads=1)
    g2, s2 = sf.backward(atoms, weights, n_threads=2)
    np.testing.assert_array_equal(g1, g2)
    np.testing.assert_array_equal(s1, s2)


# -- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("function, message", [
    (Radial("Si", "Si", -0.1, 0.0, 4.0), "eta must be >= 0, got -0.1"),
    (Radial("Si", "Si", 0.1, 0.0, 0.0), "rc must be > 0, got 0.0"),
    (Radial("Si", "Si", 0.1, 0.0, -2.0), "rc must be > 0"),
    (Radial("Si", "Si", float("nan"), 0.0, 4.0), "eta must be finite"),
    (Angular("Si", "Si", "Si", 0.1, 1.0, 0.5, 4.0), "zeta must be >= 1, got 0.5"),
    (Angular("Si", "Si", "Si", 0.1, 0.5, 1.0, 4.0), "lambda must be \\+1 or -1, got 0.5"),
    (Radial("Si", "Fe", 0.1, 0.0, 4.0), "element 'Fe' is not one of"),
])
def test_bad_definitions_name_the_function(function, message):
    with pytest.raises(ValueError, match=message) as error:
        SymmetryFunctions(["Si"], [Radial("Si", "Si", 0.1, 0.0, 4.0), function])
    assert "symmetry function 1" in str(error.value)


def test_bad_sets():
    good = Radial("Si", "Si", 0.1, 0.0, 4.0)
    with pytest.raises(ValueError, match="cutoff alpha must be in \\[0, 1\\)"):
        SymmetryFunctions(["Si"], [good], cutoff_alpha=1.0)
    with pytest.raises(ValueError, match="cutoff alpha must be in \\[0, 1\\)"):
        SymmetryFunctions(["Si"], [good], cutoff_alpha=-0.1)
    with pytest.raises(ValueError, match="unknown cutoff function 'cosine'"):
        SymmetryFunctions(["Si"], [good], cutoff_type="cosine")
    with pytest.raises(ValueError, match="element O has no symmetry functions"):
        SymmetryFunctions(["Si", "O"], [good])
    with pytest.raises(ValueError, match="unknown element 'Xx'"):
        SymmetryFunctions(["Xx"], [good])
    with pytest.raises(ValueError, match="defined twice"):
        SymmetryFunctions(["Si"], [good, good])
    with pytest.raises(TypeError, match="expected one of Radial, Angular, WeightedRadial"):
        SymmetryFunctions(["Si"], [good, ("Si", 2)])


def test_structure_errors():
    sf = SymmetryFunctions(["Si"], [Radial("Si", "Si", 0.1, 0.0, 4.0)])
    atoms = bulk("Si", "diamond", a=5.43)
    atoms.symbols[1] = "Ge"
    with pytest.raises(ValueError, match="atom 1 is Ge, which has no symmetry functions"):
        sf.compute(atoms)
    atoms = Atoms("Si2", positions=[[0, 0, 0], [0, 0, 0]], cell=np.eye(3) * 5, pbc=True)
    with pytest.raises(ValueError, match="atoms 0 and 1 overlap"):
        sf.compute(atoms)
    atoms = bulk("Si", "diamond", a=5.43)
    with pytest.raises(ValueError, match=r"dEdG\['Si'\] must have shape \(2, 1\)"):
        sf.backward(atoms, {"Si": np.ones((3, 1))})
    with pytest.raises(ValueError, match="dEdG is missing element Si"):
        sf.backward(atoms, {})
    with pytest.raises(ValueError, match="non-finite"):
        sf.backward(atoms, {"Si": np.full((2, 1), np.nan)})


# -- stored derivatives (training form) ----------------------------------------------------

def per_atom_rows(atoms, per_element):
    seen, rows = {}, []
    for atom in atoms:
        k = seen.get(atom.symbol, 0)
        seen[atom.symbol] = k + 1
        rows.append(per_element[atom.symbol][k])
    return rows


@pytest.mark.parametrize("pbc", [True, False])
def test_stored_derivatives_equal_backward_and_finite_differences(pbc):
    sf = mixed_set("poly4", alpha=0.1)
    atoms = random_cell(31, n_atoms=9, pbc=pbc)
    stored = sf.derivatives(atoms)
    weights = random_weights(sf, atoms, seed=3)
    gradient, _ = sf.backward(atoms, weights)
    np.testing.assert_allclose(stored.gradient(per_atom_rows(atoms, weights)), gradient,
                               rtol=1e-12, atol=1e-12)
    # one block against finite differences of every function of that centre
    centre = 4
    slot_atoms, block = stored.block(centre)
    assert slot_atoms[0] == centre and len(set(slot_atoms)) == len(slot_atoms)
    h = 1e-5
    for slot, atom in list(enumerate(slot_atoms))[:3]:
        for c in range(3):
            moved = []
            for sign in (1, -1):
                shifted = atoms.copy()
                shifted.positions[atom, c] += sign * h
                moved.append(per_atom_rows(shifted, sf.compute(shifted))[centre])
            np.testing.assert_allclose(block[slot, :, c], (moved[0] - moved[1]) / (2 * h),
                                       rtol=1e-6, atol=1e-7)
    assert np.abs(block).max() > 1e-2


def test_stored_derivatives_small_cell_merges_images():
    sf = mixed_set("cos", rc=6.0)
    atoms = Atoms("SiO", positions=[[0, 0, 0], [1.1, 0.9, 0.7]], cell=np.eye(3) * 2.6, pbc=True)
    stored = sf.derivatives(atoms)
    for i in range(2):
        slot_atoms, block = stored.block(i)
        assert sorted(slot_atoms) == [0, 1]
    weights = random_weights(sf, atoms)
    np.testing.assert_allclose(stored.gradient(per_atom_rows(atoms, weights)),
                               sf.backward(atoms, weights)[0], atol=1e-12)


def test_stored_derivatives_memory_is_reported_and_bounded():
    sf = mixed_set("cos")
    atoms = random_cell(32, n_atoms=9)
    stored = sf.derivatives(atoms)
    assert sf.derivative_nbytes([atoms]) == stored.values.nbytes
    with pytest.raises(MemoryError, match="need .* MiB, more than the limit"):
        sf.derivatives(atoms, max_bytes=1000)


def test_stored_derivatives_for_selected_atoms_only():
    sf = mixed_set("cos")
    atoms = random_cell(33, n_atoms=9)
    selected = np.zeros(len(atoms), dtype=bool)
    selected[[1, 4, 7]] = True
    full = sf.derivatives(atoms)
    part = sf.derivatives(atoms, selected=selected)
    assert part.values.nbytes < full.values.nbytes
    assert set(part.slot_atoms) <= {1, 4, 7}
    weights = per_atom_rows(atoms, random_weights(sf, atoms, seed=5))
    np.testing.assert_allclose(part.gradient(weights)[selected], full.gradient(weights)[selected],
                               rtol=1e-12, atol=1e-12)
