"""``fastpot.show_config()``: what this build is and what it runs on."""
import platform
import sys

from fastpot import _kernels
from fastpot._threading import default_threads
from fastpot._threads import openmp_enabled


def config():
    """The build and runtime facts as a dict."""
    import ase
    import numpy
    import scipy

    from fastpot import __version__

    threads, reason = default_threads()
    return {
        "fastpot": __version__,
        "openmp": openmp_enabled(),
        "default_threads": threads,
        "default_threads_from": reason,
        "kernels": f"{_kernels.active} ({_kernels.reason}; this CPU runs "
                   f"{', '.join(_kernels.runnable_variants())})",
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "ase": ase.__version__,
        "machine": f"{platform.machine()} {platform.system()} {platform.release()}",
    }


def show_config(file=None):
    """Print version, OpenMP state, default thread count (and where it comes from) and
    dependency versions."""
    info = config()
    width = max(len(key) for key in info)
    for key, value in info.items():
        print(f"{key:<{width}} : {value}", file=file or sys.stdout)
    if not info["openmp"]:
        print("WARNING: fastpot was built without OpenMP; every kernel runs on one thread.",
              file=file or sys.stdout)
