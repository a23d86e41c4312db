"""One line naming the machine and the versions, for the side-by-side benchmark tables."""
import os
import platform


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine_description(packages=()):
    """CPU, cores, OS, Python, numpy, the given peer packages' versions, and fastpot's build
    (version, OpenMP, CPU target)."""
    from fastpot._config import config
    from _peers import package_version
    info = config()
    versions = "".join(f", {name} {package_version(name)}" for name in packages)
    return (f"{cpu_name()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
            f"Python {info['python']}, numpy {info['numpy']}{versions}; "
            f"fastpot {info['fastpot']} (OpenMP: {info['openmp']}, {info['kernels']})")
