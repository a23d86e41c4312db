"""Energy + forces with n2p2's polynomial symmetry functions (types 20 and 22): its
Ethylbenzene_SCAN potential on the 2x2x2 replica of the first box (2,304 atoms), fastpot
against n2p2's production path.

The neighbour list is built once outside the timing, as in the n2p2 figures (what LAMMPS'
pair_style hdnnp spends per step: symmetry functions, networks, forces). n2p2 is not on a
package registry; its figures are the ones measured on this machine kind and recorded in
../shared/data/n2p2/Ethylbenzene_SCAN/README.md (n2p2 61daa0d, OpenMP build, 1 thread:
13.7-14.2 s per evaluation = 162-168 atoms/s), quoted here, not re-measured in this run.

    python benchmarks/compare_polynomial.py --out benchmarks/results_polynomial.md
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
from ase.io import read

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_description  # noqa: E402

from fastpot import Potential  # noqa: E402

N2P2_ATOMS_PER_S = (162.0, 168.0)
BOHR, HARTREE = 1.8897261328, 0.0367493254


def data_dir():
    root = Path(os.environ.get("FASTPOT_SHARED_DATA",
                               Path(__file__).resolve().parents[2] / "shared" / "data"))
    folder = root / "n2p2" / "Ethylbenzene_SCAN"
    if not folder.exists():
        sys.exit(f"Ethylbenzene_SCAN not found at {folder} (set FASTPOT_SHARED_DATA)")
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--out")
    args = parser.parse_args()
    folder = data_dir()
    potential = Potential.from_n2p2(folder, BOHR, HARTREE)
    atoms = read(folder / "reference.extxyz", 0).repeat((2, 2, 2))
    neighbors = potential.sf.neighbor_list(atoms)
    rows, medians = [], {}
    for threads in args.threads:
        potential.evaluate(atoms, n_threads=threads, neighbor_list=neighbors)
        times = []
        for _ in range(args.calls):
            start = time.perf_counter()
            potential.evaluate(atoms, n_threads=threads, neighbor_list=neighbors)
            times.append(time.perf_counter() - start)
        medians[threads] = float(np.median(times))
        rate = len(atoms) / medians[threads]
        rows.append(f"| fastpot | {threads} | {medians[threads]:.3f} | {rate:.0f} | "
                    f"{rate / N2P2_ATOMS_PER_S[1]:.2f}-{rate / N2P2_ATOMS_PER_S[0]:.2f} |")
        print(rows[-1], flush=True)
    slow, fast = N2P2_ATOMS_PER_S
    lines = [
        "# Polynomial symmetry functions: n2p2's Ethylbenzene_SCAN potential",
        "",
        machine_description(),
        "",
        f"2x2x2 replica of the first box: {len(atoms)} atoms, 184 functions per element "
        "(types 20 and 22, subtypes p2/p2a), rc 7.94 Å; energy + forces, neighbour list "
        f"outside the timing; median of {args.calls} calls.",
        "",
        "| code | threads | s per call | atoms/s | x n2p2 (1 thread) |",
        "|---|---|---|---|---|",
        f"| n2p2 61daa0d (quoted, see the docstring) | 1 | {len(atoms) / fast:.1f}-"
        f"{len(atoms) / slow:.1f} | {slow:.0f}-{fast:.0f} | 1 |",
        *rows,
    ]
    if 1 in medians and 2 in medians:
        lines += ["", f"2 threads / 1 thread: {medians[1] / medians[2]:.2f}x"]
    text = "\n".join(lines) + "\n\nCommand: `python benchmarks/compare_polynomial.py " \
        "--out benchmarks/results_polynomial.md`\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
