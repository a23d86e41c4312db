"""Time and peak memory per atom of the neighbour list and of energy + forces, 10^4 to 10^6 atoms.

The structure is rattled fcc copper (a = 3.61 Å), replicated to about 10^4, 10^5 and 10^6
atoms; the potential is what `fastpot train` makes for one element by default (the default
symmetry functions at a 6 Å cutoff, two hidden layers of 25), with seeded random weights:
the cost does not depend on the weights' values. Each size runs in its own process, so its
peak resident memory (ru_maxrss) is its own; the figure per atom is that peak less the
process's memory once the structure and the potential exist (numpy, ASE and the atoms'
own arrays are not the kernels' cost).

Timed: the first call, and the fastest of --repeats more:
- neighbour list: fastpot.neighbor_list("ijdD"), i.e. pairs with distances and vectors;
- energy + forces: Potential.evaluate(atoms, stress=False), which builds its own
  neighbour list, so this includes the search.

Memory the process has not touched before costs a page fault per 4 KiB page on first
write; on this project's virtual machines that is about 25 µs a page (the script measures
it: "first-touch" below), some 60x a bare-metal fault, and glibc hands arrays above 32 MB
back to the system when they are freed, so every call of a large system writes fresh pages.
Each size is therefore run twice: as is ("default" malloc), and with glibc told to keep
freed memory in the process (MALLOC_MMAP_MAX_=0, MALLOC_TRIM_THRESHOLD_ large: "kept"),
where the later calls reuse pages already touched and show the kernels' own cost.
Beside it, when installed (`pip install vesin`, the bench extra), vesin's neighbour list
("ijdD", full list) on the same atoms in the same process.

    python benchmarks/scale.py --out benchmarks/results_scale.md [--threads 1 2]
"""
import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_description  # noqa: E402

# fcc cells per edge -> 4 n^3 atoms: 10,976, 97,556 and 1,000,188
EDGES = {"1e4": 14, "1e5": 29, "1e6": 63}
CUTOFF = 6.0


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB


def current_rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def copper(edge):
    from ase.build import bulk
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(edge)
    rng = np.random.default_rng(0)
    atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
    return atoms


def default_potential():
    """One element, the trainer's default descriptors and network, seeded random weights."""
    from fastpot import Network, Potential, Scaling, default_symmetry_functions
    sf = default_symmetry_functions(["Cu"], cutoff=CUTOFF)
    sample = copper(2)
    scaling = Scaling.from_data(sf, [sf.compute(sample)], mode="scalecenter")
    network = Network([sf.n_functions("Cu"), 25, 25, 1], "ttl").initialize(
        np.random.default_rng(0))
    return Potential(sf, scaling, {"Cu": network})


# glibc keeps freed memory in the process with these (see the module docstring)
KEEP_MEMORY = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(2**40)}


def timed_calls(call, repeats):
    """(seconds of the first call, fastest of `repeats` more)."""
    times = []
    for _ in range(1 + repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return times[0], min(times[1:])


def first_touch_microseconds_per_page(n_bytes=2**30):
    array = np.empty(n_bytes // 8)
    start = time.perf_counter()
    array.fill(1.0)
    first = time.perf_counter() - start
    start = time.perf_counter()
    array.fill(2.0)
    again = time.perf_counter() - start
    return 1e6 * (first - again) / (n_bytes / resource.getpagesize())


def measure(size, threads, repeats, what):
    """One size in this process: {"seconds": ..., "peak_bytes": ..., ...} for `what`."""
    from fastpot import neighbor_list
    atoms = copper(EDGES[size])
    potential = default_potential()
    potential.evaluate(copper(3), stress=False)  # first call: compile, allocate once
    before = current_rss_bytes()
    if what == "neighbors":
        first, later = timed_calls(lambda: neighbor_list("ijdD", atoms, CUTOFF,
                                                         n_threads=threads), repeats)
    elif what == "energy_forces":
        first, later = timed_calls(lambda: potential.evaluate(atoms, stress=False,
                                                              n_threads=threads), repeats)
    elif what == "vesin":
        from vesin import NeighborList
        search = NeighborList(cutoff=CUTOFF, full_list=True)
        first, later = timed_calls(lambda: search.compute(
            atoms.positions, atoms.cell.array, True, "ijdD"), repeats)
    else:
        raise ValueError(what)
    return {"n_atoms": len(atoms), "first": first, "later": later,
            "peak_bytes": peak_rss_bytes() - before}


def run_child(size, threads, repeats, what, keep_memory):
    command = [sys.executable, __file__, "--child", size, str(threads), str(repeats), what]
    env = {"OMP_NUM_THREADS": str(threads), "PATH": "/usr/bin:/bin",
           **(KEEP_MEMORY if keep_memory else {})}
    out = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def has_vesin():
    try:
        import vesin  # noqa: F401
        return True
    except ImportError:
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="write the markdown table here")
    parser.add_argument("--threads", type=int, nargs="+", default=[2])
    parser.add_argument("--repeats", type=int, default=2,
                        help="calls after the first (one at 10^6 atoms)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--first-touch", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.first_touch:
        print(first_touch_microseconds_per_page())
        return
    if args.child:
        size, threads, repeats, what = args.child
        print(json.dumps(measure(size, int(threads), int(repeats), what)))
        return
    kinds = ["neighbors", "energy_forces"] + (["vesin"] if has_vesin() else [])
    # in a child of its own: a process starts with its parent's peak memory (ru_maxrss
    # survives fork and exec), so the parent stays small
    fault = float(subprocess.run([sys.executable, __file__, "--first-touch"], check=True,
                                 capture_output=True, text=True).stdout)
    print(f"first-touch cost of fresh memory: {fault:.2f} µs per page", flush=True)
    rows = []
    for threads in args.threads:
        for what in kinds:
            for size in EDGES:
                for keep_memory in (False, True):
                    repeats = 1 if size == "1e6" else args.repeats
                    r = run_child(size, threads, repeats, what, keep_memory)
                    n = r["n_atoms"]
                    row = (f"| {what} | {threads} | {'kept' if keep_memory else 'default'} | "
                           f"{n:,} | {r['first']:.4g} | {r['later']:.4g} | "
                           f"{1e6 * r['first'] / n:.3g} | {1e6 * r['later'] / n:.3g} | "
                           f"{r['peak_bytes'] / 2**20:.0f} | {r['peak_bytes'] / n:.0f} |")
                    print(row, flush=True)
                    rows.append(row)
    table = "\n".join([
        f"Machine: {machine_description(['vesin'] if has_vesin() else [])}", "",
        f"First-touch cost of fresh memory on this machine: {fault:.2f} µs per 4 KiB page.", "",
        "| what | threads | malloc | atoms | first call s | later call s | first µs/atom | "
        "later µs/atom | peak extra MiB | bytes/atom |",
        "|---|---|---|---|---|---|---|---|---|---|", *rows])
    if args.out:
        Path(args.out).write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
