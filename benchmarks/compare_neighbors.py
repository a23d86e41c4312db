"""Side-by-side neighbour-list timing: fastpot vs vesin, matscipy and ASE, in one run.

Each (peer, size, threads) measurement runs in its own subprocess, so peak memory
(ru_maxrss above the process's state before the first call) is measured cleanly and
OMP_NUM_THREADS applies to every peer alike.

    python benchmarks/compare_neighbors.py --out benchmarks/results_neighbors.md

Needs the peers: pip install -e ".[bench]".
"""
import argparse
import json
import os
import platform
import resource
import subprocess
import sys

import numpy as np


def worker(peer, n_atoms, threads, repeats, cutoff):
    from _peers import NEIGHBOR_PEERS, copper_box, time_call
    atoms = copper_box(n_atoms)
    function = NEIGHBOR_PEERS[peer]
    function(copper_box(4), cutoff, threads)  # import and warm up on a tiny box
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, result = time_call(lambda: function(atoms, cutoff, threads), repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"times": times.tolist(), "pairs": int(len(result[0])),
                      "atoms": len(atoms), "peak_mib": (peak - before) / 1024.0}))


def measure(peer, n_atoms, threads, repeats, cutoff):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), RAYON_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, __file__, "--worker", peer, str(n_atoms), str(threads),
                          str(repeats), str(cutoff)], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{peer} {n_atoms} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine_description():
    from fastpot._config import config
    from _peers import available_neighbor_peers, package_version
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = config()
    versions = ", ".join(f"{p} {package_version(p)}" for p in available_neighbor_peers())
    return (f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
            f"Python {info['python']}, numpy {info['numpy']}; {versions}; "
            f"fastpot OpenMP: {info['openmp']}")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 32000, 256000])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cutoff", type=float, default=6.0)
    parser.add_argument("--ase-max-atoms", type=int, default=40000,
                        help="skip ASE above this size (it takes minutes)")
    parser.add_argument("--out", help="also write the markdown table here")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        peer, n, t, r, c = args.worker
        worker(peer, int(n), int(t), int(r), float(c))
        return

    from _peers import available_neighbor_peers
    peers = available_neighbor_peers()
    lines = [f"Machine: {machine_description()}", "",
             f"fcc Cu (a = 3.61 Å, rattled 0.01 Å), cutoff {args.cutoff} Å, full list, "
             f"quantities `ijd`; median of {args.repeats} calls (ASE: 1 call); peak = extra "
             f"resident memory during the calls; ratio = peer time / fastpot time.", "",
             "| atoms | pairs | threads | peer | median (s) | min (s) | µs/atom | peak MiB "
             "| ratio |", "|---|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for n_atoms in args.sizes:
        for threads in args.threads:
            results = {}
            for peer in peers:
                if peer == "ase" and n_atoms > args.ase_max_atoms:
                    continue
                repeats = 1 if peer == "ase" else args.repeats
                results[peer] = measure(peer, n_atoms, threads, repeats, args.cutoff)
            base = np.median(results["fastpot"]["times"])
            for peer, res in results.items():
                if res["pairs"] != results["fastpot"]["pairs"]:
                    raise RuntimeError(f"{peer} found {res['pairs']} pairs, "
                                       f"fastpot {results['fastpot']['pairs']}")
                median = np.median(res["times"])
                line = (f"| {res['atoms']} | {res['pairs']} | {threads} | {peer} | {median:.4f} | "
                        f"{min(res['times']):.4f} | {1e6 * median / res['atoms']:.3f} | "
                        f"{res['peak_mib']:.0f} | {median / base:.2f} |")
                lines.append(line)
                print(line, flush=True)
    if args.out:
        with open(args.out, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
