"""Build the Cython kernels in ext/ with OpenMP.

Two kinds of compiled module:
- ext/*.pyx, compiled once for a portable baseline (x86-64-v2, or any arm64): neighbour
  search, MD integrators, training contractions, and the Python-facing wrappers;
- ext/kernels/*.pyx, the hot kernels (symmetry functions, networks, the fused model),
  compiled once per instruction set into fastpot._kernels.<variant> (baseline, avx2 and
  avx512 on x86-64). fastpot/_kernels/__init__.py picks the best variant this CPU runs at
  import (FASTPOT_SIMD=baseline|avx2|avx512|auto overrides it).

Cython needs each module's .pyx and .pxd at the place that matches its package name, so the
sources are laid out under build/cython/ first (copies that keep their timestamps, so an
unchanged kernel is not compiled again).

Environment: FASTPOT_NO_OPENMP=1 builds without OpenMP (every kernel on one thread); without
it a compiler lacking OpenMP is an error, never a silently single-threaded build.
"""
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

FRONT = ["_threads", "_dispatch", "_neighbors", "_symmetry", "_network", "_model", "_md",
         "_training"]
VARIANT_MODULES = ["_sf_factored", "_sf", "_net", "_fused", "_kalman"]
TREE = os.path.join("build", "cython")


def compiler_accepts(flags, source="int main(void){return 0;}\n"):
    """True when the C compiler builds a tiny program with these flags."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    cc = cc.split()[0]
    if shutil.which(cc) is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write(source)
        result = subprocess.run([cc, *flags, src, "-o", os.path.join(tmp, "probe")],
                                capture_output=True)
        return result.returncode == 0


def openmp_flags():
    if os.environ.get("FASTPOT_NO_OPENMP"):
        print("fastpot: building WITHOUT OpenMP (FASTPOT_NO_OPENMP is set): every kernel "
              "runs on one thread", file=sys.stderr)
        return [], [], [("FASTPOT_OPENMP_SIMD", "1")] if compiler_accepts(["-fopenmp-simd"]) \
            else []
    if not compiler_accepts(["-fopenmp"], "#include <omp.h>\n"
                            "int main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n"):
        sys.exit("fastpot: the C compiler does not support OpenMP (-fopenmp with omp.h). "
                 "Install one that does (gcc, or clang with libomp), or set "
                 "FASTPOT_NO_OPENMP=1 to build a single-threaded fastpot.")
    return ["-fopenmp"], ["-fopenmp"], []


def instruction_sets():
    """{variant: compiler flags} for this machine's architecture; the first is the
    baseline, which the always-compiled modules use too."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return {"baseline": []}
    levels = {"baseline": ["-march=x86-64-v2"], "avx2": ["-march=x86-64-v3"],
              "avx512": ["-march=x86-64-v4"]}
    # compilers older than gcc 11 / clang 12 lack the level names: spell out the features
    fallback = {"baseline": ["-msse4.2", "-mpopcnt"],
                "avx2": ["-mavx2", "-mfma", "-mbmi", "-mbmi2", "-mf16c"],
                "avx512": ["-mavx512f", "-mavx512bw", "-mavx512cd", "-mavx512dq",
                           "-mavx512vl", "-mavx2", "-mfma", "-mbmi", "-mbmi2", "-mf16c",
                           "-mprefer-vector-width=512"]}
    chosen = {}
    for name, flags in levels.items():
        if compiler_accepts(flags):
            chosen[name] = flags
        elif compiler_accepts(fallback[name]):
            chosen[name] = fallback[name]
        elif name == "baseline":
            chosen[name] = []
        else:
            print(f"fastpot: the compiler cannot build the {name} variant; skipped",
                  file=sys.stderr)
    return chosen


def copy_if_newer(source, target):
    if not os.path.exists(target) or os.path.getmtime(source) > os.path.getmtime(target):
        shutil.copy2(source, target)


def lay_out_sources(variants):
    """build/cython/fastpot/ gets ext/*.pyx|pxd, build/cython/fastpot/_kernels/<variant>/
    gets ext/kernels/*; every level is a package so that cimports resolve."""
    front = os.path.join(TREE, "fastpot")
    for folder in [front, os.path.join(front, "_kernels")] + [
            os.path.join(front, "_kernels", v) for v in variants]:
        os.makedirs(folder, exist_ok=True)
        open(os.path.join(folder, "__init__.py"), "a").close()
    for name in os.listdir("ext"):
        if name.endswith((".pyx", ".pxd")):
            copy_if_newer(os.path.join("ext", name), os.path.join(front, name))
    for variant in variants:
        for name in os.listdir(os.path.join("ext", "kernels")):
            if name.endswith((".pyx", ".pxd")):
                copy_if_newer(os.path.join("ext", "kernels", name),
                              os.path.join(front, "_kernels", variant, name))
    return front


def extensions():
    compile_omp, link_omp, omp_macros = openmp_flags()
    variants = instruction_sets()
    front = lay_out_sources(variants)
    common = ["-O3", "-fno-math-errno", "-fno-trapping-math", "-std=c99"] + compile_omp
    macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")] + omp_macros
    baseline = variants["baseline"]
    modules = [Extension(f"fastpot.{name}", [os.path.join(front, f"{name}.pyx")],
                         include_dirs=["ext"], extra_compile_args=common + baseline,
                         extra_link_args=link_omp, define_macros=macros)
               for name in FRONT]
    for variant, flags in variants.items():
        for name in VARIANT_MODULES:
            modules.append(Extension(
                f"fastpot._kernels.{variant}.{name}",
                [os.path.join(front, "_kernels", variant, f"{name}.pyx")],
                include_dirs=["ext"], extra_compile_args=common + flags,
                extra_link_args=link_omp,
                define_macros=macros + [("FASTPOT_VARIANT", f'"{variant}"')]))
    return modules


class BuildWithCLibrary(build_ext):
    """The extension modules, then fastpot/lib/libfastpot.so: the C API
    (fastpot/include/fastpot.h, ext/capi/fastpot.c), linked against this Python's shared
    library, which it embeds."""

    def run(self):
        super().run()
        self.build_c_library()

    def build_c_library(self):
        if self.inplace or getattr(self, "editable_mode", False):
            folder = os.path.join("fastpot", "lib")
        else:
            folder = os.path.join(self.build_lib, "fastpot", "lib")
        os.makedirs(folder, exist_ok=True)
        config = sysconfig.get_config_vars()
        libdir = config.get("LIBDIR") or ""
        library = config.get("LDLIBRARY") or ""
        if not config.get("Py_ENABLE_SHARED") or not library.endswith(".so"):
            print("fastpot: this Python has no shared library (built without "
                  "--enable-shared): the C API library is not built", file=sys.stderr)
            return
        compile_omp, link_omp, macros = openmp_flags()
        macros = macros + [("FASTPOT_PYTHON", f'"{sys.executable}"'),
                           ("FASTPOT_LIBPYTHON", f'"{os.path.join(libdir, library)}"')]
        objects = self.compiler.compile(
            [os.path.join("ext", "capi", "fastpot.c")], output_dir=self.build_temp,
            macros=macros, include_dirs=[sysconfig.get_paths()["include"],
                                         os.path.join("fastpot", "include")],
            extra_postargs=["-O2", "-std=c11"] + compile_omp)
        name = library[len("lib"):].split(".so")[0]  # libpython3.11.so -> python3.11
        self.compiler.link_shared_object(
            objects, os.path.join(folder, "libfastpot.so"), libraries=[name],
            library_dirs=[libdir], runtime_library_dirs=[libdir], extra_postargs=link_omp)


setup(
    cmdclass={"build_ext": BuildWithCLibrary},
    ext_modules=cythonize(
        extensions(),
        include_path=[os.path.join(TREE, "fastpot"), TREE],
        nthreads=os.cpu_count() or 1,
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "nonecheck": False,
        },
    ),
    # compile the C files in parallel
    options={"build_ext": {"parallel": os.cpu_count() or 1}},
)
