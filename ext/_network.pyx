"""Networks from Python: a network's shape as the kernels read it, and calls into the
installed kernel variant (ext/kernels/_net.pyx has the algorithms and the weight layout)."""
from libc.stdint cimport int32_t, int64_t

from _contract cimport *
from fastpot._dispatch cimport kernels, check

import numpy as np

# The activation codes of ext/_contract.pxd, by n2p2 letter.
ACTIVATION_CODES = {
    "l": ACTIVATION_LINEAR, "t": ACTIVATION_TANH, "s": ACTIVATION_LOGISTIC,
    "p": ACTIVATION_SOFTPLUS, "r": ACTIVATION_RELU, "g": ACTIVATION_GAUSSIAN,
    "c": ACTIVATION_COS, "S": ACTIVATION_REVERSE_LOGISTIC, "e": ACTIVATION_EXP,
    "h": ACTIVATION_HARMONIC,
}


cdef class NetLayout:
    """Layer sizes, activations, layer scales and weight offsets of one network, as the C
    struct Net (ext/_contract.pxd)."""

    def __init__(self, layers, activations, bint normalize):
        sizes = [int(n) for n in layers]
        self.size = np.array(sizes, dtype=np.int32)
        self.act = np.array([ACTIVATION_CODES[a] for a in activations], dtype=np.int32)
        self.scale = np.array([1.0 / n if normalize else 1.0 for n in sizes[:-1]])
        woff, boff, k = [], [], 0
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            woff.append(k)
            k += n_in * n_out
            boff.append(k)
            k += n_out
        self.woff = np.array(woff, dtype=np.int64)
        self.boff = np.array(boff, dtype=np.int64)
        cdef const int32_t[::1] size = self.size
        cdef const int32_t[::1] act = self.act
        cdef const double[::1] scale = self.scale
        cdef const int64_t[::1] wo = self.woff
        cdef const int64_t[::1] bo = self.boff
        self.net.n_layers = len(activations)
        self.net.size = &size[0]
        self.net.act = &act[0]
        self.net.scale = &scale[0]
        self.net.woff = &wo[0]
        self.net.boff = &bo[0]
        self.net.width = max(sizes)
        self.net.n_weights = k

    @property
    def n_weights(self):
        return self.net.n_weights


def evaluate(NetLayout layout, const double[::1] weights, const double[:, ::1] x,
             double[::1] y, double[:, ::1] dydx, bint want_gradient, int n_threads):
    """Outputs y (n_atoms,) and, if asked, input gradients dydx (n_atoms, n_inputs)."""
    cdef Error error
    cdef int status
    cdef double *gradient = &dydx[0, 0] if want_gradient else NULL
    error.code = STATUS_OK
    if x.shape[0] == 0:
        return
    cdef const KernelTable *k = kernels()
    with nogil:
        status = k.net_evaluate(&layout.net, &weights[0], x.shape[0], &x[0, 0], &y[0],
                                        gradient, n_threads, &error)
    check(status, &error)


def weight_gradient(NetLayout layout, const double[::1] weights, const double[:, ::1] x,
                    const double[::1] c, const double[::1] d, const double[:, ::1] v,
                    double[::1] gradient, int n_threads):
    """Add to `gradient` the weight gradient of sum_i c_i y_i + d_i (dy_i/dx_i . v_i)."""
    cdef Error error
    cdef int status
    error.code = STATUS_OK
    if x.shape[0] == 0:
        return
    cdef const KernelTable *k = kernels()
    with nogil:
        status = k.net_weight_gradient(&layout.net, &weights[0], x.shape[0], &x[0, 0],
                                               &c[0], &d[0], &v[0, 0], &gradient[0],
                                               n_threads, &error)
    check(status, &error)
