"""Training runs started side by side, for comparisons at the same wall time."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shared_data():
    return Path(os.environ.get("FASTPOT_SHARED_DATA", ROOT.parent / "shared" / "data"))


def data_name(folder):
    """"mlearn/Si" for an mlearn element, else the folder's name."""
    folder = Path(folder)
    return f"mlearn/{folder.name}" if folder.parent.name == "mlearn" else folder.name


def data_sets(folders, work_root):
    """(name, folder, work folder) of each data folder that holds train.extxyz; the others
    are skipped, saying so on stderr."""
    for folder in map(Path, folders):
        if not (folder / "train.extxyz").is_file():
            print(f"skipping {folder}: no train.extxyz", file=sys.stderr)
            continue
        name = data_name(folder)
        yield name, folder, Path(work_root) / name.replace("/", "_")


def train_side_by_side(folder, work, budget, variants, threads=1):
    """Start `fastpot train` on folder/train.extxyz (tested on folder/test.extxyz) once per
    variant {name: extra command-line arguments}, all at the same time with `threads` each
    and the same --time-budget, so that they share the machine alike; wait for all. Returns
    {name: metrics.json with wall_s added}; the models are in work/<name>/model.fastpot."""
    fastpot = Path(sys.executable).parent / "fastpot"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    runs = {}
    for name, extra in variants.items():
        out = Path(work) / name
        out.mkdir(parents=True, exist_ok=True)
        command = [str(fastpot), "train", "--train", str(folder / "train.extxyz"), "--test",
                   str(folder / "test.extxyz"), "--out", str(out), "--time-budget",
                   str(budget), "--threads", str(threads), *extra]
        log = open(out / "stdout.log", "w")
        runs[name] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env),
                      log, time.perf_counter())
    ended = {}
    while len(ended) < len(runs):      # polled, so that each run's own wall time is kept
        for name, (process, log, started) in runs.items():
            if name not in ended and process.poll() is not None:
                ended[name] = time.perf_counter() - started
                log.close()
        time.sleep(0.5)
    results = {}
    for name, (process, _, _) in runs.items():
        if process.returncode != 0:
            raise RuntimeError(f"{name} training failed: see {Path(work) / name / 'stdout.log'}")
        metrics = json.loads((Path(work) / name / "metrics.json").read_text())
        metrics["wall_s"] = ended[name]
        results[name] = metrics
    return results
