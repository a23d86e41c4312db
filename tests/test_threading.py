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
