"""Molecular dynamics with the demo model: energy conservation, overhead, and speed against
ASE's VelocityVerlet driving the same potential through the calculator, in one run.

    fastpot demo --out fastpot-demo        # makes the demo model
    python benchmarks/compare_md.py --model fastpot-demo/model.fastpot \\
        --out benchmarks/results_md.md

1. NVE, 256 Cu atoms (4x4x4 fcc) started at 300 K, 2,000 steps of 1 fs: spread (max - min)
   of the total energy per atom, and its drift.
2. MD overhead: time per compiled step against one bare energy + forces evaluation of the
   fused kernel on the same system (no integration, no list refresh).
3. Steps per second and ns/day for 1,000 / 10,000 / 100,000 atoms: fastpot's compiled NVE
   against ase.md.verlet.VelocityVerlet with FastpotCalculator (same potential, same
   timestep), 1 and 2 threads.
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine_description  # noqa: E402


def copper(n_atoms):
    from _peers import copper_box
    return copper_box(n_atoms)


def conservation(potential, threads):
    from fastpot import md
    dyn = md.MolecularDynamics(copper(256), potential, ensemble="nve", temperature=300,
                               timestep=1.0, seed=0, every=10, n_threads=threads)
    energies = []
    dyn.callback = lambda d: energies.append(d.epot + d.ekin)
    dyn.run(2000)
    e = np.array(energies) / len(dyn.atoms)
    drift = np.polyfit(np.arange(len(e)) * 10 * 1e-3, e, 1)[0]  # eV/atom per ps
    return {"atoms": len(dyn.atoms), "spread": float(np.ptp(e)), "drift_per_ps": float(drift),
            "temperature": dyn.current_temperature}


def overhead(potential, threads, n_atoms=1000, steps=200):
    from fastpot import md
    dyn = md.MolecularDynamics(copper(n_atoms), potential, ensemble="nve", temperature=300,
                               timestep=1.0, seed=0, every=steps, n_threads=threads)
    dyn.run(10)
    start = time.perf_counter()
    dyn.run(steps)
    per_step = (time.perf_counter() - start) / steps
    nl = dyn.nl
    start = time.perf_counter()
    for _ in range(20):
        dyn.integrator.forces(potential.compiled(), nl.pairs, dyn.n_threads)
    bare = (time.perf_counter() - start) / 20
    return {"atoms": len(dyn.atoms), "per_step": per_step, "bare": bare,
            "overhead": per_step / bare - 1.0, "rebuilds": dyn.n_rebuilds, "steps": steps + 10}


def speed(potential, n_atoms, threads, steps):
    from ase import units
    from ase.md.verlet import VelocityVerlet

    from fastpot import md
    atoms = copper(n_atoms)
    dyn = md.MolecularDynamics(atoms.copy(), potential, ensemble="nve", temperature=300,
                               timestep=1.0, seed=0, every=steps, n_threads=threads)
    dyn.run(2)
    start = time.perf_counter()
    dyn.run(steps)
    ours = (time.perf_counter() - start) / steps
    theirs_atoms = atoms.copy()
    theirs_atoms.set_momenta(dyn.atoms.get_momenta())
    theirs_atoms.calc = potential.calculator(n_threads=threads)
    verlet = VelocityVerlet(theirs_atoms, timestep=1.0 * units.fs)
    verlet.run(2)
    ase_steps = max(2, steps // 2)  # ASE is timed on fewer steps: it is the slow one
    start = time.perf_counter()
    verlet.run(ase_steps)
    theirs = (time.perf_counter() - start) / ase_steps
    return {"atoms": len(atoms), "ours": ours, "ase": theirs}


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="fastpot-demo/model.fastpot")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--out")
    args = parser.parse_args()
    from fastpot import Potential
    if not Path(args.model).is_file():
        sys.exit(f"{args.model} not found: run `fastpot demo --out fastpot-demo` first")
    potential = Potential.load(args.model)
    lines = [f"Machine: {machine_description(['ase'])}", "",
             f"Model: {args.model} ({potential})", ""]
    c = conservation(potential, max(args.threads))
    lines += ["NVE, 256 Cu atoms from 300 K, 2,000 steps of 1 fs: total energy spread "
              f"{1000 * c['spread']:.4f} meV/atom, drift {1000 * c['drift_per_ps']:.4f} "
              f"meV/atom/ps, final temperature {c['temperature']:.0f} K.", ""]
    print("\n".join(lines), flush=True)
    for threads in args.threads:
        o = overhead(potential, threads)
        line = (f"MD overhead, {o['atoms']} atoms, {threads} thread(s): {1000 * o['per_step']:.2f} "
                f"ms per step against {1000 * o['bare']:.2f} ms for energy + forces alone: "
                f"{100 * o['overhead']:+.1f} % ({o['rebuilds']} list builds in {o['steps']} "
                "steps, included).")
        lines.append(line)
        print(line, flush=True)
    lines += ["", "| atoms | threads | fastpot s/step | ASE VelocityVerlet s/step | speed-up "
              "| fastpot ns/day | ASE ns/day |", "|---|---|---|---|---|---|---|"]
    print("\n".join(lines[-3:]), flush=True)
    for n_atoms in args.sizes:
        for threads in args.threads:
            steps = 100 if n_atoms <= 2000 else 20 if n_atoms <= 20000 else 3
            r = speed(potential, n_atoms, threads, steps)
            day = 86400 * 1e-6
            line = (f"| {r['atoms']} | {threads} | {r['ours']:.4f} | {r['ase']:.4f} | "
                    f"{r['ase'] / r['ours']:.2f}x | {day / r['ours']:.3f} | "
                    f"{day / r['ase']:.3f} |")
            lines.append(line)
            print(line, flush=True)
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
