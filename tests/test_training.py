"""Training: exact loss gradient, fitting, resume, threads, bad options and data, command line
(reading data: test_data.py)."""
import json

import numpy as np
import pytest

from fastpot import Potential
from fastpot.data import Sample
from fastpot.emt_data import emt_samples
from fastpot.training import Trainer, evaluate_samples

SMALL = dict(cutoff=4.0, n_shifted=3, n_centred=2, n_angular_eta=1, zetas=[1.0, 4.0],
             hidden_layers=[6, 5], valid_fraction=0.25, time_budget=60.0)


def quiet(*args, **kwargs):
    pass


def small_objective(samples, **options):
    trainer = Trainer({**SMALL, **options}, log=quiet)
    objective = trainer.prepare(samples, [])
    return objective


def finite_difference_check(objective, n_checks=25, h=1e-6, seed=0):
    x = objective.pack()
    value, gradient = objective(x)
    rng = np.random.default_rng(seed)
    picks = rng.choice(len(x), size=min(n_checks, len(x)), replace=False)
    for k in picks:
        step = np.zeros_like(x)
        step[k] = h
        fd = (objective(x + step)[0] - objective(x - step)[0]) / (2 * h)
        np.testing.assert_allclose(gradient[k], fd, rtol=2e-5, atol=1e-9 * max(1.0, abs(value)))
    assert np.abs(gradient).max() > 1e-6
    objective(x)


@pytest.mark.parametrize("activation", ["t", "p", "s"])
@pytest.mark.parametrize("terms", ["energy", "forces", "stress", "all"])
def test_loss_gradient_matches_finite_differences(activation, terms):
    samples = emt_samples(6, element="Cu", size=1, seed=1, alloy="Au")
    weights = {"energy": dict(force_weight=0.0, stress_weight=0.0),
               "forces": dict(energy_weight=0.0, stress_weight=0.0),
               "stress": dict(energy_weight=0.0, force_weight=0.0, stress_weight=1.0),
               "all": dict(stress_weight=0.5)}[terms]
    objective = small_objective(samples, activation=activation, **weights)
    # move away from the initial weights so that every layer matters
    x = objective.pack()
    objective.unpack(x + np.random.default_rng(2).normal(size=x.size) * 0.3)
    finite_difference_check(objective)


def test_stress_of_the_training_set_matches_the_potential():
    samples = emt_samples(4, element="Cu", size=1, seed=11)
    objective = small_objective(samples, stress_weight=1.0)
    x = objective.pack()
    objective.unpack(x + np.random.default_rng(3).normal(size=x.size) * 0.3)
    objective(objective.pack())
    d = objective.data
    # the stress the loss sees equals the potential's own (memory-light) stress
    c = np.zeros(len(d.G))
    for k, e in enumerate(objective.elements):
        block = d.element_block(objective.X, k)
        _, g = objective.potential.networks[e].evaluate(block)
        c[d.block_start[k]:d.block_start[k + 1]] = (objective.potential.energy_unit * g
                                                    * objective.factor[k]).ravel()
    for k, sample in enumerate(samples):
        rows = d.row_structure == k
        stress = (c[rows, None] * d.strain[rows]).sum(axis=0) / d.volume[k]
        np.testing.assert_allclose(stress, objective.potential.evaluate(sample.atoms)["stress"],
                                   rtol=1e-10, atol=1e-12)


def test_structures_without_forces_or_energy_drop_out():
    samples = emt_samples(6, element="Cu", size=1, seed=3)
    samples[0].forces = None
    samples[1].energy = None
    objective = small_objective(samples)
    assert not objective.data.has_forces_atom[:objective.data.structure_start[1]].any()
    finite_difference_check(objective, n_checks=10)


def test_tiny_set_fits_to_near_zero_loss():
    samples = emt_samples(4, element="Cu", size=1, seed=4)
    trainer = Trainer({**SMALL, "valid_fraction": 0.0, "max_iterations": 400, "patience": 400},
                      log=quiet)
    objective = trainer.prepare(samples, [])
    start, _ = objective(objective.pack())
    potential = trainer.fit(samples, [])
    metrics = evaluate_samples(potential, samples)
    assert trainer.history[-1]["train_loss"] < 1e-3 * start
    assert metrics["energy_rmse"] < 2.0      # meV/atom
    assert metrics["forces_component_rmse"] < 30.0     # meV/Å


def test_resume_after_interruption_gives_the_same_result(tmp_path):
    samples = emt_samples(12, element="Cu", size=1, seed=5)
    options = {**SMALL, "checkpoint_every": 1e-9, "patience": 1000, "validate_every": 5}
    straight = Trainer({**options, "max_iterations": 30}, log=quiet).fit(samples,
                                                                          out=tmp_path / "a")
    Trainer({**options, "max_iterations": 15}, log=quiet).fit(samples, out=tmp_path / "b")
    resumed_trainer = Trainer({**options, "max_iterations": 30}, log=quiet)
    resumed = resumed_trainer.fit(samples, out=tmp_path / "b")
    for element in straight.elements:
        np.testing.assert_array_equal(straight.networks[element].weights,
                                      resumed.networks[element].weights)
    assert resumed_trainer.history[-1]["iteration"] == 30


def test_threads_give_the_same_loss_and_gradient():
    samples = emt_samples(8, element="Cu", size=2, seed=6, alloy="Ag")
    one = small_objective(samples, n_threads=1)
    two = small_objective(samples, n_threads=2)
    x = one.pack()
    v1, g1 = one(x)
    v2, g2 = two(x)
    np.testing.assert_allclose(v1, v2, rtol=1e-13)
    np.testing.assert_allclose(g1, g2, rtol=1e-12, atol=1e-14 * np.abs(g1).max())


def test_option_errors():
    with pytest.raises(ValueError, match="unknown option\\(s\\) hiden_layers; valid options:"):
        Trainer(hiden_layers=[5])
    with pytest.raises(ValueError, match="cutoff must be a positive number"):
        Trainer(cutoff=-1.0)
    with pytest.raises(ValueError, match="cannot all be 0"):
        Trainer(energy_weight=0.0, force_weight=0.0, stress_weight=0.0)
    with pytest.raises(ValueError, match="hidden_layers must be a list of positive integers"):
        Trainer(hidden_layers=[5, 0])


def test_training_data_errors():
    from ase.build import bulk
    with pytest.raises(ValueError, match="training data: no structures"):
        Trainer(log=quiet).fit([])
    bare = [Sample(bulk("Cu"))]
    with pytest.raises(ValueError, match="no energies and no forces"):
        Trainer(log=quiet).fit(bare)


def test_element_missing_from_model_is_named(tmp_path):
    samples = emt_samples(4, element="Cu", size=1, seed=7)
    potential = Trainer({**SMALL, "max_iterations": 3}, log=quiet).fit(samples)
    other = emt_samples(2, element="Au", size=1, seed=8)
    with pytest.raises(ValueError, match="EMT structure 0: atom 0 is Au"):
        evaluate_samples(potential, other)


def test_command_line_train_and_evaluate(tmp_path, capsys):
    from ase.io import write

    from fastpot.cli import main
    samples = emt_samples(16, element="Cu", size=1, seed=9)
    frames = []
    for s in samples:
        a = s.atoms.copy()
        a.info["energy"] = s.energy
        a.arrays["forces"] = s.forces
        a.info["stress"] = s.stress
        frames.append(a)
    write(tmp_path / "train.extxyz", frames[:12])
    write(tmp_path / "test.extxyz", frames[12:])
    config = tmp_path / "train.toml"
    config.write_text("[train]\ncutoff = 4.0\nn_shifted = 3\nn_centred = 2\nn_angular_eta = 1\n"
                      "zetas = [1.0, 4.0]\nhidden_layers = [6, 5]\nmax_iterations = 20\n")
    out = tmp_path / "run"
    assert main(["train", "--train", str(tmp_path / "train.extxyz"), "--test",
                 str(tmp_path / "test.extxyz"), "--out", str(out), "--config", str(config)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"train", "valid", "test", "elapsed_s"}
    for name in ("train", "valid", "test"):
        assert {"energy_rmse", "energy_mae", "forces_component_rmse", "forces_component_mae",
                "forces_vector_rmse", "forces_vector_mae", "stress_rmse", "stress_mae",
                "n_structures", "n_atoms"} <= set(metrics[name])
    assert metrics["test"]["n_structures"] == 4
    history = (out / "history.csv").read_text().splitlines()
    assert history[0].split(",") == [
        "iteration", "elapsed_s", "train_loss", "train_energy_rmse",
        "train_forces_component_rmse", "train_stress_rmse", "valid_energy_rmse",
        "valid_forces_component_rmse", "valid_stress_rmse", "valid_loss"]
    assert (out / "train.log").read_text().count("iter") >= 2
    model = Potential.load(out / "model.fastpot")
    assert model.elements == ("Cu",)
    assert main(["evaluate", str(out / "model.fastpot"), str(tmp_path / "test.extxyz"),
                 "--json", str(tmp_path / "eval.json")]) == 0
    assert "F per component RMSE" in capsys.readouterr().out
    again = json.loads((tmp_path / "eval.json").read_text())
    for key in ("forces_component_rmse", "forces_vector_rmse", "stress_rmse"):
        assert again[key] == pytest.approx(metrics["test"][key], rel=1e-10)
    config.write_text("[train]\nlearning_rate = 0.1\n")
    assert main(["train", "--train", str(tmp_path / "train.extxyz"), "--out", str(out),
                 "--config", str(config)]) == 2
    assert "unknown option(s) learning_rate" in capsys.readouterr().err


def test_force_subsampling_keeps_the_gradient_exact():
    samples = emt_samples(6, element="Cu", size=1, seed=12)
    objective = small_objective(samples, derivative_memory=6000.0)
    d = objective.data
    assert 0 < d.has_forces_atom.sum() < len(d.species)
    assert d.derivative_bytes <= 12000
    x = objective.pack()
    objective.unpack(x + np.random.default_rng(4).normal(size=x.size) * 0.3)
    finite_difference_check(objective, n_checks=10)
