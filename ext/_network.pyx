"""Per-element feed-forward networks: forward pass, input gradient, parameter gradients.

Weights are one flat vector per element in n2p2's order (N2P2_FORMAT.md §6): for each layer
l, the matrix W_l[j, k] (j: neuron of layer l-1, outer; k: neuron of layer l, inner) then the
biases b_l[k]. Layer l computes z_l = s_l (W_l^T a_{l-1} + b_l), a_l = f_l(z_l), where s_l is
1/n_{l-1} with n2p2's normalize_nodes and 1 otherwise. The output layer has one neuron.

Training needs the gradient with respect to the weights of
    sum_i c_i y_i  +  d_i (dy_i/dx_i . v_i)
(energy term, and force term: the derivative of the input gradient along v_i). The second is
a forward-mode tangent through the network followed by one reverse pass over the primal and
tangent graphs together ("double backprop"); see `atom_reverse`.

Atoms are processed in fixed chunks; each chunk accumulates its own parameter gradient and the
chunks are summed in order, so results do not depend on the number of threads.
"""
from libc.stdlib cimport malloc, free
from libc.stdint cimport int32_t, int64_t
from cython.parallel cimport prange, parallel

import numpy as np

cdef enum:
    CHUNK = 32            # atoms per gradient accumulator


include "_net_kernel.pxi"


def evaluate(const int32_t[::1] size, const int32_t[::1] act, const double[::1] scale,
             const int64_t[::1] woff, const int64_t[::1] boff, const double[::1] weights,
             const double[:, ::1] x, double[::1] y, double[:, ::1] dydx, bint want_gradient,
             int n_threads):
    """Outputs y (n_atoms,) and, if asked, input gradients dydx (n_atoms, n_inputs)."""
    cdef Net net = make_net(size, act, scale, woff, boff, weights.shape[0])
    cdef int64_t n_atoms = x.shape[0], i
    cdef int64_t W = net.width, L = net.n_layers
    cdef double *buf
    cdef int[::1] failed = np.zeros(1, dtype=np.intc)
    if n_atoms == 0:
        return
    with nogil, parallel(num_threads=n_threads):
        buf = <double *> malloc(5 * (L + 1) * W * sizeof(double))
        for i in prange(n_atoms, schedule="static"):
            if buf == NULL:
                failed[0] = 1
                continue
            atom_forward(&net, &weights[0], &x[i, 0], buf, buf + (L + 1) * W,
                         buf + 2 * (L + 1) * W, buf + 3 * (L + 1) * W)
            y[i] = buf[(L + 1) * W + L * W]
            if want_gradient:
                atom_input_gradient(&net, &weights[0], buf + 2 * (L + 1) * W,
                                    buf + 4 * (L + 1) * W, &dydx[i, 0])
        free(buf)
    if failed[0]:
        raise MemoryError("network: cannot allocate per-thread scratch")


def weight_gradient(const int32_t[::1] size, const int32_t[::1] act, const double[::1] scale,
                    const int64_t[::1] woff, const int64_t[::1] boff, const double[::1] weights,
                    const double[:, ::1] x, const double[::1] c, const double[::1] d,
                    const double[:, ::1] v, double[::1] gradient, int n_threads):
    """Add to `gradient` the weight gradient of sum_i c_i y_i + d_i (dy_i/dx_i . v_i).
    Pass d with zeros (and any v of the right shape) for the energy term alone."""
    cdef Net net = make_net(size, act, scale, woff, boff, weights.shape[0])
    cdef int64_t n_atoms = x.shape[0], i, chunk, n_chunks, q, nw = weights.shape[0]
    cdef int64_t W = net.width, L = net.n_layers
    cdef double *buf
    cdef int[::1] failed = np.zeros(1, dtype=np.intc)
    if n_atoms == 0:
        return
    n_chunks = (n_atoms + CHUNK - 1) // CHUNK
    partial_arr = np.zeros((n_chunks, nw))
    cdef double[:, ::1] partial = partial_arr
    with nogil, parallel(num_threads=n_threads):
        buf = <double *> malloc(10 * (L + 1) * W * sizeof(double))
        for chunk in prange(n_chunks, schedule="dynamic"):
            if buf == NULL:
                failed[0] = 1
                continue
            for i in range(chunk * CHUNK, min((chunk + 1) * CHUNK, n_atoms)):
                if c[i] == 0.0 and d[i] == 0.0:
                    continue
                atom_forward(&net, &weights[0], &x[i, 0], buf, buf + (L + 1) * W,
                             buf + 2 * (L + 1) * W, buf + 3 * (L + 1) * W)
                atom_reverse(&net, &weights[0], buf, buf + (L + 1) * W, buf + 2 * (L + 1) * W,
                             buf + 3 * (L + 1) * W, &v[i, 0], c[i], d[i],
                             buf + 4 * (L + 1) * W, buf + 5 * (L + 1) * W,
                             buf + 6 * (L + 1) * W, buf + 7 * (L + 1) * W, &partial[chunk, 0])
        free(buf)
    if failed[0]:
        raise MemoryError("network: cannot allocate per-thread scratch")
    # chunks summed in order: the same result for any thread count
    with nogil:
        for chunk in range(n_chunks):
            for q in range(nw):
                gradient[q] += partial[chunk, q]
