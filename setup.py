"""Build the Cython kernels in ext/, with OpenMP where the compiler has it.

OpenMP is probed by compiling a tiny program. Without it the kernels still build
(prange becomes a plain loop) and ``fastpot.show_config()`` says so.
"""
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile

from Cython.Build import cythonize
from setuptools import Extension, setup

KERNELS = ["_threads", "_neighbors", "_symmetry"]


def compiler_has_openmp():
    if os.environ.get("FASTPOT_NO_OPENMP"):
        return False
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    cc = cc.split()[0]
    if shutil.which(cc) is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "probe.c")
        with open(src, "w") as f:
            f.write("#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n")
        result = subprocess.run([cc, "-fopenmp", src, "-o", os.path.join(tmp, "probe")],
                                capture_output=True)
        return result.returncode == 0


def extensions():
    openmp = compiler_has_openmp()
    if not openmp:
        print("fastpot: building WITHOUT OpenMP (kernels run on one thread)", file=sys.stderr)
    compile_args = ["-O3", "-fno-math-errno", "-std=c99"]
    link_args = []
    if openmp:
        compile_args.append("-fopenmp")
        link_args.append("-fopenmp")
    macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
    return [
        Extension(f"fastpot.{name}", [f"ext/{name}.pyx"], include_dirs=["ext"],
                  extra_compile_args=compile_args, extra_link_args=link_args,
                  define_macros=macros)
        for name in KERNELS
    ]


setup(
    ext_modules=cythonize(
        extensions(),
        include_path=["ext"],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "nonecheck": False,
        },
    ),
)
