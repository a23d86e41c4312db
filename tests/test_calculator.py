"""The ASE calculator: ASE's contract (parameters, set, todict, results reset, stress only for
3-D periodic cells), forces and stress against ASE's numerical derivatives, real ASE use."""
import numpy as np
import pytest
from ase.calculators.calculator import PropertyNotImplementedError
from ase.calculators.fd import calculate_numerical_forces, calculate_numerical_stress

from fastpot import FastpotCalculator

from potentials import oxide, synthetic_potential


# -- options: parameters, set, todict ------------------------------------------------------

def test_options_live_in_parameters_and_round_trip_through_todict():
    potential = synthetic_potential()
    default = FastpotCalculator(potential)
    assert dict(default.parameters) == FastpotCalculator.default_parameters
    assert default.todict() == {}
    calc = potential.calculator(skin=1.2, n_threads=1, warn_extrapolation=True)
    assert calc.parameters.skin == 1.2 and calc.neighbor_list.skin == 1.2
    assert calc.todict() == {"skin": 1.2, "n_threads": 1, "warn_extrapolation": True}
    again = FastpotCalculator(potential, **calc.todict())
    assert again.parameters == calc.parameters


def test_set_skin_takes_effect():
    potential = synthetic_potential()
    atoms = oxide(1)
    atoms.calc = calc = potential.calculator(skin=0.2)
    atoms.get_forces()
    kept = calc.neighbor_list
    assert kept.distances.max() < potential.cutoff + 0.2
    assert calc.set(skin=1.5) == {"skin": 1.5}
    assert calc.neighbor_list is not kept and calc.neighbor_list.skin == 1.5
    atoms.get_forces()
    assert calc.neighbor_list.distances.max() > potential.cutoff + 1.0
    # options that do not touch the list keep it
    rebuilt = calc.neighbor_list
    calc.set(warn_extrapolation=True)
    assert calc.neighbor_list is rebuilt


def test_results_reset_after_a_change():
    potential = synthetic_potential()
    atoms = oxide(2)
    atoms.calc = calc = potential.calculator()
    energy = atoms.get_potential_energy()
    assert calc.set(n2p2_forces=False) == {}  # no change: results kept
    assert calc.results["energy"] == energy
    assert calc.set(n2p2_forces=True) == {"n2p2_forces": True}
    assert calc.results == {} and calc.atoms is None
    assert atoms.get_potential_energy() == pytest.approx(energy, rel=1e-14)


def test_bad_options_are_refused_and_leave_no_trace():
    potential = synthetic_potential()
    with pytest.raises(TypeError, match="unknown option\\(s\\) skn for FastpotCalculator; "
                                        "options: n_threads, skin"):
        FastpotCalculator(potential, skn=1.0)
    atoms = oxide(3)
    atoms.calc = calc = potential.calculator()
    atoms.get_potential_energy()
    with pytest.raises(ValueError, match="skin must be a finite number >= 0"):
        calc.set(skin=-1.0)
    with pytest.raises(ValueError, match="n_threads must be a positive integer"):
        calc.set(n_threads=0)
    assert calc.parameters.skin == 0.5 and calc.parameters.n_threads is None
    assert "energy" in calc.results


def test_warn_extrapolation():
    potential = synthetic_potential()
    atoms = oxide(4)
    atoms.set_cell(atoms.cell * 0.8, scale_atoms=True)  # far denser than the training cells
    atoms.calc = potential.calculator()
    atoms.get_potential_energy()
    assert atoms.calc.results["extrapolations"] > 0
    atoms.calc.set(warn_extrapolation=True)
    with pytest.warns(UserWarning, match="outside the training range"):
        atoms.get_potential_energy()


# -- derivatives against ASE's numerical ones ----------------------------------------------

@pytest.mark.parametrize("activations, normalize", [("ttl", False), ("ppl", True), ("sgl", False)])
def test_forces_and_stress_match_ase_finite_differences(activations, normalize):
    potential = synthetic_potential(1, activations, normalize)
    atoms = oxide(3)
    atoms.set_cell(atoms.cell.array @ np.array([[1.0, 0.05, 0.0], [0.0, 0.98, 0.03],
                                                [0.02, 0.0, 1.02]]), scale_atoms=True)
    atoms.calc = potential.calculator()
    forces = atoms.get_forces()
    numeric = calculate_numerical_forces(atoms, eps=1e-5)
    assert np.abs(forces).max() > 0.1
    np.testing.assert_allclose(forces, numeric, rtol=1e-6, atol=1e-7)
    stress = atoms.get_stress()
    numeric_stress = calculate_numerical_stress(atoms, eps=1e-6)
    assert np.abs(stress).max() > 1e-3
    np.testing.assert_allclose(stress, numeric_stress, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(atoms.get_potential_energies().sum(),
                               atoms.get_potential_energy(), rtol=1e-14)


@pytest.mark.parametrize("pbc", [(False, False, False), (True, True, False)])
def test_clusters_and_slabs_have_forces_but_no_stress(pbc):
    potential = synthetic_potential(2)
    atoms = oxide(4)
    atoms.pbc = pbc
    atoms.calc = potential.calculator()
    np.testing.assert_allclose(atoms.get_forces(), calculate_numerical_forces(atoms, eps=1e-5),
                               rtol=1e-6, atol=1e-7)
    with pytest.raises(PropertyNotImplementedError,
                       match=r"stress needs a cell that is periodic in all three directions "
                             rf"\(this one has pbc=\[{pbc[0]}, {pbc[1]}, False\]\)"):
        atoms.get_stress()


# -- real ASE use --------------------------------------------------------------------------

def test_bfgs_relaxation_and_cell_filter():
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS
    potential = synthetic_potential(4)
    atoms = oxide(5, repeat=1)
    atoms.calc = potential.calculator()
    start = atoms.get_potential_energy()
    BFGS(atoms, logfile=None).run(fmax=0.01, steps=300)
    assert np.abs(atoms.get_forces()).max() < 0.01
    assert atoms.get_potential_energy() < start
    relaxed = atoms.get_potential_energy()
    BFGS(FrechetCellFilter(atoms), logfile=None).run(fmax=0.01, steps=400)
    assert np.abs(atoms.get_stress()).max() < 0.01 / atoms.get_volume() ** (1 / 3) * 10
    assert atoms.get_potential_energy() <= relaxed + 1e-9


def test_velocity_verlet_conserves_energy():
    from ase import units
    from ase.md.verlet import VelocityVerlet
    potential = synthetic_potential(5, activations="ttl")
    start = oxide(6)
    start.set_momenta(np.random.default_rng(0).normal(size=(len(start), 3)) * 0.05)
    spreads = []
    for timestep in (0.5, 0.25):
        atoms = start.copy()
        atoms.calc = potential.calculator(skin=0.8)
        dyn = VelocityVerlet(atoms, timestep=timestep * units.fs)
        energies = []
        for _ in range(40):
            dyn.run(int(round(2.5 / timestep)))
            energies.append(atoms.get_total_energy())
        spreads.append(np.ptp(energies) / len(atoms))
        assert atoms.calc.neighbor_list.n_builds < 40  # the skin saved searches
    assert spreads[0] < 1e-3
    assert spreads[0] / spreads[1] > 3.0  # velocity Verlet: error ~ timestep^2
