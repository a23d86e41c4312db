"""Neighbour list: parity with ASE, invariances, threads, Verlet updates, bad input."""
import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, fcc111, molecule
from ase.neighborlist import neighbor_list as ase_neighbor_list
from hypothesis import given, settings
from hypothesis import strategies as st

from fastpot.neighbors import NeighborList, _binning_frame, _plan_bins, neighbor_list


def canonical(i, j, S, d):
    """Sort pair arrays by (i, j, S) so two lists compare element by element."""
    i, j, S, d = (np.asarray(x) for x in (i, j, S, d))
    order = np.lexsort((S[:, 2], S[:, 1], S[:, 0], j, i))
    return i[order], j[order], S[order], d[order]


def assert_same_as_ase(atoms, cutoff, self_interaction=False, **kwargs):
    expected = canonical(*ase_neighbor_list("ijSd", atoms, cutoff,
                                            self_interaction=self_interaction))
    got = canonical(*neighbor_list("ijSd", atoms, cutoff, self_interaction=self_interaction,
                                   **kwargs))
    assert len(got[0]) == len(expected[0])
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_array_equal(got[2], expected[2])
    np.testing.assert_allclose(got[3], expected[3], rtol=0, atol=1e-12)
    return len(got[0])


def random_triclinic(rng, n_atoms, pbc):
    cell = rng.normal(size=(3, 3)) * 1.5 + np.eye(3) * rng.uniform(3.0, 6.0)
    # some atoms outside the cell, to exercise wrapping
    positions = rng.random((n_atoms, 3)) @ cell + rng.normal(size=(n_atoms, 3)) * 1.0
    return Atoms(f"Ar{n_atoms}", positions=positions, cell=cell, pbc=pbc)


def shortest_height(cell):
    return (1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0)).min()


ALL_PBC = [tuple(bool(int(c)) for c in f"{k:03b}") for k in range(8)]


@pytest.mark.parametrize("pbc", ALL_PBC)
@pytest.mark.parametrize("factor", [0.5, 1.0, 1.7, 3.0])
def test_random_triclinic_cells_match_ase(pbc, factor):
    rng = np.random.default_rng(hash((pbc, factor)) % 2**32)
    for _ in range(3):
        atoms = random_triclinic(rng, int(rng.integers(1, 25)), pbc)
        assert_same_as_ase(atoms, factor * shortest_height(atoms.cell.array))


def test_bulk_copper_matches_ase_and_counts_fcc_shells():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(4)
    n = assert_same_as_ase(atoms, 3.0)
    assert n == 12 * len(atoms)  # first shell of fcc only


def test_slab_and_molecule_in_large_box_match_ase():
    slab = fcc111("Cu", size=(3, 3, 4), vacuum=8.0)
    assert slab.pbc.tolist() == [True, True, False]
    assert_same_as_ase(slab, 5.0)
    water = molecule("CH3CH2OH")
    water.center(vacuum=200.0)
    assert_same_as_ase(water, 3.0)
    water.pbc = True
    assert_same_as_ase(water, 3.0)


def test_huge_box_allocates_few_bins():
    atoms = molecule("C6H6")
    atoms.cell = np.eye(3) * 1e5
    atoms.pbc = True
    frame = _binning_frame(atoms.cell.array, atoms.pbc)
    _, _, _, _, nbins, _ = _plan_bins(atoms.positions, frame, atoms.pbc, 2.0, len(atoms))
    assert np.prod(nbins) <= len(atoms)
    assert_same_as_ase(atoms, 2.0)


def test_cutoff_longer_than_cell_finds_own_images():
    atoms = Atoms("W", positions=[[0.3, 0.1, 0.2]], cell=np.eye(3) * 3.17, pbc=True)
    n = assert_same_as_ase(atoms, 7.0)
    i, j, S = neighbor_list("ijS", atoms, 7.0)
    assert n == 32 and np.all(i == 0) and np.all(j == 0)
    assert not np.any(np.all(S == 0, axis=1))  # the atom itself at zero shift is excluded


def test_two_atom_bcc_cell_and_wire():
    tungsten = bulk("W", "bcc", a=3.17)
    assert_same_as_ase(tungsten, 6.0)
    wire = Atoms("Cu2", positions=[[0, 0, 0], [1.2, 0.3, 0.1]], cell=[[2.5, 0.4, 0.0], [0, 0, 0],
                                                                         [0, 0, 0]],
                 pbc=[True, False, False])
    assert_same_as_ase(wire, 6.0)


def test_self_interaction_matches_ase():
    atoms = random_triclinic(np.random.default_rng(1), 10, True)
    assert_same_as_ase(atoms, 4.0, self_interaction=True)


def test_vectors_refer_to_original_positions():
    atoms = random_triclinic(np.random.default_rng(2), 20, (True, False, True))
    atoms.positions += [[40.0, -3.0, -25.0]]  # far outside the cell
    i, j, D, S, d = neighbor_list("ijDSd", atoms, 4.5)
    expected = atoms.positions[j] - atoms.positions[i] + S @ atoms.cell.array
    np.testing.assert_allclose(D, expected, atol=1e-10)
    np.testing.assert_allclose(d, np.linalg.norm(D, axis=1), rtol=1e-14)
    assert_same_as_ase(atoms, 4.5)


def test_empty_and_single_atom():
    empty = Atoms(cell=np.eye(3) * 5, pbc=True)
    i, j, d = neighbor_list("ijd", empty, 3.0)
    assert len(i) == len(j) == len(d) == 0
    single = Atoms("H", positions=[[1, 1, 1]], cell=np.eye(3) * 10, pbc=False)
    assert len(neighbor_list("i", single, 3.0)) == 0
    single.pbc = True
    assert len(neighbor_list("i", single, 3.0)) == 0
    assert len(neighbor_list("i", single, 10.5)) == 6


def test_raw_arrays_equal_atoms_input():
    atoms = random_triclinic(np.random.default_rng(3), 15, (True, True, False))
    from_atoms = neighbor_list("ijSd", atoms, 4.0)
    from_arrays = neighbor_list("ijSd", cutoff=4.0, positions=atoms.positions,
                                cell=atoms.cell.array, pbc=atoms.pbc)
    for a, b in zip(from_atoms, from_arrays):
        np.testing.assert_array_equal(a, b)
    molecule_only = neighbor_list("ij", cutoff=1.2, positions=molecule("H2O").positions)
    assert len(molecule_only[0]) == 4


def test_output_sorted_by_centre_and_single_letter():
    atoms = bulk("Si", "diamond", a=5.43).repeat(3)
    i = neighbor_list("i", atoms, 4.0)
    assert isinstance(i, np.ndarray)
    assert np.all(np.diff(i) >= 0)


def test_threads_give_identical_lists():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat((6, 6, 6))
    atoms.rattle(0.1, seed=4)
    one = neighbor_list("ijSDd", atoms, 5.0, n_threads=1)
    two = neighbor_list("ijSDd", atoms, 5.0, n_threads=2)
    assert len(atoms) > 3 * 256  # several work chunks
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_atoms=st.integers(0, 12),
       pbc=st.sampled_from(ALL_PBC), factor=st.floats(0.3, 2.5))
def test_property_random_structures_match_ase(seed, n_atoms, pbc, factor):
    rng = np.random.default_rng(seed)
    atoms = random_triclinic(rng, n_atoms, pbc)
    assert_same_as_ase(atoms, factor * shortest_height(atoms.cell.array))


# -- the reusable CSR object ---------------------------------------------------------------

def test_csr_layout_matches_pair_arrays():
    atoms = random_triclinic(np.random.default_rng(5), 30, True)
    nl = NeighborList(4.0).build(atoms)
    i, j, S, D, d = neighbor_list("ijSDd", atoms, 4.0)
    np.testing.assert_array_equal(nl.centers, i)
    np.testing.assert_array_equal(nl.neighbors, j)
    np.testing.assert_array_equal(nl.shifts, S)
    np.testing.assert_array_equal(nl.vectors, D)
    np.testing.assert_array_equal(nl.distances, d)
    np.testing.assert_array_equal(nl.counts, np.bincount(i, minlength=len(atoms)))
    assert nl.n_pairs == len(i) and nl.n_atoms == len(atoms)
    assert nl.nbytes >= 48 * nl.n_pairs


def within(nl, cutoff):
    keep = nl.distances < cutoff
    return canonical(nl.centers[keep], nl.neighbors[keep], nl.shifts[keep], nl.distances[keep])


def test_verlet_skin_reuses_pairs_while_valid():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(3)
    atoms.rattle(0.05, seed=6)
    cutoff, skin = 4.0, 0.6
    nl = NeighborList(cutoff, skin=skin).build(atoms)
    rng = np.random.default_rng(7)
    for step in range(10):
        atoms.positions += rng.normal(size=atoms.positions.shape) * 0.02
        nl.update(atoms)
        expected = canonical(*ase_neighbor_list("ijSd", atoms, cutoff))
        got = within(nl, cutoff)
        for a, b in zip(got[:3], expected[:3]):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(got[3], expected[3], atol=1e-12)
    assert nl.n_builds < 6  # most updates reused the pairs
    atoms.positions[0] += [0.5, 0.0, 0.0]  # beyond half the skin
    assert nl.update(atoms) is True


def test_verlet_update_follows_small_strain():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(3)
    nl = NeighborList(4.0, skin=0.5).build(atoms)
    atoms.set_cell(atoms.cell.array * 1.002, scale_atoms=True)
    assert nl.update(atoms) is False
    expected = canonical(*ase_neighbor_list("ijSd", atoms, 4.0))
    got = within(nl, 4.0)
    np.testing.assert_array_equal(got[1], expected[1])
    np.testing.assert_allclose(got[3], expected[3], atol=1e-12)
    atoms.set_cell(atoms.cell.array * 1.2, scale_atoms=True)
    assert nl.update(atoms) is True


def test_no_skin_always_searches_again():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    nl = NeighborList(3.0).build(atoms)
    assert nl.update(atoms) is True and nl.n_builds == 2


# -- bad input -----------------------------------------------------------------------------

def test_nan_and_inf_positions_name_the_atom():
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True)
    positions = atoms.positions.copy()
    positions[2, 1] = np.nan
    with pytest.raises(ValueError, match="positions of atom 2 is not finite"):
        neighbor_list("ij", cutoff=3.0, positions=positions, cell=atoms.cell, pbc=True)
    positions[2, 1] = np.inf
    with pytest.raises(ValueError, match="atom 2"):
        NeighborList(3.0).build(positions=positions, cell=atoms.cell, pbc=True)


@pytest.mark.parametrize("cutoff, error, message", [
    (0.0, ValueError, "cutoff must be a finite number > 0"),
    (-1.0, ValueError, "cutoff must be a finite number > 0"),
    (float("nan"), ValueError, "cutoff must be a finite number > 0"),
    (float("inf"), ValueError, "cutoff must be a finite number > 0"),
    ("3", TypeError, "cutoff must be a real number"),
    ([1.0, 2.0], TypeError, "cutoff must be a single number"),
    (None, TypeError, "cutoff is required"),
])
def test_bad_cutoff(cutoff, error, message):
    atoms = bulk("Cu")
    with pytest.raises(error, match=message):
        neighbor_list("ij", atoms, cutoff)


def test_bad_shapes_and_dtypes():
    with pytest.raises(ValueError, match=r"positions must have shape \(n_atoms, 3\)"):
        neighbor_list("ij", cutoff=2.0, positions=np.zeros((4, 2)))
    with pytest.raises(TypeError, match="positions must be an array of real numbers"):
        neighbor_list("ij", cutoff=2.0, positions=[["a", "b", "c"]])
    with pytest.raises(TypeError, match="positions must be an array of real numbers"):
        neighbor_list("ij", cutoff=2.0, positions=np.zeros((2, 3), dtype=complex))
    with pytest.raises(ValueError, match=r"cell must have shape \(3, 3\)"):
        neighbor_list("ij", cutoff=2.0, positions=np.zeros((2, 3)), cell=np.eye(2), pbc=True)
    with pytest.raises(ValueError, match="pbc must be one boolean or three"):
        neighbor_list("ij", cutoff=2.0, positions=np.zeros((2, 3)), cell=np.eye(3), pbc=[1, 1])
    with pytest.raises(ValueError, match="cell has non-finite entries"):
        neighbor_list("ij", cutoff=2.0, positions=np.zeros((2, 3)), cell=np.eye(3) * np.nan,
                      pbc=True)
    with pytest.raises(ValueError, match="unknown quantity letter"):
        neighbor_list("ijx", bulk("Cu"), 2.0)
    with pytest.raises(TypeError, match="expected an ase.Atoms object"):
        neighbor_list("ij", "not atoms", 2.0)
    with pytest.raises(TypeError, match="not both"):
        neighbor_list("ij", bulk("Cu"), 2.0, positions=np.zeros((1, 3)))
    with pytest.raises(ValueError, match="n_threads must be a positive integer"):
        neighbor_list("ij", bulk("Cu"), 2.0, n_threads=0)
    with pytest.raises(TypeError, match="n_threads must be a positive integer"):
        neighbor_list("ij", bulk("Cu"), 2.0, n_threads=1.5)
    with pytest.raises(ValueError, match="skin must be a finite number >= 0"):
        NeighborList(2.0, skin=-0.1)


def test_singular_periodic_cell():
    flat = np.array([[3.0, 0, 0], [0, 3.0, 0], [3.0, 3.0, 0]])
    with pytest.raises(ValueError, match="cell is singular"):
        neighbor_list("ij", cutoff=2.0, positions=np.zeros((1, 3)), cell=flat, pbc=True)
    with pytest.raises(ValueError, match="cell vector 2 is zero but direction 2 is periodic"):
        neighbor_list("ij", cutoff=2.0, positions=np.zeros((1, 3)), cell=[3.0, 3.0, 0.0],
                      pbc=True)
    with pytest.raises(ValueError, match="periodic cell vectors 0 and 1 are parallel"):
        neighbor_list("ij", cutoff=2.0, positions=np.zeros((1, 3)),
                      cell=[[3.0, 0, 0], [6.0, 0, 0], [0, 0, 1.0]], pbc=[True, True, False])
    # a zero vector along a non-periodic direction is fine (a slab or a molecule)
    assert len(neighbor_list("i", cutoff=3.5, positions=np.zeros((1, 3)), cell=[3.0, 3.0, 0.0],
                             pbc=[True, True, False])) == 4


def test_runaway_cutoff_is_refused_quickly():
    atoms = Atoms("H", positions=[[0, 0, 0]], cell=np.eye(3) * 1.0, pbc=True)
    with pytest.raises(ValueError, match="periodic images"):
        neighbor_list("ij", atoms, 5000.0)


def test_pair_cap_stops_overlapping_atoms():
    atoms = Atoms("H2000", positions=np.zeros((2000, 3)))
    with pytest.raises(ValueError, match="more than max_pairs=100000 pairs"):
        neighbor_list("ij", atoms, 1.0, max_pairs=100_000)
