"""The ``fastpot`` command line: ``fastpot info``, ``fastpot demo``."""
import argparse
import sys


def _info(args):
    from fastpot import show_config
    show_config()
    return 0


def _demo(args):
    """Neighbour-list comparison on built-in fcc Cu boxes (the full demo arrives with MD)."""
    import numpy as np

    from fastpot import show_config
    from fastpot._threading import resolve_threads
    from fastpot._peers import (NEIGHBOR_PEERS, available_neighbor_peers, copper_box,
                                package_version, time_call)

    show_config()
    args.threads = resolve_threads(args.threads)
    peers = available_neighbor_peers()
    print(f"\nNeighbour list, full list, quantities 'ijd', cutoff {args.cutoff} Å, "
          f"{args.threads} thread(s) for fastpot; median of {args.repeats} runs")
    print("peers found: " + ", ".join(f"{p} {package_version(p)}" for p in peers))
    header = f"{'atoms':>8} {'pairs':>10} " + " ".join(f"{p + ' (s)':>14}" for p in peers)
    print(header + "   fastpot speed-up")
    for n_atoms in args.sizes:
        atoms = copper_box(n_atoms)
        medians = {}
        n_pairs = None
        for peer in peers:
            if peer == "ase" and len(atoms) > 40_000:
                continue  # minutes per call
            repeats = 1 if peer == "ase" else args.repeats
            times, result = time_call(
                lambda: NEIGHBOR_PEERS[peer](atoms, args.cutoff, args.threads), repeats)
            medians[peer] = float(np.median(times))
            if n_pairs is None:
                n_pairs = len(result[0])
            elif len(result[0]) != n_pairs:
                print(f"  {peer} found {len(result[0])} pairs, fastpot {n_pairs}!", file=sys.stderr)
                return 1
        cells = " ".join(f"{medians[p]:>14.4f}" if p in medians else f"{'-':>14}" for p in peers)
        ratios = ", ".join(f"{p} {medians[p] / medians['fastpot']:.1f}x"
                           for p in peers if p != "fastpot" and p in medians)
        print(f"{len(atoms):>8} {n_pairs:>10} {cells}   {ratios}")
    print("\nEvery peer found the same number of pairs.")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="fastpot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print version, OpenMP state and dependency versions")
    info.set_defaults(run=_info)
    demo = sub.add_parser("demo", help="run the built-in demonstration")
    demo.add_argument("--sizes", type=int, nargs="+", default=[4000, 32000],
                      help="approximate numbers of atoms (default: 4000 32000)")
    demo.add_argument("--cutoff", type=float, default=6.0, help="cutoff in Å (default 6)")
    demo.add_argument("--threads", type=int, default=None, help="fastpot threads")
    demo.add_argument("--repeats", type=int, default=5, help="timed runs per peer")
    demo.set_defaults(run=_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
