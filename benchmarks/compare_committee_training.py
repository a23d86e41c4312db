"""A committee against one model trained in the same wall time, and how well its spread
flags errors and unfamiliar structures.

    python benchmarks/compare_committee_training.py --budget 300 \\
        --out benchmarks/results_committee_training.md

For every data set (default: the shared mlearn Si, Ge, Li and w_maml splits; others with
--data DIR, each holding train.extxyz and test.extxyz) `fastpot train` runs twice at the
same time, one thread each, with the same --time-budget and otherwise defaults: once a
single model, once `--committee 4`. Both run side by side so that they share the machine
alike. Reported:
- test energy RMSE/MAE (meV/atom) and force RMSE (meV/Å per component) of both;
- for the committee, the Spearman correlation between a test structure's energy std and
  its absolute energy error (`energy_std_spearman` of metrics.json);
- the committee's mean energy std per atom and mean largest per-atom force std on the test
  set, and on unfamiliar structures made from the test set: cells compressed and expanded
  by 10 % in every length (atoms scaled with the cell), and simple cubic crystals of the
  element at the test set's mean volume per atom (a phase none of these sets holds);
- the time of an energy+forces call on the test set, committee against one model.
Needs the shared data (../shared/data or $FASTPOT_SHARED_DATA); skips sets that are absent.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

from _machine import machine_description
from _training_runs import data_sets, shared_data, train_side_by_side

SETS = ["mlearn/Si", "mlearn/Ge", "mlearn/Li", "w_maml"]


def unfamiliar(test):
    """Test cells compressed and expanded by 10 % (lengths), and simple cubic crystals of
    the element at the test set's mean volume per atom."""
    from ase.build import bulk
    periodic = [a for a in test if a.pbc.all()]
    kinds = {}
    for factor in (0.9, 1.1):
        cells = []
        for atoms in periodic:
            atoms = atoms.copy()
            atoms.set_cell(atoms.cell * factor, scale_atoms=True)
            cells.append(atoms)
        kinds[f"cells x{factor}"] = cells
    volume = np.mean([a.get_volume() / len(a) for a in periodic])
    element = periodic[0].get_chemical_symbols()[0]
    cubic = []
    for k in range(5):
        atoms = bulk(element, "sc", a=volume ** (1 / 3)).repeat(3)
        atoms.rattle(0.05, seed=k)
        cubic.append(atoms)
    kinds["simple cubic"] = cubic
    return kinds


def spread(potential, frames):
    """Mean energy std per atom (meV/atom) and mean largest per-atom force std (eV/Å)."""
    energy, force = [], []
    for atoms in frames:
        result = potential.evaluate(atoms, stress=False, forces_std=True, n_threads=1)
        energy.append(1000 * result["energy_std"] / len(atoms))
        force.append(np.sqrt((result["forces_std"] ** 2).sum(axis=1)).max())
    return float(np.mean(energy)), float(np.mean(force))


def call_ratio(committee, test, repeats=5):
    single = committee.member(0)
    times = {"single": [], "committee": []}
    for _ in range(repeats):
        for name, pot in (("single", single), ("committee", committee)):
            t0 = time.perf_counter()
            for atoms in test:
                pot.evaluate(atoms, n_threads=1)
            times[name].append(time.perf_counter() - t0)
    return float(np.median(times["committee"]) / np.median(times["single"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="*", help="data folders (default: shared sets)")
    parser.add_argument("--budget", type=float, default=300.0, help="seconds per training")
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--work", default="/tmp/fastpot-committee-training")
    parser.add_argument("--out", help="also write the markdown report here")
    args = parser.parse_args()
    from ase.io import read

    from fastpot import Potential
    folders = [Path(d) for d in args.data] if args.data else [shared_data() / s for s in SETS]
    lines = [f"Machine: {machine_description()}", "",
             f"`python benchmarks/compare_committee_training.py --budget {args.budget:g}`: "
             f"one model and a committee of {args.members}, trained side by side (one thread "
             f"each, --time-budget {args.budget:g} s, otherwise defaults).", "",
             "| data | model | test E RMSE / MAE (meV/atom) | test F RMSE (meV/Å) | "
             "Spearman(E std, abs E error) | stop |",
             "|---|---|---|---|---|---|"]
    spreads = ["", "Committee spread: mean energy std (meV/atom) / mean largest per-atom "
               "force std (eV/Å)", "",
               "| data | test set | cells x0.9 | cells x1.1 | simple cubic | committee / one "
               "model per energy+forces call |", "|---|---|---|---|---|---|"]
    for name, folder, work in data_sets(folders, args.work):
        print(f"{name}: training both for {args.budget:g} s", file=sys.stderr, flush=True)
        results = train_side_by_side(folder, work, args.budget, {
            "single": [], "committee": ["--committee", str(args.members)]})
        for model, metrics in results.items():
            test = metrics["test"]
            rho = test.get("energy_std_spearman")
            potential = Potential.load(work / model / "model.fastpot")
            stop = (potential.metadata.get("stop_reason") or "; ".join(
                sorted({m["stop_reason"].split(" (")[0] for m in potential.metadata["members"]})))
            lines.append(f"| {name} | {model} | {test['energy_rmse']:.2f} / "
                         f"{test['energy_mae']:.2f} | {test['forces_component_rmse']:.1f} | "
                         f"{'' if rho is None else f'{rho:.2f}'} | {stop} |")
        committee = Potential.load(work / "committee" / "model.fastpot")
        test = read(folder / "test.extxyz", ":")
        cells = [spread(committee, test)] + [spread(committee, frames) for frames in
                                             unfamiliar(test).values()]
        ratio = call_ratio(committee, test)
        spreads.append(f"| {name} | " + " | ".join(f"{e:.2f} / {f:.3f}" for e, f in cells)
                       + f" | {ratio:.2f}x |")
        print("\n".join(lines[-2:] + spreads[-1:]), file=sys.stderr, flush=True)
    report = "\n".join(lines + spreads) + "\n"
    print(report)
    if args.out:
        Path(args.out).write_text(report)


if __name__ == "__main__":
    main()
