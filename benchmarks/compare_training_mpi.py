"""Data-parallel training: 1 rank x 1 thread, 1 rank x 2 threads and 2 ranks x 1 thread (mpich's
mpiexec) on the same structures, in one run: preparation time, time per full-batch L-BFGS
iteration, stored derivatives per rank, and whether the loss histories agree.

    python benchmarks/compare_training_mpi.py --out benchmarks/results_training_mpi.md

Data: the first --structures structures of ../shared/data/tio2_aenet/train.extxyz (or
$FASTPOT_SHARED_DATA), else EMT copper made here. Each run trains --iterations L-BFGS
iterations (validation every iteration, on 10 % held out) from the same seed.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_description  # noqa: E402

WORKER = """
import json, sys, time
import numpy as np
from fastpot._mpi import world
from fastpot.training import Trainer
sys.path.insert(0, sys.argv[3])
from compare_training_mpi import load
options, structures = json.loads(sys.argv[1]), json.loads(sys.argv[4])
comm = world()
samples = load(structures)
trainer = Trainer(options, log=None)
times = {}
original = trainer.prepare
def timed_prepare(*args, **kwargs):
    started = time.perf_counter()
    result = original(*args, **kwargs)
    times["prepare"] = time.perf_counter() - started
    return result
trainer.prepare = timed_prepare
started = time.perf_counter()
trainer.fit(samples, comm=comm)
total = time.perf_counter() - started
stored = comm.gather_objects(sum(g.derivative_bytes for g in trainer.loss.groups
                                 if g is not None))
if comm.rank == 0:
    rows = trainer.history
    json.dump({"prepare": times["prepare"], "total": total, "stored": stored,
               "elapsed": [r["elapsed_s"] for r in rows],
               "loss": [r["train_loss"] for r in rows]}, open(sys.argv[2], "w"))
"""


def load(structures):
    root = Path(os.environ.get("FASTPOT_SHARED_DATA",
                               Path(__file__).resolve().parents[2] / "shared" / "data"))
    path = root / "tio2_aenet" / "train.extxyz"
    if path.is_file():
        from fastpot.data import read_samples
        return read_samples(path, index=f":{structures}")
    from fastpot.emt_data import emt_samples
    return emt_samples(structures, element="Cu", size=2, seed=0)


def run(ranks, threads, options, structures, folder):
    script = Path(folder) / "worker.py"
    script.write_text(WORKER)
    result = Path(folder) / f"result_{ranks}_{threads}.json"
    command = [sys.executable, str(script), json.dumps(options), str(result),
               str(Path(__file__).resolve().parent), json.dumps(structures)]
    if ranks > 1:
        command = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(ranks)] + command
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    subprocess.run(command, check=True, env=env)
    return json.loads(result.read_text())


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--structures", type=int, default=1000)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--out")
    args = parser.parse_args()
    options = {"optimizer": "lbfgs", "max_iterations": args.iterations, "validate_every": 1,
               "patience": 10**6, "time_budget": 10**6}
    layouts = [(1, 1), (1, 2), (2, 1)]
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for ranks, threads in layouts:
            results[ranks, threads] = run(ranks, threads, options, args.structures, folder)
            print(ranks, threads, results[ranks, threads]["total"], flush=True)
    reference = results[1, 1]
    lines = ["# Data-parallel training (`benchmarks/compare_training_mpi.py`)", "",
             f"Machine: {machine_description(['mpi4py'])}", "",
             f"{args.structures} structures, {args.iterations} full-batch L-BFGS iterations "
             "(validation every iteration).", "",
             "| ranks x threads | preparation (s) | s per iteration (median) | speed-up over "
             "1 x 1 | stored derivatives per rank (MiB) | loss history vs 1 x 1 (max rel.) |",
             "|---|---|---|---|---|---|"]
    for ranks, threads in layouts:
        r = results[ranks, threads]
        per_iteration = float(np.median(np.diff(r["elapsed"])))
        base = float(np.median(np.diff(reference["elapsed"])))
        agreement = float(np.max(np.abs(np.array(r["loss"]) - reference["loss"])
                                 / np.abs(reference["loss"])))
        stored = ", ".join(f"{b / 2**20:.0f}" for b in r["stored"])
        lines.append(f"| {ranks} x {threads} | {r['prepare']:.1f} | {per_iteration:.3f} | "
                     f"{base / per_iteration:.2f}x | {stored} | {agreement:.1e} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
