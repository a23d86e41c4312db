"""The update of a decoupled extended Kalman filter for m measurements taken together.

The weights are split into blocks (fastpot/kalman.py: one per neuron, its incoming weights
and bias) and the error covariance P is kept per block, so that its size is the sum of the
squared block sizes instead of the square of all weights. For m measurements with errors e
(reference minus prediction, m), Jacobians H (m x weights) and variance R,

    A_b = H_b P_b                         for every block b (m x n_b; P_b is symmetric)
    S   = R I + sum_b A_b H_b^T           (the m x m innovation covariance, over all blocks)
    w_b += A_b^T S^-1 e
    P_b = (P_b - A_b^T S^-1 A_b) * scale + q I

(the last two through the Cholesky factor S = L L^T: with C = L^-1 A, w_b += C_b^T L^-1 e
and P_b -= C_b^T C_b, whose round-off keeps P exactly symmetric),

which is recursive least squares on the linearised model, exactly m one-at-a-time updates
when the model is linear (scale = 1 / lambda^m with forgetting factor lambda, RuNNer's
form; R = lambda). Process noise q on the diagonal keeps P from collapsing to zero as the
measurements accumulate: without it the steps shrink like 1 / (number of updates) and the
fit stalls (Haykin, Kalman Filtering and Neural Networks, 2001, ch. 2).

The work is split in two calls so that the small m x m solve happens in between:
`project` (A and S) and `apply` (the weights and P). Reading P once for all m
measurements, rather than once per measurement, is what makes a structure's update cheap:
the rows of P_b are reused from cache m times. Blocks are shared out over threads; each
block is computed by one thread in a fixed order and S is summed in block order, so the
result does not depend on the thread count.
"""
from libc.stdint cimport int64_t
from cython.parallel cimport prange


def project(const double[::1] P, const int64_t[::1] p_start, const int64_t[::1] index,
            const int64_t[::1] block_start, const double[:, ::1] H, double[:, ::1] h,
            double[:, ::1] A, double[:, :, ::1] S_blocks, double[:, ::1] S, int n_threads):
    """A = H P per block and S = sum_b A_b H_b^T (without R). P holds the blocks, each
    n_b x n_b row-major from p_start[b]; block b holds the weights
    index[block_start[b]:block_start[b+1]]. h (m x len(index): H gathered in block order),
    A (m x len(index)) and S_blocks (blocks x m x m) are filled; S (m x m) is their sum."""
    cdef int64_t n_blocks = block_start.shape[0] - 1
    cdef int64_t m = H.shape[0]
    cdef int64_t b, i, j, k, l, n, k0, p0
    cdef double s, c0, c1, c2, c3
    for b in prange(n_blocks, nogil=True, schedule="dynamic", num_threads=n_threads):
        k0 = block_start[b]
        n = block_start[b + 1] - k0
        p0 = p_start[b]
        for k in range(m):
            for i in range(n):
                h[k, k0 + i] = H[k, index[k0 + i]]
            for i in range(n):
                A[k, k0 + i] = 0.0
        # A_k = sum_j h_kj P_b[j, :] (P_b is symmetric): rows of P_b are reused from cache
        # for all m measurements, and the innermost loop is an axpy over four rows at once,
        # which vectorises in a fixed order of additions (a dot product would be a serial
        # chain of them) and loads and stores A a quarter as often
        j = 0
        while j + 4 <= n:
            for k in range(m):
                c0, c1, c2, c3 = h[k, k0 + j], h[k, k0 + j + 1], h[k, k0 + j + 2], h[k, k0 + j + 3]
                for i in range(n):
                    A[k, k0 + i] += (c0 * P[p0 + j * n + i] + c1 * P[p0 + (j + 1) * n + i]
                                     + c2 * P[p0 + (j + 2) * n + i]
                                     + c3 * P[p0 + (j + 3) * n + i])
            j = j + 4
        while j < n:
            for k in range(m):
                c0 = h[k, k0 + j]
                for i in range(n):
                    A[k, k0 + i] += c0 * P[p0 + j * n + i]
            j = j + 1
        for k in range(m):
            for l in range(m):
                s = 0.0
                for i in range(n):
                    s = s + A[k, k0 + i] * h[l, k0 + i]
                S_blocks[b, k, l] = s
    for k in range(m):
        for l in range(m):
            s = 0.0
            for b in range(n_blocks):
                s = s + S_blocks[b, k, l]
            S[k, l] = s


def apply(double[::1] P, const int64_t[::1] p_start, const int64_t[::1] index,
          const int64_t[::1] block_start, const double[:, ::1] A, const double[:, ::1] L_inv,
          const double[::1] gain, double scale, double q, double[::1] weights,
          double[:, ::1] C, int n_threads):
    """The update from `project`'s A, with S = L L^T (Cholesky) given as L_inv = L^-1
    (m x m, lower) and gain = L^-1 e: C = L^-1 A, weights += C^T gain and
    P_b = (P_b - C_b^T C_b) * scale + q I, which keeps P exactly symmetric.
    C (m x len(index)) is filled."""
    cdef int64_t n_blocks = block_start.shape[0] - 1
    cdef int64_t m = A.shape[0]
    cdef int64_t b, i, j, k, l, n, k0, p0
    cdef double s, c, c0, c1, c2, c3
    for b in prange(n_blocks, nogil=True, schedule="dynamic", num_threads=n_threads):
        k0 = block_start[b]
        n = block_start[b + 1] - k0
        p0 = p_start[b]
        for i in range(n):
            s = 0.0
            for k in range(m):
                c = 0.0
                for l in range(k + 1):
                    c = c + L_inv[k, l] * A[l, k0 + i]
                C[k, k0 + i] = c
                s = s + c * gain[k]
            weights[index[k0 + i]] += s
        for i in range(n):                  # row i of P_b, four terms of the m at once
            k = 0
            while k + 4 <= m:
                c0, c1, c2, c3 = C[k, k0 + i], C[k + 1, k0 + i], C[k + 2, k0 + i], C[k + 3, k0 + i]
                for j in range(n):
                    P[p0 + i * n + j] -= (c0 * C[k, k0 + j] + c1 * C[k + 1, k0 + j]
                                          + c2 * C[k + 2, k0 + j] + c3 * C[k + 3, k0 + j])
                k = k + 4
            while k < m:
                c0 = C[k, k0 + i]
                for j in range(n):
                    P[p0 + i * n + j] -= c0 * C[k, k0 + j]
                k = k + 1
            if scale != 1.0:
                for j in range(n):
                    P[p0 + i * n + j] *= scale
            P[p0 + i * n + i] += q
