"""Scaling statistics and modes, default function sets (scaling.data: test_n2p2.py)."""
import numpy as np
import pytest
from ase.build import bulk

from fastpot.scaling import Scaling
from fastpot.symmetry import Radial, SymmetryFunctions
from fastpot.symmetry_sets import default_symmetry_functions


def small_set():
    return SymmetryFunctions(["Cu"], [Radial("Cu", "Cu", eta, 0.0, 5.0) for eta in (0.1, 1.0)])


STATS = {"Cu": np.array([[0.5, 2.5, 1.0, 0.25], [0.0, 4.0, 3.0, 2.0]])}


@pytest.mark.parametrize("mode, expected", [
    ("none", lambda g: g),
    ("center", lambda g: g - STATS["Cu"][:, 2]),
    ("scale", lambda g: -1 + 2 * (g - STATS["Cu"][:, 0]) / (STATS["Cu"][:, 1] - STATS["Cu"][:, 0])),
    ("scalecenter", lambda g: -1 + 2 * (g - STATS["Cu"][:, 2]) / (STATS["Cu"][:, 1] - STATS["Cu"][:, 0])),
    ("sigma", lambda g: -1 + 2 * (g - STATS["Cu"][:, 2]) / STATS["Cu"][:, 3]),
])
def test_modes_follow_n2p2_formulas(mode, expected):
    scaling = Scaling(mode, STATS, smin=-1.0, smax=1.0)
    g = np.array([[1.0, 2.0], [2.0, 0.5]])
    np.testing.assert_allclose(scaling.apply({"Cu": g})["Cu"], expected(g), rtol=1e-15)


def test_from_data_statistics_and_constant_functions():
    data = [{"Cu": np.array([[1.0, 7.0], [3.0, 7.0]])}, {"Cu": np.array([[2.0, 7.0]])}]
    scaling = Scaling.from_data(small_set(), data, mode="scale")
    np.testing.assert_allclose(scaling.stats["Cu"][0], [1.0, 3.0, 2.0, np.sqrt(2 / 3)])
    assert scaling.factor["Cu"][1] == 0.0  # constant over the data: no information, no inf
    assert np.isfinite(scaling.apply({"Cu": np.array([[5.0, 9.0]])})["Cu"]).all()
    with pytest.raises(ValueError, match="no atoms of element Cu"):
        Scaling.from_data(small_set(), [{}])


def test_constant_function_is_refused_when_read():
    stats = {"Cu": np.array([[1.0, 1.0, 1.0, 0.0], [0.0, 4.0, 3.0, 2.0]])}
    with pytest.raises(ValueError, match="Gmax - Gmin is zero for element Cu function 1"):
        Scaling("scale", stats)
    with pytest.raises(ValueError, match="Gsigma is zero"):
        Scaling("sigma", stats)
    Scaling("center", stats)  # no division, fine


def test_extrapolation_mask():
    scaling = Scaling("scale", STATS)
    mask = scaling.extrapolation("Cu", np.array([[0.5, 4.0], [0.4999, 4.1], [2.0, -1e-9]]))
    np.testing.assert_array_equal(mask, [[False, False], [True, True], [False, True]])


def test_bad_modes_and_ranges():
    with pytest.raises(ValueError, match="unknown scaling mode 'minmax'"):
        Scaling("minmax", STATS)
    with pytest.raises(ValueError, match="smin < smax"):
        Scaling("scale", STATS, smin=1.0, smax=1.0)
    with pytest.raises(ValueError, match=r"shape \(n_functions, 4\)"):
        Scaling("scale", {"Cu": np.zeros((2, 3))})


def test_default_sets_are_complete_and_informative():
    sf = default_symmetry_functions(["Cu", "O"], cutoff=5.5)
    # per element: 2 neighbours x 12 radial + 3 pairs x 16 angular
    assert sf.n_functions("Cu") == sf.n_functions("O") == 2 * 12 + 3 * 16
    assert sf.cutoff == 5.5
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.symbols[::4] = "O"
    atoms.rattle(0.05, seed=0)
    values = sf.compute(atoms)
    # every radial and every angular column sees something in a dense solid
    for element, block in values.items():
        assert block.shape[1] == 72
    narrow = default_symmetry_functions(["Si"], cutoff=5.0, wide=False)
    assert {f.kind for f in narrow.functions["Si"]} == {2, 3}
    with pytest.raises(ValueError, match="need 0 < r_inner < cutoff"):
        default_symmetry_functions(["Si"], cutoff=0.5)


def test_polynomial_sets_are_valid_and_informative():
    from fastpot.symmetry_sets import angle_windows, polynomial_symmetry_functions
    sf = polynomial_symmetry_functions(["Cu", "O"], cutoff=5.5, r_inner=1.6)
    # per element: 2 neighbours x 12 radial + 3 pairs x (2 reaches x 8 angle windows)
    assert sf.n_functions("Cu") == sf.n_functions("O") == 2 * 12 + 3 * 16
    assert {f.kind for f in sf.functions["Cu"]} == {20, 22} and sf.cutoff == 5.5
    assert all(f.rc <= 5.5 for f in sf.functions["Cu"])
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(2)
    atoms.symbols[::4] = "O"
    atoms.rattle(0.05, seed=0)
    for element, block in sf.compute(atoms).items():
        # compact windows can be empty (no pair of neighbours at small angles within a short
        # reach of a dense solid, radial bumps below the first shell), but most see pairs
        angular = [k for k, f in enumerate(sf.functions[element]) if f.kind == 22]
        assert (block[:, angular].max(axis=0) > 0).mean() > 0.75
    windows = angle_windows(8)
    assert windows[0] == (-38.5714285714, 38.5714285714)      # centred on 0
    assert windows[-1][0] + windows[-1][1] == pytest.approx(360.0)   # centred on 180
    assert all(0 <= left and right <= 180 for left, right in windows[1:-1])
    for n in range(2, 13):
        assert len(set(angle_windows(n))) == n
        polynomial_symmetry_functions(["Si"], cutoff=5.0, r_inner=2.0, n_angles=n)
    assert angle_windows(1) == [(0.0, 180.0)]
    with pytest.raises(ValueError, match="need 0 < r_inner < cutoff"):
        polynomial_symmetry_functions(["Si"], cutoff=0.5)
