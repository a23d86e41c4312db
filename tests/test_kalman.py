"""Kalman-filter training: the block update against a dense reference and exact least
squares, the measurements' Jacobians against finite differences, and training by it."""
import numpy as np
import pytest

from fastpot import _kernels
from fastpot.emt_data import emt_samples
from fastpot.kalman import Measurements
from fastpot.metrics import evaluate_samples
from fastpot.training import Trainer

SMALL = dict(cutoff=4.0, n_shifted=3, n_centred=2, n_angular_eta=1, zetas=[1.0, 4.0],
             hidden_layers=[6, 5], valid_fraction=0.25, time_budget=60.0)


def quiet(*args, **kwargs):
    pass


def blocks_of(sizes, rng):
    """A random partition of sum(sizes) weights into blocks of these sizes."""
    index = rng.permutation(sum(sizes)).astype(np.int64)
    block_start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    p_start = np.concatenate([[0], np.cumsum(np.square(sizes))]).astype(np.int64)
    return index, block_start, p_start


def random_covariances(sizes, rng):
    parts = []
    for n in sizes:
        m = rng.normal(size=(n, n))
        parts.append((m @ m.T + n * np.eye(n)).ravel())
    return np.concatenate(parts)


def dense_of(P, sizes, index, block_start, p_start):
    """The block-diagonal covariance in weight order."""
    n = sum(sizes)
    dense = np.zeros((n, n))
    for b, size in enumerate(sizes):
        rows = index[block_start[b]:block_start[b + 1]]
        dense[np.ix_(rows, rows)] = P[p_start[b]:p_start[b + 1]].reshape(size, size)
    return dense


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("m", [1, 3])
def test_block_update_matches_a_dense_reference(n_threads, m):
    from fastpot.kalman import KalmanFilter
    rng = np.random.default_rng(0)
    sizes = [3, 1, 5, 2]
    index, block_start, p_start = blocks_of(sizes, rng)
    n = sum(sizes)
    filt = KalmanFilter.__new__(KalmanFilter)
    filt.P, filt.index, filt.block_start, filt.p_start = (random_covariances(sizes, rng),
                                                          index, block_start, p_start)
    filt._kernel = _kernels.module("_kalman")
    filt.n_threads, filt.lam, filt.nu, filt.updates = n_threads, 0.98, 0.9, 10
    filt.q0, filt.q_tau, filt.q_min = 0.05, 20.0, 0.0
    H, w, errors = rng.normal(size=(m, n)), rng.normal(size=n), rng.normal(size=m)
    dense = dense_of(filt.P, sizes, index, block_start, p_start)
    lams = [0.98, 0.98 * 0.9 + 0.1, (0.98 * 0.9 + 0.1) * 0.9 + 0.1][:m]
    S = 0.98 * np.eye(m) + H @ dense @ H.T
    K = dense @ H.T @ np.linalg.inv(S)
    w_ref = w + K @ errors
    q = sum(0.05 * np.exp(-(10 + k) / 20.0) for k in range(m))
    dense_ref = (dense - K @ H @ dense) / np.prod(lams) + q * np.eye(n)
    filt.update(w, errors, H)
    np.testing.assert_allclose(w, w_ref, rtol=1e-12, atol=1e-14)
    for b, size in enumerate(sizes):
        rows = index[block_start[b]:block_start[b + 1]]
        block = filt.P[p_start[b]:p_start[b + 1]].reshape(size, size)
        np.testing.assert_allclose(block, dense_ref[np.ix_(rows, rows)], rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(block, block.T)       # exactly symmetric
    assert filt.updates == 10 + m
    assert filt.lam == pytest.approx(lams[-1] * 0.9 + 0.1)


@pytest.mark.parametrize("m", [1, 5])
def test_one_block_without_forgetting_is_exact_ridge_least_squares(m):
    # RLS from w = 0, P = delta I with lam = 1 ends at argmin |y - Hw|^2 + |w|^2 / delta,
    # whether the measurements come one at a time or m together
    from fastpot.kalman import KalmanFilter
    rng = np.random.default_rng(1)
    n, count, delta = 4, 30, 10.0
    H = rng.normal(size=(count, n))
    y = H @ rng.normal(size=n) + 0.1 * rng.normal(size=count)
    index, block_start, p_start = blocks_of([n], rng)
    filt = KalmanFilter.__new__(KalmanFilter)
    filt.P, filt.index, filt.block_start, filt.p_start = ((delta * np.eye(n)).ravel(), index,
                                                          block_start, p_start)
    filt._kernel = _kernels.module("_kalman")
    filt.n_threads, filt.lam, filt.nu, filt.updates = 1, 1.0, 0.9987, 0
    filt.q0, filt.q_tau, filt.q_min = 0.0, 1.0, 0.0
    w = np.zeros(n)
    for k in range(0, count, m):
        filt.update(w, y[k:k + m] - H[k:k + m] @ w, H[k:k + m])
    exact = np.linalg.solve(H.T @ H + np.eye(n) / delta, H.T @ y)
    np.testing.assert_allclose(w, exact, rtol=1e-10)


def measurements(**options):
    samples = emt_samples(6, element="Cu", size=1, seed=3, alloy="Au")
    trainer = Trainer({**SMALL, **options}, log=quiet)
    loss = trainer.prepare(samples, [])
    x = loss.pack()
    x = x + np.random.default_rng(7).normal(size=x.size) * 0.3
    return loss, Measurements(loss), x


def test_the_energy_measurement_is_the_scaled_energy_error_with_an_exact_jacobian():
    loss, meas, x = measurements()
    i = int(loss.groups[0].indices[1])
    error, H = meas.energy(x, i)
    h = 1e-6
    for k in np.random.default_rng(0).choice(len(x), 12, replace=False):
        step = np.zeros_like(x)
        step[k] = h
        # error = scale (E_ref - E) / n, so d error / dw = -H
        fd = (meas.energy(x + step, i)[0] - meas.energy(x - step, i)[0]) / (2 * h)
        assert -fd == pytest.approx(H[k], rel=1e-5, abs=1e-9)
    assert np.abs(H).max() > 1e-3


def test_the_energy_error_agrees_with_the_loss():
    loss, meas, x = measurements(force_weight=0.0, stress_weight=0.0)
    value, _ = loss(x)
    total = 0.0
    for i in meas.where:
        error, _ = meas.energy(x, i)
        total += error * error
    # loss = w_e sum residual^2 with w_e = we_metric / n_e and error = sqrt(we_metric) residual
    assert total / len(meas.where) == pytest.approx(value - loss.l2 * float(x @ x), rel=1e-10)


def test_the_force_measurement_is_a_signed_sum_with_an_exact_jacobian():
    loss, meas, x = measurements()
    i = int(loss.groups[0].indices[2])
    chunks = meas.force_chunks(i, 3, seed=0, epoch=0)
    b, s = meas.where[i]
    d = loss.groups[b]
    assert sorted(np.concatenate(chunks)) == list(range(d.structure_start[s],
                                                        d.structure_start[s + 1]))
    atoms = chunks[0]
    error, H = meas.forces(x, i, atoms)
    assert error > 0                    # signed so that no error cancels
    h = 1e-6
    for k in np.random.default_rng(1).choice(len(x), 12, replace=False):
        step = np.zeros_like(x)
        step[k] = h
        up, down = meas.forces(x + step, i, atoms)[0], meas.forces(x - step, i, atoms)[0]
        assert -(up - down) / (2 * h) == pytest.approx(H[k], rel=1e-5, abs=1e-9)
    assert np.abs(H).max() > 1e-3


def test_a_structure_measures_its_energy_then_each_force_chunk():
    loss, meas, x = measurements()
    i = int(loss.groups[0].indices[2])
    chunks = meas.force_chunks(i, 2, seed=0, epoch=1)
    assert len(chunks) > 1
    errors, H = meas.structure(x, i, chunks)
    assert errors.shape == (1 + len(chunks),) and H.shape == (1 + len(chunks), len(x))
    expected = [meas.energy(x, i)] + [meas.forces(x, i, atoms) for atoms in chunks]
    for row, (error, h) in enumerate(expected):
        assert errors[row] == error
        np.testing.assert_array_equal(H[row], h)


KALMAN = {**SMALL, "optimizer": "kalman+lbfgs", "kalman_epochs": 4, "max_iterations": 6,
          "validate_every": 2, "patience": 1000, "checkpoint_every": 1e-9}


def test_kalman_epochs_lower_the_validation_error_quickly():
    samples = emt_samples(24, element="Cu", size=1, seed=8, alloy="Au")
    test = emt_samples(8, element="Cu", size=1, seed=80, alloy="Au")
    trainer = Trainer({**KALMAN, "optimizer": "kalman", "kalman_epochs": 6,
                       "kalman_lambda": 0.98}, log=quiet)
    start = evaluate_samples(trainer.prepare(samples[:18], samples[18:]).potential, test)
    potential = trainer.fit(samples)
    rows = trainer.history
    assert [r["phase"] for r in rows] == ["kalman"] * 6
    assert potential.metadata["kalman_epochs"] == 6
    assert potential.metadata["stop_reason"] == "kalman_epochs"
    end = evaluate_samples(potential, test)
    assert end["energy_rmse"] < 0.5 * start["energy_rmse"]
    assert end["forces_component_rmse"] < 0.7 * start["forces_component_rmse"]
    # the forgetting factor tends to 1
    assert 0.98 < rows[0]["kalman_lambda"] < rows[-1]["kalman_lambda"] < 1.0


def test_process_noise_decays_to_its_floor_and_keeps_the_covariance_open():
    from fastpot.kalman import KalmanFilter
    loss, meas, x = measurements()
    kalman = KalmanFilter(loss, q0=1e-2, q_tau=50.0, q_min=1e-4)
    assert kalman.process_noise() == 1e-2
    kalman.updates = 50
    assert kalman.process_noise() == pytest.approx(1e-2 / np.e)
    kalman.updates = 10000
    assert kalman.process_noise() == 1e-4
    # the same measurement applied many times: without noise P's diagonal collapses
    closed = KalmanFilter(loss)
    kalman.updates = 0
    i = int(loss.groups[0].indices[1])
    for filt in (closed, kalman):
        w = x.copy()
        for _ in range(200):
            error, H = meas.energy(w, i)
            filt.update(w, error, H)
    diag = lambda f: f.P[f.p_start[:-1]]                  # first diagonal entry per block
    assert diag(kalman).min() >= 1e-4 * 0.999
    assert diag(closed).min() < diag(kalman).min()


def weights_of(potential):
    return np.concatenate([potential.networks[e].weights for e in potential.elements])


def test_one_and_two_threads_follow_the_same_path(tmp_path):
    samples = emt_samples(10, element="Cu", size=1, seed=9, alloy="Au")
    one = Trainer({**KALMAN, "n_threads": 1}, log=quiet)
    straight = one.fit(samples, out=tmp_path / "a")
    assert {r["phase"] for r in one.history} == {"kalman", "lbfgs"}
    two = Trainer({**KALMAN, "n_threads": 2}, log=quiet).fit(samples)
    np.testing.assert_allclose(weights_of(two), weights_of(straight), rtol=1e-9, atol=1e-12)


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("calls", [2, 5])          # in the Kalman phase, in L-BFGS
def test_resume_after_an_interruption_gives_the_same_result(tmp_path, monkeypatch, calls):
    from fastpot.loss import Loss
    samples = emt_samples(10, element="Cu", size=1, seed=9, alloy="Au")
    straight = Trainer(KALMAN, log=quiet).fit(samples, out=tmp_path / "a")
    original = Loss.__call__
    count = {"n": 0}

    def failing(self, x, group=None):
        count["n"] += 1
        if count["n"] > calls:
            raise Interrupt()
        return original(self, x, group)

    monkeypatch.setattr(Loss, "__call__", failing)
    with pytest.raises(Interrupt):
        Trainer(KALMAN, log=quiet).fit(samples, out=tmp_path / "b")
    monkeypatch.setattr(Loss, "__call__", original)
    messages = []
    resumed = Trainer(KALMAN, log=messages.append).fit(samples, out=tmp_path / "b")
    assert any("resumed from" in m for m in messages)
    np.testing.assert_array_equal(weights_of(resumed), weights_of(straight))


def test_a_finished_kalman_fit_resumes_in_the_filter(tmp_path):
    samples = emt_samples(10, element="Cu", size=1, seed=9, alloy="Au")
    options = {**KALMAN, "optimizer": "kalman"}
    Trainer(options, log=quiet).fit(samples, out=tmp_path)
    messages = []
    trainer = Trainer({**options, "time_budget": 90.0}, log=messages.append)
    trainer.fit(samples, out=tmp_path)              # the budget is not in the fingerprint
    assert any("in the kalman phase at epoch 4" in m for m in messages)
    assert [r["phase"] for r in trainer.history] == ["kalman"] * 4


@pytest.mark.parametrize("option, value, message", [
    ("optimizer", "ekf", "optimizer must be one of auto, lbfgs, adam\\+lbfgs, adam, "
                         "kalman\\+lbfgs, kalman, got 'ekf'"),
    ("kalman_epochs", 0, "kalman_epochs must be a positive integer, got 0"),
    ("kalman_force_atoms", 1.5, "kalman_force_atoms must be a positive integer, got 1.5"),
    ("kalman_p0", -1.0, "kalman_p0 must be a positive number, got -1.0"),
    ("kalman_lambda", 1.2, "kalman_lambda must be in \\[0.5, 1\\], got 1.2"),
    ("kalman_nu", float("nan"), "kalman_nu must be in \\[0.5, 1\\], got nan"),
    ("kalman_time_fraction", 0, "kalman_time_fraction must be in \\(0, 1\\], got 0"),
    ("kalman_q0", -1e-3, "kalman_q0 must be a number >= 0, got -0.001"),
    ("kalman_q_min", "none", "kalman_q_min must be a number >= 0, got 'none'"),
    ("kalman_q_tau", 0, "kalman_q_tau must be a positive number of updates, got 0"),
])
def test_option_errors(option, value, message):
    with pytest.raises(ValueError, match=message):
        Trainer(**{option: value})
