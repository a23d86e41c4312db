"""Training: exact loss gradient, fitting, resume, threads, bad options and data, command line
(reading data: test_data.py)."""
import json

import numpy as np
import pytest

from fastpot import Potential
from fastpot.data import Sample
from fastpot.emt_data import emt_samples
from fastpot.training import Trainer, evaluate_samples
from potentials import labelled_frames

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
    d, X = objective.groups[0], objective.X[0]
    # the stress the loss sees equals the potential's own (memory-light) stress
    c = np.zeros(len(d.G))
    for k, e in enumerate(objective.elements):
        block = d.element_block(X, k)
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
    d = objective.groups[0]
    first = int(np.flatnonzero(d.indices == 0)[0])
    assert not d.has_forces_atom[d.structure_start[first]:d.structure_start[first + 1]].any()
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


RESUMABLE = {**SMALL, "optimizer": "adam+lbfgs", "checkpoint_every": 1e-9, "patience": 1000,
             "validate_every": 5, "batch_size": 4, "adam_epochs": 6, "max_iterations": 12}


def test_resume_after_a_longer_limit_gives_the_same_result(tmp_path):
    samples = emt_samples(12, element="Cu", size=1, seed=5)
    straight = Trainer({**RESUMABLE, "max_iterations": 30}, log=quiet).fit(samples,
                                                                            out=tmp_path / "a")
    Trainer({**RESUMABLE, "max_iterations": 15}, log=quiet).fit(samples, out=tmp_path / "b")
    resumed_trainer = Trainer({**RESUMABLE, "max_iterations": 30}, log=quiet)
    resumed = resumed_trainer.fit(samples, out=tmp_path / "b")
    for element in straight.elements:
        np.testing.assert_array_equal(straight.networks[element].weights,
                                      resumed.networks[element].weights)
    assert resumed_trainer.history[-1]["iteration"] == 30


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("calls", [5, 14, 31])    # in the Adam phase (3 steps an epoch), in L-BFGS
def test_resume_after_an_interruption_gives_the_same_result(tmp_path, monkeypatch, calls):
    from fastpot.loss import Loss
    samples = emt_samples(12, element="Cu", size=1, seed=5)
    straight = Trainer(RESUMABLE, log=quiet).fit(samples, out=tmp_path / "a")
    original = Loss.__call__
    count = {"n": 0}

    def failing(self, x, group=None):
        count["n"] += 1
        if count["n"] > calls:
            raise Interrupt()
        return original(self, x, group)

    monkeypatch.setattr(Loss, "__call__", failing)
    with pytest.raises(Interrupt):
        Trainer(RESUMABLE, log=quiet).fit(samples, out=tmp_path / "b")
    monkeypatch.setattr(Loss, "__call__", original)
    messages = []
    resumed = Trainer(RESUMABLE, log=messages.append).fit(samples, out=tmp_path / "b")
    assert any("resumed from" in m for m in messages)
    for element in straight.elements:
        np.testing.assert_array_equal(straight.networks[element].weights,
                                      resumed.networks[element].weights)


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
    with pytest.raises(ValueError, match="optimizer must be one of auto, lbfgs, adam\\+lbfgs, adam, "
                                         "kalman\\+lbfgs, kalman, got 'sgd'"):
        Trainer(optimizer="sgd")
    with pytest.raises(ValueError, match=r"adam_time_fraction must be in \(0, 1\], got 0"):
        Trainer(adam_time_fraction=0)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        Trainer(batch_size=0)
    with pytest.raises(ValueError, match="learning_rate must be a positive number"):
        Trainer(learning_rate=-1e-3)


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
    frames = labelled_frames(emt_samples(16, element="Cu", size=1, seed=9))
    write(tmp_path / "train.extxyz", frames[:12])
    write(tmp_path / "test.extxyz", frames[12:])
    config = tmp_path / "train.toml"
    config.write_text("[train]\ncutoff = 4.0\nn_shifted = 3\nn_centred = 2\nn_angular_eta = 1\n"
                      "zetas = [1.0, 4.0]\nhidden_layers = [6, 5]\nmax_iterations = 20\n"
                      "optimizer = \"adam+lbfgs\"\nadam_epochs = 30\n")
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
    assert history[0].split(",")[:-1] == [
        "phase", "iteration", "elapsed_s", "train_loss", "train_energy_rmse",
        "train_forces_component_rmse", "train_stress_rmse", "valid_energy_rmse",
        "valid_forces_component_rmse", "valid_stress_rmse", "valid_loss"]
    assert history[0].split(",")[-1] == "learning_rate"     # Adam's rows have it
    assert {row.split(",")[0] for row in history[1:]} == {"adam", "lbfgs"}
    log = (out / "train.log").read_text()
    assert log.count("iter") >= 2 and "left" in log and "Adam phase ended" in log
    pytest.importorskip("matplotlib")
    assert (out / "learning_curve.png").stat().st_size > 1000
    model = Potential.load(out / "model.fastpot")
    assert model.elements == ("Cu",)
    assert main(["evaluate", str(out / "model.fastpot"), str(tmp_path / "test.extxyz"),
                 "--json", str(tmp_path / "eval.json")]) == 0
    assert "F per component RMSE" in capsys.readouterr().out
    again = json.loads((tmp_path / "eval.json").read_text())
    for key in ("forces_component_rmse", "forces_vector_rmse", "stress_rmse"):
        assert again[key] == pytest.approx(metrics["test"][key], rel=1e-10)
    config.write_text("[train]\nlearnig_rate = 0.1\n")
    assert main(["train", "--train", str(tmp_path / "train.extxyz"), "--out", str(out),
                 "--config", str(config)]) == 2
    assert "unknown option(s) learnig_rate" in capsys.readouterr().err


def test_force_subsampling_keeps_the_gradient_exact():
    samples = emt_samples(6, element="Cu", size=1, seed=12)
    objective = small_objective(samples, derivative_memory=6000.0)
    d = objective.groups[0]
    assert 0 < d.has_forces_atom.sum() < len(d.species)
    assert d.derivative_bytes <= 12000
    x = objective.pack()
    objective.unpack(x + np.random.default_rng(4).normal(size=x.size) * 0.3)
    finite_difference_check(objective, n_checks=10)


def test_minibatches_add_up_to_the_full_loss_and_gradient():
    samples = emt_samples(10, element="Cu", size=1, seed=13, alloy="Au")
    objective = small_objective(samples, batch_size=3, stress_weight=0.5, l2=1e-3)
    assert len(objective.groups) == 4
    x = objective.pack()
    x = x + np.random.default_rng(5).normal(size=x.size) * 0.3
    value, gradient = objective(x)
    parts = [objective(x, group=b) for b in range(4)]
    l2_value, l2_gradient = 1e-3 * float(x @ x), 2e-3 * x
    # each minibatch estimates the whole loss: scaled by the number of groups
    np.testing.assert_allclose(sum(v - l2_value for v, _ in parts) / 4, value - l2_value,
                               rtol=1e-12)
    np.testing.assert_allclose(sum(g - l2_gradient for _, g in parts) / 4,
                               gradient - l2_gradient, rtol=1e-10, atol=1e-12)
    # and its gradient is exact
    for b in (0, 3):
        h = 1e-6
        k = int(np.argmax(np.abs(parts[b][1])))
        step = np.zeros_like(x)
        step[k] = h
        fd = (objective(x + step, group=b)[0] - objective(x - step, group=b)[0]) / (2 * h)
        assert parts[b][1][k] == pytest.approx(fd, rel=1e-5)


def test_adam_minimises_a_quadratic_and_resumes_exactly():
    from fastpot.optimize import Adam
    scale = np.array([1.0, 10.0, 100.0])

    def gradient(x):
        return 2 * scale * (x - 1.0)

    adam = Adam(np.zeros(3))
    for _ in range(100):
        adam.step(gradient(adam.state["x"]), 0.05)
    copy = Adam.from_arrays(adam.save_arrays())
    for _ in range(2000):
        adam.step(gradient(adam.state["x"]), 0.01)
        copy.step(gradient(copy.state["x"]), 0.01)
    np.testing.assert_allclose(adam.state["x"], 1.0, atol=1e-3)
    np.testing.assert_array_equal(adam.state["x"], copy.state["x"])


def test_lbfgs_backtracks_when_the_first_wolfe_search_fails(monkeypatch):
    # after Adam, the history-free first L-BFGS step failed its Wolfe search on TiO2 and the
    # fit stopped with half its budget left: it must fall back to a shorter step instead
    from fastpot import optimize

    def fun(x):                                # steep: the unit steepest-descent step is far too long
        return 1e6 * float(x @ x), 2e6 * x

    monkeypatch.setattr(optimize, "line_search", lambda *args, **kwargs: (None,) * 6)
    lbfgs = optimize.LBFGS(fun, np.full(4, 1e-3))
    before = lbfgs.state["f"]
    assert lbfgs.step()
    assert lbfgs.state["f"] < before and lbfgs.state["iteration"] == 1
    # at the minimum there is no decrease to find: it says so instead of looping
    assert not optimize.LBFGS(fun, np.zeros(4)).step()


def test_outlier_options_leave_out_what_they_say():
    from fastpot.training import _without_outliers, DEFAULTS
    samples = emt_samples(8, element="Cu", size=1, seed=14)
    samples[3].forces = samples[3].forces.copy()
    samples[3].forces[0] = [30.0, 0.0, 40.0]          # |F| = 50 eV/Å
    samples[5].energy += 2.0 * samples[5].n_atoms     # 2 eV/atom above the rest
    messages = []
    kept = _without_outliers(samples, {**DEFAULTS, "max_force": 20.0,
                                       "max_energy_above_minimum": 1.0}, messages.append)
    assert [s for s in samples if s not in kept] == [samples[3], samples[5]]
    assert "1 structure(s) left out, the largest force 50.0 eV/Å in EMT structure 3" in \
        messages[0]
    assert "1 structure(s) left out, the highest" in messages[1] and "structure 5" in \
        messages[1]
    assert _without_outliers(samples, DEFAULTS, messages.append) == samples
    with pytest.raises(ValueError, match="leave no training structure"):
        _without_outliers(samples, {**DEFAULTS, "max_force": 1e-6}, quiet)
    with pytest.raises(ValueError, match="max_force must be a positive number or None"):
        Trainer(max_force=-1.0)


def test_polynomial_descriptors_train_with_an_exact_gradient():
    samples = emt_samples(6, element="Cu", size=1, seed=15, alloy="Au")
    objective = small_objective(samples, descriptors="polynomial", stress_weight=0.5)
    assert {f.kind for fs in objective.potential.sf.functions.values() for f in fs} == \
        {20, 22}
    x = objective.pack()
    objective.unpack(x + np.random.default_rng(4).normal(size=x.size) * 0.3)
    finite_difference_check(objective)
    with pytest.raises(ValueError, match="descriptors must be one of gaussian, polynomial, "
                                         "got 'chebyshev'"):
        Trainer(descriptors="chebyshev")
