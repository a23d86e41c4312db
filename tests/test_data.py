"""Reference data: samples from ASE structures and files (extxyz, n2p2 input.data), their
checks and error messages, the validation split."""
import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from fastpot.data import check_samples, elements_of, read_samples, sample_from_atoms, split


def copper(energy=-3.0, forces=True):
    atoms = bulk("Cu", cubic=True)
    atoms.rattle(0.05, seed=0)
    results = {"energy": energy}
    if forces:
        results["forces"] = np.arange(12.0).reshape(4, 3) * 0.1
    atoms.calc = SinglePointCalculator(atoms, **results)
    return atoms


# -- one structure -------------------------------------------------------------------------

def test_sample_from_a_calculator_or_from_info_and_arrays():
    atoms = copper()
    atoms.info["tag"] = "a"
    sample = sample_from_atoms(atoms)
    assert sample.energy == -3.0 and sample.n_atoms == 4 and sample.stress is None
    np.testing.assert_array_equal(sample.forces, atoms.calc.results["forces"])
    assert sample.atoms.calc is None and sample.info["tag"] == "a"
    plain = bulk("Cu", cubic=True)
    plain.info["free_energy"] = -2.5  # used when there is no energy
    plain.arrays["forces"] = np.zeros((4, 3))
    stress = np.arange(9.0).reshape(3, 3)
    plain.info["stress"] = stress + stress.T
    sample = sample_from_atoms(plain)
    assert sample.energy == -2.5
    np.testing.assert_array_equal(sample.stress, [0.0, 8.0, 16.0, 12.0, 8.0, 4.0])  # Voigt


def test_stress_of_a_slab_is_dropped():
    atoms = copper()
    atoms.info["stress"] = np.ones(6)
    atoms.pbc = (True, True, False)
    assert sample_from_atoms(atoms).stress is None


def test_structure_errors_name_the_source():
    with pytest.raises(ValueError, match="s0: structure has no atoms"):
        sample_from_atoms(bulk("Cu")[[]], "s0")
    atoms = copper()
    atoms.positions[2, 1] = np.inf
    with pytest.raises(ValueError, match="s1: position of atom 2 is not finite"):
        sample_from_atoms(atoms, "s1")
    with pytest.raises(ValueError, match="s2: energy 'low' is not a number"):
        sample_from_atoms(copper(energy="low"), "s2")
    with pytest.raises(ValueError, match="structure 3: energy is nan"):
        sample_from_atoms(copper(energy=float("nan")), "structure 3")
    atoms = copper(forces=False)
    atoms.arrays["forces"] = np.zeros((len(atoms), 2))
    with pytest.raises(ValueError, match=r"forces have shape \(4, 2\), expected \(4, 3\)"):
        sample_from_atoms(atoms, "x")
    atoms.arrays["forces"] = np.zeros((len(atoms), 3))
    atoms.arrays["forces"][3, 0] = np.nan
    with pytest.raises(ValueError, match="s4: force on atom 3 is not finite"):
        sample_from_atoms(atoms, "s4")
    atoms = copper()
    atoms.info["stress"] = np.ones(5)
    with pytest.raises(ValueError, match=r"s5: stress must be 6 finite numbers \(Voigt\) or "
                                         r"3x3, got shape \(5,\)"):
        sample_from_atoms(atoms, "s5")
    atoms.info["stress"] = np.full(6, np.nan)
    with pytest.raises(ValueError, match="s6: stress must be 6 finite numbers"):
        sample_from_atoms(atoms, "s6")


# -- files ---------------------------------------------------------------------------------

def test_read_extxyz(tmp_path):
    frames = [copper(energy=-3.0 - k) for k in range(3)]
    write(tmp_path / "data.extxyz", frames)
    samples = read_samples(tmp_path / "data.extxyz")
    assert [s.energy for s in samples] == [-3.0, -4.0, -5.0]
    assert samples[1].source == f"{tmp_path / 'data.extxyz'} structure 1"
    assert len(read_samples(tmp_path / "data.extxyz", index="1:")) == 2


def test_read_n2p2_input_data_in_its_units(tmp_path):
    # one water molecule in Bohr and Hartree
    path = tmp_path / "input.data"
    path.write_text("begin\ncomment water\n"
                    "atom 0.0 0.0 0.0 O 0.0 0.0 0.0 0.0 0.2\n"
                    "atom 1.8 0.0 0.0 H 0.0 0.0 0.1 0.0 0.0\n"
                    "atom 0.0 1.8 0.0 H 0.0 0.0 0.0 0.0 0.0\n"
                    "energy -76.4\ncharge 0.0\nend\n")
    sample, = read_samples(path, cflength=2.0, cfenergy=4.0)
    assert sample.energy == pytest.approx(-76.4 / 4.0)
    np.testing.assert_allclose(sample.atoms.positions[1], [0.9, 0.0, 0.0])
    # forces: times cflength, divided by cfenergy
    np.testing.assert_allclose(sample.forces[:2], [[0.0, 0.0, 0.1], [0.05, 0.0, 0.0]])
    assert sample.atoms.info["comment"] == "water"


def test_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="data file not found"):
        read_samples(tmp_path / "missing.extxyz")
    garbage = tmp_path / "garbage.extxyz"
    garbage.write_text("this is not\nan extxyz file\n")
    with pytest.raises(ValueError, match="garbage.extxyz: cannot read structures"):
        read_samples(garbage)
    frames = [copper(), copper(energy=float("nan")), copper()]
    write(tmp_path / "bad.extxyz", frames)
    with pytest.raises(ValueError, match="bad.extxyz structure 1: energy is nan"):
        read_samples(tmp_path / "bad.extxyz")
    (tmp_path / "empty.data").write_text("")
    with pytest.raises(ValueError, match="empty.data: no structures"):
        read_samples(tmp_path / "empty.data")
    write(tmp_path / "bare.extxyz", [bulk("Cu", cubic=True)] * 2)
    with pytest.raises(ValueError, match="bare.extxyz: no energies and no forces to learn "
                                         "from"):
        read_samples(tmp_path / "bare.extxyz")


def test_check_samples():
    with pytest.raises(ValueError, match="my set: no structures"):
        check_samples([], "my set")
    bare = sample_from_atoms(bulk("Cu"))
    with pytest.raises(ValueError, match="data: no energies and no forces to learn from"):
        check_samples([bare, bare])
    check_samples([bare, sample_from_atoms(copper(forces=False))])  # one energy is enough


# -- sets ----------------------------------------------------------------------------------

def test_split_is_seeded_and_keeps_both_sides():
    samples = list(range(20))
    train, valid = split(samples, 0.25, seed=3)
    assert len(valid) == 5 and sorted(train + valid) == samples
    assert split(samples, 0.25, seed=3) == (train, valid)
    assert split(samples, 0.25, seed=4) != (train, valid)
    assert len(split(samples[:2], 0.01, seed=0)[1]) == 1  # at least one held out
    assert len(split(samples[:2], 0.99, seed=0)[0]) == 1  # at least one kept
    assert split(samples, 0.0, seed=0) == (samples, [])
    for fraction in (1.0, -0.1):
        with pytest.raises(ValueError, match=r"validation fraction must be in \[0, 1\), got"):
            split(samples, fraction, seed=0)


def test_elements_in_atomic_number_order():
    atoms = copper()
    atoms.symbols[1] = "O"
    atoms.symbols[2] = "Au"
    assert elements_of([sample_from_atoms(atoms), sample_from_atoms(copper())]) == ["O", "Cu",
                                                                                    "Au"]
