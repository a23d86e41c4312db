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

KERNELS = ["_threads", "_neighbors", "_symmetry", "_network", "_training", "_model", "_md"]


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


def compiler_has_openmp():
    if os.environ.get("FASTPOT_NO_OPENMP"):
        return False
    return compiler_accepts(
        ["-fopenmp"], "#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n")


def extensions():
    openmp = compiler_has_openmp()
    if not openmp:
        print("fastpot: building WITHOUT OpenMP (kernels run on one thread)", file=sys.stderr)
    compile_args = ["-O3", "-fno-math-errno", "-fno-trapping-math", "-std=c99"]
    link_args = []
    macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")]
    if openmp:
        compile_args.append("-fopenmp")
        link_args.append("-fopenmp")
    elif compiler_accepts(["-fopenmp-simd"]):
        compile_args.append("-fopenmp-simd")
        macros.append(("FASTPOT_OPENMP_SIMD", "1"))
    # The kernels vectorise exp() and the pair loops; the widest vectors this CPU has
    # make them several times faster. FASTPOT_PORTABLE=1 builds for any x86-64/arm64.
    native = not os.environ.get("FASTPOT_PORTABLE") and compiler_accepts(["-march=native"])
    if native:
        compile_args.append("-march=native")
    macros.append(("FASTPOT_NATIVE", "1" if native else "0"))
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
