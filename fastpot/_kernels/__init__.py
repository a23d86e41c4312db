"""Runtime choice of the instruction-set variant of the hot kernels.

The symmetry-function, network, fused-model and Kalman-filter kernels (ext/kernels/) are
compiled once per instruction set into the subpackages here: ``baseline`` (x86-64-v2, or
any arm64), ``avx2`` (x86-64-v3) and ``avx512`` (x86-64-v4). At import the widest variant that this CPU and this
build both have is installed; ``FASTPOT_SIMD=baseline|avx2|avx512|auto`` (default ``auto``)
forces one. A forced variant the CPU cannot run is refused with an error rather than dying
with SIGILL. Every variant gives the same results to round-off (the tests say so).
"""
import enum
import importlib
import importlib.util
import os

from fastpot import _dispatch
from fastpot._threads import cpu_level

# widest first; the CPU level that each needs (ext/_cpu.h)
VARIANTS = {"avx512": 2, "avx2": 1, "baseline": 0}
ENVIRONMENT = "FASTPOT_SIMD"

Status = enum.IntEnum("Status", _dispatch.STATUS)


def built_variants():
    """Variants this build has, widest first. Looked up, never imported: a module built for
    a wider instruction set than this CPU's may execute those instructions while it loads
    (its initialisation code is compiled with the same flags) and die with SIGILL."""
    return [name for name in VARIANTS
            if importlib.util.find_spec(f"fastpot._kernels.{name}._fused") is not None]


def runnable_variants():
    """Variants this build has and this CPU can run, widest first."""
    level = cpu_level()
    return [name for name in built_variants() if VARIANTS[name] <= level]


def choose(request=None):
    """(variant, reason) for `request` (None: the FASTPOT_SIMD environment variable)."""
    if request is None:
        request = os.environ.get(ENVIRONMENT, "auto").strip().lower() or "auto"
    runnable = runnable_variants()
    if not runnable:
        raise ImportError("fastpot: no kernel variant of this build can run on this CPU "
                          f"(built: {', '.join(built_variants()) or 'none'})")
    if request == "auto":
        return runnable[0], "auto: the widest this CPU runs"
    if request not in VARIANTS:
        raise ValueError(f"{ENVIRONMENT}={request!r}: choose one of auto, "
                         f"{', '.join(VARIANTS)}")
    if request not in built_variants():
        raise ValueError(f"{ENVIRONMENT}={request}: this build has no {request} kernels "
                         f"(built: {', '.join(built_variants())})")
    if request not in runnable:
        raise ValueError(f"{ENVIRONMENT}={request}: this CPU cannot run {request} kernels "
                         f"(it runs: {', '.join(runnable)})")
    return request, f"forced by {ENVIRONMENT}={request}"


def use(variant):
    """Install a variant (a name from ``runnable_variants()``) for every kernel call."""
    if variant not in runnable_variants():
        raise ValueError(f"kernel variant {variant!r} is not available here "
                         f"(available: {', '.join(runnable_variants())})")
    global active, reason
    _dispatch.install(importlib.import_module(f"fastpot._kernels.{variant}._fused"))
    active, reason = variant, "chosen by fastpot._kernels.use"


def module(name):
    """The active variant's compiled module `name` (e.g. "_kalman"), for kernels called from
    Python rather than through the dispatch table."""
    return importlib.import_module(f"fastpot._kernels.{active}.{name}")


active, reason = choose()
_dispatch.install(importlib.import_module(f"fastpot._kernels.{active}._fused"))
