"""Cross-implementation check: fastpot's symmetry functions against DScribe's ACSF.

DScribe (``dscribe.descriptors.ACSF``, 2.1.x) defines, with one cosine cutoff
fc(R) = (cos(pi R / rc) + 1) / 2 for every function and lengths in Å:

- G1 = sum_j fc(Rij), one column per neighbour element;
- G2 = sum_j exp(-eta (Rij - Rs)^2) fc(Rij), per neighbour element and (eta, Rs);
- G4 = sum over unordered neighbour pairs {j, k} (its loop runs over k < j) of
  2 ((1 + lambda cos) / 2)^zeta exp(-eta (Rij^2 + Rik^2 + Rjk^2)) fc(Rij) fc(Rik) fc(Rjk),
  per unordered pair of neighbour elements and (eta, zeta, lambda).

2 (x / 2)^zeta = 2^(1 - zeta) x^zeta, so these are n2p2's types 2 (G1 being eta = rs = 0)
and 3 exactly, with no factor of 2 between the codes. Only the column layout differs:
DScribe puts, for each neighbour element in increasing atomic number, [G1, G2...], then for
each element pair (a, b), a >= b, in the order (0,0), (1,0), (1,1), ..., the G4 block; the
centre's element is not encoded (it selects fastpot's per-element block instead).
"""
import numpy as np
import pytest
from ase.build import bulk
from ase.data import atomic_numbers

from fastpot.symmetry import Angular, Radial, SymmetryFunctions

dscribe = pytest.importorskip("dscribe")
from dscribe.descriptors import ACSF  # noqa: E402

RC = 6.0
G2 = [[0.03, 0.0], [0.3, 0.0], [1.2, 0.0], [2.0, 2.5], [2.0, 3.6], [4.0, 4.4], [0.5, 5.1]]
G4 = [[0.005, 1.0, 1.0], [0.005, 1.0, -1.0], [0.005, 2.0, 1.0], [0.02, 4.0, -1.0],
      [0.02, 16.0, 1.0], [0.05, 16.0, -1.0], [0.01, 2.5, 1.0]]


def equivalent_functions(species, rc, g2, g4):
    """fastpot's SymmetryFunctions equal to ``ACSF(r_cut=rc, g2_params=g2, g4_params=g4,
    species=species)``, and for every centre element the fastpot column of each DScribe
    feature (an index array: ``G[c][:, columns[c]]`` is DScribe's layout)."""
    symbols = sorted(species, key=lambda s: atomic_numbers[s])  # DScribe's element order
    features = []  # one per DScribe column: a function of the centre element
    for neighbor in symbols:
        features.append(lambda c, n=neighbor: Radial(c, n, 0.0, 0.0, rc))  # G1
        for eta, rs in g2:
            features.append(lambda c, n=neighbor, e=eta, r=rs: Radial(c, n, float(e), float(r),
                                                                       rc))
    for a in range(len(symbols)):
        for b in range(a + 1):
            for eta, zeta, lam in g4:
                features.append(lambda c, n1=symbols[b], n2=symbols[a], e=eta, z=zeta, l=lam:
                                Angular(c, n1, n2, float(e), float(l), float(z), rc))
    functions = [f(c) for c in symbols for f in features]
    sf = SymmetryFunctions(symbols, functions, cutoff_type="cos")
    columns = {c: np.array([sf.functions[c].index(f(c)) for f in features]) for c in symbols}
    return sf, columns


def dscribe_acsf(species, rc, g2, g4):
    return ACSF(r_cut=rc, g2_params=g2 or None, g4_params=g4 or None, species=species,
                periodic=True)


def rattled(atoms, amplitude, seed):
    atoms = atoms.copy()
    atoms.rattle(amplitude, seed=seed)
    atoms.wrap()
    return atoms


def cu_cubic():
    return rattled(bulk("Cu", "fcc", a=3.61, cubic=True).repeat(2), 0.08, 1)


def cu_triclinic():
    """The primitive (rhombohedral) fcc cell, 3x3x3: a non-orthogonal cell shorter than rc."""
    return rattled(bulk("Cu", "fcc", a=3.61).repeat(3), 0.08, 2)


def cu_au():
    atoms = bulk("Cu", "fcc", a=3.75, cubic=True).repeat(2)
    symbols = np.array(atoms.get_chemical_symbols())
    symbols[np.random.default_rng(3).permutation(len(atoms))[:13]] = "Au"
    atoms.set_chemical_symbols(symbols.tolist())
    return rattled(atoms, 0.08, 4)


CASES = {"Cu cubic": (["Cu"], cu_cubic), "Cu triclinic": (["Cu"], cu_triclinic),
         "Cu-Au": (["Cu", "Au"], cu_au)}


def assert_same_values(species, atoms, g2=G2, g4=G4, rc=RC):
    sf, columns = equivalent_functions(species, rc, g2, g4)
    ours = sf.compute(atoms)
    theirs = dscribe_acsf(species, rc, g2, g4).create(atoms)
    assert theirs.shape == (len(atoms), len(next(iter(columns.values()))))
    symbols = np.array(atoms.get_chemical_symbols())
    for center, block in ours.items():
        rows = np.flatnonzero(symbols == center)  # fastpot keeps input order within an element
        expected = theirs[rows]
        np.testing.assert_allclose(block[:, columns[center]], expected, rtol=1e-10,
                                   atol=1e-12 * np.abs(expected).max(),
                                   err_msg=f"centre element {center}")
        # every G4 block has a nonzero entry, so the comparison is not vacuous
        assert (np.abs(expected).max(axis=0) > 1e-6).all()


@pytest.mark.parametrize("case", list(CASES))
def test_values_match_dscribe(case):
    species, make = CASES[case]
    assert_same_values(species, make())


def test_cutoff_shorter_than_half_cell_and_few_functions():
    """A short cutoff (only the first shells) and DScribe's minimal G1-only feature set."""
    atoms = cu_au()
    assert_same_values(["Cu", "Au"], atoms, g2=[], g4=[], rc=3.1)
    assert_same_values(["Cu", "Au"], atoms, g2=[[1.0, 2.6]], g4=[[0.1, 1.0, -1.0]], rc=3.1)


def test_column_mapping_is_a_permutation():
    sf, columns = equivalent_functions(["Au", "Cu"], RC, G2, G4)
    n_features = dscribe_acsf(["Au", "Cu"], RC, G2, G4).get_number_of_features()
    for center, cols in columns.items():
        assert len(cols) == n_features == sf.n_functions(center)
        assert sorted(cols) == list(range(n_features))


@pytest.mark.parametrize("case", ["Cu triclinic", "Cu-Au"])
def test_gradients_match_dscribe_numerical_derivatives(case):
    """fastpot's exact backward pass against DScribe's central differences (h = 1e-4 Å):
    for two centres, the gradient of w . G_centre with respect to every atom."""
    species, make = CASES[case]
    atoms = make()
    sf, columns = equivalent_functions(species, RC, G2, G4)
    acsf = dscribe_acsf(species, RC, G2, G4)
    centers = [0, 5]
    derivatives, values = acsf.derivatives(atoms, centers=centers, attach=True)
    assert derivatives.shape == (len(centers), len(atoms), 3, acsf.get_number_of_features())
    symbols = np.array(atoms.get_chemical_symbols())
    rng = np.random.default_rng(7)
    G = sf.compute(atoms)
    for n, center in enumerate(centers):
        element = symbols[center]
        weights = rng.normal(size=derivatives.shape[-1])  # in DScribe's column order
        dEdG = {s: np.zeros_like(block) for s, block in G.items()}
        row = int(np.flatnonzero(np.flatnonzero(symbols == element) == center)[0])
        dEdG[element][row, columns[element]] = weights
        gradient, _ = sf.backward(atoms, dEdG)
        expected = derivatives[n] @ weights
        scale = np.abs(expected).max()
        assert scale > 1e-2
        np.testing.assert_allclose(gradient, expected, rtol=0, atol=1e-6 * scale)
