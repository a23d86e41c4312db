"""Gaussian (n2p2 types 2 and 9, the default) against polynomial (types 20 and 22)
descriptors for training, at the same wall time.

    python benchmarks/compare_descriptors.py --budget 420 \\
        --out benchmarks/results_descriptors.md

For every data set (default: the shared mlearn Si and rMD17 ethanol; others with --data DIR
holding train.extxyz and test.extxyz) `fastpot train` runs twice side by side, one thread
each, the same --time-budget and otherwise defaults, once with `descriptors = "polynomial"`
(a --config file). Reported: test energy RMSE/MAE (meV/atom), force RMSE/MAE (meV/Å per
component), the number of functions per element, L-BFGS iterations reached (the cost of a
descriptor set shows up there: the stored derivatives are what each iteration reads) and
why each stopped. Needs the shared data; skips sets that are absent.
"""
import argparse
import sys
from pathlib import Path

from _machine import machine_description
from _training_runs import data_sets, shared_data, train_side_by_side

SETS = ["mlearn/Si", "rmd17_ethanol"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="*", help="data folders (default: shared sets)")
    parser.add_argument("--budget", type=float, default=420.0, help="seconds per training")
    parser.add_argument("--work", default="/tmp/fastpot-descriptors")
    parser.add_argument("--out", help="also write the markdown report here")
    args = parser.parse_args()
    from fastpot import Potential
    folders = [Path(d) for d in args.data] if args.data else [shared_data() / s for s in SETS]
    config = Path(args.work) / "polynomial.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('descriptors = "polynomial"\n')
    lines = [f"Machine: {machine_description()}", "",
             f"`python benchmarks/compare_descriptors.py --budget {args.budget:g}`: the two "
             f"descriptor families trained side by side (one thread each, --time-budget "
             f"{args.budget:g} s, otherwise defaults).", "",
             "| data | descriptors | functions per element | test E RMSE / MAE (meV/atom) | "
             "test F RMSE / MAE (meV/Å) | iterations | stop |", "|---|---|---|---|---|---|---|"]
    for name, folder, work in data_sets(folders, args.work):
        print(f"{name}: training both for {args.budget:g} s", file=sys.stderr, flush=True)
        results = train_side_by_side(folder, work, args.budget, {
            "gaussian": [], "polynomial": ["--config", str(config)]})
        for variant, metrics in results.items():
            potential = Potential.load(work / variant / "model.fastpot")
            widths = ", ".join(f"{e} {potential.sf.n_functions(e)}" for e in potential.elements)
            test, meta = metrics["test"], potential.metadata
            lines.append(f"| {name} | {variant} | {widths} | {test['energy_rmse']:.2f} / "
                         f"{test['energy_mae']:.2f} | {test['forces_component_rmse']:.1f} / "
                         f"{test['forces_component_mae']:.1f} | {meta['iterations']} "
                         f"(+{meta['adam_epochs']} Adam epochs) | {meta['stop_reason']} |")
        print("\n".join(lines[-2:]), file=sys.stderr, flush=True)
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        Path(args.out).write_text(report)


if __name__ == "__main__":
    main()
