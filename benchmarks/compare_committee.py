"""Cost of a committee of K networks against one model per energy+forces call.

    python benchmarks/compare_committee.py --out benchmarks/results_committee.md

Copper fcc cells of growing size (rattled), the training defaults' symmetry functions
(cutoff 6 Å, 28 functions) and 25-25 tanh networks with random weights (the cost does not
depend on the weights). Each call is the energy, forces and stress of a structure with a
kept neighbour list (as MD and the calculator call it); the single model, the committee
(mean and energy std; one backward pass), and the committee with forces_std (one backward
pass per member) are timed interleaved, and the medians and their ratios reported.

Trained committees against one model at the same wall time, the Spearman correlation of
their spread with the error and their spread on unfamiliar structures:
benchmarks/compare_committee_training.py.
"""
import argparse
import sys
import time

import numpy as np
from ase.build import bulk

from _machine import machine_description

from fastpot import Network, Potential, Scaling, default_symmetry_functions


def timed(calls, repeats):
    times = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(v)) for name, v in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", help="also write the markdown table here")
    args = parser.parse_args()
    sf = default_symmetry_functions(["Cu"], cutoff=6.0)
    rows = []
    for repeat in (3, 5, 8):
        atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(repeat)
        atoms.rattle(0.05, seed=1)
        scaling = Scaling.from_data(sf, [sf.compute(atoms)], mode="scalecenter")
        nets = [{"Cu": Network([sf.n_functions("Cu"), 25, 25, 1], "ttl").initialize(
            np.random.default_rng(k))} for k in range(args.members)]
        single = Potential(sf, scaling, nets[0])
        committee = Potential(sf, scaling, nets)
        nl = sf.neighbor_list(atoms, args.threads)
        n = args.threads
        calls = {
            "single": lambda: single.evaluate(atoms, neighbor_list=nl, n_threads=n),
            "committee": lambda: committee.evaluate(atoms, neighbor_list=nl, n_threads=n),
            "forces_std": lambda: committee.evaluate(atoms, neighbor_list=nl, n_threads=n,
                                                     forces_std=True),
        }
        for call in calls.values():
            call()
        t = timed(calls, args.repeats if repeat < 8 else max(5, args.repeats // 3))
        rows.append((len(atoms), t["single"], t["committee"], t["forces_std"]))
    lines = [f"Committee of {args.members} against one model, energy + forces + stress per "
             f"call, {args.threads} threads, medians; {machine_description()}", "",
             "| atoms | one model (ms) | committee, mean + energy std (ms) | ratio | "
             "with forces_std (ms) | ratio |", "|---|---|---|---|---|---|"]
    for n_atoms, s, c, f in rows:
        lines.append(f"| {n_atoms} | {1e3 * s:.2f} | {1e3 * c:.2f} | {c / s:.2f} | "
                     f"{1e3 * f:.2f} | {f / s:.2f} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
