"""``fastpot demo``: the whole story on built-in data, anywhere, in a few minutes.

1. reference data: fcc Cu cells (rattled, strained, with vacancies) from ASE's EMT;
2. train a potential with the default trainer (energies and forces, L-BFGS);
3. errors against EMT on held-out structures;
4. NVT molecular dynamics of a larger cell with the trained model, checked against EMT on
   frames of the trajectory;
5. files: model.fastpot, metrics.json, history.csv, thermo.csv, md.extxyz, plots.
"""
import json
import time
from pathlib import Path

import numpy as np

from fastpot._files import atomic_write
from fastpot._threading import resolve_threads


def run_demo(out="fastpot-demo", n_structures=240, train_seconds=150.0, md_steps=2000,
             md_size=4, temperature=300.0, n_threads=None, log=print):
    from ase.build import bulk
    from ase.calculators.emt import EMT

    from fastpot import md
    from fastpot._config import config
    from fastpot.emt_data import emt_samples
    from fastpot.training import Trainer, evaluate_samples

    # checked before minutes of training, not when the step that needs them comes
    for name, value, low in (("n_structures", n_structures, 12), ("md_steps", md_steps, 1),
                             ("md_size", md_size, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if not (isinstance(train_seconds, (int, float)) and 0 < train_seconds < float("inf")):
        raise ValueError(f"train_seconds must be a positive number, got {train_seconds!r}")
    if not (isinstance(temperature, (int, float)) and 0 <= temperature < float("inf")):
        raise ValueError(f"temperature must be a number of K >= 0, got {temperature!r}")
    resolve_threads(n_threads)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    info = config()
    log(f"fastpot {info['fastpot']} (OpenMP {info['openmp']}, {info['default_threads']} "
        f"threads, {info['kernels']}); output in {out}/")

    log(f"1. reference data: {n_structures} fcc Cu cells of 32 atoms from ASE's EMT "
        "(rattled, strained, vacancies)")
    samples = emt_samples(n_structures, element="Cu", size=2, seed=0)
    rng = np.random.default_rng(1)
    order = rng.permutation(len(samples))
    n_test = len(samples) // 6
    test = [samples[k] for k in sorted(order[:n_test])]
    train = [samples[k] for k in sorted(order[n_test:])]
    log(f"   {len(train)} for training (10 % of them for validation), {len(test)} held out")

    log(f"2. training (default settings, at most {train_seconds:.0f} s)")
    trainer = Trainer(time_budget=train_seconds, n_threads=n_threads,
                      log=lambda m: log("   " + m))
    potential = trainer.fit(train, out=out)
    potential.save(out / "model.fastpot")  # fit() wrote history.csv

    log("3. errors against EMT")
    metrics = {"train": evaluate_samples(potential, train), "test": evaluate_samples(potential,
                                                                                     test)}
    for name, m in metrics.items():
        log(f"   {name:5s}: energy RMSE {m['energy_rmse']:.2f} meV/atom, forces RMSE "
            f"{m['forces_component_rmse']:.1f} meV/Å per component ({m['n_structures']} "
            "structures)")

    n_md = 4 * md_size**3
    log(f"4. NVT MD (Langevin, {temperature:.0f} K, 1 fs) of {n_md} Cu atoms for {md_steps} "
        "steps with the trained model")
    atoms = bulk("Cu", "fcc", a=3.6, cubic=True).repeat(md_size)
    dyn = md.MolecularDynamics(atoms, potential, ensemble="nvt-langevin",
                               temperature=temperature, timestep=1.0, friction=0.02, seed=0,
                               thermo=out / "thermo.csv", trajectory=out / "md.extxyz",
                               every=max(1, md_steps // 20), n_threads=n_threads,
                               log=lambda m: log("   " + m))
    dyn.run(md_steps)
    log(f"   {dyn.ns_per_day:.2f} ns/day, {dyn.n_rebuilds} neighbour-list builds")
    check = _check_trajectory(out / "md.extxyz", potential, EMT)
    metrics["md_frames_vs_emt"] = check
    log(f"   trajectory frames against EMT: energy RMSE {check['energy_rmse']:.2f} meV/atom, "
        f"forces RMSE {check['forces_component_rmse']:.1f} meV/Å per component "
        f"({check['n_frames']} frames)")
    metrics["md"] = {"atoms": n_md, "steps": md_steps, "ns_per_day": dyn.ns_per_day,
                     "mean_temperature_K": _mean_temperature(out / "thermo.csv")}
    metrics["elapsed_s"] = time.perf_counter() - started
    atomic_write(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    _plots(out, potential, test, log)
    log(f"5. done in {metrics['elapsed_s']:.0f} s: {out}/model.fastpot, metrics.json, "
        "history.csv, thermo.csv, md.extxyz")
    return metrics


def _check_trajectory(path, potential, EMT):
    """The model's errors on the MD frames after the first, with EMT as the reference."""
    import ase.io

    from fastpot.data import sample_from_atoms
    from fastpot.training import evaluate_samples
    samples = []
    for k, frame in enumerate(ase.io.read(path, ":")[1:]):
        frame.calc = EMT()
        frame.get_forces()
        samples.append(sample_from_atoms(frame, f"{path} frame {k + 1}"))
    return {"n_frames": len(samples), **evaluate_samples(potential, samples)}


def _mean_temperature(path):
    rows = np.loadtxt(path, delimiter=",", skiprows=1)
    return float(rows[len(rows) // 2:, 2].mean())


def _plots(out, potential, test, log):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("   matplotlib not installed: no plots (pip install matplotlib)")
        return
    rows = np.loadtxt(out / "thermo.csv", delimiter=",", skiprows=1)
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8))
    ref = np.array([s.energy / s.n_atoms for s in test])
    pred = np.array([potential.evaluate(s.atoms, forces=False)["energy"] / s.n_atoms
                     for s in test])
    axes[0].plot(ref, pred, ".")
    axes[0].plot([ref.min(), ref.max()], [ref.min(), ref.max()], "k-", lw=0.5)
    axes[0].set_xlabel("EMT energy (eV/atom)")
    axes[0].set_ylabel("fastpot energy (eV/atom)")
    axes[1].plot(rows[:, 1], rows[:, 2])
    axes[1].set_xlabel("time (ps)")
    axes[1].set_ylabel("temperature (K)")
    axes[2].plot(rows[:, 1], rows[:, 3])
    axes[2].set_xlabel("time (ps)")
    axes[2].set_ylabel("potential energy (eV)")
    fig.tight_layout()
    fig.savefig(out / "demo.png", dpi=110)
    plt.close(fig)
    log(f"   wrote {out / 'demo.png'}")
