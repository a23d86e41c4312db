"""The update of a decoupled extended Kalman filter for one scalar measurement.

The weights are split into blocks (fastpot/kalman.py: one per neuron, its incoming weights
and bias) and the error covariance P is kept per block, so that its size is the sum of the
squared block sizes instead of the square of all weights. For a measurement with error e
(reference minus prediction), Jacobian H (d prediction / d weights) and variance R,
with forgetting factor lam:

    a_b = P_b H_b                        for every block b
    A   = R + sum_b H_b . a_b             (the innovation variance, over all blocks)
    w_b += a_b e / A
    P_b = (P_b - a_b a_b^T / A) / lam

which is recursive least squares with exponential forgetting on the linearised model
(R = lam: RuNNer's form), followed by process noise q on the diagonal,

    P_b += q I

which keeps P from collapsing to zero as the measurements accumulate: without it the steps
shrink like 1 / (number of updates) and the fit stalls (Haykin, Kalman Filtering and Neural
Networks, 2001, ch. 2, where q is annealed towards a floor).
Blocks are shared out over threads; each block is computed by one thread in a fixed order
and the sum over blocks is taken in block order, so the result does not depend on the
thread count.
"""
from libc.stdint cimport int64_t
from cython.parallel cimport prange


def update(double[::1] P, const int64_t[::1] p_start, const int64_t[::1] index,
           const int64_t[::1] block_start, const double[::1] H, double error, double noise, double lam,
           double q, double[::1] weights, double[::1] a, double[::1] dots, int n_threads):
    """Apply one measurement in place to P (all blocks, each n_b x n_b row-major from
    p_start[b]) and `weights`; block b holds weights index[block_start[b]:block_start[b+1]].
    `a` (len(index)) and `dots` (one per block) are scratch. Returns A."""
    cdef int64_t n_blocks = block_start.shape[0] - 1
    cdef int64_t b, i, j, n, k0, p0
    cdef double s, innovation, ai, gain
    for b in prange(n_blocks, nogil=True, schedule="dynamic", num_threads=n_threads):
        k0 = block_start[b]
        n = block_start[b + 1] - k0
        p0 = p_start[b]
        dots[b] = 0.0
        for i in range(n):
            s = 0.0
            for j in range(n):
                s = s + P[p0 + i * n + j] * H[index[k0 + j]]
            a[k0 + i] = s
            dots[b] += H[index[k0 + i]] * s
    innovation = noise
    for b in range(n_blocks):
        innovation = innovation + dots[b]
    gain = error / innovation
    for b in prange(n_blocks, nogil=True, schedule="dynamic", num_threads=n_threads):
        k0 = block_start[b]
        n = block_start[b + 1] - k0
        p0 = p_start[b]
        for i in range(n):
            ai = a[k0 + i]
            weights[index[k0 + i]] += ai * gain
            for j in range(n):
                P[p0 + i * n + j] = (P[p0 + i * n + j] - ai * a[k0 + j] / innovation) / lam
            P[p0 + i * n + i] += q
    return innovation
