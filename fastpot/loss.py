"""The training loss and its exact gradient, summed over groups of structures.

    L = w_E sum_s((E_s - E_s,ref) / N_s)^2 + w_F sum_(j,x)(F_jx - F_jx,ref)^2
        + w_S sum_(s,k)(S_sk - S_sk,ref)^2 + l2 |w|^2

with w_E = energy_weight / var_E / n_E (n_E structures with energies; var_E the variance of
their per-atom energies after the reference energies), w_F = force_weight / var_F / n_F
(n_F fitted force components, var_F their mean square) and w_S likewise: each term is a
mean normalised by the spread of its references, so the default weights balance them
whatever the units and the material.

The gradient is exact. Forces are F = -dE/dR, so the force term needs the derivative of
dE/dG with respect to the weights, contracted with v_is = sum_j dL/dF_j . dG_is/dR_j: the
stored sparse dG/dR (fastpot/training_set.py) give v in one pass (ext/_training.pyx), and
the networks' double backprop (ext/_network.pyx) turns it into a weight gradient.

The structures come in groups (TrainingSet objects, one per minibatch and rank): a group's
terms are computed on its own, and the sums over groups and ranks (fastpot/_mpi.py, a fixed
order) give the full loss. A minibatch step uses one group, scaled by the number of groups
so that it estimates the full loss.

A committee member (fastpot/training.py) is a Loss of its own networks on the same groups,
with `keep` masks that leave its own part of the structures out of every term: the
descriptors and stored derivatives are shared, not copied.
"""
import numpy as np

from fastpot import _training
from fastpot._mpi import SerialComm

# sums kept per evaluation, for errors: squared energy residuals, their count, forces, stress
_SUMS = ("energy_sse", "energy_n", "forces_sse", "forces_n", "stress_sse", "stress_n")


class LossWeights:
    """w_E, w_F, w_S of the loss from global statistics of the training references."""

    def __init__(self, options, var_e, n_e, var_f, n_f, var_s, n_s):
        self.var_e, self.var_f, self.var_s = var_e, var_f, var_s
        self.w_e = options["energy_weight"] / var_e / n_e if n_e else 0.0
        self.w_f = options["force_weight"] / var_f / n_f if n_f else 0.0
        self.w_s = options["stress_weight"] / var_s / n_s if n_s else 0.0
        # the same formula on RMSEs: the validation loss
        self.we_metric = options["energy_weight"] / var_e
        self.wf_metric = options["force_weight"] / var_f if n_f else 0.0
        self.ws_metric = options["stress_weight"] / var_s if n_s else 0.0
        self.l2 = options["l2"]

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


class Loss:
    """Loss and exact gradient as a function of all weights (elements in the potential's
    order, each network's weights in n2p2's order).

    ``loss(x)`` sums every group of every rank; ``loss(x, group=b)`` is minibatch b (the
    b-th group of every rank) times the number of groups.

    `keep`: per group, a boolean per structure (None: all); left-out structures add nothing
    to the loss, its gradient or the error sums."""

    def __init__(self, groups, X, potential, weights, n_threads, comm=None, keep=None):
        self.groups, self.X, self.potential = groups, X, potential
        self.keep = keep or [None] * len(groups)
        # per group, what is fitted: (structures with energies, atoms with forces, structures
        # with stress), after the keep masks; fixed once the derivatives are stored
        self.fitted = [None if g is None else _fitted(g, k) for g, k in zip(groups, self.keep)]
        self.weights = weights
        self.n_threads = n_threads
        self.comm = comm or SerialComm()
        self.elements = potential.elements
        self.sizes = [potential.networks[e].n_weights for e in self.elements]
        atom_energy = np.array([potential.atom_energy[e] for e in self.elements])
        self.offset = [g.composition @ atom_energy if g is not None else None for g in groups]
        self.factor = [potential.scaling.factor[e] for e in self.elements]
        self.last_value = np.inf
        self.last_rmse = {"energy": np.nan, "forces_component": np.nan, "stress": np.nan}

    # the weights' names the trainer and tests read
    def __getattr__(self, name):
        if name in ("w_e", "w_f", "w_s", "we_metric", "wf_metric", "ws_metric", "l2",
                    "metric_loss", "var_e", "var_f", "var_s"):
            return getattr(self.__dict__["weights"], name)
        raise AttributeError(name)

    def pack(self):
        return np.concatenate([self.potential.networks[e].weights for e in self.elements])

    def unpack(self, x):
        k = 0
        for e, n in zip(self.elements, self.sizes):
            self.potential.networks[e].weights = x[k:k + n]
            k += n

    def __call__(self, x, group=None):
        self.unpack(x)
        n = int(np.sum(self.sizes))
        local = np.zeros(1 + n + len(_SUMS))
        chosen = range(len(self.groups)) if group is None else [group]
        for b in chosen:
            if self.groups[b] is not None and self.groups[b].n_structures:
                local += self._group(b)
        total = self.comm.sum(local)
        scale = 1.0 if group is None else float(len(self.groups))
        value = scale * total[0] + self.l2 * float(x @ x)
        gradient = scale * total[1:1 + n] + 2.0 * self.l2 * x
        sums = dict(zip(_SUMS, total[1 + n:]))
        self.last_value = value
        self.last_sums = sums
        self.last_rmse = {
            name: (float(np.sqrt(sums[f"{key}_sse"] / sums[f"{key}_n"]))
                   if sums[f"{key}_n"] else np.nan)
            for name, key in (("energy", "energy"), ("forces_component", "forces"),
                              ("stress", "stress"))}
        return value, gradient

    def _group(self, b):
        """[value, gradient..., sums...] of group b (without l2)."""
        d, pot, w = self.groups[b], self.potential, self.weights
        X = self.X[b]
        unit = pot.energy_unit
        y_atom = np.zeros(len(d.species))
        dydx = np.zeros_like(X)
        for k, e in enumerate(self.elements):
            if not d.counts[k]:
                continue
            y, g = pot.networks[e].evaluate(d.element_block(X, k), n_threads=self.n_threads)
            y_atom[d.element_atoms[k]] = y
            dydx[d.block_start[k]:d.block_start[k + 1]] = g.ravel()
        energy = unit * np.add.reduceat(y_atom, d.structure_start[:-1]) + self.offset[b]
        has_energy, has_forces_atom, has_stress = self.fitted[b]
        residual = np.where(has_energy, (energy - d.energy) / d.n_atoms, 0.0)
        value = w.w_e * float(residual @ residual)
        # dE/dG for the force kernel: unit * dy/dx * scaling factor
        c = np.empty_like(dydx)
        for k in range(len(self.elements)):
            if d.counts[k]:
                c[d.block_start[k]:d.block_start[k + 1]] = (
                    unit * d.element_block(dydx, k) * self.factor[k]).ravel()
        # dL/dc for every function row (c = dE/dG): the force and stress terms
        dL_dc = np.zeros_like(dydx)
        forces_sse = stress_sse = 0.0
        if w.w_f:
            forces = np.zeros((len(d.species), 3))
            _training.forces(d.structure_start, d.slot_offsets, d.slot_atoms, d.deriv_start,
                             d.blocks, d.n_functions, d.row_start, c, forces, self.n_threads)
            delta = np.where(has_forces_atom[:, None], forces - d.forces, 0.0)
            forces_sse = float(np.sum(delta * delta))
            value += w.w_f * forces_sse
            # F = -sum c B, so dL/dc = -(projection of dL/dF)
            _training.project(d.slot_offsets, d.slot_atoms, d.deriv_start, d.blocks,
                              d.n_functions, d.row_start, 2.0 * w.w_f * delta, dL_dc,
                              self.n_threads)
            dL_dc *= -1.0
        if w.w_s:
            inverse_volume = np.where(has_stress, 1.0 / np.where(d.volume > 0, d.volume, 1.0),
                                      0.0)
            stress = np.stack([np.bincount(d.row_structure, weights=c * d.strain[:, k],
                                           minlength=len(d.n_atoms)) for k in range(6)], axis=1)
            stress *= inverse_volume[:, None]
            dstress = np.where(has_stress[:, None], stress - d.stress, 0.0)
            stress_sse = float(np.sum(dstress * dstress))
            value += w.w_s * stress_sse
            weight = 2.0 * w.w_s * dstress * inverse_volume[:, None]
            dL_dc += np.einsum("rk,rk->r", d.strain, weight[d.row_structure])
        # gradient: energy term c_i = dL/dy_i; force and stress terms: d_i = unit,
        # v_i = dL/dc_i * scaling factor (c_i = unit * factor * dy_i/dx_i)
        coefficient = np.repeat(2.0 * w.w_e * residual / d.n_atoms * unit, d.n_atoms)
        grads = []
        for k, e in enumerate(self.elements):
            net = pot.networks[e]
            if not d.counts[k]:
                grads.append(np.zeros(net.n_weights))
                continue
            atoms = d.element_atoms[k]
            xk = d.element_block(X, k)
            if w.w_f or w.w_s:
                vk = d.element_block(dL_dc, k) * self.factor[k]
                grads.append(net.weight_gradient(xk, coefficient[atoms],
                                                 np.full(len(atoms), unit), vk,
                                                 n_threads=self.n_threads))
            else:
                grads.append(net.weight_gradient(xk, coefficient[atoms],
                                                 n_threads=self.n_threads))
        sums = [float(residual @ residual), float(has_energy.sum()),
                forces_sse, 3.0 * float(has_forces_atom.sum()) if w.w_f else 0.0,
                stress_sse, 6.0 * float(has_stress.sum()) if w.w_s else 0.0]
        return np.concatenate([[value], *grads, sums])


def _fitted(group, keep):
    """The group's has_energy, has_forces_atom and has_stress, without the structures that
    `keep` (a boolean per structure, or None) leaves out."""
    if keep is None:
        return group.has_energy, group.has_forces_atom, group.has_stress
    return (group.has_energy & keep, group.has_forces_atom & np.repeat(keep, group.n_atoms),
            group.has_stress & keep)
