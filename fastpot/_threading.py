"""The one thread knob: every compute call takes ``n_threads=None`` and resolves it here.

``None`` means ``OMP_NUM_THREADS`` when it is set, else the CPUs this process may use: its
CPU affinity (``taskset``, batch schedulers), limited by a cgroup CPU quota (containers),
counted the way scikit-learn's ``_openmp_effective_n_threads`` and joblib's ``cpu_count``
count them. OpenMP's own default (``omp_get_max_threads``) ignores the quota, so a container
allowed 2 CPUs on a 64-core host would otherwise run 64 threads. Without OpenMP every kernel
runs on one thread.

After ``fork`` (multiprocessing's default start method on Linux) in a process whose kernels
had already run on several threads, every kernel of the child runs on one thread: GNU
OpenMP keeps its thread pool across fork without the threads, and the child's next
multi-threaded region would wait for them forever (scikit-learn and PyTorch met the same).
The results are the same, as they are for any thread count; the 'spawn' or 'forkserver'
start method gives children their threads back.
"""
import functools
import math
import operator
import os
import threading
import warnings
from pathlib import Path

from fastpot._threads import openmp_enabled

# Where Linux shows this process's control groups (a constant so that tests can move it).
CGROUP_ROOT = Path("/sys/fs/cgroup")


# Whether a kernel was handed more than one thread in this process (then OpenMP has a pool),
# and whether this process is a fork of one that had (then it must not use the pool).
_pool_started = False
_forked_after_pool = False


def _after_fork_in_child():
    global _forked_after_pool
    _forked_after_pool = _forked_after_pool or _pool_started


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def resolve_threads(n_threads=None):
    """Number of OpenMP threads a kernel should use (None: ``effective_cpu_count()``).

    Without OpenMP every kernel runs on one thread, whatever is asked, and so does a process
    forked after its parent's kernels ran on several (see the module's docstring).
    """
    global _pool_started
    if n_threads is None:
        n = effective_cpu_count()
    else:
        try:
            n = operator.index(n_threads)
        except TypeError:
            raise TypeError(f"n_threads must be a positive integer or None, got "
                            f"{n_threads!r}") from None
        if n < 1:
            raise ValueError(f"n_threads must be a positive integer or None, got {n_threads!r}")
        if not openmp_enabled():
            return 1
    if n > 1 and _forked_after_pool:
        _warn_forked_once()
        return 1
    _pool_started = _pool_started or n > 1
    return int(n)


@functools.lru_cache(maxsize=None)
def _warn_forked_once():
    warnings.warn("fastpot: this process was forked after fastpot's OpenMP threads started, "
                  "and GNU OpenMP cannot start them again in a fork: its kernels run on one "
                  "thread here (same results). Use multiprocessing's 'spawn' or 'forkserver' "
                  "start method for threads in child processes.", RuntimeWarning, stacklevel=3)


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


class OneThreadAtATime:
    """Makes concurrent use of an object that keeps per-call state a clear error.

    ``with self.in_use:`` around each method that reads or writes that state: a second
    Python thread entering while the first is inside raises RuntimeError at once (it would
    otherwise read half-updated arrays and return wrong numbers); the owning thread may
    re-enter (a method calling another).
    """

    def __init__(self, what):
        self.what = what
        self._guard = threading.Lock()
        self._owner = None
        self._depth = 0

    def __enter__(self):
        me = threading.get_ident()
        with self._guard:
            if self._owner not in (None, me):
                raise RuntimeError(f"this {self.what} is in use by another thread; it keeps "
                                   "per-structure state and is not thread-safe: give each "
                                   "thread its own (a Potential may be shared)")
            self._owner = me
            self._depth += 1
        return self

    def __exit__(self, *exc):
        with self._guard:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
