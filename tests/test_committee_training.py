"""Training a committee: members share the prepared descriptors, each leaves out its own
structures, has its own seed and checkpoint; the command line writes a committee model."""
import json

import numpy as np
import pytest

from fastpot import Potential
from fastpot.emt_data import emt_samples
from fastpot.loss import Loss
from fastpot.training import Trainer, evaluate_samples
from potentials import labelled_frames

SMALL = dict(cutoff=4.0, n_shifted=3, n_centred=2, n_angular_eta=1, zetas=[1.0, 4.0],
             hidden_layers=[6, 5], valid_fraction=0.25, time_budget=60.0, max_iterations=30,
             validate_every=5)


def quiet(*args, **kwargs):
    pass


def member_losses(samples, **options):
    trainer = Trainer({**SMALL, "committee": 3, **options}, log=quiet)
    base = trainer.prepare(samples, [])
    return base, trainer._committee_losses(base, samples)


def test_members_share_descriptors_and_leave_out_their_own_structures():
    samples = emt_samples(10, element="Cu", size=1, seed=21)
    base, members = member_losses(samples, committee_leave_out=0.3)
    left_out = []
    for member in members:
        assert member.groups is base.groups and member.X is base.X   # shared, not copied
        keep = np.concatenate([k for k in member.keep])
        indices = np.concatenate([g.indices for g in member.groups])
        assert (~keep).sum() == 3
        left_out.append(frozenset(indices[~keep]))
    assert len(set(left_out)) == 3          # each member its own part
    weights = [member.pack() for member in members]
    assert not np.allclose(weights[0], weights[1])    # its own seed


def test_left_out_references_do_not_enter_a_members_loss():
    samples = emt_samples(10, element="Cu", size=1, seed=22, alloy="Au")
    _, members = member_losses(samples)
    member = members[1]
    x = member.pack()
    value, gradient = member(x)
    group = member.groups[0]
    out = int(np.flatnonzero(~member.keep[0])[0])
    kept = int(np.flatnonzero(member.keep[0])[0])
    for k, changes in ((out, False), (kept, True)):
        a, b = group.structure_start[k], group.structure_start[k + 1]
        saved_energy, saved_forces = group.energy[k], group.forces[a:b].copy()
        group.energy[k] += 1.0
        group.forces[a:b] += 0.5
        new_value, new_gradient = member(x)
        group.energy[k], group.forces[a:b] = saved_energy, saved_forces
        assert (new_value != value) == changes
        assert (not np.array_equal(new_gradient, gradient)) == changes
    # the members' sums count the kept structures only
    assert member.last_sums["energy_n"] == member.keep[0].sum()


def test_a_members_gradient_matches_finite_differences():
    samples = emt_samples(8, element="Cu", size=1, seed=23, alloy="Au")
    _, members = member_losses(samples, stress_weight=0.5)
    member = members[2]
    x = member.pack() + np.random.default_rng(1).normal(size=member.pack().size) * 0.3
    value, gradient = member(x)
    rng = np.random.default_rng(0)
    h = 1e-6
    for k in rng.choice(len(x), size=15, replace=False):
        step = np.zeros_like(x)
        step[k] = h
        numeric = (member(x + step)[0] - member(x - step)[0]) / (2 * h)
        np.testing.assert_allclose(gradient[k], numeric, rtol=2e-5, atol=1e-9 * abs(value))


def test_committee_fit_is_a_reproducible_committee(tmp_path):
    samples = emt_samples(16, element="Cu", size=1, seed=24)
    messages = []
    trainer = Trainer({**SMALL, "committee": 3}, log=messages.append)
    potential = trainer.fit(samples, out=tmp_path / "a")
    assert potential.is_committee and potential.n_members == 3
    assert len(potential.metadata["members"]) == 3
    assert {row["member"] for row in trainer.history} == {0, 1, 2}
    assert any(m.startswith("member 3/3: training for at most") for m in messages)
    for k in range(3):
        assert (tmp_path / "a" / f"checkpoint_member{k}.npz").is_file()
    header = (tmp_path / "a" / "history.csv").read_text().splitlines()[0].split(",")
    assert "member" in header
    again = Trainer({**SMALL, "committee": 3}, log=quiet).fit(samples, out=tmp_path / "b")
    for a, b in zip(potential.members, again.members):
        np.testing.assert_array_equal(a["Cu"].weights, b["Cu"].weights)
    metrics = evaluate_samples(potential, trainer.samples["valid"])
    assert metrics["energy_std_mean"] > 0
    assert -1.0 <= metrics["energy_std_spearman"] <= 1.0
    # each member is better than its random start: the mean is a trained model
    assert metrics["energy_rmse"] < 50.0


class Interrupt(Exception):
    pass


def test_an_interrupted_committee_resumes_keeping_finished_members(tmp_path, monkeypatch):
    samples = emt_samples(12, element="Cu", size=1, seed=25)
    # L-BFGS alone, whose loss calls the interruption below counts
    options = {**SMALL, "committee": 2, "checkpoint_every": 1e-9, "optimizer": "lbfgs"}
    straight = Trainer(options, log=quiet).fit(samples, out=tmp_path / "a")
    original = Loss.__call__
    count = {"n": 0}

    def failing(self, x, group=None):
        count["n"] += 1
        if count["n"] > 45:           # in the second member
            raise Interrupt()
        return original(self, x, group)

    monkeypatch.setattr(Loss, "__call__", failing)
    with pytest.raises(Interrupt):
        Trainer(options, log=quiet).fit(samples, out=tmp_path / "b")
    monkeypatch.setattr(Loss, "__call__", original)
    messages = []
    resumed = Trainer(options, log=messages.append).fit(samples, out=tmp_path / "b")
    assert any(m.startswith("member 1/2: finished in") and m.endswith("kept")
               for m in messages)
    assert any(m.startswith("member 2/2: resumed from") for m in messages)
    for a, b in zip(straight.members, resumed.members):
        np.testing.assert_array_equal(a["Cu"].weights, b["Cu"].weights)


@pytest.mark.parametrize("options, message", [
    ({"committee": 0}, "committee must be a positive integer, got 0"),
    ({"committee": 2.5}, "committee must be a positive integer, got 2.5"),
    ({"committee_leave_out": 1.0}, "committee_leave_out must be in \\[0, 1\\), got 1.0"),
    ({"committee_leave_out": -0.1}, "committee_leave_out must be in \\[0, 1\\), got -0.1"),
])
def test_committee_option_errors(options, message):
    with pytest.raises(ValueError, match=message):
        Trainer(options)


def test_command_line_trains_a_committee(tmp_path, capsys):
    from ase.io import write

    from fastpot.cli import main
    # with stress too: the committee fits it like one model
    write(tmp_path / "train.extxyz", labelled_frames(emt_samples(16, element="Cu", size=1,
                                                                 seed=26)))
    config = tmp_path / "small.toml"
    config.write_text("\n".join(f"{k} = {json.dumps(v)}" for k, v in SMALL.items()) + "\n")
    assert main(["train", "--train", str(tmp_path / "train.extxyz"), "--out",
                 str(tmp_path / "out"), "--config", str(config), "--committee", "2"]) == 0
    potential = Potential.load(tmp_path / "out" / "model.fastpot")
    assert potential.n_members == 2
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["valid"]["energy_std_mean"] > 0
    assert "committee E std" in capsys.readouterr().out
