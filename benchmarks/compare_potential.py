"""Energy + forces of n2p2's water potential: fastpot as an ASE calculator, against n2p2.

n2p2's 1,080-atom water box (../shared/data/n2p2/H2O_RPBE-D3/box_1080.data) and its 2x2x2
and 4x4x4 supercells. Each call is timed after the atoms moved (0.01 Å random steps), as in
MD: the calculator keeps its neighbour list with a Verlet skin and rebuilds it when needed.
A stage breakdown (neighbour list, symmetry functions, networks, backward pass) is printed
for the 1-thread runs.

n2p2 cannot be built here (its source is not on a package registry), so its figures are the
ones measured on this kind of machine and recorded in the issue (n2p2 61daa0df, OpenMP build,
1 thread; 2 threads: 0.162 s on 1,080 atoms).

    python benchmarks/compare_potential.py --out benchmarks/results_potential.md
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_description  # noqa: E402

# n2p2, 1 thread, path without its neighbour list (what LAMMPS pair_style hdnnp spends)
N2P2_SECONDS = {1080: 0.288, 8640: 3.03}
BOHR, HARTREE = 1.8897261328, 0.0367493254


def data_dir():
    here = Path(__file__).resolve().parent.parent
    return Path(os.environ.get("FASTPOT_SHARED_DATA", here.parent / "shared" / "data"))


def worker(repeat, threads, calls):
    from fastpot import Potential, read_input_data
    folder = data_dir() / "n2p2" / "H2O_RPBE-D3"
    potential = Potential.from_n2p2(folder, BOHR, HARTREE)
    atoms = read_input_data(folder / "box_1080.data", BOHR, HARTREE)[0].repeat(repeat)
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


def stage_breakdown(potential, atoms, threads):
    """Seconds per stage of one evaluation (the same work the calculator does)."""
    from fastpot.neighbors import NeighborList
    sf = potential.sf
    clock = time.perf_counter
    t0 = clock()
    nl = NeighborList(sf.cutoff, n_threads=threads).build(atoms)
    t1 = clock()
    species = sf.species(atoms)
    flat, _ = sf._values(species, nl, threads)
    t2 = clock()
    _, block_start, counts, widths = sf.layout(species)
    weights = np.zeros_like(flat)
    for k, element in enumerate(sf.elements):
        block = flat[block_start[k]:block_start[k + 1]].reshape(counts[k], widths[k])
        x = potential.scaling.apply({element: block})[element]
        _, dydx = potential.networks[element].evaluate(x, n_threads=threads)
        weights[block_start[k]:block_start[k + 1]] = dydx.ravel()
    t3 = clock()
    sf._backward(species, nl, weights, threads)
    t4 = clock()
    return {"neighbor list (new search)": t1 - t0, "symmetry functions": t2 - t1,
            "networks": t3 - t2, "backward (forces, stress)": t4 - t3}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, nargs="+", default=[1, 2, 4],
                        help="supercell repetitions of the 1,080-atom box")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--calls", type=int, default=7)
    parser.add_argument("--out")
    parser.add_argument("--worker", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    if not (data_dir() / "n2p2" / "H2O_RPBE-D3" / "box_1080.data").is_file():
        sys.exit(f"reference data not found under {data_dir()} (set FASTPOT_SHARED_DATA)")
    lines = [f"Machine: {machine_description([])}", "",
             "n2p2's RPBE-D3 water potential (27/30 functions, 25-25 tanh networks, rc 6.35 Å); "
             f"energy + forces (+ stress) as an ASE calculator call on moved atoms, median of "
             f"{args.calls} calls; n2p2 = its measured path without the neighbour list, 1 "
             "thread (from the issue, not run here).", "",
             "| atoms | threads | median (s) | atoms/s | per thread vs n2p2 | vs 1 thread "
             "| NL builds | peak MiB |", "|---|---|---|---|---|---|---|---|"]
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
            n2p2 = N2P2_SECONDS.get(res["atoms"])
            versus = f"{n2p2 / (median * threads):.2f}x" if n2p2 else "-"
            line = (f"| {res['atoms']} | {threads} | {median:.4f} | {res['atoms'] / median:,.0f} "
                    f"| {versus} | {one / median if one else 1:.2f} | {res['builds']} "
                    f"| {res['peak_mib']:.0f} |")
            lines.append(line)
            print(line, flush=True)
            if res["stages"]:
                breakdowns.append((res["atoms"], res["stages"]))
    lines += ["", "Stages of one evaluation, 1 thread (seconds):", "",
              "| atoms | " + " | ".join(breakdowns[0][1]) + " |",
              "|---" * (len(breakdowns[0][1]) + 1) + "|"]
    for atoms, stages in breakdowns:
        lines.append(f"| {atoms} | " + " | ".join(f"{v:.4f}" for v in stages.values()) + " |")
    print("\n".join(lines[-len(breakdowns) - 4:]))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
