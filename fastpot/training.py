"""Training a Potential on reference energies and forces with L-BFGS.

Loss, over the training structures:

    L = w_E mean_s((E_s - E_s,ref) / N_s)^2 / var_E  +  w_F mean_(j,x)(F_jx - F_jx,ref)^2 / var_F
        + l2 |w|^2

where var_E and var_F are the variances of the reference per-atom energies (after removing
the fitted per-element reference energies) and force components, so that the default
weights balance the two terms whatever the units and the material.

The gradient is exact. Forces are F = -dE/dR, so the force term needs the derivative of
dE/dG with respect to the weights, contracted with v_is = sum_j dL/dF_j . dG_is/dR_j: the
stored sparse dG/dR (fastpot/symmetry.py) give v in one pass (ext/_training.pyx), and the
networks' double backprop (ext/_network.pyx) turns it into a weight gradient.
"""
import csv
import hashlib
import json
import time
import warnings
from pathlib import Path

import numpy as np

from fastpot import _training
from fastpot._memory import physical_memory
from fastpot._threading import resolve_threads
from fastpot.data import check_samples, elements_of, split
from fastpot.network import Network
from fastpot.optimize import LBFGS
from fastpot.potential import Potential
from fastpot.scaling import Scaling
from fastpot.symmetry_sets import default_symmetry_functions

DEFAULTS = {
    "cutoff": 6.0,                 # Å
    "r_inner": None,               # Å, innermost radial centre; None: from the data
    "n_shifted": 8,                # shifted radial Gaussians per neighbour element
    "n_centred": 4,                # centred radial Gaussians per neighbour element
    "n_angular_eta": 2,            # angular widths per neighbour pair
    "zetas": [1.0, 2.0, 4.0, 16.0],
    "wide_angular": True,          # n2p2 type 9 (True) or type 3 (False)
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
    "valid_fraction": 0.1,         # held out when no validation file is given
    "seed": 0,
    "max_iterations": 20000,
    "time_budget": 840.0,          # seconds for the whole fit, preparation included
    "patience": 400,               # iterations without a better validation loss
    "validate_every": 10,          # iterations between validation checks
    "checkpoint_every": 60.0,      # seconds between checkpoints
    "lbfgs_memory": 20,
    "derivative_memory": 1.5 * 2**30,  # bytes of stored dG/dR; beyond, forces are subsampled
    "n_threads": None,
}
# The stored derivatives never take more than this fraction of the machine's memory.
TRAINING_MEMORY_FRACTION = 1 / 2


def _check_options(options, where="training options"):
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {', '.join(unknown)}; valid options: "
                         f"{', '.join(sorted(DEFAULTS))}")
    merged = dict(DEFAULTS)
    merged.update(options)
    for key in ("cutoff", "time_budget", "checkpoint_every", "derivative_memory"):
        if not isinstance(merged[key], (int, float)) or not merged[key] > 0:
            raise ValueError(f"{where}: {key} must be a positive number, got {merged[key]!r}")
    for key in ("energy_weight", "force_weight", "stress_weight", "l2"):
        if not isinstance(merged[key], (int, float)) or merged[key] < 0:
            raise ValueError(f"{where}: {key} must be a number >= 0, got {merged[key]!r}")
    if merged["energy_weight"] == 0 and merged["force_weight"] == 0 and \
            merged["stress_weight"] == 0:
        raise ValueError(f"{where}: energy_weight, force_weight and stress_weight cannot all "
                         "be 0")
    for key in ("max_iterations", "patience", "validate_every", "lbfgs_memory", "seed"):
        if not isinstance(merged[key], int) or merged[key] < (0 if key == "seed" else 1):
            raise ValueError(f"{where}: {key} must be a positive integer, got {merged[key]!r}")
    if not isinstance(merged["hidden_layers"], (list, tuple)) or not all(
            isinstance(n, int) and n > 0 for n in merged["hidden_layers"]):
        raise ValueError(f"{where}: hidden_layers must be a list of positive integers, got "
                         f"{merged['hidden_layers']!r}")
    return merged


def default_memory_limit():
    """Bytes of stored derivatives never exceeded, whatever derivative_memory says:
    TRAINING_MEMORY_FRACTION of the machine's memory."""
    return int(physical_memory() * TRAINING_MEMORY_FRACTION)


class TrainingSet:
    """Descriptors, stored derivatives and references of many structures, laid out for the
    loss kernels: atoms of all structures concatenated, per-atom function rows grouped by
    element (see SymmetryFunctions.layout)."""

    def __init__(self, samples, sf, n_threads, memory_limit, seed, log=print):
        self.sf = sf
        self.samples = samples
        n = [s.n_atoms for s in samples]
        self.structure_start = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
        self.n_atoms = np.array(n)
        self.species = np.concatenate([sf.species(s.atoms) for s in samples]).astype(np.int32)
        self.row_start, block_start, self.counts, self.widths = sf.layout(self.species)
        self.element_atoms = [np.flatnonzero(self.species == k) for k in range(len(sf.elements))]
        self.block_start = block_start
        self.has_energy = np.array([s.energy is not None for s in samples])
        self.energy = np.array([s.energy if s.energy is not None else 0.0 for s in samples])
        self.composition = np.zeros((len(samples), len(sf.elements)))
        for k, (a, b) in enumerate(zip(self.structure_start[:-1], self.structure_start[1:])):
            self.composition[k] = np.bincount(self.species[a:b], minlength=len(sf.elements))

        # descriptors
        self.G = np.zeros(block_start[-1])
        layouts = []
        for k, sample in enumerate(samples):
            a, b = self.structure_start[k], self.structure_start[k + 1]
            nl = sf.neighbor_list(sample.atoms, n_threads)
            flat, _ = sf._values(self.species[a:b], nl, n_threads)
            local_row, local_block, _, _ = sf.layout(self.species[a:b])
            # move each atom's row to its place in the global layout
            for i in range(b - a):
                w = self.widths[self.species[a + i]]
                self.G[self.row_start[a + i]:self.row_start[a + i] + w] = \
                    flat[local_row[i]:local_row[i] + w]
            if sample.forces is not None:
                layouts.append((k, nl))

        # stored derivatives for the structures with forces, within the memory budget: when
        # all would not fit, the forces of a seeded random fraction of each structure's atoms
        # are fitted (derivatives with respect to the other atoms are then not needed)
        from fastpot.symmetry import _slots
        sizes = []
        for k, nl in layouts:
            a, b = self.structure_start[k], self.structure_start[k + 1]
            slot_offsets = _slots(sf, self.species[a:b], nl)[0]
            sizes.append(8 * int((np.diff(slot_offsets) * self.widths[self.species[a:b]] * 3)
                                 .sum()))
        total = sum(sizes)
        fraction = min(1.0, memory_limit / total) if total else 1.0
        rng = np.random.default_rng(seed)
        self.has_forces_atom = np.zeros(len(self.species), dtype=bool)
        slot_counts = np.zeros(len(self.species), dtype=np.int64)
        per_structure = []
        for k, nl in layouts:
            a, b = self.structure_start[k], self.structure_start[k + 1]
            selected = np.ones(b - a, dtype=bool)
            if fraction < 1.0:
                keep = max(1, int(round(fraction * (b - a))))
                selected[:] = False
                selected[rng.choice(b - a, size=keep, replace=False)] = True
            stored = sf.derivatives(samples[k].atoms, n_threads, neighbor_list=nl,
                                    max_bytes=2**62, selected=selected)
            per_structure.append((k, stored))
            slot_counts[a:b] = np.diff(stored.slot_offsets)
            self.has_forces_atom[a:b] = selected
        self.derivative_bytes = sum(stored.values.nbytes for _, stored in per_structure)
        if fraction < 1.0:
            log(f"stored derivatives for all forces would need {total / 2**30:.2f} GiB, more "
                f"than derivative_memory = {memory_limit / 2**30:.2f} GiB: fitting the forces "
                f"of {int(self.has_forces_atom.sum())} seeded random atoms "
                f"({100 * fraction:.0f} % of each structure)")
        log(f"stored derivatives: {self.derivative_bytes / 2**20:.1f} MiB for "
            f"{len(per_structure)} structure(s) with forces")
        self.slot_offsets = np.concatenate([[0], np.cumsum(slot_counts)]).astype(np.int64)
        self.n_functions = self.widths[self.species].astype(np.int32)
        sizes_atom = slot_counts * self.n_functions * 3
        self.deriv_start = np.concatenate([[0], np.cumsum(sizes_atom)]).astype(np.int64)
        self.slot_atoms = np.zeros(self.slot_offsets[-1], dtype=np.int64)
        self.blocks = np.empty(self.deriv_start[-1])
        for k, stored in per_structure:
            a, b = self.structure_start[k], self.structure_start[k + 1]
            s0, s1 = self.slot_offsets[a], self.slot_offsets[b]
            self.slot_atoms[s0:s1] = stored.slot_atoms + a
            self.blocks[self.deriv_start[a]:self.deriv_start[b]] = stored.values
        self.strain = np.zeros((block_start[-1], 6))
        self.has_stress = np.zeros(len(samples), dtype=bool)
        self.stress = np.zeros((len(samples), 6))
        self.volume = np.array([abs(s.atoms.get_volume()) if s.atoms.pbc.all() else 0.0
                                for s in samples])
        for k, stored in per_structure:
            if samples[k].stress is None:
                continue
            a, b = self.structure_start[k], self.structure_start[k + 1]
            for i in range(b - a):
                w = self.widths[self.species[a + i]]
                self.strain[self.row_start[a + i]:self.row_start[a + i] + w] = \
                    stored.strain[stored.row_start[i]:stored.row_start[i] + w]
            self.has_stress[k] = True
            self.stress[k] = samples[k].stress
        # structure of every function row, for per-structure sums of row quantities
        atom_structure = np.repeat(np.arange(len(samples)), self.n_atoms)
        self.row_structure = np.empty(block_start[-1], dtype=np.int64)
        for k in range(len(sf.elements)):
            atoms = self.element_atoms[k]
            self.row_structure[block_start[k]:block_start[k + 1]] = np.repeat(
                atom_structure[atoms], self.widths[k])
        self.forces = np.zeros((len(self.species), 3))
        for k, sample in enumerate(samples):
            if sample.forces is not None:
                a, b = self.structure_start[k], self.structure_start[k + 1]
                self.forces[a:b] = sample.forces

    def element_block(self, array, k):
        return array[self.block_start[k]:self.block_start[k + 1]].reshape(self.counts[k],
                                                                          self.widths[k])


class Trainer:
    """Fits a Potential. Options as keyword arguments or a dict (see ``DEFAULTS``)::

        trainer = Trainer(hidden_layers=[25, 25], time_budget=600)
        potential = trainer.fit(train_samples, valid_samples)
    """

    def __init__(self, config=None, log=print, **options):
        merged = dict(config or {})
        merged.update(options)
        self.options = _check_options(merged)
        self.log = log or (lambda *a, **k: None)
        self.history = []

    # -- the whole fit ------------------------------------------------------------------------
    def fit(self, train, valid=None, out=None, resume=True):
        """Train on `train` (list of Sample); validate on `valid` or a seeded fraction of
        `train`. With `out`, checkpoints go to out/checkpoint.npz (resumed when present and
        made with the same options and data) and the history to out/history.csv."""
        opts = self.options
        start = time.perf_counter()
        check_samples(train, "training data")
        isolated, train = _isolated_atom_energies(opts["atom_energies"], train, self.log)
        if valid is None:
            train, valid = split(train, opts["valid_fraction"], opts["seed"])
        self.samples = {"train": train, "valid": valid}   # what was fitted and validated on
        objective = self.prepare(train, valid, isolated=isolated or {})
        potential, n_threads = objective.potential, objective.n_threads
        x0 = objective.pack()
        self.log(f"{x0.size} weights; preparation took {time.perf_counter() - start:.1f} s")

        checkpoint = Path(out) / "checkpoint.npz" if out else None
        fingerprint = _fingerprint(opts, train, valid)
        state = _load_checkpoint(checkpoint, fingerprint) if (checkpoint and resume) else None
        if state is not None:
            optimizer = LBFGS.resume(objective, state["lbfgs"], opts["lbfgs_memory"])
            best = state["best"]
            self.history = state["history"]
            self.log(f"resumed from {checkpoint} at iteration {optimizer.state['iteration']}")
        else:
            optimizer = LBFGS(objective, x0, opts["lbfgs_memory"])
            best = {"x": x0.copy(), "loss": np.inf, "iteration": 0}
            self.history = []
        last_checkpoint = time.perf_counter()
        reason = "max_iterations"
        while optimizer.state["iteration"] < opts["max_iterations"]:
            if time.perf_counter() - start > opts["time_budget"]:
                reason = "time_budget"
                break
            if not optimizer.step():
                reason = "converged (line search found no decrease)"
                break
            it = optimizer.state["iteration"]
            if it % opts["validate_every"] == 0 or it == 1:
                objective.unpack(optimizer.state["x"])
                row = self._record(it, start, objective, valid)
                if row["valid_loss"] < best["loss"]:
                    best = {"x": optimizer.state["x"].copy(), "loss": row["valid_loss"],
                            "iteration": it}
                if it - best["iteration"] >= opts["patience"]:
                    reason = "patience (no better validation loss)"
                    break
            if checkpoint and time.perf_counter() - last_checkpoint > opts["checkpoint_every"]:
                _save_checkpoint(checkpoint, fingerprint, optimizer, best, self.history)
                last_checkpoint = time.perf_counter()
        if checkpoint:
            _save_checkpoint(checkpoint, fingerprint, optimizer, best, self.history)
        objective.unpack(best["x"] if np.isfinite(best["loss"]) else optimizer.state["x"])
        self.log(f"stopped after {optimizer.state['iteration']} iterations ({reason}); best "
                 f"validation at iteration {best['iteration']}; "
                 f"{time.perf_counter() - start:.1f} s")
        potential.metadata = {"trainer": {k: v for k, v in opts.items()},
                              "iterations": optimizer.state["iteration"],
                              "best_iteration": best["iteration"], "stop_reason": reason,
                              "n_train": len(train), "n_valid": len(valid)}
        self.elapsed = time.perf_counter() - start
        if out:
            self.write_history(Path(out) / "history.csv")
        return potential

    def prepare(self, train, valid=(), isolated=None):
        """Descriptors, scaling, reference energies, initial networks and the loss function
        (an _Objective) for the training samples. `isolated`: isolated-atom energies
        {element: eV}; None: from the atom_energies option and the data."""
        opts = self.options
        n_threads = resolve_threads(opts["n_threads"])
        if isolated is None:
            isolated, train = _isolated_atom_energies(opts["atom_energies"], train, self.log)
        check_samples(train, "training data")
        elements = elements_of(train)
        missing = sorted(set(elements_of(valid)) - set(elements)) if valid else []
        if missing:
            raise ValueError(f"validation data has element(s) {missing} absent from the "
                             "training data")
        r_inner = opts["r_inner"] or _inner_radius(train, opts["cutoff"])
        sf = default_symmetry_functions(elements, cutoff=opts["cutoff"], r_inner=r_inner,
                                        n_shifted=opts["n_shifted"], n_centred=opts["n_centred"],
                                        n_angular_eta=opts["n_angular_eta"],
                                        zetas=tuple(opts["zetas"]), wide=opts["wide_angular"],
                                        cutoff_type=opts["cutoff_type"])
        self.log(f"{len(train)} training / {len(valid or ())} validation structures, elements "
                 f"{' '.join(elements)}; {', '.join(f'{e}: {sf.n_functions(e)}' for e in elements)}"
                 f" symmetry functions, cutoff {opts['cutoff']} Å")
        memory_limit = min(float(opts["derivative_memory"]), default_memory_limit())
        data = TrainingSet(train, sf, n_threads, memory_limit, opts["seed"], self.log)
        scaling = Scaling.from_data(sf, {e: data.element_block(data.G, k)
                                         for k, e in enumerate(sf.elements) if data.counts[k]},
                                    mode=opts["scaling"], smin=opts["scale_min"],
                                    smax=opts["scale_max"])
        X = np.empty_like(data.G)
        for k, e in enumerate(sf.elements):
            block = data.element_block(data.G, k)
            X[data.block_start[k]:data.block_start[k + 1]] = scaling.apply({e: block})[e].ravel()
        atom_energy, energy_unit = _reference_energies(data, isolated, self.log)
        self.log(f"reference energies (eV): "
                 f"{', '.join(f'{e} {atom_energy[k]:.4f}' for k, e in enumerate(sf.elements))};"
                 f" network energy unit {energy_unit:.4g} eV")
        rng = np.random.default_rng(opts["seed"])
        layers = {e: [sf.n_functions(e), *opts["hidden_layers"], 1] for e in sf.elements}
        activations = opts["activation"] * len(opts["hidden_layers"]) + "l"
        networks = {e: Network(layers[e], activations).initialize(rng) for e in sf.elements}
        potential = Potential(sf, scaling, networks, energy_unit,
                              {e: atom_energy[k] for k, e in enumerate(sf.elements)})
        return _Objective(data, X, potential, opts, n_threads)

    def _record(self, iteration, start, objective, valid):
        """One history row (RMSE in eV/atom, eV/Å per force component, eV/Å^3 per Voigt
        stress component); the validation loss is the training loss's formula on `valid`."""
        train = objective.last_rmse
        row = {"iteration": iteration, "elapsed_s": time.perf_counter() - start,
               "train_loss": objective.last_value,
               "train_energy_rmse": train["energy"],
               "train_forces_component_rmse": train["forces_component"],
               "train_stress_rmse": train["stress"]}
        if valid:
            metrics = evaluate_samples(objective.potential, valid, objective.n_threads)
            for key in ("energy", "forces_component", "stress"):
                value = metrics.get(f"{key}_rmse")
                row[f"valid_{key}_rmse"] = value / 1000.0 if value is not None else float("nan")
            row["valid_loss"] = objective.metric_loss(row["valid_energy_rmse"],
                                                      row["valid_forces_component_rmse"],
                                                      row["valid_stress_rmse"])
        else:
            for key in ("energy", "forces_component", "stress"):
                row[f"valid_{key}_rmse"] = float("nan")
            row["valid_loss"] = objective.last_value
        self.history.append(row)
        line = (f"iter {iteration:6d}  train E {1000 * train['energy']:8.3f} meV/atom  F "
                f"{1000 * train['forces_component']:8.2f} meV/Å | valid E "
                f"{1000 * row['valid_energy_rmse']:8.3f}  F "
                f"{1000 * row['valid_forces_component_rmse']:8.2f}")
        if objective.w_s:
            line += (f" | S train {1000 * train['stress']:.3f} valid "
                     f"{1000 * row['valid_stress_rmse']:.3f} meV/Å^3")
        self.log(f"{line} | {row['elapsed_s']:7.1f} s")
        return row

    def write_history(self, path):
        """history.csv: one row per validation check (columns in `_record`)."""
        from fastpot._files import atomic_write
        if not self.history:
            return
        import io
        # rows resumed from a checkpoint of an older version may lack some columns
        columns = list(dict.fromkeys(key for row in self.history for key in row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(self.history)
        atomic_write(path, buffer.getvalue())


class _Objective:
    """Loss and exact gradient over the training set, as a function of all weights."""

    def __init__(self, data, X, potential, opts, n_threads):
        self.data, self.X, self.potential = data, X, potential
        self.n_threads = n_threads
        self.elements = potential.elements
        self.sizes = [potential.networks[e].n_weights for e in self.elements]
        d = data
        atom_energy = np.array([potential.atom_energy[e] for e in self.elements])
        self.offset = d.composition @ atom_energy
        n_e = int(d.has_energy.sum())
        n_f = int(d.has_forces_atom.sum()) * 3
        residual = (d.energy - self.offset)[d.has_energy] / d.n_atoms[d.has_energy]
        self.var_e = float(max(np.var(residual), 1e-8)) if n_e else 1.0
        self.var_f = float(max(np.mean(d.forces[d.has_forces_atom] ** 2), 1e-8)) if n_f else 1.0
        n_s = int(d.has_stress.sum()) * 6
        self.var_s = float(max(np.mean(d.stress[d.has_stress] ** 2), 1e-12)) if n_s else 1.0
        self.w_s = opts["stress_weight"] / self.var_s / max(n_s, 1) if n_s else 0.0
        self.w_e = opts["energy_weight"] / self.var_e / max(n_e, 1) if n_e else 0.0
        self.w_f = opts["force_weight"] / self.var_f / max(n_f, 1) if n_f else 0.0
        self.we_metric = opts["energy_weight"] / self.var_e
        self.wf_metric = opts["force_weight"] / self.var_f if n_f else 0.0
        self.ws_metric = opts["stress_weight"] / self.var_s if n_s else 0.0
        self.l2 = opts["l2"]
        self.factor = [potential.scaling.factor[e] for e in self.elements]
        self.last_value = np.inf
        self.last_rmse = {"energy": np.nan, "forces_component": np.nan, "stress": np.nan}

    def metric_loss(self, energy_rmse, forces_rmse, stress_rmse=np.nan):
        """The training loss's formula (without l2) from RMSEs in eV/atom, eV/Å per force
        component and eV/Å^3 per stress component: the validation loss. A term the training
        loss has no weight for, or a quantity the data lack (NaN), adds nothing."""
        value = 0.0
        for weight, rmse in ((self.we_metric, energy_rmse), (self.wf_metric, forces_rmse),
                             (self.ws_metric, stress_rmse)):
            if weight and np.isfinite(rmse):
                value += weight * rmse**2
        return value

    def pack(self):
        return np.concatenate([self.potential.networks[e].weights for e in self.elements])

    def unpack(self, x):
        k = 0
        for e, n in zip(self.elements, self.sizes):
            self.potential.networks[e].weights = x[k:k + n]
            k += n

    def __call__(self, x):
        self.unpack(x)
        d, pot = self.data, self.potential
        unit = pot.energy_unit
        y_atom = np.zeros(len(d.species))
        dydx = np.zeros_like(self.X)
        for k, e in enumerate(self.elements):
            if not d.counts[k]:
                continue
            xk = d.element_block(self.X, k)
            y, g = pot.networks[e].evaluate(xk, n_threads=self.n_threads)
            y_atom[d.element_atoms[k]] = y
            dydx[d.block_start[k]:d.block_start[k + 1]] = g.ravel()
        energy = unit * np.add.reduceat(y_atom, d.structure_start[:-1]) + self.offset
        residual = np.where(d.has_energy, (energy - d.energy) / d.n_atoms, 0.0)
        value = self.w_e * float(residual @ residual)
        # dE/dG for the force kernel: unit * dy/dx * scaling factor
        c = np.empty_like(dydx)
        for k in range(len(self.elements)):
            if d.counts[k]:
                c[d.block_start[k]:d.block_start[k + 1]] = (
                    unit * d.element_block(dydx, k) * self.factor[k]).ravel()
        # dL/dc for every function row (c = dE/dG): the force and stress terms
        dL_dc = np.zeros_like(dydx)
        delta = dstress = None
        if self.w_f:
            forces = np.zeros((len(d.species), 3))
            _training.forces(d.structure_start, d.slot_offsets, d.slot_atoms, d.deriv_start,
                             d.blocks, d.n_functions, d.row_start, c, forces, self.n_threads)
            delta = np.where(d.has_forces_atom[:, None], forces - d.forces, 0.0)
            value += self.w_f * float(np.sum(delta * delta))
            # F = -sum c B, so dL/dc = -(projection of dL/dF)
            _training.project(d.slot_offsets, d.slot_atoms, d.deriv_start, d.blocks,
                              d.n_functions, d.row_start, 2.0 * self.w_f * delta, dL_dc,
                              self.n_threads)
            dL_dc *= -1.0
        if self.w_s:
            inverse_volume = np.where(d.has_stress, 1.0 / np.where(d.volume > 0, d.volume, 1.0),
                                      0.0)
            stress = np.stack([np.bincount(d.row_structure, weights=c * d.strain[:, k],
                                           minlength=len(d.n_atoms)) for k in range(6)], axis=1)
            stress *= inverse_volume[:, None]
            dstress = np.where(d.has_stress[:, None], stress - d.stress, 0.0)
            value += self.w_s * float(np.sum(dstress * dstress))
            weight = 2.0 * self.w_s * dstress * inverse_volume[:, None]
            dL_dc += np.einsum("rk,rk->r", d.strain, weight[d.row_structure])
        value += self.l2 * float(x @ x)
        # gradient: energy term c_i = dL/dy_i; force and stress terms: d_i = unit,
        # v_i = dL/dc_i * scaling factor (c_i = unit * factor * dy_i/dx_i)
        per_structure = 2.0 * self.w_e * residual / d.n_atoms * unit
        coefficient = np.repeat(per_structure, d.n_atoms)
        grads = []
        for k, e in enumerate(self.elements):
            net = pot.networks[e]
            if not d.counts[k]:
                grads.append(np.zeros(net.n_weights))
                continue
            atoms = d.element_atoms[k]
            xk = d.element_block(self.X, k)
            if self.w_f or self.w_s:
                vk = d.element_block(dL_dc, k) * self.factor[k]
                dk = np.full(len(atoms), unit)
                grads.append(net.weight_gradient(xk, coefficient[atoms], dk, vk,
                                                 n_threads=self.n_threads))
            else:
                grads.append(net.weight_gradient(xk, coefficient[atoms],
                                                 n_threads=self.n_threads))
        gradient = np.concatenate(grads) + 2.0 * self.l2 * x
        self.last_value = value
        n_e = max(int(d.has_energy.sum()), 1)
        n_f = int(d.has_forces_atom.sum()) * 3
        f_rmse = (float(np.sqrt(np.sum(delta * delta) / n_f)) if delta is not None and n_f
                  else np.nan)
        n_s = int(d.has_stress.sum()) * 6
        s_rmse = (float(np.sqrt(np.sum(dstress * dstress) / n_s)) if dstress is not None
                  and n_s else np.nan)
        self.last_rmse = {"energy": float(np.sqrt(residual @ residual / n_e)),
                          "forces_component": f_rmse, "stress": s_rmse}
        return value, gradient


def _inner_radius(samples, cutoff):
    """A little below the shortest interatomic distance in (a sample of) the data."""
    from fastpot.neighbors import neighbor_list
    shortest = cutoff
    for sample in samples[:: max(1, len(samples) // 50)]:
        d = neighbor_list("d", sample.atoms, cutoff)
        if len(d):
            shortest = min(shortest, float(d.min()))
    return max(0.5, min(0.9 * shortest, 0.5 * cutoff))


def _reference_energies(data, isolated=None, log=print):
    """Per-element reference energies mu (eV) and the spread of what is left per atom (the
    network's energy unit); the networks learn E - sum_i mu(element of i).

    - With isolated-atom energies (`isolated`, {element: eV}, which must cover every
      element): mu = E_isolated + c, one shift c for all elements (the mean per-atom
      atomization energy of the data), so that the element split is the physical one and the
      networks still fit residuals of zero mean (as MACE's E0s with its mean shift).
    - Otherwise least squares on the composition matrix (structures x element counts). When
      its rank is below the number of elements (every structure with the same stoichiometry,
      say Cu2S only) the data do not determine the split; the rule then is: of all
      least-squares solutions, the one whose element energies spread least about their mean
      (for Cu2S, mu_Cu = mu_S = E(Cu2S) / 3). The log says so.
    """
    mask = data.has_energy
    elements = data.sf.elements
    n_el = len(elements)
    if not mask.any():
        mu = np.array([isolated[e] for e in elements]) if isolated else np.zeros(n_el)
        return mu, 1.0
    A = data.composition[mask]
    b = data.energy[mask]
    n_atoms = data.n_atoms[mask]
    if isolated:
        prior = np.array([isolated[e] for e in elements])
        shift = float(np.mean((b - A @ prior) / n_atoms))
        mu = prior + shift
        log(f"reference energies: isolated-atom energies plus a common {shift:+.4f} eV/atom "
            "(the mean atomization energy per atom of the training data)")
    else:
        mu, _, rank, _ = np.linalg.lstsq(A, b, rcond=None)
        if rank < n_el:
            # every least-squares solution is mu + null @ z; take the one whose elements'
            # energies spread least about their mean (A @ ones != 0: counts are positive)
            null = np.linalg.svd(A)[2][rank:].T
            centre = np.eye(n_el) - 1.0 / n_el
            z, *_ = np.linalg.lstsq(centre @ null, -centre @ mu, rcond=None)
            mu = mu + null @ z
            log(f"reference energies: the composition matrix of the training data has rank "
                f"{rank} for {n_el} elements (too few different stoichiometries), so the "
                "data do not fix the energy of each element; using the least-squares "
                "solution whose element energies are closest to one another. Give "
                "isolated-atom energies (atom_energies option, or single-atom non-periodic "
                "structures in the data) to set them")
    residual = (b - A @ mu) / n_atoms
    unit = float(np.std(residual))
    return mu, unit if unit > 1e-4 else 1e-2


def _isolated_atom_energies(option, train, log=print):
    """({element: eV} or None, training samples without the isolated atoms).

    Isolated atoms come from the `atom_energies` option (a {element: eV} table, or a file of
    single-atom structures with energies) or from the training data: single-atom structures
    with an energy and no periodic direction are taken out of the fit and used as isolated-
    atom energies."""
    table = {}
    if isinstance(option, (str, Path)):
        from fastpot.data import read_samples
        for sample in read_samples(option):
            if sample.n_atoms != 1 or sample.energy is None:
                raise ValueError(f"atom_energies file {option}: {sample.source} is not one "
                                 "atom with an energy")
            table[sample.atoms.get_chemical_symbols()[0]] = sample.energy
    elif isinstance(option, dict):
        from ase.data import atomic_numbers
        for element, energy in option.items():
            if element not in atomic_numbers:
                raise ValueError(f"atom_energies: unknown element {element!r}")
            if not isinstance(energy, (int, float)) or not np.isfinite(energy):
                raise ValueError(f"atom_energies: the energy of {element} must be a finite "
                                 f"number (eV), got {energy!r}")
            table[element] = float(energy)
    elif option is not None:
        raise ValueError("atom_energies must be a {element: eV} table or the path of a file "
                         f"of isolated atoms, got {option!r}")
    found = [s for s in train
             if s.n_atoms == 1 and s.energy is not None and not s.atoms.pbc.any()]
    if found:
        log(f"{len(found)} isolated atom(s) in the training data used as reference energies "
            "and left out of the fit")
        for sample in found:
            table.setdefault(sample.atoms.get_chemical_symbols()[0], sample.energy)
        train = [s for s in train if not any(s is f for f in found)]
    if not table:
        return None, train
    missing = [e for e in elements_of(train) if e not in table]
    if missing:
        raise ValueError(f"isolated-atom energies are given for {', '.join(sorted(table))} "
                         f"but not for {', '.join(missing)} of the training data")
    return table, train


def _fingerprint(opts, train, valid):
    digest = hashlib.sha256()
    digest.update(json.dumps({k: v for k, v in opts.items()
                              if k not in ("time_budget", "max_iterations", "n_threads",
                                           "checkpoint_every", "patience")},
                             sort_keys=True, default=str).encode())
    for sample in list(train) + list(valid):
        digest.update(np.ascontiguousarray(sample.atoms.positions).tobytes())
        digest.update(str(sample.energy).encode())
    return digest.hexdigest()


def _save_checkpoint(path, fingerprint, optimizer, best, history):
    import io

    from fastpot._files import atomic_write
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"lbfgs_{k}": v for k, v in optimizer.save_arrays().items()}
    arrays.update(best_x=best["x"], best_loss=np.array(best["loss"]),
                  best_iteration=np.array(best["iteration"]),
                  fingerprint=np.array(fingerprint), history=np.array(json.dumps(history)))
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
            lbfgs = LBFGS.state_from_arrays({k[len("lbfgs_"):]: f[k] for k in f.files
                                             if k.startswith("lbfgs_")})
            best = {"x": np.array(f["best_x"]), "loss": float(f["best_loss"]),
                    "iteration": int(f["best_iteration"])}
            history = json.loads(str(f["history"]))
    except (OSError, KeyError, ValueError) as error:
        warnings.warn(f"cannot resume from {path} ({error}): starting afresh", stacklevel=3)
        return None
    return {"lbfgs": lbfgs, "best": best, "history": history}


def evaluate_samples(potential, samples, n_threads=None):
    """Errors of a potential on reference samples, as in metrics.json.

    energy_rmse, energy_mae: per atom, meV/atom. forces_component_rmse/_mae: over every
    Cartesian component, meV/Å (what n2p2 and most BP papers quote); forces_vector_rmse/_mae:
    over atoms, of the length of the force error vector |F - F_ref|, meV/Å (what some MLIP
    papers quote; the vector RMSE is sqrt(3) times the component RMSE). stress_rmse/_mae: over
    the six Voigt components, meV/Å^3. Absent quantities are None (stress is left out when no
    sample has it)."""
    de, df, ds = [], [], []
    n_atoms = 0
    for sample in samples:
        try:
            result = potential.evaluate(sample.atoms, n_threads=n_threads,
                                        stress=sample.stress is not None)
        except ValueError as error:
            raise ValueError(f"{sample.source}: {error}") from None
        n_atoms += sample.n_atoms
        if sample.energy is not None:
            de.append((result["energy"] - sample.energy) / sample.n_atoms)
        if sample.forces is not None:
            df.append(result["forces"] - sample.forces)
        if sample.stress is not None and "stress" in result:
            ds.append(result["stress"] - sample.stress)
    metrics = {"n_structures": len(samples), "n_atoms": n_atoms}
    errors = {"energy": np.array(de) * 1000.0 if de else None,
              "forces_component": np.concatenate(df).ravel() * 1000.0 if df else None,
              "forces_vector": np.linalg.norm(np.concatenate(df), axis=1) * 1000.0 if df
              else None,
              "stress": np.concatenate(ds) * 1000.0 if ds else None}
    for name, v in errors.items():
        if v is not None:
            metrics[f"{name}_rmse"] = float(np.sqrt(np.mean(v**2)))
            metrics[f"{name}_mae"] = float(np.mean(np.abs(v)))
        elif name != "stress":
            metrics[f"{name}_rmse"] = metrics[f"{name}_mae"] = None
    return metrics
