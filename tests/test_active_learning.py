"""The active-learning loop of the README, end to end on EMT copper (EMT stands in for DFT):
train a committee on near-equilibrium cells -> MD of a compressed crystal -> select the
frames the committee disagrees on -> label them with EMT -> retrain. The round lowers the
error on compressed cells; fastpot select's own behaviour and errors are checked too."""
import json

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.io import read, write

from fastpot import Potential
from fastpot.cli import main
from fastpot.select import frame_summary, select_frames
from fastpot.training import evaluate_samples
from fastpot.data import read_samples

# iterations, not the time budget, end these fits: the same models on slow machines
# (L-BFGS alone: a number of iterations bounds it, and the selection, not the optimizer, is
# under test)
SMALL = dict(cutoff=4.5, n_shifted=4, n_centred=2, n_angular_eta=1, zetas=[1.0, 4.0],
             hidden_layers=[8, 8], optimizer="lbfgs", max_iterations=150, time_budget=3600.0)


def labelled(frames):
    """EMT energies and forces (the DFT step)."""
    for atoms in frames:
        atoms.calc = EMT()
        atoms.get_forces()
    return frames


def cells(n, scale=1.0, rattle=0.08, seed=0, size=2):
    frames = []
    for k in range(n):
        atoms = bulk("Cu", "fcc", a=3.6 * scale, cubic=True).repeat(size)
        atoms.rattle(rattle, seed=seed + k)
        frames.append(atoms)
    return frames


@pytest.fixture(scope="module")
def round0(tmp_path_factory):
    folder = tmp_path_factory.mktemp("active")
    write(folder / "train.extxyz", labelled(cells(24, seed=0)))
    (folder / "small.toml").write_text(
        "\n".join(f"{k} = {json.dumps(v)}" for k, v in SMALL.items()) + "\n")
    assert main(["train", "--train", str(folder / "train.extxyz"), "--out",
                 str(folder / "round0"), "--config", str(folder / "small.toml"),
                 "--committee", "3", "--threads", "2"]) == 0
    return folder


def test_one_round_of_select_label_retrain_lowers_the_error(round0, capsys):
    folder = round0
    model0 = folder / "round0" / "model.fastpot"
    # MD explores what the data lack: a crystal compressed by 4 %, hot
    write(folder / "start.extxyz", cells(1, scale=0.96, rattle=0.0)[0])
    assert main(["md", str(model0), str(folder / "start.extxyz"), "--ensemble", "nvt-langevin",
                 "--temperature", "600", "--steps", "300", "--every", "10",
                 "--traj", str(folder / "md.extxyz"), "--log", str(folder / "thermo.csv"),
                 "--threads", "2"]) == 0
    assert main(["select", str(model0), str(folder / "md.extxyz"), "--n", "6", "--out",
                 str(folder / "candidates.extxyz")]) == 0
    printed = capsys.readouterr().out
    assert "wrote 6 of 31 frames" in printed
    candidates = read(folder / "candidates.extxyz", ":")
    assert len(candidates) == 6
    assert all(atoms.calc is None and "forces" not in atoms.arrays for atoms in candidates)
    # the committee is more uncertain on the compressed frames than on its training data
    potential0 = Potential.load(model0)
    train = read(folder / "train.extxyz", ":")
    train_std = select_frames(potential0, train, 1, min_distance=0)[0]["disagreement"]
    assert min(a.info["committee_max_force_std"] for a in candidates) > train_std

    write(folder / "train1.extxyz", train + labelled(candidates))
    assert main(["train", "--train", str(folder / "train1.extxyz"), "--out",
                 str(folder / "round1"), "--config", str(folder / "small.toml"),
                 "--committee", "3", "--threads", "2"]) == 0
    potential1 = Potential.load(folder / "round1" / "model.fastpot")
    # the kind of structures selected: the trajectory's other frames, labelled by EMT
    chosen = {atoms.info["frame"] for atoms in candidates}
    trajectory = read(folder / "md.extxyz", ":")
    others = [trajectory[k].copy() for k in range(len(trajectory)) if k not in chosen]
    write(folder / "check.extxyz", labelled(others))
    check = read_samples(folder / "check.extxyz")
    before = evaluate_samples(potential0, check)
    after = evaluate_samples(potential1, check)
    assert after["energy_rmse"] < 0.5 * before["energy_rmse"], (before, after)
    assert after["forces_component_rmse"] < 0.9 * before["forces_component_rmse"]
    assert after["energy_std_mean"] < 0.2 * before["energy_std_mean"]


def test_near_duplicates_are_skipped_and_the_order_is_by_disagreement(round0):
    potential = Potential.load(round0 / "round0" / "model.fastpot")
    near = cells(1, rattle=0.08, seed=50)      # and two nearly the same, as MD frames 1 fs apart
    for seed in (1, 2):
        near.append(near[0].copy())
        near[-1].rattle(0.002, seed=seed)
    strained = [cells(1, scale=s, rattle=0.08, seed=60)[0] for s in (0.95, 0.97, 1.03)]
    frames = near + strained + [strained[0].copy()]       # the last: a duplicate
    everything = select_frames(potential, frames, len(frames), min_distance=0)
    values = [entry["disagreement"] for entry in everything]
    assert values == sorted(values, reverse=True) and len(everything) == len(frames)
    picked = select_frames(potential, frames, len(frames))
    indices = {entry["index"] for entry in picked}
    # one of the three thermal frames, one of the two copies, the two other strained cells
    assert len(indices & {0, 1, 2}) == 1 and len(indices & {3, 6}) == 1
    assert {4, 5} <= indices and len(picked) == 4
    # each pick counts the more uncertain frames skipped since the previous pick
    expected, since = [], 0
    for index in (entry["index"] for entry in everything):
        if index in indices:
            expected.append(since)
            since = 0
        else:
            since += 1
    assert [entry["skipped"] for entry in picked] == expected
    # the summary distance tells the kinds apart: near-copies, thermal noise, strain
    d = lambda a, b: np.sqrt(np.mean((frame_summary(potential, a)  # noqa: E731
                                      - frame_summary(potential, b)) ** 2))
    other = cells(1, rattle=0.08, seed=70)[0]
    assert d(near[0], near[1]) < 0.01 < d(near[0], other) < d(near[0], strained[1])
    by_energy = select_frames(potential, frames, 2, by="energy", min_distance=0)
    assert by_energy[0]["disagreement"] == pytest.approx(
        potential.evaluate(frames[by_energy[0]["index"]])["energy_std"] / len(frames[0]))


def test_select_errors(round0, tmp_path, capsys):
    model = round0 / "round0" / "model.fastpot"
    potential = Potential.load(model)
    frames = cells(2)
    single = potential.member(0)
    with pytest.raises(ValueError, match="selection needs a committee potential"):
        select_frames(single, frames, 1)
    for n in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="number of frames to select must be a positive "
                                             "integer"):
            select_frames(potential, frames, n)
    with pytest.raises(ValueError, match="by must be one of forces, energy, got 'stress'"):
        select_frames(potential, frames, 1, by="stress")
    with pytest.raises(ValueError, match="min_distance must be a number >= 0, got -1"):
        select_frames(potential, frames, 1, min_distance=-1)
    with pytest.raises(ValueError, match="there are no frames to select from"):
        select_frames(potential, [], 1)
    gold = bulk("Au", "fcc", a=4.08, cubic=True)
    with pytest.raises(ValueError, match="frame 2: .*Au"):
        select_frames(potential, frames + [gold], 1)

    single.save(tmp_path / "single.fastpot")
    write(tmp_path / "frames.extxyz", frames)
    (tmp_path / "garbage.extxyz").write_bytes(b"\x00\x01 not a structure\n" * 3)
    cases = [
        ([str(tmp_path / "single.fastpot"), str(tmp_path / "frames.extxyz")],
         "is a single model; selection needs a committee"),
        ([str(model), str(tmp_path / "missing.extxyz")], "trajectory file not found"),
        ([str(model), str(tmp_path / "garbage.extxyz")], "cannot read"),
    ]
    for args, message in cases:
        assert main(["select", *args, "--n", "1", "--out", str(tmp_path / "c.extxyz")]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "c.extxyz").exists()
    assert main(["select", str(model), str(tmp_path / "frames.extxyz"), "--n", "5",
                 "--out", str(tmp_path / "c.extxyz"), "--min-distance", "0"]) == 0
    assert "wrote 2 of 2 frames" in capsys.readouterr().out
