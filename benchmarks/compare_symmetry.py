"""Side-by-side symmetry-function timing: fastpot vs DScribe's ACSF, identical features.

One set of 33 features per atom, in DScribe's terms G1 + 16 G2 + 16 G4 with one cosine
cutoff; fastpot computes the same numbers as 33 n2p2 functions (G1 is a type-2 radial with
eta = rs = 0, G2 is type 2, G4 is type 3: DScribe's 2 ((1 + lambda cos)/2)^zeta over
unordered neighbour pairs is n2p2's 2^(1-zeta) (1 + lambda cos)^zeta, no factor of 2).
Before the table, the script checks that both codes give the same values (max relative
difference) and that DScribe's numerical derivatives agree with fastpot's exact ones.

Measured, each in its own subprocess (peak memory = ru_maxrss growth during the calls;
OMP_NUM_THREADS = the thread count; DScribe always runs on 1 thread, n_jobs=1, since it
parallelises over structures only):

- DScribe values: ``ACSF.create(atoms, n_jobs=1)``;
- fastpot values: ``SymmetryFunctions.compute(atoms, n_threads)``, neighbour list included;
- fastpot values + exact derivatives: neighbour list, ``compute`` and ``backward`` (the
  gradient and strain derivative of sum dE/dG . G, which never holds dG/dR);
- DScribe numerical derivatives (optional): ``ACSF.derivatives(attach=True)`` for a few
  centres, each with ``include`` = the atoms within the cutoff of that centre (the only
  nonzero derivatives; DScribe's default, every atom, costs n_atoms/n_neighbours more), and
  extrapolated to every centre.

    python benchmarks/compare_symmetry.py --out benchmarks/results_symmetry.md

Needs DScribe: pip install -e ".[bench]" (measured with dscribe 2.1.2).
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile

import numpy as np

from _machine import machine_description

# -- the feature set ----------------------------------------------------------------------------


def parameters(cutoff):
    """G2 (eta, Rs) and G4 (eta, zeta, lambda) in DScribe's order, in Å and 1/Å^2.

    G2: 8 centred functions (Rs = 0) with eta_k = (8^(k/8) / rc)^2, k = 0..7, the grid of
    Imbalzano et al., J. Chem. Phys. 148, 241730 (2018), and 8 shifted ones, Rs from 2.0 to
    5.5 Å in steps of 0.5 Å, each of width eta = 1 / (2 * 0.5^2) = 2.
    G4: eta in {0.005, 0.05}, zeta in {1, 2, 4, 16}, lambda = +-1.
    """
    n = 8
    centred = [[(n ** (k / n) / cutoff) ** 2, 0.0] for k in range(n)]
    shifted = [[2.0, rs] for rs in np.linspace(2.0, 5.5, n)]
    g4 = [[eta, zeta, lam] for eta in (0.005, 0.05) for zeta in (1.0, 2.0, 4.0, 16.0)
          for lam in (1.0, -1.0)]
    return centred + shifted, g4


def fastpot_functions(cutoff):
    """fastpot's SymmetryFunctions for Cu equal to DScribe's features, and the fastpot
    column of each DScribe column (``G[:, columns]`` is DScribe's layout)."""
    from fastpot.symmetry import Angular, Radial, SymmetryFunctions
    g2, g4 = parameters(cutoff)
    functions = [Radial("Cu", "Cu", 0.0, 0.0, cutoff)]  # DScribe's G1
    functions += [Radial("Cu", "Cu", float(eta), float(rs), cutoff) for eta, rs in g2]
    functions += [Angular("Cu", "Cu", "Cu", float(eta), float(lam), float(zeta), cutoff)
                  for eta, zeta, lam in g4]
    sf = SymmetryFunctions(["Cu"], functions, cutoff_type="cos")
    columns = np.array([sf.functions["Cu"].index(f) for f in functions])
    return sf, columns


def dscribe_acsf(cutoff):
    from dscribe.descriptors import ACSF
    g2, g4 = parameters(cutoff)
    return ACSF(r_cut=cutoff, g2_params=g2, g4_params=g4, species=["Cu"], periodic=True)


# -- workers (one per subprocess) -------------------------------------------------------------

def _timed(function, repeats):
    from _peers import time_call
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times, result = time_call(function, repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return times, result, (peak - before) / 1024.0


def worker(task):
    from _peers import copper_box
    kind, n_atoms, threads, cutoff = task["kind"], task["atoms"], task["threads"], task["cutoff"]
    atoms = copper_box(n_atoms)
    small = copper_box(32)
    out = {"atoms": len(atoms)}
    if kind == "dscribe":
        acsf = dscribe_acsf(cutoff)
        acsf.create(small, n_jobs=1)
        times, values, out["peak_mib"] = _timed(lambda: acsf.create(atoms, n_jobs=1),
                                                task["repeats"])
    elif kind == "dscribe-derivatives":
        times, out["peak_mib"], out["max_rel_error"] = _dscribe_derivatives(atoms, task)
        values = None
    else:
        sf, columns = fastpot_functions(cutoff)
        sf.compute(small, n_threads=threads)
        if kind == "fastpot":
            times, G, out["peak_mib"] = _timed(lambda: sf.compute(atoms, n_threads=threads),
                                               task["repeats"])
            values = G["Cu"][:, columns]
        else:  # fastpot-backward
            dEdG = {"Cu": np.random.default_rng(0).normal(size=(len(atoms), len(columns)))}

            def values_and_derivatives():
                nl = sf.neighbor_list(atoms, n_threads=threads)
                G = sf.compute(atoms, n_threads=threads, neighbor_list=nl)
                return G, sf.backward(atoms, dEdG, n_threads=threads, neighbor_list=nl)

            sf.backward(small, {"Cu": np.ones((len(small), len(columns)))}, n_threads=threads)
            times, _, out["peak_mib"] = _timed(values_and_derivatives, task["repeats"])
            values = None
    if values is not None and task.get("save"):
        np.save(task["save"], values)
    out["times"] = np.asarray(times).tolist()
    print(json.dumps(out))


def _dscribe_derivatives(atoms, task):
    """Seconds of DScribe's numerical derivatives for each of a few centres, with respect to
    the atoms within the cutoff of that centre; and the largest difference from fastpot's
    exact gradient (of a random weighting of the centre's features), relative to the
    gradient's largest entry."""
    from fastpot import neighbor_list
    from _peers import copper_box
    cutoff = task["cutoff"]
    acsf = dscribe_acsf(cutoff)
    sf, columns = fastpot_functions(cutoff)
    i, j = neighbor_list("ij", atoms, cutoff)
    centers = np.random.default_rng(1).choice(len(atoms), task["centers"], replace=False)
    include = {int(c): np.union1d(j[i == c], [c]) for c in centers}
    acsf.derivatives(copper_box(32), centers=[0], attach=True, return_descriptor=False)
    times, derivatives, peak = [], [], 0.0
    for c, inc in include.items():
        t, d, p = _timed(lambda: acsf.derivatives(atoms, centers=[c], include=inc, attach=True,
                                                  return_descriptor=False), 1)
        times.append(t[0])
        derivatives.append(d)
        peak = max(peak, p)
    weights = np.random.default_rng(2).normal(size=len(columns))
    worst = 0.0
    for (c, inc), d in zip(include.items(), derivatives):
        dEdG = np.zeros((len(atoms), len(columns)))
        dEdG[c, columns] = weights
        gradient, _ = sf.backward(atoms, {"Cu": dEdG}, n_threads=1)
        expected = np.zeros_like(gradient)
        expected[inc] = d[0] @ weights
        worst = max(worst, np.abs(gradient - expected).max() / np.abs(expected).max())
    return times, peak, worst


def measure(task):
    threads = task["threads"]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS="1",
               MKL_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker",
                          json.dumps(task)], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{task['kind']} ({threads} threads) failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# -- the table ----------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--atoms", type=int, default=4000, help="fcc Cu box of about this size")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--cutoff", type=float, default=6.0)
    parser.add_argument("--repeats", type=int, default=7, help="fastpot calls per measurement")
    parser.add_argument("--dscribe-repeats", type=int, default=3)
    parser.add_argument("--derivative-centers", type=int, default=2,
                        help="DScribe numerical derivatives on this many centres (0: skip)")
    parser.add_argument("--out", help="also write the markdown table here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return

    common = {"atoms": args.atoms, "cutoff": args.cutoff}
    rows = []  # (label, threads, result)
    with tempfile.TemporaryDirectory() as scratch:
        theirs_file = os.path.join(scratch, "dscribe.npy")
        ours_file = os.path.join(scratch, "fastpot.npy")
        dscribe = measure(dict(common, kind="dscribe", threads=1, repeats=args.dscribe_repeats,
                               save=theirs_file))
        rows.append(("DScribe values", 1, dscribe))
        for kind, label in [("fastpot", "fastpot values"),
                            ("fastpot-backward", "fastpot values + exact derivatives")]:
            for threads in args.threads:
                save = ours_file if kind == "fastpot" and not os.path.exists(ours_file) else None
                rows.append((label, threads, measure(dict(common, kind=kind, threads=threads,
                                                          repeats=args.repeats, save=save))))
        if args.derivative_centers > 0:
            rows.append(("DScribe numerical derivatives", 1,
                         measure(dict(common, kind="dscribe-derivatives", threads=1,
                                      centers=args.derivative_centers))))
        theirs, ours = np.load(theirs_file), np.load(ours_file)
    difference = np.abs(ours - theirs).max() / np.abs(theirs).max()
    if not difference < 1e-9:
        raise RuntimeError(f"fastpot and DScribe disagree: max difference {difference:.3g} "
                           "of the largest feature")

    n_atoms = dscribe["atoms"]
    base = np.median(dscribe["times"])
    one_thread = {}
    lines = [f"Machine: {machine_description(['dscribe'])}", "",
             f"fcc Cu (a = 3.61 Å, rattled 0.01 Å), {n_atoms} atoms, cutoff {args.cutoff:g} Å "
             f"(cosine), 33 features per atom: G1 + 16 G2 + 16 G4 (fastpot: the same 33 as "
             f"n2p2 types 2 and 3). Features agree to {difference:.1e} (max |difference| / max "
             f"|feature|). Median of {args.repeats} calls (DScribe values: "
             f"{args.dscribe_repeats}); fastpot times include the neighbour list; \"+ exact "
             "derivatives\" = neighbour list, values and the backward pass (gradient and "
             "strain of sum dE/dG . G, no dG/dR held). Speed-up = DScribe values time / this "
             "time; per thread = speed-up / threads; vs 1 thread = same measurement's 1-thread "
             "time / this time.", ""]
    if args.derivative_centers > 0:
        deriv = rows[-1][2]
        lines[-1:-1] = [f"DScribe numerical derivatives: {args.derivative_centers} random "
                        f"centres, each against only the atoms within the cutoff (its "
                        f"`include`), timed once and extrapolated to all {n_atoms} centres "
                        f"(median per centre x atoms); they match fastpot's exact gradient to "
                        f"{deriv['max_rel_error']:.1e} (relative to the largest entry)."]
    lines += ["| measurement | threads | median (s) | min (s) | atoms/s | peak MiB | speed-up "
              "| per thread | vs 1 thread |", "|---|---|---|---|---|---|---|---|---|"]
    for label, threads, result in rows:
        times = np.asarray(result["times"])
        if label.startswith("DScribe numerical"):
            times = times * n_atoms  # seconds per centre -> all centres
            label += f" (extrapolated from {args.derivative_centers} centres)"
        median = float(np.median(times))
        one_thread.setdefault(label, median if threads == 1 else None)
        scaling = one_thread[label] / median if one_thread[label] and threads != 1 else None
        speedup = base / median
        lines.append(f"| {label} | {threads} | {median:.4g} | {times.min():.4g} | "
                     f"{n_atoms / median:,.0f} | {result['peak_mib']:.0f} | {speedup:.3g} | "
                     f"{speedup / threads:.3g} | "
                     f"{'' if scaling is None else f'{scaling:.2f}'} |")
    medians = {(label.split(" (")[0], threads): float(np.median(result["times"]))
               for label, threads, result in rows}
    if args.derivative_centers > 0 and ("fastpot values + exact derivatives", 1) in medians:
        theirs = medians[("DScribe numerical derivatives", 1)] * n_atoms
        ours = medians[("fastpot values + exact derivatives", 1)]
        lines += ["", f"Values and derivatives, 1 thread each: fastpot {ours:.4g} s, DScribe "
                  f"(values + extrapolated numerical derivatives) {base + theirs:.4g} s: "
                  f"{(base + theirs) / ours:.3g} times faster."]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
