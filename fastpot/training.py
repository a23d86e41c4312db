"""Training a Potential on reference energies, forces and stress.

The loss and its exact gradient are in fastpot/loss.py. Three optimizers, alone or a
stochastic one followed by L-BFGS (`optimizer`):

- ``"lbfgs"``: full-batch L-BFGS to convergence, patience or the time budget.
- ``"adam+lbfgs"``: first **Adam on minibatches** of `batch_size` structures (fixed seeded
  groups, visited in a seeded order each epoch), its step decaying exponentially from
  `learning_rate` to `final_learning_rate` over the planned epochs (`adam_epochs`, or as
  many as `adam_time_fraction` of the time budget holds), then full-batch L-BFGS from the
  best weights. ``"adam"``: Adam alone, over the whole budget.
- ``"kalman+lbfgs"``: first a **Kalman filter** (fastpot/kalman.py) over the training
  structures one at a time (one update each: its energy and a few force-chunk measurements),
  for `kalman_epochs` or as many as `kalman_time_fraction` of the budget holds, then
  full-batch L-BFGS from the best weights. ``"kalman"``: the filter alone, over the whole budget.
- ``"auto"`` (default): ``"kalman+lbfgs"``. Measured side by side at the same wall time
  (benchmarks/RESULTS.md): on TiO2 (5,615 training structures) and rMD17 ethanol it reached
  far lower errors than L-BFGS alone or Adam first; on the mlearn crystals its forces were as
  good or better and its energies within the spread of runs.

Under ``mpiexec -n K`` (fastpot/_mpi.py) every minibatch is shared out over the K ranks:
each rank computes descriptors and stored derivatives of its share only, the losses and
gradients are summed over ranks in a fixed order, and every rank takes the same steps; only
rank 0 logs and writes files. The path is the one-rank path to round-off.

Checkpoints (out/checkpoint.npz, atomic) hold the whole optimizer state; a run started
again with the same options and data resumes from the last one.

A committee (``committee`` = K > 1) trains K members one after the other on the same
descriptors, stored derivatives, scaling and reference energies (prepared once): each with
its own seeded initial weights and leaving out its own seeded `committee_leave_out` share of
the training structures, validated on the common validation set, in an equal share of the
time left (a member that stops early leaves its time to the next). Each member has its own
checkpoint (out/checkpoint_member<k>.npz); a resumed run keeps finished members as they are.
"""
import copy
import csv
import hashlib
import io
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np

from fastpot._files import atomic_write
from fastpot._memory import physical_memory
from fastpot._mpi import world
from fastpot._threading import effective_cpu_count, resolve_threads
from fastpot.data import check_samples, elements_of, split
from fastpot.kalman import KalmanFilter, Measurements
from fastpot.loss import Loss, LossWeights
from fastpot.metrics import evaluate_samples
from fastpot.network import ACTIVATIONS, Network
from fastpot.optimize import LBFGS, Adam
from fastpot.potential import Potential
from fastpot.reference_energies import Compositions, isolated_atom_energies, \
    reference_energies
from fastpot.scaling import MODES as SCALING_MODES
from fastpot.scaling import Scaling
from fastpot.symmetry import _cutoff_type_number
from fastpot.symmetry_sets import default_symmetry_functions, polynomial_symmetry_functions
from fastpot.training_set import TrainingSet, atoms_fitted

__all__ = ["DEFAULTS", "Trainer", "evaluate_samples"]

DEFAULTS = {
    "cutoff": 6.0,                 # Å
    "r_inner": None,               # Å, innermost radial centre; None: from the data
    "n_shifted": 8,                # shifted radial Gaussians per neighbour element
    "n_centred": 4,                # centred radial Gaussians per neighbour element
    "n_angular_eta": 2,            # angular widths per neighbour pair
    "zetas": [1.0, 2.0, 4.0, 16.0],
    "wide_angular": True,          # n2p2 type 9 (True) or type 3 (False)
    "descriptors": "gaussian",     # "gaussian" (types 2 and 9/3) or "polynomial" (types 20
                                   # and 22: compact windows, 2 len(zetas) angle windows)
    "cutoff_type": "poly2",
    "hidden_layers": [25, 25],
    "activation": "t",             # n2p2 letter for the hidden layers (output is linear)
    "scaling": "scalecenter",
    "scale_min": -1.0,
    "scale_max": 1.0,
    "energy_weight": 1.0,
    "force_weight": 1.0,
    "stress_weight": 0.1,          # used when the data have stress
    "l2": 0.0,                     # weight decay on all network weights
    "atom_energies": None,         # isolated-atom energies: {element: eV} or a file; None:
                                   # from single-atom structures in the data, else fitted
    "max_force": None,             # eV/Å: leave out structures with a larger force on an atom
    "max_energy_above_minimum": None,  # eV/atom: leave out structures whose energy per atom
                                   # (after the reference energies) is this far above the lowest
    "valid_fraction": 0.1,         # held out when no validation file is given
    "seed": 0,
    "optimizer": "auto",           # one of OPTIMIZERS (see the module's docstring)
    "batch_size": 32,              # structures per Adam minibatch
    "learning_rate": 1e-3,         # Adam's initial step
    "final_learning_rate": 1e-5,   # Adam's step at the end of its phase
    "adam_epochs": 1000,           # at most this many Adam epochs
    "adam_time_fraction": 0.5,     # at most this share of the time budget in Adam
    "kalman_epochs": 100,          # at most this many Kalman-filter epochs
    "kalman_time_fraction": 0.5,   # at most this share of the time budget in the filter
    "kalman_force_atoms": 4,       # atoms per force measurement (their signed force sum)
    "kalman_p0": 1.0,              # initial error covariance (diagonal, per weight)
    "kalman_lambda": 1.0,          # initial forgetting factor (1: none; RuNNer's 0.98 winds
                                   # the covariance up, measured: benchmarks/RESULTS.md)
    "kalman_nu": 0.9987,           # lambda <- nu lambda + 1 - nu after every update
    "kalman_q0": 1e-3,             # process noise added to P's diagonal at every update ...
    "kalman_q_tau": 20000.0,       # ... decaying as exp(-updates / kalman_q_tau) ...
    "kalman_q_min": 1e-6,          # ... to this floor
    "max_iterations": 20000,       # L-BFGS iterations
    "time_budget": 840.0,          # seconds for the whole fit, preparation included
    "patience": 400,               # L-BFGS iterations without a better validation loss
    "validate_every": 10,          # L-BFGS iterations between validation checks
    "checkpoint_every": 60.0,      # seconds between checkpoints
    "lbfgs_memory": 20,
    "derivative_memory": 1.5 * 2**30,  # bytes of stored dG/dR (all ranks); beyond, forces
                                       # of a seeded fraction of atoms are fitted
    "n_threads": None,
    "committee": 1,                # networks trained on the same descriptors (K > 1: a
                                   # committee, whose spread is the uncertainty)
    "committee_leave_out": 0.2,    # share of the training structures each member leaves out
}
OPTIMIZERS = ("auto", "lbfgs", "adam+lbfgs", "adam", "kalman+lbfgs", "kalman")
DESCRIPTORS = ("gaussian", "polynomial")
# what "auto" runs (measured: benchmarks/RESULTS.md)
AUTO_OPTIMIZER = "kalman+lbfgs"
# The stored derivatives never take more than this fraction of the machine's memory.
TRAINING_MEMORY_FRACTION = 1 / 2
# options that do not change the path of a fit (a checkpoint made with others resumes)
_NOT_IN_FINGERPRINT = ("time_budget", "max_iterations", "n_threads", "checkpoint_every",
                       "patience", "adam_time_fraction", "kalman_time_fraction")


def _check_options(options, where="training options"):
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {', '.join(unknown)}; valid options: "
                         f"{', '.join(sorted(DEFAULTS))}")
    merged = dict(DEFAULTS)
    merged.update(options)
    # an endless time budget or checkpoint interval means "no limit"; nothing else may be
    # infinite, and NaN fails every comparison below
    for key in ("cutoff", "time_budget", "checkpoint_every", "derivative_memory",
                "learning_rate", "final_learning_rate"):
        value = merged[key]
        if not _is_number(value) or not value > 0 or \
                key not in ("time_budget", "checkpoint_every") and not np.isfinite(value):
            raise ValueError(f"{where}: {key} must be a positive number, got {value!r}")
    for key in ("energy_weight", "force_weight", "stress_weight", "l2"):
        if not _is_number(merged[key]) or not 0 <= merged[key] < np.inf:
            raise ValueError(f"{where}: {key} must be a number >= 0, got {merged[key]!r}")
    if merged["energy_weight"] == 0 and merged["force_weight"] == 0 and \
            merged["stress_weight"] == 0:
        raise ValueError(f"{where}: energy_weight, force_weight and stress_weight cannot all "
                         "be 0")
    for key in ("max_iterations", "patience", "validate_every", "lbfgs_memory", "seed",
                "batch_size", "adam_epochs", "committee", "kalman_epochs",
                "kalman_force_atoms"):
        low = 0 if key == "seed" else 1
        if not isinstance(merged[key], int) or isinstance(merged[key], bool) or \
                merged[key] < low:
            what = "an integer >= 0" if low == 0 else "a positive integer"
            raise ValueError(f"{where}: {key} must be {what}, got {merged[key]!r}")
    for key in ("max_force", "max_energy_above_minimum"):
        value = merged[key]
        if value is not None and (not isinstance(value, (int, float)) or not value > 0):
            raise ValueError(f"{where}: {key} must be a positive number or None, got "
                             f"{value!r}")
    leave_out = merged["committee_leave_out"]
    if not isinstance(leave_out, (int, float)) or not 0.0 <= leave_out < 1.0:
        raise ValueError(f"{where}: committee_leave_out must be in [0, 1), got {leave_out!r}")
    for key in ("adam_time_fraction", "kalman_time_fraction"):
        fraction = merged[key]
        if not _is_number(fraction) or not 0.0 < fraction <= 1.0:
            raise ValueError(f"{where}: {key} must be in (0, 1], got {fraction!r}")
    if not _is_number(merged["kalman_p0"]) or not 0 < merged["kalman_p0"] < np.inf:
        raise ValueError(f"{where}: kalman_p0 must be a positive number, got "
                         f"{merged['kalman_p0']!r}")
    for key in ("kalman_lambda", "kalman_nu"):
        if not _is_number(merged[key]) or not 0.5 <= merged[key] <= 1.0:
            raise ValueError(f"{where}: {key} must be in [0.5, 1], got {merged[key]!r}")
    for key in ("kalman_q0", "kalman_q_min"):
        if not _is_number(merged[key]) or not 0.0 <= merged[key] < np.inf:
            raise ValueError(f"{where}: {key} must be a number >= 0, got {merged[key]!r}")
    if not _is_number(merged["kalman_q_tau"]) or not 0 < merged["kalman_q_tau"] < np.inf:
        raise ValueError(f"{where}: kalman_q_tau must be a positive number of updates, got "
                         f"{merged['kalman_q_tau']!r}")
    if merged["descriptors"] not in DESCRIPTORS:
        raise ValueError(f"{where}: descriptors must be one of {', '.join(DESCRIPTORS)}, got "
                         f"{merged['descriptors']!r}")
    if merged["optimizer"] not in OPTIMIZERS:
        raise ValueError(f"{where}: optimizer must be one of {', '.join(OPTIMIZERS)}, got "
                         f"{merged['optimizer']!r}")
    if not isinstance(merged["hidden_layers"], (list, tuple)) or not all(
            isinstance(n, int) and n > 0 for n in merged["hidden_layers"]):
        raise ValueError(f"{where}: hidden_layers must be a list of positive integers, got "
                         f"{merged['hidden_layers']!r}")
    _check_descriptor_options(merged, where)
    try:
        resolve_threads(merged["n_threads"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: {error}") from None
    return merged


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_descriptor_options(merged, where):
    """The options that shape the descriptors, networks and scaling, checked before any
    data is read (a typo here would otherwise surface after minutes of preparation)."""
    if not isinstance(merged["activation"], str) or merged["activation"] not in ACTIVATIONS:
        raise ValueError(f"{where}: activation must be one of n2p2's letters "
                         f"{''.join(ACTIVATIONS)}, got {merged['activation']!r}")
    if merged["scaling"] not in SCALING_MODES:
        raise ValueError(f"{where}: scaling must be one of {', '.join(SCALING_MODES)}, got "
                         f"{merged['scaling']!r}")
    low, high = merged["scale_min"], merged["scale_max"]
    if not (_is_number(low) and _is_number(high) and -np.inf < low < high < np.inf):
        raise ValueError(f"{where}: scale_min must be below scale_max (finite numbers), got "
                         f"{low!r} and {high!r}")
    try:
        _cutoff_type_number(merged["cutoff_type"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"{where}: cutoff_type: {error}") from None
    fraction = merged["valid_fraction"]
    if not _is_number(fraction) or not 0.0 <= fraction < 1.0:
        raise ValueError(f"{where}: valid_fraction must be in [0, 1), got {fraction!r}")
    zetas = merged["zetas"]
    if not isinstance(zetas, (list, tuple)) or not zetas or not all(
            _is_number(z) and 1.0 <= z < np.inf for z in zetas):
        raise ValueError(f"{where}: zetas must be a list of numbers >= 1, got {zetas!r}")
    for key in ("n_shifted", "n_centred", "n_angular_eta"):
        if not isinstance(merged[key], int) or isinstance(merged[key], bool) or merged[key] < 0:
            raise ValueError(f"{where}: {key} must be an integer >= 0, got {merged[key]!r}")
    if merged["n_shifted"] == 0 and merged["n_centred"] == 0:
        raise ValueError(f"{where}: n_shifted and n_centred cannot both be 0 (no radial "
                         "functions)")
    r_inner = merged["r_inner"]
    if r_inner is not None and not (_is_number(r_inner) and 0 < r_inner < merged["cutoff"]):
        raise ValueError(f"{where}: r_inner must be a positive number below the cutoff "
                         f"({merged['cutoff']}) or None, got {r_inner!r}")
    energies = merged["atom_energies"]
    if energies is not None and not isinstance(energies, (dict, str, Path)):
        raise ValueError(f"{where}: atom_energies must be a {{element: eV}} table or the path "
                         f"of a file of isolated atoms, got {energies!r}")


def default_memory_limit():
    """Bytes of stored derivatives one process never exceeds, whatever derivative_memory
    says: TRAINING_MEMORY_FRACTION of the machine's memory."""
    return int(physical_memory() * TRAINING_MEMORY_FRACTION)


def _quiet(*args, **kwargs):
    pass


class Trainer:
    """Fits a Potential. Options as keyword arguments or a dict (see ``DEFAULTS``)::

        trainer = Trainer(hidden_layers=[25, 25], time_budget=600)
        potential = trainer.fit(train_samples, valid_samples)
    """

    def __init__(self, config=None, log=print, **options):
        merged = dict(config or {})
        merged.update(options)
        self.options = _check_options(merged)
        self._user_log = log or _quiet
        self.log = self._user_log
        self.history = []

    # -- the whole fit ------------------------------------------------------------------------
    def fit(self, train, valid=None, out=None, resume=True, comm=None):
        """Train on `train` (list of Sample); validate on `valid` or a seeded fraction of
        `train`. With `out`, checkpoints go to out/checkpoint.npz (resumed when present and
        made with the same options and data) and the history to out/history.csv. `comm`:
        the communicator (default: MPI when started by mpiexec on several ranks)."""
        opts = self.options
        self.comm = comm = comm or world()
        self.log = self._user_log if comm.rank == 0 else _quiet
        self.start = time.perf_counter()
        check_samples(train, "training data")
        isolated, train = isolated_atom_energies(opts["atom_energies"], train, self.log)
        train = _without_outliers(train, opts, self.log)
        if valid is None:
            train, valid = split(train, opts["valid_fraction"], opts["seed"])
        self.samples = {"train": train, "valid": valid}   # what was fitted and validated on
        loss = self.prepare(train, valid, isolated=isolated or {}, comm=comm)
        self.loss = loss
        self.log(f"{loss.pack().size} weights; preparation took "
                 f"{time.perf_counter() - self.start:.1f} s")

        self.optimizer = opts["optimizer"]
        if self.optimizer == "auto":
            self.optimizer = AUTO_OPTIMIZER
            self.log(f"optimizer {self.optimizer} (auto)")
        self.valid = valid
        self.out, self.resume = out, resume
        fingerprint = _fingerprint(opts, train, valid)
        n_members = opts["committee"]
        losses = [loss] if n_members == 1 else self._committee_losses(loss, train)
        runs, histories = [], []
        for k, member_loss in enumerate(losses):
            runs.append(self._train_member(k, n_members, member_loss, fingerprint))
            histories.append(self.history)
        self.history = [row for rows in histories for row in rows]

        first = "kalman" if self.optimizer.startswith("kalman") else "adam"
        summaries = [{f"{first}_epochs": run["epoch"],
                      "iterations": run["lbfgs"]["iteration"] if run["lbfgs"] else 0,
                      "best_phase": run["best"]["phase"],
                      "best_iteration": run["best"]["iteration"],
                      "stop_reason": run["stop_reason"]} for run in runs]
        if n_members == 1:
            potential = loss.potential
        else:
            first = losses[0].potential
            potential = Potential(first.sf, first.scaling,
                                  [member.potential.members[0] for member in losses],
                                  first.energy_unit, first.atom_energy)
        self.loss = loss      # the shared groups and descriptors (n_threads, comm)
        potential.metadata = {"trainer": {k: v for k, v in opts.items()},
                              **(summaries[0] if n_members == 1 else {"members": summaries}),
                              "n_train": len(train), "n_valid": len(valid),
                              "mpi_ranks": comm.size}
        self.elapsed = time.perf_counter() - self.start
        if out and comm.rank == 0:
            self.write_history(Path(out) / "history.csv")
        return potential

    def _train_member(self, k, n_members, loss, fingerprint):
        """Optimise the weights of `loss` (one model, or committee member k of n_members)
        from its checkpoint or afresh, within its share of the time budget; returns its run
        (the loss holds the best weights)."""
        opts, comm, out = self.options, self.comm, self.out
        self.loss = loss
        self.member = k if n_members > 1 else None
        if n_members > 1:
            name = f"checkpoint_member{k}.npz"
            fingerprint = hashlib.sha256(f"{fingerprint} member {k}".encode()).hexdigest()
        else:
            name = "checkpoint.npz"
        self.checkpoint = Path(out) / name if (out and comm.rank == 0) else None
        state = None
        if out and self.resume:
            state = comm.broadcast(_load_checkpoint(Path(out) / name, fingerprint)
                                   if comm.rank == 0 else None)
        self.run = _fresh_run(self.optimizer, loss.pack()) if state is None else state
        self.history = self.run["history"]
        self.fingerprint = fingerprint
        self.last_checkpoint = time.perf_counter()
        who = f"member {k + 1}/{n_members}: " if n_members > 1 else ""
        if state is not None and n_members > 1 and state["stop_reason"]:
            self.log(f"{who}finished in {Path(out) / name} ({state['stop_reason']}): kept")
            reason = state["stop_reason"]
        else:
            if state is not None:
                where = (f"epoch {state['epoch']}" if state["phase"] in ("adam", "kalman")
                         else f"iteration {state['lbfgs']['iteration']}")
                self.log(f"{who}resumed from {Path(out) / name} in the {state['phase']} "
                         f"phase at {where}")
            # the whole budget counts from the start of the fit (preparation included);
            # a committee member gets an equal share of what is left when it starts
            now = time.perf_counter()
            if n_members == 1:
                self.clock_start, self.clock_budget = self.start, opts["time_budget"]
            else:
                left = opts["time_budget"] - (now - self.start)
                self.clock_start = now
                self.clock_budget = comm.broadcast(max(left, 0.0) / (n_members - k))
                self.log(f"{who}training for at most {self.clock_budget:.0f} s, leaving out "
                         f"{int(sum((~keep).sum() for keep in loss.keep if keep is not None))}"
                         " training structure(s)" + (" on this rank" if comm.size > 1 else ""))
            reason = None
            if self.run["phase"] == "adam":
                reason = self._adam_phase()
            if self.run["phase"] == "kalman":
                reason = self._kalman_phase()
            if reason is None and self.run["phase"] == "lbfgs":
                reason = self._lbfgs_phase()
            self.run["stopped_in"] = self.run["phase"]
        self.run["phase"] = "done"
        self.run["stop_reason"] = reason
        self._save()
        best = self.run["best"]
        loss.unpack(best["x"] if np.isfinite(best["loss"]) else self.run["x"])
        self.log(f"{who}stopped: {reason}; best validation in the {best['phase']} phase at "
                 f"{best['iteration']}; {time.perf_counter() - self.start:.1f} s")
        return self.run

    def _committee_losses(self, loss, train):
        """The K members' losses: the prepared groups and descriptors with each member's own
        seeded networks (output layers matched as for one model) and left-out structures
        (seeded by the member's index over the global structure indices, so the same on
        every rank)."""
        opts = self.options
        base = loss.potential
        n_out = min(int(round(opts["committee_leave_out"] * len(train))), len(train) - 1)
        losses = []
        for k in range(opts["committee"]):
            left_out = np.zeros(len(train), dtype=bool)
            left_out[np.random.default_rng([opts["seed"], 3, k]).choice(
                len(train), size=n_out, replace=False)] = True
            keep = [~left_out[g.indices] if g is not None else None for g in loss.groups]
            rng = np.random.default_rng([opts["seed"], 4, k])
            networks = {e: Network(net.layers, net.activations).initialize(rng)
                        for e, net in base.networks.items()}
            potential = Potential(base.sf, base.scaling, networks, base.energy_unit,
                                  base.atom_energy)
            who = f"member {k + 1}/{opts['committee']}: "
            _match_output_scale(potential, [s for s, out in zip(train, left_out) if not out],
                                loss.n_threads, lambda message: self.log(who + message))
            # the same normalisation per kept structure as the whole set's
            weights = copy.copy(loss.weights)
            scale = len(train) / (len(train) - n_out)
            weights.w_e, weights.w_f, weights.w_s = (scale * weights.w_e, scale * weights.w_f,
                                                     scale * weights.w_s)
            losses.append(Loss(loss.groups, loss.X, potential, weights, loss.n_threads,
                               loss.comm, keep))
        return losses

    def _over_budget(self):
        """Rank 0's clock decides, so that every rank stops at the same step."""
        return self.comm.broadcast(time.perf_counter() - self.clock_start > self.clock_budget)

    def _adam_phase(self):
        """Minibatch Adam; returns the stop reason when the whole fit ends here, None when
        L-BFGS takes over.

        The step decays exponentially from learning_rate to final_learning_rate over the
        planned epochs: adam_epochs, or fewer when the phase's share of the time budget
        allows fewer (planned from the first epoch's duration, kept in the checkpoint)."""
        opts, run, loss = self.options, self.run, self.loss
        adam = Adam.from_arrays(run["adam"]) if run["adam"] else Adam(run["x"])
        n_groups = len(loss.groups)
        share = opts["adam_time_fraction"] if self.optimizer == "adam+lbfgs" else 1.0
        budget = self.clock_budget * share
        phase_start = time.perf_counter() - self.clock_start
        reason = None
        while reason is None:
            plan = run["plan"] or opts["adam_epochs"]
            if run["epoch"] >= plan:
                reason = (f"{plan} planned epochs" if run["plan"] and plan < opts["adam_epochs"]
                          else "adam_epochs")
                break
            rate = opts["learning_rate"] * (opts["final_learning_rate"] / opts["learning_rate"]
                                            ) ** (run["epoch"] / plan)
            sums = np.zeros(6)
            order = np.random.default_rng([opts["seed"], 1, run["epoch"]]).permutation(n_groups)
            for group in order:
                if self.comm.broadcast(time.perf_counter() - self.clock_start > budget):
                    reason = "time_budget"
                    break
                _, gradient = loss(adam.state["x"], group=int(group))
                adam.step(gradient, rate)
                sums += np.array(list(loss.last_sums.values()))
            else:
                run["epoch"] += 1
                run["x"] = adam.state["x"]
                run["adam"] = adam.save_arrays()
                loss.unpack(run["x"])
                row = self._record("adam", run["epoch"], _rmse(sums),
                                   float(np.dot(sums[::2], [loss.w_e, loss.w_f, loss.w_s]))
                                   + loss.l2 * float(run["x"] @ run["x"]))
                row["learning_rate"] = rate
                self._improves(row, "adam", run["epoch"])
                if run["plan"] is None:
                    elapsed = time.perf_counter() - self.clock_start
                    epoch_time = max(elapsed - phase_start, 1e-9)
                    run["plan"] = self.comm.broadcast(int(np.clip(
                        (budget - phase_start) // epoch_time, 1, opts["adam_epochs"])))
                    self.log(f"Adam: {run['plan']} epochs planned ({epoch_time:.1f} s each), "
                             f"step {opts['learning_rate']:g} -> "
                             f"{opts['final_learning_rate']:g}")
                self._maybe_save()
        if reason == "time_budget" and self.optimizer == "adam+lbfgs" and \
                not self._over_budget():
            reason = f"adam_time_fraction {opts['adam_time_fraction']} of the budget"
        if self.optimizer == "adam" or self._over_budget():
            return reason
        self.log(f"Adam phase ended after {run['epoch']} epochs ({reason}); L-BFGS from the "
                 "best weights so far")
        run["phase"] = "lbfgs"
        return None

    def _kalman_phase(self):
        """Kalman-filter epochs (fastpot/kalman.py) over the training structures in a seeded
        order; returns the stop reason when the whole fit ends here, None when L-BFGS takes
        over. Planned like the Adam phase: kalman_epochs, or fewer when kalman_time_fraction
        of the budget holds fewer. The state (weights, covariance, forgetting factor) is
        kept at the end of every epoch, so a resumed fit takes the same path."""
        opts, run, loss, comm = self.options, self.run, self.loss, self.comm
        kalman = KalmanFilter(loss, p0=opts["kalman_p0"], lam=opts["kalman_lambda"],
                              nu=opts["kalman_nu"], q0=opts["kalman_q0"],
                              q_tau=opts["kalman_q_tau"], q_min=opts["kalman_q_min"],
                              n_threads=loss.n_threads)
        if run["kalman"]:
            kalman.load_arrays(run["kalman"])
        measurements = Measurements(loss)
        n_train = int(comm.sum([len(measurements.where)])[0])
        share = opts["kalman_time_fraction"] if self.optimizer == "kalman+lbfgs" else 1.0
        budget = self.clock_budget * share
        phase_start = time.perf_counter() - self.clock_start
        x = run["x"].copy()
        reason = None
        while reason is None:
            plan = run["plan"] or opts["kalman_epochs"]
            if run["epoch"] >= plan:
                reason = (f"{plan} planned epochs" if run["plan"] and plan < opts["kalman_epochs"]
                          else "kalman_epochs")
                break
            order = np.random.default_rng([opts["seed"], 6, run["epoch"]]).permutation(n_train)
            for count, i in enumerate(order):
                if count % 16 == 0 and comm.broadcast(
                        time.perf_counter() - self.clock_start > budget):
                    reason = "time_budget"
                    break
                self._kalman_structure(kalman, measurements, x, int(i), run["epoch"])
            else:
                run["epoch"] += 1
                run["x"], run["kalman"] = x.copy(), kalman.save_arrays()
                value, _ = loss(run["x"])
                row = self._record("kalman", run["epoch"], loss.last_rmse, value)
                row["kalman_lambda"] = kalman.lam
                self._improves(row, "kalman", run["epoch"])
                if run["plan"] is None:
                    elapsed = time.perf_counter() - self.clock_start
                    epoch_time = max(elapsed - phase_start, 1e-9)
                    run["plan"] = comm.broadcast(int(np.clip(
                        (budget - phase_start) // epoch_time, 1, opts["kalman_epochs"])))
                    self.log(f"Kalman filter: {run['plan']} epochs planned ({epoch_time:.1f} s "
                             f"each), {kalman.updates} updates in the first")
                self._maybe_save()
        if reason == "time_budget" and self.optimizer == "kalman+lbfgs" and \
                not self._over_budget():
            reason = f"kalman_time_fraction {opts['kalman_time_fraction']} of the budget"
        if self.optimizer == "kalman" or self._over_budget():
            return reason
        self.log(f"Kalman phase ended after {run['epoch']} epochs ({reason}); L-BFGS from the "
                 "best weights so far")
        run["phase"] = "lbfgs"
        return None

    def _kalman_structure(self, kalman, measurements, x, i, epoch):
        """The update of training structure i: its energy and its force chunks together.
        The rank holding it computes the measurements and every rank applies them (a sum in
        which the others add zeros, so the same on every rank)."""
        n = len(x)
        count = np.zeros(1)
        if i in measurements.where:
            chunks = measurements.force_chunks(i, self.options["kalman_force_atoms"],
                                               self.options["seed"], epoch)
            errors, H = measurements.structure(x, i, chunks)
            count[0] = len(errors)
        m = int(self.comm.sum(count)[0])
        message = np.zeros((m, 1 + n))  # [error, H] per measurement
        if i in measurements.where:
            message[:, 0], message[:, 1:] = errors, H
        message = self.comm.sum(message)
        kalman.update(x, message[:, 0], message[:, 1:])

    def _lbfgs_phase(self):
        opts, run, loss = self.options, self.run, self.loss
        if run["lbfgs"]:
            optimizer = LBFGS.resume(loss, run["lbfgs"], opts["lbfgs_memory"])
        else:
            start = run["best"]["x"] if np.isfinite(run["best"]["loss"]) else run["x"]
            optimizer = LBFGS(loss, start, opts["lbfgs_memory"])
            run["lbfgs_best"] = 0
        while True:
            if optimizer.state["iteration"] >= opts["max_iterations"]:
                return "max_iterations"
            if self._over_budget():
                return "time_budget"
            if not optimizer.step():
                return "converged (line search found no decrease)"
            it = optimizer.state["iteration"]
            run["x"] = optimizer.state["x"]
            run["lbfgs"] = optimizer.state
            if it % opts["validate_every"] == 0 or it == 1:
                loss.unpack(run["x"])
                row = self._record("lbfgs", it, loss.last_rmse, loss.last_value)
                if self._improves(row, "lbfgs", it):
                    run["lbfgs_best"] = it
                if it - run["lbfgs_best"] >= opts["patience"]:
                    return "patience (no better validation loss)"
            self._maybe_save()

    def _improves(self, row, phase, iteration):
        best = self.run["best"]
        if row["valid_loss"] < best["loss"]:
            self.run["best"] = {"x": self.run["x"].copy(), "loss": row["valid_loss"],
                                "phase": phase, "iteration": iteration}
            return True
        return False

    def _maybe_save(self):
        if self.comm.broadcast(time.perf_counter() - self.last_checkpoint
                               > self.options["checkpoint_every"]):
            self._save()
            self.last_checkpoint = time.perf_counter()

    def _save(self):
        if self.checkpoint is not None:
            _save_checkpoint(self.checkpoint, self.fingerprint, self.run)

    # -- preparation ---------------------------------------------------------------------------
    def prepare(self, train, valid=(), isolated=None, comm=None):
        """Descriptors, scaling, reference energies, initial networks and the loss (a
        fastpot.loss.Loss) for the training samples, this rank's share of them under MPI.
        `isolated`: isolated-atom energies {element: eV}; None: from the atom_energies
        option and the data."""
        opts = self.options
        comm = comm or getattr(self, "comm", None) or world()
        log = self.log if comm.rank == 0 else _quiet
        n_threads = opts["n_threads"]
        if n_threads is None and comm.size > 1 and "OMP_NUM_THREADS" not in os.environ:
            # ranks on one machine share its cores
            n_threads = max(1, effective_cpu_count() // comm.ranks_on_this_node)
        n_threads = resolve_threads(n_threads)
        if isolated is None:
            isolated, train = isolated_atom_energies(opts["atom_energies"], train, log)
        check_samples(train, "training data")
        elements = elements_of(train)
        missing = sorted(set(elements_of(valid)) - set(elements)) if valid else []
        if missing:
            raise ValueError(f"validation data has element(s) {missing} absent from the "
                             "training data")
        r_inner = opts["r_inner"] or _inner_radius(train, opts["cutoff"])
        if opts["descriptors"] == "polynomial":
            sf = polynomial_symmetry_functions(elements, cutoff=opts["cutoff"], r_inner=r_inner,
                                               n_shifted=opts["n_shifted"],
                                               n_centred=opts["n_centred"],
                                               n_angular_eta=opts["n_angular_eta"],
                                               n_angles=2 * len(opts["zetas"]))
        else:
            sf = default_symmetry_functions(elements, cutoff=opts["cutoff"], r_inner=r_inner,
                                            n_shifted=opts["n_shifted"],
                                            n_centred=opts["n_centred"],
                                            n_angular_eta=opts["n_angular_eta"],
                                            zetas=tuple(opts["zetas"]),
                                            wide=opts["wide_angular"],
                                            cutoff_type=opts["cutoff_type"])
        log(f"{len(train)} training / {len(valid or ())} validation structures, elements "
            f"{' '.join(elements)}; {', '.join(f'{e}: {sf.n_functions(e)}' for e in elements)}"
            f" symmetry functions, cutoff {opts['cutoff']} Å")

        # minibatches: seeded groups of batch_size structures, each shared out over ranks
        n_groups = max(1, -(-len(train) // opts["batch_size"]))
        order = np.random.default_rng([opts["seed"], 2]).permutation(len(train))
        groups = []
        for members in np.array_split(order, n_groups):
            mine = np.sort(members)[comm.rank::comm.size]
            groups.append(TrainingSet([train[k] for k in mine], sf, n_threads, mine)
                          if len(mine) else None)
        present = [g for g in groups if g is not None]

        # stored derivatives within the memory budget (over all ranks)
        needed = comm.sum([sum(sum(g.derivative_nbytes.values()) for g in present)])[0]
        per_rank = default_memory_limit() / comm.ranks_on_this_node
        limit = min(float(opts["derivative_memory"]), per_rank * comm.size)
        fraction = min(1.0, limit / needed) if needed else 1.0
        for group in present:
            group.store_derivatives(fraction, opts["seed"])
        stored = comm.sum([sum(g.derivative_bytes for g in present)])[0]
        if fraction < 1.0:
            fitted = sum(atoms_fitted(s.n_atoms, fraction) for s in train
                         if s.forces is not None)
            log(f"stored derivatives for all forces would need {needed / 2**30:.2f} GiB, "
                f"more than derivative_memory = {limit / 2**30:.2f} GiB: fitting the forces "
                f"of {fitted} seeded random atoms ({100 * fraction:.0f} % of each structure)")
        log(f"stored derivatives: {stored / 2**20:.1f} MiB for "
            f"{sum(s.forces is not None for s in train)} structure(s) with forces"
            + (f" over {comm.size} ranks" if comm.size > 1 else "")
            + f"; {n_groups} minibatch(es) of up to {opts['batch_size']} structures")

        scaling = _scaling(sf, present, opts, comm)
        X = [_scaled(g, scaling) if g is not None else None for g in groups]
        compositions = Compositions(train, sf.elements)
        atom_energy, energy_unit = reference_energies(compositions, isolated, log)
        log(f"reference energies (eV): "
            f"{', '.join(f'{e} {atom_energy[k]:.4f}' for k, e in enumerate(sf.elements))};"
            f" network energy unit {energy_unit:.4g} eV")
        weights = _loss_weights(opts, train, compositions, atom_energy, fraction)
        rng = np.random.default_rng(opts["seed"])
        layers = {e: [sf.n_functions(e), *opts["hidden_layers"], 1] for e in sf.elements}
        activations = opts["activation"] * len(opts["hidden_layers"]) + "l"
        networks = {e: Network(layers[e], activations).initialize(rng) for e in sf.elements}
        potential = Potential(sf, scaling, networks, energy_unit,
                              {e: atom_energy[k] for k, e in enumerate(sf.elements)})
        _match_output_scale(potential, train, n_threads, log)
        return Loss(groups, X, potential, weights, n_threads, comm)

    # -- progress ------------------------------------------------------------------------------
    def _record(self, phase, iteration, train, train_loss):
        """One history row (RMSE in eV/atom, eV/Å per force component, eV/Å^3 per Voigt
        stress component); the validation loss is the training loss's formula on the
        validation set. In the Adam phase the training figures are over the epoch's
        minibatches (the weights moved during it)."""
        loss, valid = self.loss, self.valid
        elapsed = time.perf_counter() - self.start
        row = {"phase": phase, "iteration": iteration, "elapsed_s": elapsed,
               **({"member": self.member} if self.member is not None else {}),
               "train_loss": train_loss, "train_energy_rmse": train["energy"],
               "train_forces_component_rmse": train["forces_component"],
               "train_stress_rmse": train["stress"]}
        if valid:
            metrics = evaluate_samples(loss.potential, valid, loss.n_threads, self.comm)
            for key in ("energy", "forces_component", "stress"):
                value = metrics.get(f"{key}_rmse")
                row[f"valid_{key}_rmse"] = value / 1000.0 if value is not None else float("nan")
            row["valid_loss"] = loss.metric_loss(row["valid_energy_rmse"],
                                                 row["valid_forces_component_rmse"],
                                                 row["valid_stress_rmse"])
        else:
            for key in ("energy", "forces_component", "stress"):
                row[f"valid_{key}_rmse"] = float("nan")
            row["valid_loss"] = train_loss
        self.history.append(row)
        label = "epoch" if phase == "adam" else "iter "
        who = f"member {self.member + 1} " if self.member is not None else ""
        line = (f"{who}{phase:5s} {label} {iteration:6d}  train E {1000 * train['energy']:8.3f} "
                f"meV/atom  F {1000 * train['forces_component']:8.2f} meV/Å | valid E "
                f"{1000 * row['valid_energy_rmse']:8.3f}  F "
                f"{1000 * row['valid_forces_component_rmse']:8.2f}")
        if loss.w_s:
            line += (f" | S train {1000 * train['stress']:.3f} valid "
                     f"{1000 * row['valid_stress_rmse']:.3f} meV/Å^3")
        left = max(0.0, self.options["time_budget"] - elapsed)
        self.log(f"{line} | {elapsed:7.1f} s, at most {_clock(left)} left")
        return row

    def write_history(self, path):
        """history.csv: one row per validation check (columns in `_record`)."""
        if not self.history:
            return
        # rows resumed from a checkpoint of an older version may lack some columns
        columns = list(dict.fromkeys(key for row in self.history for key in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(self.history)
        atomic_write(path, buffer.getvalue())


def _clock(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _rmse(sums):
    """Energy, force and stress RMSEs from [sse_E, n_E, sse_F, n_F, sse_S, n_S]."""
    return {name: float(np.sqrt(sums[2 * k] / sums[2 * k + 1])) if sums[2 * k + 1] else np.nan
            for k, name in enumerate(("energy", "forces_component", "stress"))}


def _fresh_run(optimizer, x0):
    """The state of a fit that has not started; its first phase is the optimizer's first."""
    return {"phase": optimizer.split("+")[0], "x": x0.copy(),
            "adam": None, "kalman": None, "epoch": 0, "plan": None, "lbfgs": None,
            "lbfgs_best": 0, "stopped_in": None,
            "best": {"x": x0.copy(), "loss": np.inf, "phase": "start", "iteration": 0},
            "history": [], "stop_reason": None}


def _scaling(sf, groups, opts, comm):
    """Scaling statistics of the unscaled functions over every group of every rank."""
    stats = {}
    for k, element in enumerate(sf.elements):
        blocks = [g.element_block(g.G, k) for g in groups if g.counts[k]]
        width = sf.n_functions(element)
        count = comm.sum([sum(len(b) for b in blocks)])[0]
        if not count:
            raise ValueError(f"no atoms of element {element} in the data: its scaling "
                             "statistics cannot be computed")
        low = comm.min(np.min([b.min(axis=0) for b in blocks], axis=0) if blocks
                       else np.full(width, np.inf))
        high = comm.max(np.max([b.max(axis=0) for b in blocks], axis=0) if blocks
                        else np.full(width, -np.inf))
        mean = comm.sum(sum((b.sum(axis=0) for b in blocks), np.zeros(width))) / count
        spread = comm.sum(sum((((b - mean) ** 2).sum(axis=0) for b in blocks),
                              np.zeros(width))) / count
        stats[element] = np.column_stack([low, high, mean, np.sqrt(spread)])
    return Scaling(opts["scaling"], stats, opts["scale_min"], opts["scale_max"],
                   constant="ignore")


def _scaled(group, scaling):
    X = np.empty_like(group.G)
    for k, e in enumerate(group.sf.elements):
        block = group.element_block(group.G, k)
        X[group.block_start[k]:group.block_start[k + 1]] = scaling.apply({e: block})[e].ravel()
    return X


def _loss_weights(opts, train, compositions, atom_energy, force_fraction):
    """The loss's normalisation from the references of all training structures (known on
    every rank, so no communication is needed)."""
    c = compositions
    residual = (c.energy - c.composition @ atom_energy)[c.has_energy] / c.n_atoms[c.has_energy]
    n_e = int(c.has_energy.sum())
    var_e = float(max(np.var(residual), 1e-8)) if n_e else 1.0
    with_forces = [s for s in train if s.forces is not None]
    n_f = 3 * sum(atoms_fitted(s.n_atoms, force_fraction) for s in with_forces)
    var_f = (float(max(np.mean(np.concatenate([s.forces for s in with_forces]) ** 2), 1e-8))
             if with_forces else 1.0)
    # stress is fitted where the stored strain derivatives are: structures with forces
    stresses = [s.stress for s in with_forces if s.stress is not None]
    n_s = 6 * len(stresses)
    var_s = float(max(np.mean(np.square(stresses)), 1e-12)) if stresses else 1.0
    return LossWeights(opts, var_e, n_e, var_f, n_f, var_s, n_s)


def _match_output_scale(potential, train, n_threads, log, target=0.3, n_probe=32):
    """Scale the output layers of fresh networks so that their forces (or, without forces,
    their per-atom energy spread) are `target` times the references' on a few training
    structures. Freshly initialised networks predict forces and energy differences a
    hundred times too small (the descriptors vary little between structures), which first-
    order steps take a long time to grow; this is a data-dependent start in the spirit of
    LSUV (Mishkin & Matas 2016)."""
    probe = train[:: max(1, len(train) // n_probe)][:n_probe]
    with_forces = [s for s in probe if s.forces is not None]
    if with_forces:
        predicted = np.concatenate([potential.evaluate(s.atoms, n_threads=n_threads)["forces"]
                                    for s in with_forces])
        reference = np.concatenate([s.forces for s in with_forces])
        ratio = np.sqrt(np.mean(reference**2) / max(np.mean(predicted**2), 1e-300))
    else:
        with_energy = [s for s in probe if s.energy is not None]
        predicted = [potential.evaluate(s.atoms, n_threads=n_threads)["energy"] / s.n_atoms
                     for s in with_energy]
        reference = [s.energy / s.n_atoms for s in with_energy]
        spread = np.std(predicted)
        ratio = np.std(reference) / spread if len(with_energy) > 1 and spread > 0 else 1.0
    factor = float(np.clip(target * ratio, 1e-3, 1e4)) if np.isfinite(ratio) else 1.0
    for network in potential.networks.values():
        weights = network.weights.copy()
        w_out, _ = network.layer_views()[-1]
        start = network.layout.woff[len(network.layers) - 2]
        weights[start:start + w_out.size] *= factor
        network.weights = weights
    log(f"output layers scaled by {factor:.3g}: initial forces (or energy spread) "
        f"{target} of the references'")


def _without_outliers(train, opts, log):
    """The training structures without those the max_force and max_energy_above_minimum
    options leave out (none by default); the log says how many and names the worst."""
    keep = np.ones(len(train), dtype=bool)
    if opts["max_force"] is not None:
        largest = np.array([np.linalg.norm(s.forces, axis=1).max()
                            if s.forces is not None and s.n_atoms else 0.0 for s in train])
        over = largest > opts["max_force"]
        if over.any():
            worst = int(np.argmax(largest))
            log(f"max_force {opts['max_force']} eV/Å: {int(over.sum())} structure(s) left "
                f"out, the largest force {largest[worst]:.1f} eV/Å in {train[worst].source}")
        keep &= ~over
    if opts["max_energy_above_minimum"] is not None:
        elements = elements_of(train)
        compositions = Compositions(train, elements)
        mu, _ = reference_energies(compositions, None, _quiet)
        per_atom = np.where(compositions.has_energy,
                            (compositions.energy - compositions.composition @ mu)
                            / compositions.n_atoms, -np.inf)
        above = per_atom - per_atom[compositions.has_energy].min()
        over = above > opts["max_energy_above_minimum"]
        if over.any():
            worst = int(np.argmax(above))
            log(f"max_energy_above_minimum {opts['max_energy_above_minimum']} eV/atom: "
                f"{int(over.sum())} structure(s) left out, the highest {above[worst]:.3f} "
                f"eV/atom above the lowest in {train[worst].source}")
        keep &= ~over
    if not keep.any():
        raise ValueError("max_force / max_energy_above_minimum leave no training structure")
    return [s for s, k in zip(train, keep) if k]


def _inner_radius(samples, cutoff):
    """A little below the shortest interatomic distance in (a sample of) the data."""
    from fastpot.neighbors import neighbor_list
    shortest = cutoff
    for sample in samples[:: max(1, len(samples) // 50)]:
        try:
            d = neighbor_list("d", sample.atoms, cutoff)
        except ValueError as error:  # a bad cell: say which structure
            raise ValueError(f"{sample.source}: {error}") from None
        if len(d):
            shortest = min(shortest, float(d.min()))
    return max(0.5, min(0.9 * shortest, 0.5 * cutoff))


def _fingerprint(opts, train, valid):
    digest = hashlib.sha256()
    digest.update(json.dumps({k: v for k, v in opts.items() if k not in _NOT_IN_FINGERPRINT},
                             sort_keys=True, default=str).encode())
    for sample in list(train) + list(valid):
        digest.update(np.ascontiguousarray(sample.atoms.positions).tobytes())
        digest.update(str(sample.energy).encode())
    return digest.hexdigest()


def _save_checkpoint(path, fingerprint, run):
    """The whole state of a fit, written atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"fingerprint": np.array(fingerprint), "x": run["x"], "best_x": run["best"]["x"]}
    for phase in ("adam", "kalman"):
        if run[phase]:
            arrays.update({f"{phase}_{k}": v for k, v in run[phase].items()})
    if run["lbfgs"]:
        optimizer = LBFGS.__new__(LBFGS)
        optimizer.state = run["lbfgs"]
        arrays.update({f"lbfgs_{k}": v for k, v in optimizer.save_arrays().items()})
    scalars = {k: run[k] for k in ("phase", "epoch", "plan", "lbfgs_best", "stop_reason",
                                   "stopped_in")}
    scalars["best"] = {k: v for k, v in run["best"].items() if k != "x"}
    arrays["scalars"] = np.array(json.dumps(scalars))
    arrays["history"] = np.array(json.dumps(run["history"]))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write(path, buffer.getvalue())


def _load_checkpoint(path, fingerprint):
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["fingerprint"]) != fingerprint:
                warnings.warn(f"{path} was made with other options or data: starting afresh",
                              stacklevel=3)
                return None
            scalars = json.loads(str(f["scalars"]))
            run = {k: scalars[k] for k in ("phase", "epoch", "plan", "lbfgs_best")}
            run["stop_reason"] = scalars.get("stop_reason") if run["phase"] == "done" else None
            run["x"] = np.array(f["x"])
            run["best"] = dict(scalars["best"], x=np.array(f["best_x"]))
            for phase in ("adam", "kalman"):
                run[phase] = ({k[len(phase) + 1:]: np.array(f[k]) for k in f.files
                               if k.startswith(f"{phase}_")} or None)
            lbfgs = {k[len("lbfgs_"):]: f[k] for k in f.files if k.startswith("lbfgs_")}
            run["lbfgs"] = LBFGS.state_from_arrays(lbfgs) if lbfgs else None
            run["history"] = json.loads(str(f["history"]))
    except (OSError, KeyError, ValueError) as error:
        warnings.warn(f"cannot resume from {path} ({error}): starting afresh", stacklevel=3)
        return None
    # a finished fit given more time goes on in the phase it stopped in
    run["stopped_in"] = scalars.get("stopped_in")
    if run["phase"] == "done":
        run["phase"] = run["stopped_in"] or ("lbfgs" if run["lbfgs"] else "adam")
    return run
