"""Data-parallel training over MPI (mpich's mpiexec, mpi4py): the loss history on 2 and 3
ranks equals the one-process history to round-off, each rank stores its share of the
derivatives, only rank 0 writes, and the error when MPI is asked for but absent."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastpot.emt_data import emt_samples
from fastpot.training import Trainer

BIN = Path(sys.executable).parent
MPIEXEC = BIN / "mpiexec"
TIMEOUT = 300
# the sanitizer run (.ci/sanitize) preloads its runtimes: the ranks need them as well
PASSED_ON = ("LD_PRELOAD", "ASAN_OPTIONS", "UBSAN_OPTIONS", "PYTHONMALLOC")


def rank_environment():
    return {"OMP_NUM_THREADS": "1", "PATH": str(BIN),
            **{name: os.environ[name] for name in PASSED_ON if name in os.environ}}
OPTIONS = dict(cutoff=4.0, n_shifted=3, n_centred=2, n_angular_eta=1, zetas=[1.0, 4.0],
               hidden_layers=[6, 5], valid_fraction=0.2, optimizer="adam+lbfgs", batch_size=5,
               adam_epochs=4, max_iterations=12, validate_every=1, patience=1000,
               stress_weight=0.5)


def mpi_available():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return False
    return MPIEXEC.exists()


needs_mpi = pytest.mark.skipif(not mpi_available(),
                               reason="mpi4py or mpich is not installed (pip install -e "
                                      "\".[mpi]\")")

SCRIPT = """
import json, sys
import numpy as np
from fastpot._mpi import world
from fastpot.emt_data import emt_samples
from fastpot.training import Trainer
options = json.loads(sys.argv[1])
comm = world()
samples = emt_samples(16, element="Cu", size=1, seed=21, alloy="Ag")
trainer = Trainer(options, log=None)
potential = trainer.fit(samples, comm=comm)
stored = sum(g.derivative_bytes for g in trainer.loss.groups if g is not None)
everything = comm.gather_objects(stored)
if comm.rank == 0:
    weights = np.concatenate([potential.networks[e].weights for e in potential.elements])
    json.dump({"history": trainer.history, "stored": everything, "ranks": comm.size,
               "weights": weights.tolist()}, open(sys.argv[2], "w"))
"""


def run_ranks(tmp_path, n_ranks, options=OPTIONS):
    script = tmp_path / "train_mpi.py"
    script.write_text(SCRIPT)
    result_file = tmp_path / f"result_{n_ranks}.json"
    completed = subprocess.run([str(MPIEXEC), "-n", str(n_ranks), sys.executable, str(script),
                                json.dumps(options), str(result_file)],
                               capture_output=True, text=True, timeout=TIMEOUT,
                               env=rank_environment())
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(result_file.read_text())


def serial_history(options=OPTIONS):
    samples = emt_samples(16, element="Cu", size=1, seed=21, alloy="Ag")
    trainer = Trainer({**options, "n_threads": 1}, log=None)
    potential = trainer.fit(samples)
    weights = np.concatenate([potential.networks[e].weights for e in potential.elements])
    stored = sum(g.derivative_bytes for g in trainer.loss.groups)
    return trainer.history, weights, stored


@needs_mpi
@pytest.mark.parametrize("n_ranks", [2, 3])
def test_ranks_follow_the_one_process_path(tmp_path, n_ranks):
    history, weights, stored = serial_history()
    result = run_ranks(tmp_path, n_ranks)
    assert result["ranks"] == n_ranks
    ranked = result["history"]
    assert [(r["phase"], r["iteration"]) for r in ranked] == \
        [(r["phase"], r["iteration"]) for r in history]
    assert {r["phase"] for r in history} == {"adam", "lbfgs"}
    for mine, theirs in zip(history, ranked):
        for key in ("train_loss", "valid_loss", "train_energy_rmse",
                    "train_forces_component_rmse", "valid_forces_component_rmse"):
            assert theirs[key] == pytest.approx(mine[key], rel=1e-8), (key, mine["phase"],
                                                                        mine["iteration"])
    np.testing.assert_allclose(result["weights"], weights, rtol=1e-6, atol=1e-9)
    # each rank holds its share of the stored derivatives, together all of them
    assert sum(result["stored"]) == stored
    assert max(result["stored"]) < 1.6 * stored / n_ranks


@needs_mpi
def test_the_kalman_filter_on_two_ranks_follows_the_one_process_path(tmp_path):
    """The rank holding a structure measures it, every rank applies the same update."""
    options = {**OPTIONS, "optimizer": "kalman+lbfgs", "kalman_epochs": 3, "max_iterations": 4}
    history, weights, _ = serial_history(options)
    result = run_ranks(tmp_path, 2, options)
    assert [(r["phase"], r["iteration"]) for r in result["history"]] == \
        [(r["phase"], r["iteration"]) for r in history]
    assert {r["phase"] for r in history} == {"kalman", "lbfgs"}
    for mine, theirs in zip(history, result["history"]):
        assert theirs["train_loss"] == pytest.approx(mine["train_loss"], rel=1e-8)
        assert theirs["valid_loss"] == pytest.approx(mine["valid_loss"], rel=1e-8)
    np.testing.assert_allclose(result["weights"], weights, rtol=1e-6, atol=1e-9)


@needs_mpi
def test_a_committee_on_two_ranks_follows_the_one_process_path(tmp_path):
    """Each member leaves out the same structures whichever rank holds them."""
    options = {**OPTIONS, "committee": 2, "adam_epochs": 2, "max_iterations": 6}
    history, weights, _ = serial_history(options)
    result = run_ranks(tmp_path, 2, options)
    assert [(r["member"], r["iteration"]) for r in result["history"]] == \
        [(r["member"], r["iteration"]) for r in history]
    for mine, theirs in zip(history, result["history"]):
        assert theirs["train_loss"] == pytest.approx(mine["train_loss"], rel=1e-8)
        assert theirs["valid_loss"] == pytest.approx(mine["valid_loss"], rel=1e-8)
    np.testing.assert_allclose(result["weights"], weights, rtol=1e-6, atol=1e-9)


@needs_mpi
def test_command_line_on_two_ranks_writes_once(tmp_path):
    from ase.io import write
    from ase.calculators.singlepoint import SinglePointCalculator
    samples = emt_samples(12, element="Cu", size=1, seed=22)
    frames = []
    for s in samples:
        atoms = s.atoms.copy()
        atoms.calc = SinglePointCalculator(atoms, energy=s.energy, forces=s.forces)
        frames.append(atoms)
    write(tmp_path / "train.extxyz", frames)
    config = tmp_path / "train.toml"
    config.write_text("[train]\ncutoff = 4.0\nn_shifted = 3\nn_centred = 2\nhidden_layers = "
                      "[5]\noptimizer = \"adam+lbfgs\"\nadam_epochs = 3\nmax_iterations = 5\n"
                      "batch_size = 4\n")
    out = tmp_path / "run"
    completed = subprocess.run([str(MPIEXEC), "-n", "2", str(BIN / "fastpot"), "train",
                                "--train", str(tmp_path / "train.extxyz"), "--out", str(out),
                                "--config", str(config)],
                               capture_output=True, text=True, timeout=TIMEOUT,
                               env=rank_environment())
    assert completed.returncode == 0, completed.stderr[-3000:]
    log = (out / "train.log").read_text()
    assert log.count("data-parallel training on 2 MPI ranks") == 1
    assert completed.stdout.count("wrote") == log.count("wrote")    # rank 1 printed nothing
    assert (out / "model.fastpot").is_file() and (out / "metrics.json").is_file()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == []


def test_mpi_asked_for_without_mpi4py_says_what_to_install(monkeypatch):
    from fastpot import _mpi
    monkeypatch.setenv("PMI_SIZE", "2")
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(RuntimeError, match=r"started on 2 MPI ranks but mpi4py is not "
                                           r"installed: pip install 'fastpot\[mpi\]'"):
        _mpi.world()
    monkeypatch.setenv("PMI_SIZE", "1")
    assert _mpi.world().size == 1


def test_serial_communicator_is_the_identity():
    from fastpot._mpi import SerialComm
    comm = SerialComm()
    a = np.arange(4.0)
    np.testing.assert_array_equal(comm.sum(a), a)
    assert comm.gather_objects("x") == ["x"] and comm.broadcast(3) == 3
