"""Networks: numpy reference, input and weight gradients against finite differences."""
import numpy as np
import pytest

from fastpot.network import ACTIVATIONS, Network


def reference_forward(net, x):
    """Plain numpy forward pass written from N2P2_FORMAT.md §6."""
    functions = {
        "l": lambda z: z, "t": np.tanh,
        "s": lambda z: np.where(z > 35, 1.0, np.where(z < -35, 0.0, 1 / (1 + np.exp(-z)))),
        "p": lambda z: np.where(z > 35, z, np.where(z < -35, 0.0, np.log1p(np.exp(np.clip(z, -35, 35))))),
        "r": lambda z: np.maximum(z, 0.0), "g": lambda z: np.exp(-z * z / 2), "c": np.cos,
        "S": lambda z: 1 - 1 / (1 + np.exp(-z)), "e": lambda z: np.exp(-z), "h": lambda z: z * z,
    }
    a = x
    for (w, b), letter, n_in in zip(net.layer_views(), net.activations, net.layers[:-1]):
        z = a @ w + b
        if net.normalize:
            z = z / n_in
        a = functions[letter](z)
    return a[:, 0]


def random_net(activations, normalize=False, seed=0, layers=(5, 4, 3, 1)):
    rng = np.random.default_rng(seed)
    net = Network(layers, activations, normalize=normalize)
    net.weights = rng.normal(size=net.n_weights) * 0.7
    return net


ALL = list(ACTIVATIONS)


@pytest.mark.parametrize("letter", ALL)
@pytest.mark.parametrize("normalize", [False, True])
def test_forward_matches_numpy_reference(letter, normalize):
    net = random_net(letter + letter + "l", normalize)
    x = np.random.default_rng(1).normal(size=(7, 5))
    np.testing.assert_allclose(net.evaluate(x, gradient=False), reference_forward(net, x),
                               rtol=1e-13, atol=1e-14)


def test_vectorised_tanh_is_as_accurate_as_libm():
    """The kernels' tanh (ext/_simd.h fp_tanh_block) over the whole range, tiny arguments,
    both signs, the series/exponential switch at 1/16 and NaN; its derivative too."""
    net = Network([1, 1, 1], "tl", weights=np.array([1.0, 0.0, 1.0, 0.0]))
    grid = np.concatenate([np.linspace(-40, 40, 100001), np.geomspace(1e-300, 2.0, 4001),
                           -np.geomspace(1e-300, 2.0, 4001), [0.0625, -0.0625, 0.0]])
    values, gradient = net.evaluate(grid[:, None])
    reference = np.tanh(grid)
    np.testing.assert_allclose(values, reference, rtol=1.5e-15, atol=0)
    np.testing.assert_allclose(gradient[:, 0], 1 - reference**2, rtol=0, atol=5e-16)
    assert np.isnan(net.evaluate(np.array([[np.nan]]), gradient=False)[0])


@pytest.mark.parametrize("letter", [a for a in ALL if a != "r"])
def test_input_gradient_matches_finite_differences(letter):
    net = random_net(letter + "t" + "l", normalize=(letter == "t"))
    x = np.random.default_rng(2).normal(size=(4, 5))
    y, dydx = net.evaluate(x)
    h = 1e-6
    for c in range(5):
        step = np.zeros_like(x)
        step[:, c] = h
        fd = (net.evaluate(x + step, gradient=False) - net.evaluate(x - step, gradient=False)) / (2 * h)
        np.testing.assert_allclose(dydx[:, c], fd, rtol=1e-6, atol=1e-8)
    assert np.abs(dydx).max() > 1e-3


@pytest.mark.parametrize("activations", ["ttl", "ppl", "ssl", "ggl", "tcl", "Shl", "tel", "rtl", "tts"])
def test_weight_gradients_energy_and_force_terms(activations):
    net = random_net(activations, normalize=activations == "ppl", seed=3)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 5))
    c = rng.normal(size=6)
    d = rng.normal(size=6)
    v = rng.normal(size=(6, 5))

    def objective(weights):
        trial = Network(net.layers, net.activations, weights, net.normalize)
        y, dydx = trial.evaluate(x)
        return c @ y + d @ np.einsum("ij,ij->i", dydx, v)

    gradient = net.weight_gradient(x, c, d, v)
    h = 1e-6
    fd = np.array([(objective(net.weights + h * e) - objective(net.weights - h * e)) / (2 * h)
                   for e in np.eye(net.n_weights)])
    np.testing.assert_allclose(gradient, fd, rtol=1e-6, atol=1e-7)
    assert np.abs(fd).max() > 1e-2
    # energy term alone
    energy_only = net.weight_gradient(x, c)
    fd_e = np.array([(c @ Network(net.layers, net.activations, net.weights + h * e, net.normalize)
                      .evaluate(x, gradient=False) - c @ Network(net.layers, net.activations,
                      net.weights - h * e, net.normalize).evaluate(x, gradient=False)) / (2 * h)
                     for e in np.eye(net.n_weights)])
    np.testing.assert_allclose(energy_only, fd_e, rtol=1e-6, atol=1e-7)


def test_threads_agree_bitwise():
    net = random_net("ttl", layers=(30, 25, 25, 1))
    rng = np.random.default_rng(5)
    x = rng.normal(size=(500, 30))
    c, d, v = rng.normal(size=500), rng.normal(size=500), rng.normal(size=(500, 30))
    one = net.weight_gradient(x, c, d, v, n_threads=1)
    two = net.weight_gradient(x, c, d, v, n_threads=2)
    np.testing.assert_array_equal(one, two)
    y1, g1 = net.evaluate(x, n_threads=1)
    y2, g2 = net.evaluate(x, n_threads=2)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(g1, g2)


def test_bad_networks():
    with pytest.raises(ValueError, match="output layer must have one neuron"):
        Network([3, 4, 2], "tl")
    with pytest.raises(ValueError, match="need 2 activation letters"):
        Network([3, 4, 1], "t")
    with pytest.raises(ValueError, match="unknown activation"):
        Network([3, 4, 1], "tx")
    net = Network([3, 4, 1], "tl")
    with pytest.raises(ValueError, match="has 21 weights, got 20"):
        net.weights = np.zeros(20)
    with pytest.raises(ValueError, match="must be finite"):
        net.weights = np.full(21, np.nan)
    with pytest.raises(ValueError, match=r"inputs must have shape \(n_atoms, 3\)"):
        net.evaluate(np.zeros((2, 4)))
