"""The default thread count: OMP_NUM_THREADS, else CPU affinity limited by a cgroup CPU quota;
one thread without OpenMP; what show_config reports."""
import os

import pytest

import fastpot
from fastpot import _threading
from fastpot._threading import (cgroup_cpu_limit, default_threads, effective_cpu_count,
                                resolve_threads)


@pytest.fixture
def machine(monkeypatch, tmp_path):
    """8 CPUs of which this process may use 4, no cgroup limit, OpenMP, OMP_NUM_THREADS unset;
    returns the (empty) cgroup root to write limits into."""
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(_threading, "openmp_enabled", lambda: True)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    root = tmp_path / "cgroup"
    root.mkdir()
    monkeypatch.setattr(_threading, "CGROUP_ROOT", root)
    return root


def test_affinity_without_a_quota(machine):
    assert default_threads() == (4, "CPU affinity (4 of 8 CPUs)")
    assert effective_cpu_count() == resolve_threads(None) == 4


def test_cpu_count_where_there_is_no_affinity(machine, monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity")
    assert default_threads() == (8, "os.cpu_count() (8 CPUs)")


@pytest.mark.parametrize("text, expected", [
    ("150000 100000\n", (2, "cgroup CPU quota (of 4 CPUs)")),   # 1.5 CPUs: rounded up
    ("50000 100000\n", (1, "cgroup CPU quota (of 4 CPUs)")),
    ("800000 100000\n", (4, "CPU affinity (4 of 8 CPUs)")),     # above the affinity
    ("max 100000\n", (4, "CPU affinity (4 of 8 CPUs)")),        # no limit
])
def test_cgroup_v2_quota(machine, text, expected):
    (machine / "cpu.max").write_text(text)
    assert default_threads() == expected


@pytest.mark.parametrize("quota, expected", [("250000", 3), ("-1", 4)])
def test_cgroup_v1_quota(machine, quota, expected):
    (machine / "cpu").mkdir()
    (machine / "cpu" / "cpu.cfs_quota_us").write_text(quota + "\n")
    (machine / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert effective_cpu_count() == expected


@pytest.mark.parametrize("text", ["150000\n", "lots 100000\n", "150000 0\n", ""])
def test_unreadable_quota_is_no_limit(machine, text):
    (machine / "cpu.max").write_text(text)
    assert cgroup_cpu_limit(machine) is None
    assert effective_cpu_count() == 4


def test_omp_num_threads_wins(machine, monkeypatch):
    (machine / "cpu.max").write_text("100000 100000\n")
    monkeypatch.setenv("OMP_NUM_THREADS", " 6 ")
    assert default_threads() == (6, "OMP_NUM_THREADS=6")  # the user's choice, quota or not
    assert resolve_threads(None) == 6
    monkeypatch.setenv("OMP_NUM_THREADS", "")  # set but empty: unset
    assert default_threads() == (1, "cgroup CPU quota (of 4 CPUs)")


@pytest.mark.parametrize("value", ["0", "-2", "two", "2.5", "4,2"])
def test_bad_omp_num_threads(machine, monkeypatch, value):
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    with pytest.raises(ValueError, match=f"OMP_NUM_THREADS must be a positive integer, got "
                                         f"'{value}'"):
        resolve_threads(None)


def test_one_thread_without_openmp(machine, monkeypatch):
    monkeypatch.setattr(_threading, "openmp_enabled", lambda: False)
    monkeypatch.setenv("OMP_NUM_THREADS", "6")
    assert default_threads() == (1, "built without OpenMP")
    assert resolve_threads(None) == resolve_threads(4) == 1
    with pytest.raises(ValueError, match="n_threads must be a positive integer or None"):
        resolve_threads(0)


def test_explicit_thread_counts():
    assert resolve_threads(2) == (2 if fastpot._threads.openmp_enabled() else 1)
    with pytest.raises(TypeError, match="n_threads must be a positive integer or None, got 1.5"):
        resolve_threads(1.5)


def test_this_machine(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    limit = cgroup_cpu_limit(_threading.CGROUP_ROOT)
    assert limit is None or limit >= 1
    assert 1 <= effective_cpu_count() <= os.cpu_count()


def test_show_config_reports_build_and_threads(machine, capsys):
    (machine / "cpu.max").write_text("200000 100000\n")
    fastpot.show_config()
    out = capsys.readouterr().out
    for key in ("fastpot", "openmp", "numpy", "scipy", "ase"):
        assert key in out
    assert "default_threads      : 2" in out
    assert "default_threads_from : cgroup CPU quota (of 4 CPUs)" in out


FORK_PROGRAM = r"""
import multiprocessing, sys, warnings
import numpy as np
sys.path.insert(0, {tests!r})
from potentials import oxide, synthetic_potential
from fastpot import md
potential = synthetic_potential()
atoms = oxide(5)
parent = potential.evaluate(atoms, n_threads=2)      # OpenMP's pool now has two threads
dyn = md.MolecularDynamics(atoms.copy(), potential, temperature=300, n_threads=2, seed=1)

def child(threads):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = potential.evaluate(atoms, n_threads=threads)
        dyn.run(3)
    return (float(result["energy"]), float(np.abs(result["forces"] - parent["forces"]).max()),
            [str(w.message) for w in caught])

with multiprocessing.get_context("fork").Pool(2) as pool:
    for energy, force_difference, messages in pool.map(child, [2, None, 1]):
        print(repr(energy - parent["energy"]), repr(force_difference), messages)
"""


def test_kernels_run_after_fork_without_hanging():
    # GNU OpenMP keeps its thread pool across fork without the threads: a child that asks
    # for them again would wait forever. Children run on one thread and say so once.
    import subprocess
    import sys
    from pathlib import Path
    program = FORK_PROGRAM.format(tests=str(Path(__file__).resolve().parent))
    out = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 3
    for line, threads in zip(lines, [2, None, 1]):
        energy_difference, force_difference, messages = line.split(" ", 2)
        assert abs(float(energy_difference)) < 1e-9
        assert float(force_difference) < 1e-12
        if threads == 1:
            assert messages == "[]"
    assert "forked after fastpot's OpenMP threads started" in lines[0]
