"""Energy + forces of n2p2's water potential: fastpot as an ASE calculator, against n2p2.

n2p2's 1,080-atom water box (../shared/data/n2p2/H2O_RPBE-D3/box_1080.data) and its 2x2x2
and 4x4x4 supercells. Each call is timed after the atoms moved (0.01 Å random steps), as in
MD: the calculator keeps its neighbour list with a Verlet skin and rebuilds it when needed,
and that is included in the time. A stage breakdown is printed for the 1-thread runs.

n2p2 side by side, in the same run: n2p2 is not on a package registry, so build it yourself
(its libnnp) with a small timing program that, in a folder holding input.nn, scaling.data,
weights.*.data and input.data, builds n2p2's neighbour list once and then times repeated
symmetry functions + networks + forces (what LAMMPS' pair_style hdnnp spends per step) and
prints a line ``RESULT ... s_per_eval S``. Pass it as ``--n2p2 "COMMAND"``: for each size
this script writes such a folder (the potential and the box in n2p2's units) and runs the
command there with OMP_NUM_THREADS set. Without --n2p2, the figures measured that way on this
machine kind (N2P2_SECONDS) are quoted.

    python benchmarks/compare_potential.py --out benchmarks/results_potential.md \
        [--n2p2 "/path/to/n2p2_timer 11"]
"""
import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_description  # noqa: E402

# n2p2 61daa0df (OpenMP build, -O3 -march=native), 1 thread, symmetry functions + networks
# + forces without its O(N^2) neighbour list, LAMMPS-style force scatter; medians measured
# on this machine kind while other work was running (see RESULTS.md)
N2P2_SECONDS = {1080: 0.277, 8640: 2.40}
BOHR, HARTREE = 1.8897261328, 0.0367493254


def data_dir():
    here = Path(__file__).resolve().parent.parent
    return Path(os.environ.get("FASTPOT_SHARED_DATA", here.parent / "shared" / "data"))


def water(repeat):
    from fastpot import Potential, read_input_data
    folder = data_dir() / "n2p2" / "H2O_RPBE-D3"
    potential = Potential.from_n2p2(folder, BOHR, HARTREE)
    atoms = read_input_data(folder / "box_1080.data", BOHR, HARTREE)[0].repeat(repeat)
    return potential, atoms


def worker(repeat, threads, calls):
    potential, atoms = water(repeat)
    atoms.calc = potential.calculator(n_threads=threads)
    atoms.get_forces()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rng = np.random.default_rng(0)
    times = []
    for _ in range(calls):
        atoms.positions += rng.normal(size=atoms.positions.shape) * 0.01
        start = time.perf_counter()
        atoms.get_forces()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stages = stage_breakdown(potential, atoms, threads) if threads == 1 else {}
    print(json.dumps({"atoms": len(atoms), "times": times, "peak_mib": (peak - before) / 1024,
                      "builds": atoms.calc.neighbor_list.n_builds, "stages": stages}))


def stage_breakdown(potential, atoms, threads, repeats=3):
    """Median seconds per stage of one calculator call (the same work it does)."""
    from fastpot import _model
    from fastpot.neighbors import NeighborList
    clock = time.perf_counter
    species = potential.sf.species(atoms)
    model = potential.compiled()
    rows = []
    for _ in range(repeats):
        t0 = clock()
        nl = NeighborList(potential.cutoff, skin=0.5, n_threads=threads).build(atoms)
        t1 = clock()
        nl.pairs.refresh(atoms.positions, atoms.cell.array, threads)
        t2 = clock()
        _model.evaluate(model, species, nl.pairs, False, False, threads)
        t3 = clock()
        _model.evaluate(model, species, nl.pairs, True, False, threads)
        t4 = clock()
        atoms.calc.calculate(atoms, ["forces"])
        t5 = clock()
        rows.append([t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4])
    names = ["neighbour search (only when the skin is exceeded)", "vector refresh",
             "energies only (fused kernel)", "energies + forces + stress (fused kernel)",
             "whole calculator call"]
    return dict(zip(names, np.median(rows, axis=0).tolist()))


def n2p2_side_by_side(command, repeat, threads):
    """Seconds per evaluation that the user's n2p2 timing command reports, or None."""
    from fastpot.n2p2 import write_input_data
    source = data_dir() / "n2p2" / "H2O_RPBE-D3"
    with tempfile.TemporaryDirectory() as folder:
        for name in ["input.nn", "scaling.data", "weights.001.data", "weights.008.data"]:
            shutil.copy(source / name, folder)
        write_input_data(Path(folder) / "input.data", [water(repeat)[1]], BOHR, HARTREE)
        out = subprocess.run(command, shell=True, cwd=folder, capture_output=True, text=True,
                             env=dict(os.environ, OMP_NUM_THREADS=str(threads)))
    found = re.findall(r"^RESULT.*s_per_eval ([0-9.eE+-]+)", out.stdout, re.M)
    if out.returncode != 0 or not found:
        print(f"n2p2 command failed or printed no RESULT line:\n{out.stdout}\n{out.stderr}",
              file=sys.stderr)
        return None
    return float(found[-1])  # the last RESULT: the LAMMPS-style path when it prints both


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, nargs="+", default=[1, 2, 4],
                        help="supercell repetitions of the 1,080-atom box")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--calls", type=int, default=11)
    parser.add_argument("--n2p2", help="command that times n2p2 in the current folder "
                                       "(see above); sizes above 8,640 atoms are skipped")
    parser.add_argument("--out")
    parser.add_argument("--worker", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    if not (data_dir() / "n2p2" / "H2O_RPBE-D3" / "box_1080.data").is_file():
        sys.exit(f"reference data not found under {data_dir()} (set FASTPOT_SHARED_DATA)")
    source = "run side by side" if args.n2p2 else "measured earlier on this machine kind"
    lines = [f"Machine: {machine_description([])}", "",
             "n2p2's RPBE-D3 water potential (27/30 functions, 25-25 tanh networks, rc 6.35 Å); "
             "energy + forces + stress as an ASE calculator call on moved atoms (neighbour "
             f"list upkeep included), median of {args.calls} calls (3 at 69,120 atoms); n2p2 = "
             "symmetry functions + networks + forces without its neighbour search, per thread "
             f"({source}).", "",
             "| atoms | threads | median (s) | atoms/s | atoms/s per thread | n2p2 (s) "
             "| vs n2p2 per thread | vs 1 thread | NL builds | peak MiB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    breakdowns = []
    for repeat in args.repeats:
        one = None
        for threads in args.threads:
            env = dict(os.environ, OMP_NUM_THREADS=str(threads))
            calls = args.calls if repeat < 4 else 3
            out = subprocess.run([sys.executable, __file__, "--worker", str(repeat),
                                  str(threads), str(calls)], env=env, capture_output=True,
                                 text=True, check=True)
            res = json.loads(out.stdout.strip().splitlines()[-1])
            median = float(np.median(res["times"]))
            one = median if threads == 1 else one
            if args.n2p2 and res["atoms"] <= 8640:
                n2p2 = n2p2_side_by_side(args.n2p2, repeat, threads)
            else:
                n2p2 = N2P2_SECONDS.get(res["atoms"]) if threads == 1 else None
            versus = f"{n2p2 / median:.2f}x" if n2p2 else "-"
            line = (f"| {res['atoms']:,} | {threads} | {median:.4f} | "
                    f"{res['atoms'] / median:,.0f} | {res['atoms'] / median / threads:,.0f} | "
                    f"{n2p2 if n2p2 else '-'} | {versus} | {one / median:.2f} | "
                    f"{res['builds']} | {res['peak_mib']:.0f} |")
            lines.append(line)
            print(line, flush=True)
            if res["stages"]:
                breakdowns.append((res["atoms"], res["stages"]))
    if breakdowns:
        lines += ["", "Stages, 1 thread (median seconds):", "",
                  "| atoms | " + " | ".join(breakdowns[0][1]) + " |",
                  "|---" * (len(breakdowns[0][1]) + 1) + "|"]
        for atoms, stages in breakdowns:
            lines.append(f"| {atoms:,} | " + " | ".join(f"{v:.4f}" for v in stages.values())
                         + " |")
        print("\n".join(lines[-len(breakdowns) - 4:]))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
