"""Optimizers side by side at the same wall time: test errors and time-to-accuracy curves.

    python benchmarks/compare_optimizers.py --budget 840 --out benchmarks/results_optimizers.md
    python benchmarks/compare_optimizers.py --budget 3600 --data ../shared/data/tio2_aenet \\
        --variants lbfgs kalman+lbfgs

For every data set (default: the shared mlearn sets and rMD17 ethanol; others with --data DIR
holding train.extxyz and test.extxyz) `fastpot train` runs once per optimizer, all side by
side with one thread each and the same --time-budget, otherwise defaults ("default" is no
option at all; a path ending .toml is a config file, named by its stem; any other name is
given as `optimizer`). Reported: test energy RMSE/MAE
(meV/atom), force RMSE/MAE (meV/Å per component), first-phase epochs, L-BFGS iterations and
why each stopped, and from each run's history.csv the validation RMSE of the best model so
far at a few wall times. Needs the shared data; skips sets that are absent.
"""
import argparse
import csv
import sys
from pathlib import Path

from _machine import machine_description
from _training_runs import data_sets, shared_data, train_side_by_side

SETS = ["mlearn/Si", "mlearn/Ge", "mlearn/Li", "rmd17_ethanol"]
CURVE_POINTS = (0.1, 0.25, 0.5, 0.75, 1.0)     # fractions of the budget


def best_so_far(history_csv, times):
    """Validation (energy meV/atom, force meV/Å) of the best-validation-loss row reached by
    each wall time; None before the first row."""
    with open(history_csv) as f:
        rows = list(csv.DictReader(f))
    points = []
    for t in times:
        seen = [r for r in rows if float(r["elapsed_s"]) <= t]
        if not seen:
            points.append(None)
            continue
        best = min(seen, key=lambda r: float(r["valid_loss"]))
        points.append((1000 * float(best["valid_energy_rmse"]),
                       1000 * float(best["valid_forces_component_rmse"])))
    return points


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="*", help="data folders (default: shared sets)")
    parser.add_argument("--budget", type=float, default=840.0, help="seconds per training")
    parser.add_argument("--variants", nargs="+", default=["default", "kalman+lbfgs"],
                        help="'default', optimizer names or config files (.toml)")
    parser.add_argument("--work", default="/tmp/fastpot-optimizers")
    parser.add_argument("--out", help="also write the markdown report here")
    args = parser.parse_args()
    from fastpot import Potential
    folders = [Path(d) for d in args.data] if args.data else [shared_data() / s for s in SETS]
    work_root = Path(args.work)
    work_root.mkdir(parents=True, exist_ok=True)
    variants = {}
    for name in args.variants:
        if name == "default":
            variants[name] = []
        elif name.endswith(".toml"):
            variants[Path(name).stem] = ["--config", str(Path(name).resolve())]
        else:
            config = work_root / f"{name.replace('+', '_')}.toml"
            config.write_text(f'optimizer = "{name}"\n')
            variants[name] = ["--config", str(config)]
    times = [f * args.budget for f in CURVE_POINTS]
    command = " ".join(sys.argv[1:])
    table = [f"Machine: {machine_description()}", "",
             f"`python benchmarks/compare_optimizers.py {command}`: one thread each, side by "
             f"side, --time-budget {args.budget:g} s, otherwise defaults.", "",
             "| data | optimizer | test E RMSE / MAE (meV/atom) | test F RMSE / MAE (meV/Å) | "
             "first-phase epochs | L-BFGS iterations | wall (s) | stop |",
             "|---|---|---|---|---|---|---|---|"]
    curves = ["", "Validation RMSE (energy meV/atom / force meV/Å) of the best model so far "
              "against wall time:", "",
              "| data | optimizer | " + " | ".join(f"{t:.0f} s" for t in times) + " |",
              "|---|---|" + "---|" * len(times)]
    for name, folder, work in data_sets(folders, work_root):
        print(f"{name}: training {', '.join(variants)} for {args.budget:g} s", file=sys.stderr,
              flush=True)
        results = train_side_by_side(folder, work, args.budget, variants)
        for variant, metrics in results.items():
            meta = Potential.load(work / variant / "model.fastpot").metadata
            test = metrics["test"]
            epochs = meta.get("kalman_epochs", meta.get("adam_epochs", 0))
            table.append(f"| {name} | {variant} | {test['energy_rmse']:.2f} / "
                         f"{test['energy_mae']:.2f} | {test['forces_component_rmse']:.1f} / "
                         f"{test['forces_component_mae']:.1f} | {epochs} | "
                         f"{meta['iterations']} | {metrics['wall_s']:.0f} | "
                         f"{meta['stop_reason']} |")
            points = best_so_far(work / variant / "history.csv", times)
            curves.append(f"| {name} | {variant} | " + " | ".join(
                "-" if p is None else f"{p[0]:.2f} / {p[1]:.1f}" for p in points) + " |")
        print("\n".join(table[-len(results):]), file=sys.stderr, flush=True)
    report = "\n".join(table + curves) + "\n"
    print(report)
    if args.out:
        Path(args.out).write_text(report)


if __name__ == "__main__":
    main()
