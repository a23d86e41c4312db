"""Training by a node-decoupled extended Kalman filter, one structure at a time.

n2p2 and RuNNer train Behler-Parrinello networks this way in tens of epochs, where
first-order steps need hundreds. Each training structure gives, in a seeded order per epoch,

- one **energy measurement**: its energy per atom, and
- **force measurements**: its fitted atoms are split into seeded random chunks of
  `kalman_force_atoms`; a chunk's measurement is the sum of its force components, each
  signed so that its error is positive (sum_k s_k F_k with s_k = sign(F_k,ref - F_k), as
  in Hu et al., RLEKF, AAAI 2023): one scalar carries the whole chunk and no error cancels.

A structure's measurements (its energy and its force chunks) are one Kalman update
together (ext/kernels/_kalman.pyx): recursive least squares with exponential forgetting on
the networks linearised at the current weights, with the m x m innovation covariance of
the structure's m measurements. For a linear model that is exactly m updates one after the
other; it reads the covariance once per structure instead of once per measurement (the
cost of the filter, measured: benchmarks/RESULTS.md). The Jacobian H is exact: the
energy's is one weight gradient of the networks, a force sum's one double backprop through
the stored derivatives (fastpot/loss.py uses the same kernels).

Errors and Jacobians are made dimensionless and weighted like the loss: energies divided by
their spread sqrt(var_E) and forces by their RMS sqrt(var_F), times sqrt(energy_weight) and
sqrt(force_weight). The covariance is kept per neuron (its incoming weights and bias:
"node-decoupled", Puskorius & Feldkamp 1991), so its size is a few times the number of
weights, not its square. A forgetting factor lambda < 1 (kalman_lambda, tending to 1 as
lambda <- nu lambda + 1 - nu after every update, RuNNer's 0.98 and 0.9987) divides P by
lambda at every update: in the many directions the measurements do not reach, P grows by
exp((1 - lambda0) / (1 - nu)), 5e6 with RuNNer's values. Measured on rMD17 ethanol, that
wind-up first speeds the fit and then makes it diverge in the third epoch; the default is
no forgetting (lambda = 1: recursive least squares), with p0 = 1. Without forgetting P only
shrinks, the steps with it, and the fit stalls after a few epochs; process noise (Haykin
2001, ch. 2) keeps it open: q = max(q0 exp(-updates / q_tau), q_min) is added to P's
diagonal after every update. Measured on ethanol, q0 = 1e-3, q_tau = 2e4 halves the
validation force error reached in 20 epochs (benchmarks/RESULTS.md).

Under MPI the structure order is global: the rank holding a structure computes its
measurement, the ranks sum it (the others add zeros, so the sum is exact) and every rank
applies the same update. The path is the one-rank path bitwise; the ranks share the stored
derivatives but not the work of the updates.
"""
import numpy as np

from fastpot import _kernels
from fastpot import _training


class KalmanFilter:
    """Node-decoupled error covariance of the weights of `loss` (a fastpot.loss.Loss), with
    a state that can be saved and resumed exactly."""

    def __init__(self, loss, p0=1.0, lam=1.0, nu=0.9987, q0=0.0, q_tau=1.0, q_min=0.0,
                 n_threads=1):
        self.nu, self.n_threads = nu, n_threads
        self.q0, self.q_tau, self.q_min = q0, q_tau, q_min
        blocks = []
        offset = 0
        for e in loss.elements:
            net = loss.potential.networks[e]
            woff, boff = net.layout.woff, net.layout.boff
            for l, (n_in, n_out) in enumerate(zip(net.layers[:-1], net.layers[1:])):
                for j in range(n_out):
                    blocks.append(offset + np.concatenate(
                        [woff[l] + np.arange(n_in) * n_out + j, [boff[l] + j]]))
            offset += net.n_weights
        sizes = np.array([len(b) for b in blocks], dtype=np.int64)
        self.index = np.concatenate(blocks).astype(np.int64)
        self.block_start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.p_start = np.concatenate([[0], np.cumsum(sizes * sizes)]).astype(np.int64)
        self.P = np.zeros(self.p_start[-1])
        for b, n in enumerate(sizes):
            self.P[self.p_start[b]:self.p_start[b + 1]].reshape(n, n)[np.diag_indices(n)] = p0
        self.lam = float(lam)
        self.updates = 0
        self._kernel = _kernels.module("_kalman")   # the variant this CPU runs

    def update(self, x, errors, H):
        """Apply m measurements together (errors = reference - prediction, m; H = their
        Jacobians, m x weights) to the weights x in place. The forgetting factor and the
        process noise advance by m updates, as if the measurements came one at a time."""
        errors = np.atleast_1d(np.asarray(errors, dtype=float))
        H = np.ascontiguousarray(np.atleast_2d(H), dtype=float)
        m, n = len(errors), len(self.index)
        if not m:
            return
        h, A, C = np.empty((m, n)), np.empty((m, n)), np.empty((m, n))
        S = np.empty((m, m))
        self._kernel.project(self.P, self.p_start, self.index, self.block_start, H, h, A,
                        np.empty((len(self.block_start) - 1, m, m)), S, self.n_threads)
        # measurement variance R = lambda (RuNNer's form; 1 without forgetting, the errors
        # being dimensionless): only p0 / R sets the step
        lams = [self.lam]
        for _ in range(m - 1):
            lams.append(self.nu * lams[-1] + 1.0 - self.nu)
        S[np.diag_indices(m)] += self.lam
        L_inv = np.linalg.inv(np.linalg.cholesky(S))
        q = sum(self.process_noise(self.updates + k) for k in range(m))
        self._kernel.apply(self.P, self.p_start, self.index, self.block_start, A,
                      np.ascontiguousarray(np.tril(L_inv)), L_inv @ errors,
                      1.0 / float(np.prod(lams)), q, x, C, self.n_threads)
        self.lam = self.nu * lams[-1] + 1.0 - self.nu
        self.updates += m

    def process_noise(self, updates=None):
        """q of the next update, or of update number `updates` (a function of the update
        count, so resumed exactly)."""
        updates = self.updates if updates is None else updates
        return max(self.q0 * np.exp(-updates / self.q_tau), self.q_min)

    def save_arrays(self):
        """The state (copies), for a checkpoint."""
        return {"P": self.P.copy(), "lam": np.array(self.lam),
                "updates": np.array(self.updates)}

    def load_arrays(self, arrays):
        if arrays["P"].shape != self.P.shape:
            raise ValueError("the checkpoint's Kalman covariance has another shape")
        self.P = np.array(arrays["P"])
        self.lam = float(arrays["lam"])
        self.updates = int(arrays["updates"])


class Measurements:
    """Per-structure energy and force-chunk measurements on the groups of a Loss.

    ``where[i]`` is (group, position) of training structure i when this rank holds it."""

    def __init__(self, loss):
        self.loss = loss
        self.where = {}
        for b, group in enumerate(loss.groups):
            if group is not None:
                for position, i in enumerate(group.indices):
                    self.where[int(i)] = (b, position)
        w = loss.weights
        self.energy_scale = np.sqrt(w.we_metric) if w.w_e else 0.0
        self.force_scale = np.sqrt(w.wf_metric) if w.w_f else 0.0

    def _networks(self, b, s):
        """Network inputs, outputs and input gradients of the atoms of structure s of group
        b, per element: [(k, atom rows, x, y, dy/dx)] for the elements present."""
        d, X = self.loss.groups[b], self.loss.X[b]
        a0, a1 = d.structure_start[s], d.structure_start[s + 1]
        parts = []
        for k, e in enumerate(self.loss.elements):
            atoms = d.element_atoms[k]
            lo, hi = np.searchsorted(atoms, [a0, a1])
            if lo == hi:
                continue
            x = d.element_block(X, k)[lo:hi]
            y, g = self.loss.potential.networks[e].evaluate(x, n_threads=self.loss.n_threads)
            parts.append((k, lo, hi, x, y, g))
        return parts

    def energy(self, x, i):
        """(error, H) of structure i's energy per atom (dimensionless), or None when this
        rank lacks it or its energy is not fitted."""
        if i not in self.where or not self._energy_fitted(i):
            return None
        errors, H = self.structure(x, i, [])
        return errors[0], H[0]

    def force_chunks(self, i, chunk, seed, epoch):
        """Structure i's fitted atoms (group indices) in seeded random chunks of `chunk`,
        or [] when this rank lacks it or none of its forces is fitted."""
        if i not in self.where or not self.force_scale:
            return []
        b, s = self.where[i]
        d = self.loss.groups[b]
        a0 = d.structure_start[s]
        fitted = a0 + np.flatnonzero(self.loss.fitted[b][1][a0:d.structure_start[s + 1]])
        if not len(fitted):
            return []
        order = np.random.default_rng([seed, 5, epoch, i]).permutation(fitted)
        return [order[k:k + chunk] for k in range(0, len(order), chunk)]

    def forces(self, x, i, atoms):
        """(error, H) of the signed force sum of `atoms` (group indices) of structure i,
        dimensionless and per component."""
        errors, H = self.structure(x, i, [atoms], energy=False)
        return errors[0], H[0]

    def structure(self, x, i, chunks, energy=True):
        """(errors, H) of structure i at the weights x: its energy per atom (when fitted and
        `energy`), then the signed force sum of each chunk of `chunks` (lists of group atom
        indices), as rows; the networks and forces are evaluated once for all of them."""
        loss = self.loss
        b, s = self.where[i]
        loss.unpack(x)
        parts = self._networks(b, s)
        rows = []
        if energy and self._energy_fitted(i):
            rows.append(self._energy_row(b, s, parts, len(x)))
        if chunks:
            forces = self._forces(b, s, parts)
            rows.extend(self._force_row(b, s, parts, forces, atoms, len(x)) for atoms in chunks)
        errors = np.array([error for error, _ in rows])
        H = np.array([h for _, h in rows]).reshape(len(rows), len(x))
        return errors, H

    def _energy_fitted(self, i):
        b, s = self.where[i]
        return bool(self.energy_scale) and bool(self.loss.fitted[b][0][s])

    def _energy_row(self, b, s, parts, n_weights):
        loss = self.loss
        d = loss.groups[b]
        unit, n = loss.potential.energy_unit, float(d.n_atoms[s])
        energy = unit * sum(float(y.sum()) for *_, y, _ in parts) + loss.offset[b][s]
        scale = self.energy_scale
        H = np.zeros(n_weights)
        for k, lo, hi, xk, y, _ in parts:
            start = int(np.sum(loss.sizes[:k]))
            H[start:start + loss.sizes[k]] = loss.potential.networks[loss.elements[k]]\
                .weight_gradient(xk, np.full(hi - lo, scale * unit / n),
                                 n_threads=loss.n_threads)
        return scale * (d.energy[s] - energy) / n, H

    def _forces(self, b, s, parts):
        """The predicted forces on the atoms of group b (nonzero for structure s's only)."""
        loss = self.loss
        d = loss.groups[b]
        unit = loss.potential.energy_unit
        c = np.zeros(len(d.G))          # dE/dG rows of this structure's atoms
        for k, lo, hi, _, _, g in parts:
            rows = slice(d.block_start[k] + lo * d.widths[k], d.block_start[k] + hi * d.widths[k])
            c[rows] = (unit * loss.factor[k] * g).ravel()
        forces = np.zeros((len(d.species), 3))
        _training.forces(d.structure_start[s:s + 2], d.slot_offsets, d.slot_atoms,
                         d.deriv_start, d.blocks, d.n_functions, d.row_start, c, forces,
                         loss.n_threads)
        return forces

    def _force_row(self, b, s, parts, forces, atoms, n_weights):
        loss = self.loss
        d = loss.groups[b]
        unit = loss.potential.energy_unit
        a0, a1 = d.structure_start[s], d.structure_start[s + 1]
        sign = np.zeros_like(forces)
        sign[atoms] = np.where(d.forces[atoms] >= forces[atoms], 1.0, -1.0)
        m = 3.0 * len(atoms)
        scale = self.force_scale
        error = scale * float(np.sum(sign * (d.forces - forces))) / m
        # h = scale/m sum s.F and F = -sum c B: dh/dc = -scale/m projection of s
        dh_dc = np.zeros(len(d.G))
        _training.project(d.slot_offsets[a0:a1 + 1], d.slot_atoms, d.deriv_start[a0:a1 + 1],
                          d.blocks, d.n_functions[a0:a1], d.row_start[a0:a1],
                          sign * (-scale / m), dh_dc, loss.n_threads)
        H = np.zeros(n_weights)
        for k, lo, hi, xk, _, _ in parts:
            rows = slice(d.block_start[k] + lo * d.widths[k], d.block_start[k] + hi * d.widths[k])
            v = dh_dc[rows].reshape(hi - lo, d.widths[k]) * loss.factor[k]
            start = int(np.sum(loss.sizes[:k]))
            H[start:start + loss.sizes[k]] = loss.potential.networks[loss.elements[k]]\
                .weight_gradient(xk, np.zeros(hi - lo), np.full(hi - lo, unit), v,
                                 n_threads=loss.n_threads)
        return error, H
