"""Potential: n2p2 parity, its own file, the fused kernel against the stages, threads, bad
input (n2p2 files: test_n2p2.py; the ASE calculator and finite differences:
test_calculator.py)."""
import numpy as np
import pytest
from ase import Atoms
from ase.io import read
from ase.stress import full_3x3_to_voigt_6_stress

from fastpot import FastpotCalculator, Network, Potential, Scaling, default_symmetry_functions
from fastpot.emt_data import emt_samples
from fastpot.n2p2 import read_input_data

from potentials import BOHR, HARTREE, assert_same_predictions, oxide, synthetic_potential


# -- n2p2 parity ---------------------------------------------------------------------------

def n2p2_outputs(folder):
    energy = float(next(l for l in open(folder / "energy.out") if not l.startswith("#")).split()[3])
    forces = np.array([[float(x) for x in l.split()[5:8]] for l in open(folder / "nnforces.out")
                       if not l.startswith("#")])
    atomic = np.array([float(l.split()[6]) for l in open(folder / "nnatoms.out")
                       if not l.startswith("#")])
    return energy, forces, atomic


@pytest.mark.parametrize("name, cflength, cfenergy", [("H2O_RPBE-D3", BOHR, HARTREE),
                                                      ("Cu2S_PBE", 1.0, 1.0)])
def test_n2p2_predict_parity(shared_data, name, cflength, cfenergy):
    folder = shared_data / "n2p2" / name
    potential = Potential.from_n2p2(folder, cflength, cfenergy)
    for k in range(1, 11):
        case = folder / "n2p2-predict" / f"structure_{k:02d}"
        atoms = read_input_data(case / "input.data", cflength, cfenergy)[0]
        energy, forces, atomic = n2p2_outputs(case)
        result = potential.evaluate(atoms)
        # back to the file's units; N2P2_FORMAT.md §10 tolerances
        assert abs(result["energy"] * cfenergy - energy) <= 1e-12 * abs(energy)
        np.testing.assert_allclose(result["forces"] * cfenergy / cflength, forces, rtol=0,
                                   atol=1e-10)
        # nnatoms.out: y_i / conv_energy, without mean or offsets
        species_offset = np.array([potential.atom_energy[s] for s in atoms.get_chemical_symbols()])
        # (the subtraction of the offset costs digits of the offset's size)
        np.testing.assert_allclose((result["energies"] - species_offset) * cfenergy, atomic,
                                   rtol=1e-12, atol=1e-13 * np.abs(species_offset).max())
        assert result["extrapolations"] == 0


@pytest.mark.parametrize("element", ["Si", "Ge", "Li"])
def test_mlearn_reference_test_sets(shared_data, element):
    folder = shared_data / "mlearn" / element / "nnp"
    potential = Potential.from_n2p2(folder, BOHR, HARTREE)
    frames = read(folder / "reference_test.extxyz", ":")
    worst_exact = 0.0
    for atoms in frames:
        result = potential.evaluate(atoms, n2p2_forces=True)
        assert abs(result["energy"] - atoms.info["n2p2_energy"]) / len(atoms) <= 1e-8
        np.testing.assert_allclose(result["forces"], atoms.arrays["n2p2_forces"], rtol=0,
                                   atol=1e-6)
        exact = potential.evaluate(atoms)["forces"]
        worst_exact = max(worst_exact, np.abs(exact - atoms.arrays["n2p2_forces"]).max())
        np.testing.assert_allclose(exact.sum(axis=0), 0.0, atol=1e-9)  # exact: no net force
    if element in ("Si", "Li"):  # cells in which an atom sees its own image
        assert worst_exact > 1e-4


def test_h2o_reference_extxyz_in_ev(shared_data):
    folder = shared_data / "n2p2" / "H2O_RPBE-D3"
    potential = Potential.from_n2p2(folder, BOHR, HARTREE)
    for atoms in read(folder / "reference.extxyz", ":"):
        result = potential.evaluate(atoms)
        assert abs(result["energy"] - atoms.info["n2p2_energy"]) <= 3e-12 * abs(result["energy"]) + 1e-9
        np.testing.assert_allclose(result["forces"], atoms.arrays["n2p2_forces"], atol=1e-6)


# -- files ---------------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path):
    potential = synthetic_potential()
    path = tmp_path / "model.fastpot"
    potential.save(path)
    loaded = Potential.load(path)
    assert_same_predictions(potential, loaded, [oxide(7)])
    assert loaded.to_dict() == potential.to_dict()
    assert not list(tmp_path.glob(".*tmp"))  # atomic write left nothing behind
    # and through n2p2 files, in Bohr and Hartree for good measure
    potential.to_n2p2(tmp_path / "n2p2", cflength=BOHR, cfenergy=HARTREE)
    via_n2p2 = Potential.from_n2p2(tmp_path / "n2p2", BOHR, HARTREE)
    assert_same_predictions(potential, via_n2p2, [oxide(8)], rtol=1e-12, atol=1e-12)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="potential file not found"):
        Potential.load(tmp_path / "missing.fastpot")
    bad = tmp_path / "bad.fastpot"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not a fastpot potential file"):
        Potential.load(bad)
    data = synthetic_potential().to_dict()
    data["version"] = 99
    bad.write_text(__import__("json").dumps(data))
    with pytest.raises(ValueError, match="unsupported format version 99"):
        Potential.load(bad)
    data["version"] = 1
    data["networks"]["Cu"]["weights"] = data["networks"]["Cu"]["weights"][:-1]
    bad.write_text(__import__("json").dumps(data))
    with pytest.raises(ValueError, match="bad.fastpot: network .* weights, got"):
        Potential.load(bad)
    with pytest.raises(ValueError, match="end in .fastpot"):
        synthetic_potential().save(tmp_path / "model.json")


# -- the fused kernel against the pipeline's stages ----------------------------------------

def stage_by_stage(potential, atoms):
    """Per-atom energies, forces and stress through the public stages, one at a time:
    symmetry functions -> scaling -> each element's network (y, dy/dx) -> dE/dG = energy_unit
    * dy/dx * scaling factor -> backward pass (gradient and strain derivative)."""
    scaled = potential.scaling.apply(potential.sf.compute(atoms))
    symbols = np.array(atoms.get_chemical_symbols())
    energies = np.empty(len(atoms))
    dEdG = {}
    for element, x in scaled.items():
        y, dydx = potential.networks[element].evaluate(x)
        energies[symbols == element] = potential.energy_unit * y + potential.atom_energy[element]
        dEdG[element] = potential.energy_unit * dydx * potential.scaling.factor[element]
    gradient, strain = potential.sf.backward(atoms, dEdG)
    return energies, -gradient, full_3x3_to_voigt_6_stress(strain) / atoms.get_volume()


def assert_fused_equals_stages(potential, structures):
    for atoms in structures:
        fused = potential.evaluate(atoms)
        energies, forces, stress = stage_by_stage(potential, atoms)
        assert np.abs(forces).max() > 1e-3 and np.abs(stress).max() > 1e-5  # not trivial
        np.testing.assert_allclose(fused["energies"], energies, rtol=1e-12)
        np.testing.assert_allclose(fused["energy"], energies.sum(), rtol=1e-12)
        # summation orders differ: components that cancel to near zero get an absolute floor
        np.testing.assert_allclose(fused["forces"], forces, rtol=1e-12,
                                   atol=1e-12 * np.abs(forces).max())
        np.testing.assert_allclose(fused["stress"], stress, rtol=1e-12,
                                   atol=1e-12 * np.abs(stress).max())


def test_fused_kernel_equals_stages_n2p2_water(shared_data):
    folder = shared_data / "n2p2" / "H2O_RPBE-D3"
    potential = Potential.from_n2p2(folder, BOHR, HARTREE)
    assert_fused_equals_stages(potential, read(folder / "reference.extxyz", ":2"))


def test_fused_kernel_equals_stages_emt_copper():
    samples = emt_samples(4, element="Cu", size=2, seed=3)  # rattled, strained, a vacancy
    sf = default_symmetry_functions(["Cu"], cutoff=5.0, n_shifted=4, n_centred=2,
                                    n_angular_eta=1, zetas=(1.0, 4.0))
    scaling = Scaling.from_data(sf, [sf.compute(s.atoms) for s in samples], smin=-1.0,
                                smax=1.0)
    network = Network([sf.n_functions("Cu"), 10, 8, 1], "ttl").initialize(
        np.random.default_rng(7))
    network.weights = network.weights * 3.0  # random weights, away from a near-linear start
    potential = Potential(sf, scaling, {"Cu": network}, energy_unit=0.3,
                          atom_energy={"Cu": -3.5})
    assert_fused_equals_stages(potential, [s.atoms for s in samples])
    assert_fused_equals_stages(synthetic_potential(3), [oxide(5)])  # two elements


# -- threads -------------------------------------------------------------------------------

def test_threads_agree():
    potential = synthetic_potential(6)
    atoms = oxide(9, repeat=3)
    one = potential.evaluate(atoms, n_threads=1)
    two = potential.evaluate(atoms, n_threads=2)
    for key in ("energies", "forces", "stress"):
        np.testing.assert_array_equal(one[key], two[key])


# -- bad input -----------------------------------------------------------------------------

def test_bad_structures():
    potential = synthetic_potential()
    atoms = oxide(1)
    atoms.symbols[2] = "Fe"
    with pytest.raises(ValueError, match="atom 2 is Fe, which has no symmetry functions"):
        potential.evaluate(atoms)
    with pytest.raises(ValueError, match="the structure has no atoms"):
        potential.evaluate(Atoms(cell=np.eye(3) * 5, pbc=True))
    atoms = oxide(1)
    atoms.positions[5, 0] = np.nan
    with pytest.raises(ValueError, match="positions of atom 5 is not finite"):
        potential.evaluate(atoms)
    atoms = oxide(1)
    atoms.calc = FastpotCalculator(potential)
    atoms.positions[3] = atoms.positions[4]
    with pytest.raises(ValueError, match="atoms 3 and 4 overlap|atoms 4 and 3 overlap"):
        atoms.get_potential_energy()


def test_inconsistent_potential_parts():
    potential = synthetic_potential()
    nets = dict(potential.networks)
    nets["O"] = Network([3, 2, 1], "tl")
    with pytest.raises(ValueError, match="network of O takes 3 inputs"):
        Potential(potential.sf, potential.scaling, nets)
    with pytest.raises(ValueError, match=r"no network for element\(s\) \['O'\]"):
        Potential(potential.sf, potential.scaling, {"Cu": nets["Cu"]})
    with pytest.raises(ValueError, match="atom_energy for element"):
        Potential(potential.sf, potential.scaling, potential.networks, atom_energy={"Fe": 1.0})
