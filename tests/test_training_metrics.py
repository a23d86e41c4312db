"""What the training metrics mean: force errors per component and per atom, the validation
loss with every term of the training loss, and per-element reference energies when the data
do not determine them (rank-deficient compositions, isolated atoms)."""
import numpy as np
import pytest
from ase import Atoms

from fastpot.data import Sample, read_samples
from fastpot.emt_data import emt_samples
from fastpot.training import Trainer, evaluate_samples

SMALL = dict(cutoff=4.0, n_shifted=3, n_centred=2, n_angular_eta=1, zetas=[1.0, 4.0],
             hidden_layers=[6, 5], valid_fraction=0.25, time_budget=60.0)


def quiet(*args, **kwargs):
    pass


@pytest.fixture(scope="module")
def copper_potential():
    samples = emt_samples(6, element="Cu", size=1, seed=21)
    return Trainer({**SMALL, "max_iterations": 5}, log=quiet).fit(samples), samples


def test_force_errors_per_component_and_per_atom(copper_potential):
    potential, samples = copper_potential
    # references offset from the model's own forces by (3, 4, 0) meV/Å on every atom: the
    # component errors are 3, 4, 0 and the vector error 5 on every atom
    shifted = []
    for sample in samples:
        result = potential.evaluate(sample.atoms, stress=False)
        shifted.append(Sample(sample.atoms, result["energy"],
                              result["forces"] - np.array([3e-3, 4e-3, 0.0])))
    metrics = evaluate_samples(potential, shifted)
    assert metrics["forces_component_rmse"] == pytest.approx(np.sqrt(25 / 3), rel=1e-9)
    assert metrics["forces_component_mae"] == pytest.approx(7 / 3, rel=1e-9)
    assert metrics["forces_vector_rmse"] == pytest.approx(5.0, rel=1e-9)
    assert metrics["forces_vector_mae"] == pytest.approx(5.0, rel=1e-9)
    assert metrics["energy_rmse"] == pytest.approx(0.0, abs=1e-9)
    assert "stress_rmse" not in metrics      # no sample has stress


@pytest.mark.parametrize("weights", [dict(), dict(stress_weight=1.0), dict(force_weight=0.0),
                                     dict(energy_weight=0.0, stress_weight=0.3)])
def test_validation_loss_is_the_training_loss_on_the_validation_data(weights):
    samples = emt_samples(6, element="Cu", size=1, seed=22, alloy="Ag")
    assert all(s.stress is not None for s in samples)
    trainer = Trainer({**SMALL, **weights}, log=quiet)
    objective = trainer.prepare(samples, [])
    x = objective.pack()
    x = x + np.random.default_rng(5).normal(size=x.size) * 0.3
    value, _ = objective(x)
    # validating on the training data itself must give the training loss (no l2 here)
    m = evaluate_samples(objective.potential, samples)
    validation = objective.metric_loss(m["energy_rmse"] / 1000,
                                       m["forces_component_rmse"] / 1000,
                                       m["stress_rmse"] / 1000)
    assert validation == pytest.approx(value, rel=1e-10)
    assert objective.last_rmse["stress"] == pytest.approx(m["stress_rmse"] / 1000, rel=1e-10)
    if objective.w_s:
        without_stress = objective.metric_loss(m["energy_rmse"] / 1000,
                                               m["forces_component_rmse"] / 1000)
        assert validation - without_stress > 1e-3 * validation


def test_history_has_stress_columns_and_the_validation_loss_uses_them():
    samples = emt_samples(8, element="Cu", size=1, seed=23)
    trainer = Trainer({**SMALL, "max_iterations": 10, "validate_every": 5, "stress_weight": 1.0},
                      log=quiet)
    potential = trainer.fit(samples)
    row = trainer.history[-1]
    assert row["train_stress_rmse"] > 0 and row["valid_stress_rmse"] > 0
    # the recorded validation loss is the loss formula on the held-out structures, stress in
    objective = trainer.prepare(trainer.samples["train"], [])
    objective.unpack(np.concatenate([potential.networks[e].weights for e in objective.elements]))
    m = evaluate_samples(potential, trainer.samples["valid"])
    assert trainer.history[-1]["iteration"] == 10
    assert objective.ws_metric > 0
    expected = objective.metric_loss(m["energy_rmse"] / 1000, m["forces_component_rmse"] / 1000,
                                     m["stress_rmse"] / 1000)
    best = min(r["valid_loss"] for r in trainer.history)
    assert best == pytest.approx(expected, rel=1e-9)


class FakeSet:
    """The parts of a TrainingSet that the reference energies read."""

    def __init__(self, elements, composition, energy):
        self.elements = list(elements)
        self.composition = np.array(composition, dtype=float)
        self.energy = np.array(energy, dtype=float)
        self.n_atoms = self.composition.sum(axis=1)
        self.has_energy = np.ones(len(energy), dtype=bool)


def test_one_stoichiometry_gives_equal_element_energies_and_says_why():
    from fastpot.reference_energies import reference_energies
    # Cu2S only: E = mu_S + 2 mu_Cu per formula unit is all the data say
    units = np.array([4, 8, 16, 32])
    composition = np.stack([units, 2 * units], axis=1)      # S, Cu (atomic-number order)
    messages = []
    mu, _ = reference_energies(FakeSet(["S", "Cu"], composition, units * -10.5), None,
                                messages.append)
    np.testing.assert_allclose(mu, [-3.5, -3.5], rtol=1e-12)
    assert "rank 1 for 2 elements" in messages[0]
    # with noise: still a least-squares solution, and nothing in the undetermined direction
    noisy = units * -10.5 + np.random.default_rng(0).normal(size=4) * 1e-2
    mu, _ = reference_energies(FakeSet(["S", "Cu"], composition, noisy), None, quiet)
    best, *_ = np.linalg.lstsq(composition.astype(float), noisy, rcond=None)
    assert mu @ [1, 2] == pytest.approx(best @ [1, 2], rel=1e-12)
    assert (mu[0] - mu[1]) == pytest.approx(0.0, abs=1e-12)
    # lstsq's own minimum-norm answer would have split it as mu_Cu = 2 mu_S
    assert best[1] == pytest.approx(2 * best[0], rel=1e-9)


def test_full_rank_is_plain_least_squares_and_silent():
    from fastpot.reference_energies import reference_energies
    composition = [[4, 0], [0, 4], [2, 2], [1, 3], [3, 1]]
    truth = np.array([-3.7, -1.2])
    energy = np.array(composition) @ truth + np.array([1, -1, 2, 0, -2]) * 1e-3
    messages = []
    mu, _ = reference_energies(FakeSet(["Cu", "Ag"], composition, energy), None,
                                messages.append)
    expected, *_ = np.linalg.lstsq(np.array(composition, float), energy, rcond=None)
    np.testing.assert_allclose(mu, expected, rtol=1e-12)
    assert messages == []


def test_isolated_atoms_set_the_split_and_a_common_shift_the_mean():
    from fastpot.reference_energies import reference_energies
    composition = [[2, 1], [4, 2], [6, 3]]
    energy = [-21.0, -42.3, -62.7]
    isolated = {"Cu": -0.5, "S": -2.0}    # sf orders elements by atomic number: S, Cu
    messages = []
    mu, _ = reference_energies(FakeSet(["S", "Cu"], composition, energy), isolated,
                                messages.append)
    assert mu[1] - mu[0] == pytest.approx(-0.5 - (-2.0), rel=1e-12)
    residual = (np.array(energy) - np.array(composition) @ mu) / np.sum(composition, axis=1)
    assert residual.mean() == pytest.approx(0.0, abs=1e-12)
    assert "isolated-atom energies plus a common" in messages[0]


def isolated_atom(symbol, energy):
    atoms = Atoms(symbol, positions=[[0, 0, 0]], pbc=False)
    return Sample(atoms, energy, None, source=f"isolated {symbol}")


def test_isolated_atoms_in_the_training_data_are_used_and_left_out():
    samples = emt_samples(6, element="Cu", size=1, seed=24, alloy="Ag")
    data = samples + [isolated_atom("Cu", -1.0), isolated_atom("Ag", -3.0)]
    messages = []
    trainer = Trainer({**SMALL, "max_iterations": 2}, log=messages.append)
    potential = trainer.fit(data)
    assert len(trainer.samples["train"]) + len(trainer.samples["valid"]) == 6
    assert any("2 isolated atom(s) in the training data" in m for m in messages)
    assert potential.atom_energy["Ag"] - potential.atom_energy["Cu"] == pytest.approx(-2.0)


def test_atom_energy_option_errors(tmp_path):
    samples = emt_samples(4, element="Cu", size=1, seed=25, alloy="Ag")
    with pytest.raises(ValueError, match="given for Cu but not for Ag"):
        Trainer({**SMALL, "atom_energies": {"Cu": -1.0}}, log=quiet).fit(samples)
    with pytest.raises(ValueError, match="unknown element 'Xx'"):
        Trainer({**SMALL, "atom_energies": {"Xx": -1.0}}, log=quiet).fit(samples)
    with pytest.raises(ValueError, match="the energy of Cu must be a finite number"):
        Trainer({**SMALL, "atom_energies": {"Cu": float("nan"), "Ag": 0.0}},
                log=quiet).fit(samples)
    with pytest.raises(ValueError, match="must be a {element: eV} table or the path"):
        Trainer({**SMALL, "atom_energies": 3.0}, log=quiet).fit(samples)
    from ase.io import write
    pair = Atoms("Cu2", positions=[[0, 0, 0], [2, 0, 0]], info={"energy": -1.0})
    write(tmp_path / "atoms.extxyz", [pair])
    with pytest.raises(ValueError, match="structure 0 is not one atom with an energy"):
        Trainer({**SMALL, "atom_energies": str(tmp_path / "atoms.extxyz")},
                log=quiet).fit(samples)


def test_ethanol_isolated_atoms_fix_the_element_split(shared_data):
    folder = shared_data / "rmd17_ethanol"
    if not (folder / "isolated_atoms.extxyz").is_file():
        pytest.skip(f"shared data absent: {folder / 'isolated_atoms.extxyz'}")
    train = read_samples(folder / "train.extxyz")[:12]
    isolated = {s.atoms.get_chemical_symbols()[0]: s.energy
                for s in read_samples(folder / "isolated_atoms.extxyz")}
    for option, expect in ((None, "rank 1 for 3 elements"),
                           (str(folder / "isolated_atoms.extxyz"), "isolated-atom energies")):
        messages = []
        objective = Trainer({**SMALL, "atom_energies": option},
                            log=messages.append).prepare(train, [])
        assert any(expect in m for m in messages)
        mu = objective.potential.atom_energy
    # with the isolated atoms, differences between elements are the isolated atoms' ones
    assert mu["C"] - mu["H"] == pytest.approx(isolated["C"] - isolated["H"], rel=1e-12)
    assert mu["O"] - mu["H"] == pytest.approx(isolated["O"] - isolated["H"], rel=1e-12)
