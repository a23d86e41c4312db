"""The one thread knob: every compute call takes ``n_threads=None`` and resolves it here.

``None`` means ``OMP_NUM_THREADS`` when it is set, else the CPUs this process may use: its
CPU affinity (``taskset``, batch schedulers), limited by a cgroup CPU quota (containers),
counted the way scikit-learn's ``_openmp_effective_n_threads`` and joblib's ``cpu_count``
count them. OpenMP's own default (``omp_get_max_threads``) ignores the quota, so a container
allowed 2 CPUs on a 64-core host would otherwise run 64 threads. Without OpenMP every kernel
runs on one thread.
"""
import functools
import math
import operator
import os
from pathlib import Path

from fastpot._threads import openmp_enabled

# Where Linux shows this process's control groups (a constant so that tests can move it).
CGROUP_ROOT = Path("/sys/fs/cgroup")


def resolve_threads(n_threads=None):
    """Number of OpenMP threads a kernel should use (None: ``effective_cpu_count()``).

    Without OpenMP every kernel runs on one thread, whatever is asked.
    """
    if n_threads is None:
        return effective_cpu_count()
    try:
        n = operator.index(n_threads)
    except TypeError:
        raise TypeError(f"n_threads must be a positive integer or None, got {n_threads!r}") from None
    if n < 1:
        raise ValueError(f"n_threads must be a positive integer or None, got {n_threads!r}")
    if not openmp_enabled():
        return 1
    return int(n)


def effective_cpu_count():
    """Threads a kernel uses when ``n_threads`` is None (``default_threads`` says why)."""
    return default_threads()[0]


def default_threads():
    """(threads for ``n_threads=None``, where that number comes from, as a short text)."""
    if not openmp_enabled():
        return 1, "built without OpenMP"
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    if value:  # set but empty counts as unset, as for OpenMP itself
        return _positive_integer(value), f"OMP_NUM_THREADS={value}"
    if hasattr(os, "sched_getaffinity"):
        n = len(os.sched_getaffinity(0))
        reason = f"CPU affinity ({n} of {os.cpu_count()} CPUs)"
    else:  # macOS, Windows: no affinity masks to respect
        n = os.cpu_count() or 1
        reason = f"os.cpu_count() ({n} CPUs)"
    quota = cgroup_cpu_limit(CGROUP_ROOT)
    if quota is not None and quota < n:
        return quota, f"cgroup CPU quota (of {n} CPUs)"
    return n, reason


def _positive_integer(value):
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"OMP_NUM_THREADS must be a positive integer, got {value!r} (unset it "
                         "to use every CPU this process may use)")
    return n


# Read once per root: a cgroup's CPU limit is set when the container starts, and
# resolve_threads runs on every compute call (a file read costs as much as a small kernel).
@functools.lru_cache(maxsize=None)
def cgroup_cpu_limit(root):
    """CPUs allowed by the CPU bandwidth limit of the cgroup under `root` (quota / period,
    rounded up), or None when there is none.

    cgroup v2: ``cpu.max`` holds "quota period" or "max period". cgroup v1:
    ``cpu/cpu.cfs_quota_us`` (-1 for no limit) and ``cpu/cpu.cfs_period_us``.
    """
    root = Path(root)
    try:
        if (root / "cpu.max").is_file():
            quota, period = (root / "cpu.max").read_text().split()
        elif (root / "cpu" / "cpu.cfs_quota_us").is_file():
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text()
        else:
            return None
        if quota.strip() == "max":
            return None
        quota, period = int(quota), int(period)
    except (OSError, ValueError):
        return None  # an unreadable limit is no limit: never fail over a system file
    if quota <= 0 or period <= 0:
        return None
    return max(1, math.ceil(quota / period))
