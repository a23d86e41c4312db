"""Per-element feed-forward networks (N2P2_FORMAT.md §6).

One ``Network`` per element maps its scaled symmetry functions to an atomic energy (in the
network's own units; ``Potential`` converts). Weights are a flat vector in n2p2's order, so
reading and writing ``weights.NNN.data`` is a copy.
"""
import operator

import numpy as np

from fastpot import _network
from fastpot._threading import resolve_threads

ACTIVATIONS = {
    "l": "linear", "t": "tanh", "s": "logistic", "p": "softplus", "r": "relu",
    "g": "gaussian", "c": "cos", "S": "reverse logistic", "e": "exp(-x)", "h": "x^2",
}
# Far more weights than any Behler-Parrinello network has (they have 10^3-10^5); a larger
# count comes from a wrong layer size and would allocate gigabytes.
MAX_WEIGHTS = 10**8


def check_architecture(layers, activations):
    """(layers as ints, number of weights) of a valid architecture, or a ValueError/TypeError.

    Nothing is allocated: readers call this before they read or allocate weights, so that a
    wrong layer size in a file never asks for gigabytes."""
    try:
        layers = [operator.index(n) for n in layers]
    except TypeError:
        raise TypeError(f"layers must be a sequence of integers, got {layers!r}") from None
    if len(layers) < 2 or any(n < 1 for n in layers):
        raise ValueError(f"layers must be at least [inputs, 1] with positive sizes, got {layers}")
    if layers[-1] != 1:
        raise ValueError(f"the output layer must have one neuron, got {layers[-1]}")
    n_weights = sum(a * b + b for a, b in zip(layers, layers[1:]))
    if n_weights > MAX_WEIGHTS:
        raise ValueError(f"network {layers} would have {n_weights} weights, more than "
                         f"{MAX_WEIGHTS}: a layer size is wrong")
    if not isinstance(activations, str):
        raise TypeError(f"activations must be a string of n2p2 letters, got {activations!r}")
    if len(activations) != len(layers) - 1:
        raise ValueError(f"need {len(layers) - 1} activation letters (one per weight layer), "
                         f"got {activations!r}")
    unknown = sorted(set(activations) - set(ACTIVATIONS))
    if unknown:
        raise ValueError(f"unknown activation(s) {unknown}; n2p2 letters: "
                         f"{''.join(ACTIVATIONS)}")
    return layers, n_weights


class Network:
    """A feed-forward network with one output neuron.

    Parameters
    ----------
    layers : sequence of int
        Neurons per layer: inputs, hidden layers..., and 1 output.
    activations : str
        One n2p2 letter per weight layer (hidden layers, then the output layer), e.g. "ttl".
    weights : array or None
        Flat weights in n2p2 order; None gives zeros (see ``initialize``).
    normalize : bool
        n2p2's ``normalize_nodes``: divide each neuron's input sum by the size of the layer
        before it.
    """

    def __init__(self, layers, activations, weights=None, normalize=False):
        layers, _ = check_architecture(layers, activations)
        self.layers = layers
        self.activations = activations
        self.normalize = bool(normalize)
        self.layout = _network.NetLayout(layers, activations, self.normalize)
        self.n_weights = self.layout.n_weights
        if weights is None:
            weights = np.zeros(self.n_weights)
        self.weights = weights

    @property
    def weights(self):
        return self._weights

    @weights.setter
    def weights(self, values):
        values = np.ascontiguousarray(values, dtype=np.float64)
        if values.shape != (self.n_weights,):
            raise ValueError(f"network {self.layers} has {self.n_weights} weights, "
                             f"got {values.size}")
        if not np.isfinite(values).all():
            raise ValueError("network weights must be finite")
        self._weights = values
        self.version = getattr(self, "version", 0) + 1  # compiled copies check this

    @property
    def n_inputs(self):
        return self.layers[0]

    def layer_views(self):
        """[(W_l of shape (n_in, n_out), b_l)] as views into the weight vector."""
        views = []
        woff, boff = self.layout.woff, self.layout.boff
        for l, (n_in, n_out) in enumerate(zip(self.layers[:-1], self.layers[1:])):
            w = self._weights[woff[l]:woff[l] + n_in * n_out].reshape(n_in, n_out)
            views.append((w, self._weights[boff[l]:boff[l] + n_out]))
        return views

    def initialize(self, rng):
        """Random weights scaled to the fan-in (Glorot-style for tanh-like activations), zero
        biases; the output layer starts small so initial energies are near the mean."""
        weights = np.zeros(self.n_weights)
        for l, (n_in, n_out) in enumerate(zip(self.layers[:-1], self.layers[1:])):
            limit = np.sqrt(6.0 / (n_in + n_out))
            if self.normalize:
                limit *= n_in  # the layer sum is divided by n_in
            block = rng.uniform(-limit, limit, size=n_in * n_out)
            if l == len(self.layers) - 2:
                block *= 0.1
            weights[self.layout.woff[l]:self.layout.woff[l] + n_in * n_out] = block
        self.weights = weights
        return self

    def _inputs(self, x):
        x = np.ascontiguousarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise ValueError(f"network inputs must have shape (n_atoms, {self.n_inputs}), "
                             f"got {x.shape}")
        return x

    def evaluate(self, x, gradient=True, n_threads=None):
        """Outputs y (n_atoms,) and, with ``gradient``, dy/dx (n_atoms, n_inputs)."""
        x = self._inputs(x)
        y = np.empty(len(x))
        dydx = np.empty(x.shape if gradient else (0, self.n_inputs))
        _network.evaluate(self.layout, self._weights, x, y,
                          dydx if gradient else np.empty((1, 1)), gradient,
                          resolve_threads(n_threads))
        return (y, dydx) if gradient else y

    def weight_gradient(self, x, c, d=None, v=None, n_threads=None):
        """Gradient with respect to the weights of sum_i c_i y_i + d_i (dy_i/dx_i . v_i)."""
        x = self._inputs(x)
        c = np.ascontiguousarray(c, dtype=np.float64).reshape(len(x))
        if d is None:
            d = np.zeros(len(x))
            v = np.zeros((len(x), self.n_inputs))
        d = np.ascontiguousarray(d, dtype=np.float64).reshape(len(x))
        v = np.ascontiguousarray(v, dtype=np.float64).reshape(x.shape)
        gradient = np.zeros(self.n_weights)
        _network.weight_gradient(self.layout, self._weights, x, c, d, v, gradient,
                                 resolve_threads(n_threads))
        return gradient

    def copy(self):
        return Network(self.layers, self.activations, self._weights.copy(), self.normalize)

    def __eq__(self, other):
        return (isinstance(other, Network) and self.layers == other.layers
                and self.activations == other.activations and self.normalize == other.normalize
                and np.array_equal(self._weights, other._weights))

    def __repr__(self):
        return (f"Network({'-'.join(map(str, self.layers))}, {self.activations!r}"
                f"{', normalize' if self.normalize else ''})")


def mean_network(networks):
    """One network whose output is the mean of the outputs of `networks` (same layers,
    activations and normalisation, linear output): the hidden layers side by side, block-
    diagonal after the first, the output layer averaging. Exact up to round-off; it lets a
    committee's mean run wherever a single network does (MD, the C API, LAMMPS, n2p2 files).
    Its hidden layers are K times as wide and its inner weight matrices K^2 times as large."""
    first = networks[0]
    K = len(networks)
    for net in networks[1:]:
        if (net.layers, net.activations, net.normalize) != \
                (first.layers, first.activations, first.normalize):
            raise ValueError("the networks of a committee must have the same layers, "
                             f"activations and normalisation: {first} and {net}")
    if first.activations[-1] != "l":
        raise ValueError("the mean of networks with a nonlinear output activation "
                         f"({first.activations[-1]!r}) is not a network")
    if K == 1:
        return first.copy()
    sizes = first.layers
    n_layers = len(sizes) - 1
    merged_sizes = [sizes[0]] + [K * n for n in sizes[1:-1]] + [1]
    merged = Network(merged_sizes, first.activations, normalize=first.normalize)
    weights = np.zeros(merged.n_weights)
    views = [net.layer_views() for net in networks]
    for l in range(n_layers):
        n_in, n_out = sizes[l], sizes[l + 1]
        # s' / s, the change of the layer scale 1/n_in when its input layer is K times wider
        r = 1.0 / K if (first.normalize and l > 0) else 1.0
        W = np.zeros((merged_sizes[l], merged_sizes[l + 1]))
        b = np.zeros(merged_sizes[l + 1])
        last = l == n_layers - 1
        for k, layer in enumerate(views):
            w_k, b_k = layer[l]
            rows = slice(0, n_in) if l == 0 else slice(k * n_in, (k + 1) * n_in)
            if last:
                if l == 0:
                    W[rows, :] += w_k / (K * r)
                else:
                    W[rows, :] = w_k / (K * r)
                b += b_k / (K * r)
            else:
                W[rows, k * n_out:(k + 1) * n_out] = w_k / r
                b[k * n_out:(k + 1) * n_out] = b_k / r
        woff, boff = merged.layout.woff[l], merged.layout.boff[l]
        weights[woff:woff + W.size] = W.ravel()
        weights[boff:boff + b.size] = b
    merged.weights = weights
    return merged
