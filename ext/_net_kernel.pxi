# Network kernels shared by the modules that include this file (ext/_network.pyx,
# ext/_model.pyx): activations and the per-atom forward, input-gradient and reverse passes.
# See the docstring of ext/_network.pyx for the layout of the weights.
from libc.math cimport exp, tanh, cos, sin, log1p
from libc.stdint cimport int32_t, int64_t

import numpy as np

cdef inline double activate(int code, double x, double *d1, double *d2) noexcept nogil:
    """f(x), f'(x) into d1 and f''(x) into d2, for n2p2's activation letters (§6)."""
    cdef double f, e, s
    if code == 108:      # 'l' linear
        d1[0] = 1.0
        d2[0] = 0.0
        return x
    if code == 116:      # 't' tanh
        f = tanh(x)
        d1[0] = 1.0 - f * f
        d2[0] = -2.0 * f * d1[0]
        return f
    if code == 115:      # 's' logistic, clamped at +-35 as n2p2
        if x > 35.0:
            d1[0] = 0.0
            d2[0] = 0.0
            return 1.0
        if x < -35.0:
            d1[0] = 0.0
            d2[0] = 0.0
            return 0.0
        f = 1.0 / (1.0 + exp(-x))
        d1[0] = f * (1.0 - f)
        d2[0] = d1[0] * (1.0 - 2.0 * f)
        return f
    if code == 112:      # 'p' softplus: x above 35, 0 below -35 (n2p2)
        if x > 35.0:
            d1[0] = 1.0
            d2[0] = 0.0
            return x
        if x < -35.0:
            d1[0] = 0.0
            d2[0] = 0.0
            return 0.0
        s = 1.0 / (1.0 + exp(-x))
        d1[0] = s
        d2[0] = s * (1.0 - s)
        return log1p(exp(x))
    if code == 114:      # 'r' relu
        d2[0] = 0.0
        if x > 0.0:
            d1[0] = 1.0
            return x
        d1[0] = 0.0
        return 0.0
    if code == 103:      # 'g' gaussian
        f = exp(-0.5 * x * x)
        d1[0] = -x * f
        d2[0] = (x * x - 1.0) * f
        return f
    if code == 99:       # 'c' cos
        d1[0] = -sin(x)
        d2[0] = -cos(x)
        return cos(x)
    if code == 83:       # 'S' reverse logistic: 1 - s
        s = 1.0 / (1.0 + exp(-x))
        d1[0] = s * (s - 1.0)
        d2[0] = s * (1.0 - s) * (2.0 * s - 1.0)
        return 1.0 - s
    if code == 101:      # 'e' exp(-x)
        f = exp(-x)
        d1[0] = -f
        d2[0] = f
        return f
    # 'h' harmonic x^2
    d1[0] = 2.0 * x
    d2[0] = 2.0
    return x * x


cdef struct Net:
    int n_layers          # number of weight layers (hidden layers + 1)
    const int32_t *size   # neurons per layer, size[0] = inputs, size[n_layers] = 1
    const int32_t *act    # activation code of layers 1..n_layers (index l - 1)
    const double *scale   # s_l, index l - 1
    const int64_t *woff   # offset of W_l in the weight vector, index l - 1
    const int64_t *boff   # offset of b_l, index l - 1
    int64_t width         # largest layer size
    int64_t n_weights


cdef Net make_net(const int32_t[::1] size, const int32_t[::1] act, const double[::1] scale,
                  const int64_t[::1] woff, const int64_t[::1] boff, int64_t n_weights):
    cdef Net net
    net.n_layers = act.shape[0]
    net.size = &size[0]
    net.act = &act[0]
    net.scale = &scale[0]
    net.woff = &woff[0]
    net.boff = &boff[0]
    net.width = int(np.max(size))
    net.n_weights = n_weights
    return net


cdef void atom_forward(const Net *net, const double *w, const double *x, double *z, double *a,
                       double *d1, double *d2) noexcept nogil:
    """Forward pass of one atom. Layer l's values live at [l * width] in z (pre-activation),
    a (activation; a[0..] is the input), d1 = f'(z), d2 = f''(z)."""
    cdef int l, j, k
    cdef int64_t W = net.width
    cdef int n_in, n_out
    cdef const double *Wl
    cdef const double *bl
    cdef double aj, s
    for j in range(net.size[0]):
        a[j] = x[j]
    for l in range(1, net.n_layers + 1):
        n_in = net.size[l - 1]
        n_out = net.size[l]
        Wl = &w[net.woff[l - 1]]
        bl = &w[net.boff[l - 1]]
        for k in range(n_out):
            z[l * W + k] = bl[k]
        for j in range(n_in):
            aj = a[(l - 1) * W + j]
            for k in range(n_out):
                z[l * W + k] += Wl[j * n_out + k] * aj
        s = net.scale[l - 1]
        for k in range(n_out):
            z[l * W + k] *= s
            a[l * W + k] = activate(net.act[l - 1], z[l * W + k], &d1[l * W + k],
                                    &d2[l * W + k])


cdef void atom_input_gradient(const Net *net, const double *w, const double *d1, double *delta,
                              double *grad) noexcept nogil:
    """dy/dx of one atom after atom_forward (delta: scratch of (n_layers + 1) * width)."""
    cdef int l, j, k
    cdef int64_t W = net.width
    cdef int n_in, n_out
    cdef const double *Wl
    cdef double sum_
    cdef int L = net.n_layers
    delta[L * W] = d1[L * W]  # output neuron: dy/dz_L
    for l in range(L, 0, -1):
        n_in = net.size[l - 1]
        n_out = net.size[l]
        Wl = &w[net.woff[l - 1]]
        for j in range(n_in):
            sum_ = 0.0
            for k in range(n_out):
                sum_ += Wl[j * n_out + k] * delta[l * W + k]
            sum_ *= net.scale[l - 1]
            if l > 1:
                delta[(l - 1) * W + j] = sum_ * d1[(l - 1) * W + j]
            else:
                grad[j] = sum_


cdef void atom_reverse(const Net *net, const double *w, const double *z, const double *a,
                       const double *d1, const double *d2, const double *v, double c, double d,
                       double *tz, double *ta, double *bar_a, double *bar_t,
                       double *gradient) noexcept nogil:
    """Add to `gradient` the weight gradient of c * y + d * (dy/dx . v) for one atom.

    Tangent pass: ta_0 = v, tz_l = s_l W_l^T ta_{l-1}, ta_l = f'(z_l) tz_l, so that
    dy/dx . v = ta_L. Reverse pass with seeds bar(a_L) = c, bar(ta_L) = d:
      bar(tz_l) = f'(z_l) bar(ta_l);  bar(z_l) = f''(z_l) tz_l bar(ta_l) + f'(z_l) bar(a_l)
      W_l gets s_l (ta_{l-1} bar(tz_l)^T + a_{l-1} bar(z_l)^T), b_l gets s_l bar(z_l)
      bar(ta_{l-1}) = s_l W_l bar(tz_l),  bar(a_{l-1}) = s_l W_l bar(z_l)."""
    cdef int l, j, k, L = net.n_layers
    cdef int64_t W = net.width
    cdef int n_in, n_out
    cdef const double *Wl
    cdef double *gW
    cdef double *gb
    cdef double s, bz, btz, sa, st, aj, tj
    cdef bint tangent = d != 0.0
    # tangent forward
    if tangent:
        for j in range(net.size[0]):
            ta[j] = v[j]
        for l in range(1, L + 1):
            n_in = net.size[l - 1]
            n_out = net.size[l]
            Wl = &w[net.woff[l - 1]]
            for k in range(n_out):
                tz[l * W + k] = 0.0
            for j in range(n_in):
                tj = ta[(l - 1) * W + j]
                for k in range(n_out):
                    tz[l * W + k] += Wl[j * n_out + k] * tj
            s = net.scale[l - 1]
            for k in range(n_out):
                tz[l * W + k] *= s
                ta[l * W + k] = d1[l * W + k] * tz[l * W + k]
    # reverse: bar_a / bar_t hold bar(a_l) / bar(ta_l) of the current layer at [l * W]
    bar_a[L * W] = c
    bar_t[L * W] = d
    for l in range(L, 0, -1):
        n_in = net.size[l - 1]
        n_out = net.size[l]
        Wl = &w[net.woff[l - 1]]
        gW = &gradient[net.woff[l - 1]]
        gb = &gradient[net.boff[l - 1]]
        s = net.scale[l - 1]
        # turn bar(a_l), bar(ta_l) into bar(z_l), bar(tz_l), kept in place
        for k in range(n_out):
            if tangent:
                btz = d1[l * W + k] * bar_t[l * W + k]
                bz = d2[l * W + k] * tz[l * W + k] * bar_t[l * W + k] + d1[l * W + k] * bar_a[l * W + k]
                bar_t[l * W + k] = s * btz
            else:
                bz = d1[l * W + k] * bar_a[l * W + k]
            bar_a[l * W + k] = s * bz
            gb[k] += s * bz
        for j in range(n_in):
            aj = a[(l - 1) * W + j]
            sa = 0.0
            st = 0.0
            if tangent:
                tj = ta[(l - 1) * W + j]
                for k in range(n_out):
                    gW[j * n_out + k] += aj * bar_a[l * W + k] + tj * bar_t[l * W + k]
                    sa += Wl[j * n_out + k] * bar_a[l * W + k]
                    st += Wl[j * n_out + k] * bar_t[l * W + k]
                bar_t[(l - 1) * W + j] = st
            else:
                for k in range(n_out):
                    gW[j * n_out + k] += aj * bar_a[l * W + k]
                    sa += Wl[j * n_out + k] * bar_a[l * W + k]
            bar_a[(l - 1) * W + j] = sa


