"""Per-element feed-forward networks: per-atom forward pass, input gradient and parameter
gradients, and their parallel drivers. Compiled once per instruction set.

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
from libc.math cimport exp, tanh, cos, sin, log1p
from libc.stdlib cimport malloc, calloc, free
from libc.stdint cimport int32_t, int64_t

from _contract cimport *
from _parallel cimport parallel_for, fail
from _simd cimport fp_tanh_block

cdef enum:
    CHUNK = 32            # atoms per gradient accumulator


cdef inline double activate(int code, double x, double *d1, double *d2) noexcept nogil:
    """f(x), f'(x) into d1 and f''(x) into d2, for n2p2's activation letters (§6)."""
    cdef double f, e, s
    if code == ACTIVATION_LINEAR:
        d1[0] = 1.0
        d2[0] = 0.0
        return x
    if code == ACTIVATION_TANH:
        f = tanh(x)
        d1[0] = 1.0 - f * f
        d2[0] = -2.0 * f * d1[0]
        return f
    if code == ACTIVATION_LOGISTIC:  # clamped at +-35 as n2p2
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
    if code == ACTIVATION_SOFTPLUS:  # x above 35, 0 below -35 (n2p2)
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
    if code == ACTIVATION_RELU:
        d2[0] = 0.0
        if x > 0.0:
            d1[0] = 1.0
            return x
        d1[0] = 0.0
        return 0.0
    if code == ACTIVATION_GAUSSIAN:
        f = exp(-0.5 * x * x)
        d1[0] = -x * f
        d2[0] = (x * x - 1.0) * f
        return f
    if code == ACTIVATION_COS:
        d1[0] = -sin(x)
        d2[0] = -cos(x)
        return cos(x)
    if code == ACTIVATION_REVERSE_LOGISTIC:  # 1 - logistic
        s = 1.0 / (1.0 + exp(-x))
        d1[0] = s * (s - 1.0)
        d2[0] = s * (1.0 - s) * (2.0 * s - 1.0)
        return 1.0 - s
    if code == ACTIVATION_EXP:  # exp(-x)
        f = exp(-x)
        d1[0] = -f
        d2[0] = f
        return f
    # ACTIVATION_HARMONIC: x^2
    d1[0] = 2.0 * x
    d2[0] = 2.0
    return x * x


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
        if net.act[l - 1] == ACTIVATION_TANH:
            fp_tanh_block(n_out, &z[l * W], &a[l * W], &d1[l * W], &d2[l * W])
            continue
        for k in range(n_out):
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


# -- parallel drivers (the KernelTable entry points) ---------------------------------------

cdef struct Job:
    const Net *net
    const double *weights
    int64_t n
    const double *x
    double *y
    double *dydx
    const double *c
    const double *d
    const double *v
    double *partial          # [chunk][weight] gradient accumulators
    int64_t buffer           # doubles of scratch per thread


cdef void *job_scratch(const void *context) noexcept nogil:
    return malloc((<const Job *> context).buffer * sizeof(double))


cdef void job_scratch_delete(const void *context, void *scratch) noexcept nogil:
    free(scratch)


cdef int evaluate_item(const void *context, void *scratch, int64_t i) noexcept nogil:
    cdef const Job *job = <const Job *> context
    cdef const Net *net = job.net
    cdef double *buf = <double *> scratch
    cdef int64_t block = (net.n_layers + 1) * net.width
    atom_forward(net, job.weights, &job.x[i * net.size[0]], buf, buf + block, buf + 2 * block,
                 buf + 3 * block)
    job.y[i] = buf[block + net.n_layers * net.width]
    if job.dydx != NULL:
        atom_input_gradient(net, job.weights, buf + 2 * block, buf + 4 * block,
                            &job.dydx[i * net.size[0]])
    return STATUS_OK


cdef int gradient_chunk(const void *context, void *scratch, int64_t chunk) noexcept nogil:
    cdef const Job *job = <const Job *> context
    cdef const Net *net = job.net
    cdef double *buf = <double *> scratch
    cdef int64_t block = (net.n_layers + 1) * net.width, n_in = net.size[0], i, q
    cdef int64_t last = (chunk + 1) * CHUNK if (chunk + 1) * CHUNK < job.n else job.n
    cdef double *partial = &job.partial[chunk * net.n_weights]
    for q in range(net.n_weights):
        partial[q] = 0.0
    for i in range(chunk * CHUNK, last):
        if job.c[i] == 0.0 and job.d[i] == 0.0:
            continue
        atom_forward(net, job.weights, &job.x[i * n_in], buf, buf + block, buf + 2 * block,
                     buf + 3 * block)
        atom_reverse(net, job.weights, buf, buf + block, buf + 2 * block, buf + 3 * block,
                     &job.v[i * n_in], job.c[i], job.d[i], buf + 4 * block, buf + 5 * block,
                     buf + 6 * block, buf + 7 * block, partial)
    return STATUS_OK


cdef int net_evaluate(const Net *net, const double *weights, int64_t n, const double *x,
                      double *y, double *dydx, int n_threads, Error *error) noexcept nogil:
    cdef Job job
    job.net = net
    job.weights = weights
    job.n = n
    job.x = x
    job.y = y
    job.dydx = dydx
    job.buffer = 5 * (net.n_layers + 1) * net.width
    return parallel_for(n, 16, n_threads, job_scratch, evaluate_item, job_scratch_delete, &job,
                        "network", error)


cdef int net_weight_gradient(const Net *net, const double *weights, int64_t n,
                             const double *x, const double *c, const double *d,
                             const double *v, double *gradient, int n_threads,
                             Error *error) noexcept nogil:
    """Adds to `gradient`; chunks of CHUNK atoms accumulate separately and are summed in
    chunk order, so the result is the same for any number of threads."""
    cdef Job job
    cdef int64_t n_chunks = (n + CHUNK - 1) // CHUNK, chunk, q
    cdef int status
    job.net = net
    job.weights = weights
    job.n = n
    job.x = x
    job.c = c
    job.d = d
    job.v = v
    job.buffer = 10 * (net.n_layers + 1) * net.width
    job.partial = <double *> malloc(n_chunks * net.n_weights * sizeof(double) + 1)
    if job.partial == NULL:
        return fail(error, STATUS_NO_MEMORY, "network gradient",
                    "cannot allocate the per-chunk gradients")
    status = parallel_for(n_chunks, 1, n_threads, job_scratch, gradient_chunk,
                          job_scratch_delete, &job, "network gradient", error)
    if status == STATUS_OK:
        for chunk in range(n_chunks):
            for q in range(net.n_weights):
                gradient[q] += job.partial[chunk * net.n_weights + q]
    free(job.partial)
    return status
