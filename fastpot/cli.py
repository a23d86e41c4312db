"""The ``fastpot`` command line: info, demo, train, evaluate, md, select."""
import argparse
import sys
from pathlib import Path


# exit status after Ctrl-C (128 + SIGINT, what shells report)
INTERRUPTED = 130


class UsageError(Exception):
    """A command line argparse refuses, as its one-line message."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, "fastpot <command>: error: ...",
    handed to main (which returns status 2) instead of usage text and sys.exit."""

    def error(self, message):
        raise UsageError(f"{self.prog}: error: {message} (see {self.prog} --help)")


def _read_structure(path, index=None, what="structure"):
    """The (last) structure of an ASE-readable file, or its frames with index=":"; errors
    name the file."""
    import ase.io
    if not Path(path).is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    try:
        return ase.io.read(path, index=index)
    except Exception as error:      # ASE raises many kinds for a file it cannot parse
        raise ValueError(f"cannot read {path}: {error}") from None


def _info(args):
    from fastpot import show_config
    show_config()
    return 0


def _config(args):
    """Compiler and linker flags for programs that use the C API (fastpot/include/fastpot.h)."""
    package = Path(__file__).resolve().parent
    library = package / "lib" / "libfastpot.so"
    if args.libs and not library.is_file():
        raise FileNotFoundError(f"{library} is missing: this installation has no C API "
                                "library (its Python was built without a shared library)")
    flags = []
    if args.cflags:
        flags.append(f"-I{package / 'include'}")
    if args.libs:
        flags.append(f"-L{library.parent} -lfastpot -Wl,-rpath,{library.parent}")
    print(" ".join(flags))
    return 0


def _ipi(args):
    """Serve forces to an i-PI server (see fastpot/ipi.py)."""
    from fastpot import Potential
    from fastpot.ipi import parse_address, run_client
    parse_address(args.address)  # a typo in it is reported before the model is read
    potential = Potential.load(args.model)
    atoms = _read_structure(args.structure)
    steps = run_client(potential, atoms, args.address, n_threads=args.threads,
                       log=print if args.verbose else None)
    print(f"i-PI server closed the run after {steps} force evaluation(s)")
    return 0


def _lammps_plugin(args):
    """Build pair_style fastpot for the installed LAMMPS and print where it is."""
    from fastpot.lammps_plugin import PluginBuildError, build
    try:
        folder = build(force=args.rebuild)
    except PluginBuildError as error:
        raise ValueError(str(error)) from None
    print(folder)
    return 0


def _demo(args):
    """The whole story on built-in EMT copper data (see fastpot/demo.py)."""
    from fastpot.demo import run_demo
    run_demo(out=args.out, n_structures=args.structures, train_seconds=args.train_seconds,
             md_steps=args.md_steps, n_threads=args.threads)
    return 0


def _md(args):
    import ase.io

    from fastpot import Potential, md
    from fastpot._files import replacing
    potential = Potential.load(args.model)
    atoms = _read_structure(args.structure)
    # a run of --steps steps in total: after an interruption the same command finishes it
    dyn = md.run(
        atoms, potential, ensemble=args.ensemble, timestep=args.timestep, steps=args.steps,
        temperature=args.temperature, pressure=args.pressure, seed=args.seed,
        thermo=args.log, trajectory=args.traj, every=args.every, n_threads=args.threads,
        checkpoint=args.checkpoint, anisotropic=args.anisotropic, log=print,
        max_force_std=args.max_force_std, uncertain_frame=args.uncertain_frame)
    if dyn.stop_reason:
        print(f"fastpot md: stopped: {dyn.stop_reason}", file=sys.stderr)
        return 3
    if dyn.steps_run:
        print(f"{dyn.steps_run} steps in {dyn.wall_time:.1f} s: {dyn.ns_per_day:.3f} ns/day, "
              f"{dyn.n_rebuilds} neighbour-list builds")
    else:
        print(f"nothing to run: the checkpoint is at step {dyn.step} of {args.steps}")
    if args.output:
        with replacing(args.output) as temporary:
            ase.io.write(temporary, dyn.atoms, format=ase.io.formats.filetype(
                args.output, read=False))
    return 0


def _load_config(path):
    """Training options from a TOML file (a [train] table or top-level keys)."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    with open(path, "rb") as f:
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{path}: not a TOML file ({error})") from None
    options = data.get("train", data)
    if not isinstance(options, dict):
        raise ValueError(f"{path}: 'train' must be a table of training options, got "
                         f"{options!r}")
    return options


def _train(args):
    """fastpot train; under mpiexec every rank runs this, and only rank 0 writes."""
    import contextlib
    import json
    import time

    from fastpot._files import atomic_write
    from fastpot._mpi import world
    from fastpot.data import read_samples
    from fastpot.training import Trainer, evaluate_samples

    comm = world()
    writer = comm.rank == 0
    out = Path(args.out)
    if writer:
        out.mkdir(parents=True, exist_ok=True)
    with (open(out / "train.log", "a", encoding="utf-8") if writer
          else contextlib.nullcontext()) as log_file:
        def log(message):
            if not writer:
                return
            line = f"[{time.strftime('%H:%M:%S')}] {message}"
            print(line, flush=True)
            log_file.write(line + "\n")
            log_file.flush()

        config = _load_config(args.config) if args.config else {}
        if args.threads is not None:
            config["n_threads"] = args.threads
        if args.time_budget is not None:
            config["time_budget"] = args.time_budget
        if args.committee is not None:
            config["committee"] = args.committee
        trainer = Trainer(config, log=log)
        train = read_samples(args.train)
        valid = read_samples(args.valid) if args.valid else None
        test = read_samples(args.test) if args.test else None
        started = time.perf_counter()
        if comm.size > 1:
            log(f"data-parallel training on {comm.size} MPI ranks")
        potential = trainer.fit(train, valid, out=out, comm=comm)
        if writer:
            potential.save(out / "model.fastpot")
            log(f"wrote {out / 'model.fastpot'}")
        train, valid = trainer.samples["train"], trainer.samples["valid"]
        n_threads = trainer.loss.n_threads
        metrics = {"train": evaluate_samples(potential, train, n_threads, comm),
                   "valid": evaluate_samples(potential, valid, n_threads, comm)
                   if valid else None}
        if test is not None:
            metrics["test"] = evaluate_samples(potential, test, n_threads, comm)
        metrics["elapsed_s"] = time.perf_counter() - started
        if not writer:
            return 0
        atomic_write(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        for name in ("train", "valid", "test"):
            m = metrics.get(name)
            if m:
                log(_metrics_line(name, m))
        _parity_plots(potential, test or valid or train, out, log)
        _learning_curve(trainer.history, out, log)
    return 0


def _metrics_line(name, m):
    parts = [f"{name:5s} {m['n_structures']:5d} structures"]
    if m.get("energy_rmse") is not None:
        parts.append(f"E RMSE {m['energy_rmse']:.3f} MAE {m['energy_mae']:.3f} meV/atom")
    if m.get("forces_component_rmse") is not None:
        parts.append(f"F per component RMSE {m['forces_component_rmse']:.1f} MAE "
                     f"{m['forces_component_mae']:.1f}, per atom |dF| RMSE "
                     f"{m['forces_vector_rmse']:.1f} MAE {m['forces_vector_mae']:.1f} meV/Å")
    if m.get("stress_rmse") is not None:
        parts.append(f"S per component RMSE {m['stress_rmse']:.3f} meV/Å^3")
    if m.get("energy_std_mean") is not None:
        parts.append(f"committee E std {m['energy_std_mean']:.3f} meV/atom"
                     + (f", Spearman with |E error| {m['energy_std_spearman']:.2f}"
                        if m.get("energy_std_spearman") is not None else ""))
    return "; ".join(parts)


def _parity_plots(potential, samples, out, log):
    from fastpot._files import replacing
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib not installed: no parity plots (pip install matplotlib)")
        return
    import numpy as np
    ref_e, pred_e, ref_f, pred_f = [], [], [], []
    for sample in samples:
        result = potential.evaluate(sample.atoms)
        if sample.energy is not None:
            ref_e.append(sample.energy / sample.n_atoms)
            pred_e.append(result["energy"] / sample.n_atoms)
        if sample.forces is not None:
            ref_f.append(sample.forces.ravel())
            pred_f.append(result["forces"].ravel())
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    for ax, ref, pred, label in ((axes[0], ref_e, pred_e, "energy (eV/atom)"),
                                 (axes[1], ref_f, pred_f, "force component (eV/Å)")):
        if not len(ref):
            ax.set_visible(False)
            continue
        ref, pred = np.concatenate([np.atleast_1d(r) for r in ref]), np.concatenate(
            [np.atleast_1d(p) for p in pred])
        ax.plot(ref, pred, ".", ms=2, alpha=0.5)
        lo, hi = min(ref.min(), pred.min()), max(ref.max(), pred.max())
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.5)
        ax.set_xlabel(f"reference {label}")
        ax.set_ylabel(f"fastpot {label}")
    fig.tight_layout()
    with replacing(out / "parity.png") as temporary:
        fig.savefig(temporary, dpi=120, format="png")
    plt.close(fig)
    log(f"wrote {out / 'parity.png'}")


def _learning_curve(history, out, log):
    """learning_curve.png: training and validation errors against wall time (log scales),
    the Adam and L-BFGS phases told apart; the same figures are in history.csv."""
    from fastpot._files import replacing
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    if not history:
        return
    import numpy as np
    members = sorted({row.get("member", 0) for row in history})
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    for ax, key, unit in ((axes[0], "energy_rmse", "energy RMSE (meV/atom)"),
                          (axes[1], "forces_component_rmse", "force RMSE (meV/Å)")):
        for member in members:
            rows = [row for row in history if row.get("member", 0) == member]
            time_s = np.array([row["elapsed_s"] for row in rows])
            name = f"member {member + 1} " if len(members) > 1 else ""
            for split, style in (("train", "-"), ("valid", "--")):
                values = 1000 * np.array([row[f"{split}_{key}"] for row in rows], dtype=float)
                if np.isfinite(values).any():
                    ax.plot(time_s, values, style, label=name + split)
            switch = [row["elapsed_s"] for a, row in zip(rows, rows[1:])
                      if a["phase"] != row["phase"]]
            for t in switch:
                ax.axvline(t, color="grey", lw=0.5)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("wall time (s)" + (" | Adam, then L-BFGS" if switch else ""))
        ax.set_ylabel(unit)
        ax.legend(fontsize="small")
    fig.tight_layout()
    with replacing(out / "learning_curve.png") as temporary:
        fig.savefig(temporary, dpi=120, format="png")
    plt.close(fig)
    log(f"wrote {out / 'learning_curve.png'}")


def _select(args):
    """The frames of a trajectory a committee disagrees on most, for labelling
    (fastpot/select.py)."""
    import io

    import ase.io
    from ase import Atoms

    from fastpot import Potential
    from fastpot._files import atomic_write
    from fastpot.select import MIN_DISTANCE, select_frames
    potential = Potential.load(args.model)
    if not potential.is_committee:
        raise ValueError(f"{args.model} is a single model; selection needs a committee "
                         "(train one with fastpot train --committee K)")
    frames = _read_structure(args.trajectory, index=":", what="trajectory")
    names = [f"{args.trajectory}, frame {k}" for k in range(len(frames))]
    if not frames:
        raise ValueError(f"{args.trajectory} has no frames")
    picked = select_frames(potential, frames, args.n, by=args.by,
                           min_distance=MIN_DISTANCE if args.min_distance is None
                           else args.min_distance, n_threads=args.threads,
                           names=names)
    unit = "eV/Å" if args.by == "forces" else "eV/atom"
    print(f"{'frame':>7s}  {'disagreement (' + unit + ')':>24s}  {'energy std (eV)':>15s}  "
          "near-duplicates skipped before it")
    chosen = []
    for entry in picked:
        k = entry["index"]
        print(f"{k:7d}  {entry['disagreement']:24.5g}  {entry['energy_std']:15.5g}  "
              f"{entry['skipped']}")
        # positions, elements and cell only: any energies and forces in the trajectory are
        # the model's own, not labels
        frame = frames[k]
        clean = Atoms(numbers=frame.numbers, positions=frame.positions, cell=frame.cell,
                      pbc=frame.pbc)
        clean.info.update(source=args.trajectory, frame=k, committee_energy_std=entry[
            "energy_std"], **({"committee_max_force_std": entry["max_force_std"]}
                              if "max_force_std" in entry else {}))
        chosen.append(clean)
    text = io.StringIO()
    ase.io.write(text, chosen, format="extxyz")
    atomic_write(args.out, text.getvalue())
    short = f" (fewer than {args.n}: the rest were near-duplicates)" if len(picked) < args.n \
        and len(picked) < len(frames) else ""
    print(f"wrote {len(picked)} of {len(frames)} frames to {args.out}{short}")
    return 0


def _evaluate(args):
    import json

    from fastpot import Potential
    from fastpot._files import atomic_write
    from fastpot.data import read_samples
    from fastpot.training import evaluate_samples
    potential = Potential.load(args.model)
    metrics = evaluate_samples(potential, read_samples(args.data), args.threads)
    print(_metrics_line("data", metrics))
    if args.json:
        atomic_write(args.json, json.dumps(metrics, indent=2) + "\n")
    return 0


def build_parser():
    parser = _Parser(prog="fastpot", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="print version, OpenMP state and dependency versions")
    info.set_defaults(run=_info)
    config = sub.add_parser("config", help="compiler and linker flags for the C API: cc prog.c "
                                           "$(fastpot config --cflags) $(fastpot config --libs)")
    config.add_argument("--cflags", action="store_true", help="include directory of fastpot.h")
    config.add_argument("--libs", action="store_true",
                        help="library flags (libfastpot.so and its run-time path)")
    config.set_defaults(run=_config)
    demo = sub.add_parser("demo", help="the whole story on built-in data: EMT copper -> "
                                       "training -> MD, in a few minutes")
    demo.add_argument("--out", default="fastpot-demo", help="output folder (default "
                                                            "fastpot-demo)")
    demo.add_argument("--structures", type=int, default=240, help="EMT reference cells")
    demo.add_argument("--train-seconds", type=float, default=150.0,
                      help="training time budget (default 150 s)")
    demo.add_argument("--md-steps", type=int, default=2000, help="MD steps (default 2000)")
    demo.add_argument("--threads", type=int, default=None, help="OpenMP threads")
    demo.set_defaults(run=_demo)
    train = sub.add_parser("train", help="fit a potential to reference energies and forces")
    train.add_argument("--train", required=True, help="training data (extxyz, n2p2 input.data, "
                                                     "any ASE-readable file with energies/forces)")
    train.add_argument("--valid", help="validation data (default: a seeded 10%% of --train)")
    train.add_argument("--test", help="test data, evaluated once at the end")
    train.add_argument("--out", required=True, help="output folder (model.fastpot, "
                                                   "metrics.json, history.csv, train.log)")
    train.add_argument("--config", help="TOML file with training options")
    train.add_argument("--threads", type=int, help="OpenMP threads")
    train.add_argument("--time-budget", type=float, help="seconds for the whole fit")
    train.add_argument("--committee", type=int, metavar="K",
                       help="train a committee of K networks on the same descriptors (each "
                            "leaves out its own part of the training set); its spread is the "
                            "uncertainty (energy_std, forces_std)")
    train.set_defaults(run=_train)
    evaluate = sub.add_parser("evaluate", help="errors of a model on reference data")
    evaluate.add_argument("model", help="a .fastpot file")
    evaluate.add_argument("data", help="reference data file")
    evaluate.add_argument("--json", help="also write the metrics here")
    evaluate.add_argument("--threads", type=int)
    evaluate.set_defaults(run=_evaluate)
    plugin = sub.add_parser("lammps-plugin", help="build pair_style fastpot for the installed "
                                                  "LAMMPS and print its folder")
    plugin.add_argument("--rebuild", action="store_true", help="build even if up to date")
    plugin.set_defaults(run=_lammps_plugin)
    ipi = sub.add_parser("ipi", help="serve forces to an i-PI server (path-integral MD)")
    ipi.add_argument("model", help="a .fastpot file")
    ipi.add_argument("structure", help="a structure file with the atoms' elements, in i-PI's "
                                       "atom order (any ASE-readable file)")
    ipi.add_argument("--address", required=True,
                     help="unix:NAME (i-PI's <ffsocket mode='unix'><address>NAME) or HOST:PORT")
    ipi.add_argument("--threads", type=int)
    ipi.add_argument("--verbose", action="store_true", help="print every energy")
    ipi.set_defaults(run=_ipi)
    pick = sub.add_parser("select", help="frames a committee disagrees on most, to label "
                                         "next (active learning)")
    pick.add_argument("model", help="a committee .fastpot file (fastpot train --committee K)")
    pick.add_argument("trajectory", help="frames to choose from (any ASE-readable file)")
    pick.add_argument("--n", type=int, required=True, help="how many frames to select")
    pick.add_argument("--out", default="candidates.extxyz",
                      help="where the selected frames go (default candidates.extxyz)")
    pick.add_argument("--by", choices=["forces", "energy"], default="forces",
                      help="disagreement: the largest per-atom force std (default) or the "
                           "energy std per atom")
    pick.add_argument("--min-distance", type=float, default=None,
                      help="skip frames closer than this in descriptor space to one already "
                           "picked (RMS of scaled descriptor means and spreads; default "
                           "0.01; 0 keeps all)")
    pick.add_argument("--threads", type=int)
    pick.set_defaults(run=_select)

    dyn = sub.add_parser("md", help="molecular dynamics with a trained model")
    dyn.add_argument("model", help="a .fastpot file")
    dyn.add_argument("structure", help="starting structure (any ASE-readable file)")
    dyn.add_argument("--ensemble", default="nve",
                     choices=["nve", "nvt-langevin", "nvt-nh", "npt"])
    dyn.add_argument("--temperature", type=float, help="K (initial velocities; thermostat)")
    dyn.add_argument("--pressure", type=float, help="GPa (npt)")
    dyn.add_argument("--anisotropic", action="store_true", help="npt per cell axis")
    dyn.add_argument("--timestep", type=float, default=1.0, help="fs (default 1)")
    dyn.add_argument("--steps", type=int, required=True,
                     help="steps of the whole run (an interrupted run with --checkpoint "
                          "resumes and runs only the missing ones)")
    dyn.add_argument("--log", default="thermo.csv", help="thermo CSV (default thermo.csv)")
    dyn.add_argument("--traj", help="trajectory file (.extxyz or .traj)")
    dyn.add_argument("--every", type=int, default=100, help="output interval in steps")
    dyn.add_argument("--seed", type=int, default=0)
    dyn.add_argument("--checkpoint", help="checkpoint file; an existing one is resumed")
    dyn.add_argument("--output", help="write the final structure here")
    dyn.add_argument("--threads", type=int)
    dyn.add_argument("--max-force-std", type=float,
                     help="committee models: stop (exit status 3) when the largest force "
                          "standard deviation at an output step passes this (eV/Å); the "
                          "frame goes to --uncertain-frame")
    dyn.add_argument("--uncertain-frame", default="uncertain.extxyz",
                     help="where --max-force-std saves the frame (default uncertain.extxyz)")
    dyn.set_defaults(run=_md)
    return parser


def _message(error):
    """What went wrong, without Python's "[Errno N]" prefix of operating-system errors."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror + (f": {error.filename}" if error.filename else "")
    return str(error)


def main(argv=None):
    """Run a command; returns its exit status. Every error the user can cause is one line on
    stderr, "fastpot <command>: error: ...", with status 2 (never a traceback); Ctrl-C is
    "fastpot <command>: interrupted" with status 130, as a shell reports SIGINT."""
    try:
        args, extra = build_parser().parse_known_args(argv)
        if extra:  # said here, where the command is known, not by the top-level parser
            prog = f"fastpot {args.command}"
            raise UsageError(f"{prog}: error: unrecognized arguments: {' '.join(extra)} "
                             f"(see {prog} --help)")
    except UsageError as error:
        print(error, file=sys.stderr)
        return 2
    try:
        return args.run(args)
    except (ValueError, TypeError, OSError, MemoryError, FloatingPointError) as error:
        message = " ".join(_message(error).split())  # one line, whatever it held
        print(f"fastpot {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # Ctrl-C: the shell's status for SIGINT, and no traceback; files are written
        # atomically, so the last checkpoint is whole and the next run resumes from it
        print(f"fastpot {args.command}: interrupted", file=sys.stderr)
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
