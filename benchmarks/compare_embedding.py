"""The cost of the embedding routes against a direct Python call, on the same structure.

- C API (fastpot/include/fastpot.h): start-up time of fastpot_model_load (embedded Python,
  imports, model lay-out) and, per call, fastpot_model_compute against
  Potential.evaluate through the calculator's kept neighbour list (the same work), at about
  10,000 atoms of a demo-style copper model (random networks: the cost does not depend on
  the weights).
- LAMMPS (pair_style fastpot): seconds per MD step (NVE, 1 fs) of the lmp executable on 1 and
  2 MPI ranks against fastpot md's own step loop on the same system, and the memory per rank.

    python benchmarks/compare_embedding.py --out benchmarks/results_embedding.md
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_description  # noqa: E402
from _peers import copper_box  # noqa: E402

PROGRAM = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "fastpot.h"
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
                          return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(int argc, char **argv) {
    fastpot_model *model; const char *error; long long n, i; int calls = atoi(argv[3]);
    FILE *f = fopen(argv[2], "r"); if (fscanf(f, "%lld", &n) != 1) return 2;
    int32_t *z = malloc(n * sizeof *z); double *x = malloc(3 * n * sizeof *x), cell[9];
    int32_t pbc[3] = {1, 1, 1};
    for (i = 0; i < n; i++) if (fscanf(f, "%d %lf %lf %lf", &z[i], &x[3*i], &x[3*i+1], &x[3*i+2]) != 4) return 2;
    for (i = 0; i < 9; i++) if (fscanf(f, "%lf", &cell[i]) != 1) return 2;
    double t0 = now();
    if (fastpot_model_load(argv[1], &model, &error)) { printf("%s\n", error); return 1; }
    double t1 = now(), energy, *forces = malloc(3 * n * sizeof *forces), stress[9];
    fastpot_model_compute(model, n, z, x, cell, pbc, &energy, forces, stress, &error);
    printf("load %.6f\n", t1 - t0);
    for (int c = 0; c < calls; c++) {
        for (i = 0; i < 3 * n; i++) x[i] += 1e-3 * ((i * 7919 + c * 104729) % 1000 / 1000.0 - 0.5);
        double a = now();
        if (fastpot_model_compute(model, n, z, x, cell, pbc, &energy, forces, stress, &error)) {
            printf("%s\n", error); return 1; }
        printf("call %.6f\n", now() - a);
    }
    fastpot_model_free(model);
    return 0;
}
"""


def model_for(elements=("Cu",), cutoff=6.0, seed=0):
    from fastpot import Network, Potential, Scaling, default_symmetry_functions
    sf = default_symmetry_functions(list(elements), cutoff=cutoff)
    sample = copper_box(256)
    scaling = Scaling.from_data(sf, [sf.compute(sample)])
    rng = np.random.default_rng(seed)
    nets = {e: Network([sf.n_functions(e), 25, 25, 1], "ttl").initialize(rng) for e in elements}
    return Potential(sf, scaling, nets)


def c_api(folder, potential, atoms, calls, threads):
    cflags = subprocess.run([sys.executable, "-m", "fastpot.cli", "config", "--cflags"],
                            capture_output=True, text=True, check=True).stdout.split()
    libs = subprocess.run([sys.executable, "-m", "fastpot.cli", "config", "--libs"],
                          capture_output=True, text=True, check=True).stdout.split()
    (folder / "bench.c").write_text(PROGRAM)
    subprocess.run(["cc", "-O2", str(folder / "bench.c"), *cflags, *libs, "-o",
                    str(folder / "bench")], check=True)
    lines = [str(len(atoms))] + [f"{z} {x:.17g} {y:.17g} {w:.17g}" for z, (x, y, w) in
                                 zip(atoms.numbers, atoms.positions)]
    lines += [" ".join(f"{v:.17g}" for v in row) for row in atoms.cell.array]
    (folder / "atoms.txt").write_text("\n".join(lines) + "\n")
    out = subprocess.run([str(folder / "bench"), str(folder / "model.fastpot"),
                          str(folder / "atoms.txt"), str(calls)], capture_output=True,
                         text=True, check=True, env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
    load = float(re.search(r"^load (\S+)", out.stdout, re.M).group(1))
    times = [float(v) for v in re.findall(r"^call (\S+)", out.stdout, re.M)]
    return load, float(np.median(times))


def paired(folder, potential, atoms, calls, threads):
    """The C API called through ctypes and the Python API, alternately in one process on the
    same moving atoms: the median of the per-call ratios does not drift with the machine."""
    import ctypes

    import fastpot
    lib = ctypes.CDLL(str(Path(fastpot.__file__).parent / "lib" / "libfastpot.so"))
    model, error = ctypes.c_void_p(), ctypes.c_char_p()
    if lib.fastpot_model_load(str(folder / "model.fastpot").encode(), ctypes.byref(model),
                              ctypes.byref(error)):
        raise RuntimeError(error.value.decode())
    n = len(atoms)
    numbers = np.ascontiguousarray(atoms.numbers, dtype=np.int32)
    cell = np.ascontiguousarray(atoms.cell.array)
    pbc = np.ones(3, dtype=np.int32)
    x = np.ascontiguousarray(atoms.positions)
    energy, forces, stress = ctypes.c_double(), np.zeros((n, 3)), np.zeros((3, 3))
    pointer = ctypes.c_void_p

    def c_call():
        return lib.fastpot_model_compute(
            model, ctypes.c_int64(n), pointer(numbers.ctypes.data), pointer(x.ctypes.data),
            pointer(cell.ctypes.data), pointer(pbc.ctypes.data), ctypes.byref(energy),
            pointer(forces.ctypes.data), pointer(stress.ctypes.data), ctypes.byref(error))

    python = atoms.copy()
    python.calc = potential.calculator(n_threads=threads)
    os.environ["OMP_NUM_THREADS"] = str(threads)  # what the C API's default follows
    c_call(), python.get_forces()
    rng = np.random.default_rng(0)
    ratios = []
    for _ in range(calls):
        step = rng.normal(size=x.shape) * 1e-3
        x += step
        python.positions += step
        start = time.perf_counter()
        c_call()
        middle = time.perf_counter()
        python.get_potential_energy(), python.get_forces(), python.get_stress()
        ratios.append((middle - start) / (time.perf_counter() - middle))
    lib.fastpot_model_free(model)
    return float(np.median(ratios))


def direct(potential, atoms, calls, threads):
    atoms = atoms.copy()
    atoms.calc = potential.calculator(n_threads=threads)
    atoms.get_forces()
    times = []
    for c in range(calls):
        atoms.positions += 1e-3 * (np.random.default_rng(c).random(atoms.positions.shape) - 0.5)
        start = time.perf_counter()
        atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def lammps_step(folder, ranks, steps):
    text = ("units metal\natom_style atomic\nboundary p p p\nread_data data.lmp\n"
            "pair_style fastpot threads 1\npair_coeff * * model.fastpot Cu\n"
            # the Verlet skin of fastpot md, so that both keep lists of the same length
            "neighbor 0.5 bin\nneigh_modify every 1 delay 0 check yes\n"
            "velocity all create 300 1 mom yes rot no\nfix 1 all nve\ntimestep 0.001\n"
            f"thermo {steps}\nrun 5\nrun {steps}\n")
    (folder / "in.bench").write_text(text)
    bin_dir = Path(sys.executable).parent
    command = [str(bin_dir / "lmp"), "-in", "in.bench", "-log", "none"]
    if ranks > 1:
        command = [str(bin_dir / "mpiexec"), "-n", str(ranks)] + command
    out = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=True,
                         env=dict(os.environ, OMP_NUM_THREADS="1"))
    loops = re.findall(r"Loop time of (\S+) on \d+ procs for (\d+) steps", out.stdout)
    seconds, n = float(loops[-1][0]), int(loops[-1][1])
    memory = re.findall(r"Per MPI rank memory allocation \(min/avg/max\) = \S+ \| (\S+)",
                        out.stdout)
    return seconds / n, float(memory[-1]) if memory else float("nan")


def fastpot_step(potential, atoms, steps, threads):
    from fastpot import md
    dyn = md.MolecularDynamics(atoms.copy(), potential, ensemble="nve", temperature=300,
                               timestep=1.0, every=steps, n_threads=threads)
    dyn.run(5)
    start = time.perf_counter()
    dyn.run(steps)
    return (time.perf_counter() - start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--atoms", type=int, default=10000)
    parser.add_argument("--calls", type=int, default=9)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--out")
    args = parser.parse_args()
    from ase.io import write
    potential = model_for()
    atoms = copper_box(args.atoms)
    lines = [f"Machine: {machine_description(['lammps'])}", "",
             f"Copper model (28 functions, 25-25 tanh, rc 6 Å), fcc Cu box of {len(atoms)} "
             "atoms.", ""]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        potential.save(folder / "model.fastpot")
        write(folder / "data.lmp", atoms, format="lammps-data", atom_style="atomic",
              masses=True)
        lines += ["| route | threads | seconds per call | vs direct Python call |",
                  "|---|---|---|---|"]
        for threads in (1, 2):
            # interleaved twice, the faster of each kept: the machine's speed drifts
            load, per_call = c_api(folder, potential, atoms, args.calls, threads)
            ours = direct(potential, atoms, args.calls, threads)
            per_call = min(per_call, c_api(folder, potential, atoms, args.calls, threads)[1])
            ours = min(ours, direct(potential, atoms, args.calls, threads))
            lines.append(f"| C API fastpot_model_compute | {threads} | {per_call:.4f} | "
                         f"{100 * (per_call / ours - 1):+.2f} % |")
            ratio = paired(folder, potential, atoms, args.calls, threads)
            lines.append(f"| C API, paired with Python in one process (median ratio) | "
                         f"{threads} | | {100 * (ratio - 1):+.2f} % |")
            lines.append(f"| Python Potential via calculator | {threads} | {ours:.4f} | |")
            if threads == 1:
                startup = load
        lines += ["", f"fastpot_model_load start-up (embedded Python, imports, model): "
                      f"{startup:.3f} s.", ""]
        lines += ["| MD step | ranks x threads | seconds per step | vs fastpot md, 1 thread "
                  "| memory per rank (MiB) |", "|---|---|---|---|---|"]
        # interleaved twice, the faster of each kept: the machine's speed drifts
        ours, one, two_ranks = [], [], []
        for _ in range(2):
            ours.append(fastpot_step(potential, atoms, args.steps, 1))
            one.append(lammps_step(folder, 1, args.steps))
            two_ranks.append(lammps_step(folder, 2, args.steps))
        base = min(ours)
        lines.append(f"| fastpot md | 1 x 1 | {base:.4f} | 1.00 | |")
        for ranks, runs in ((1, one), (2, two_ranks)):
            step, memory = min(runs)
            lines.append(f"| LAMMPS + pair_style fastpot | {ranks} x 1 | {step:.4f} | "
                         f"{base / step:.2f} | {memory:.1f} |")
        two = fastpot_step(potential, atoms, args.steps, 2)
        lines.append(f"| fastpot md | 1 x 2 | {two:.4f} | {base / two:.2f} | |")
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
