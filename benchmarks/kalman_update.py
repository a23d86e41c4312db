"""Time one Kalman-filter update (fastpot/kalman.py) against the number of measurements
taken together, on the covariance of rMD17 ethanol's default networks (three elements,
132 inputs, 2 x 25 hidden: 153 neuron blocks, 11 MB of P).

    python benchmarks/kalman_update.py [--threads 1] [--repeats 40]
"""
import argparse
import time

import numpy as np

from fastpot import _kernels
from fastpot.kalman import KalmanFilter


def ethanol_filter(n_threads):
    """A KalmanFilter with ethanol's block sizes and an identity covariance."""
    sizes = np.array([133] * 75 + [26] * 75 + [26] * 3, dtype=np.int64)
    n = int(sizes.sum())
    filt = KalmanFilter.__new__(KalmanFilter)
    filt.index = np.random.default_rng(0).permutation(n).astype(np.int64)
    filt.block_start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    filt.p_start = np.concatenate([[0], np.cumsum(sizes * sizes)]).astype(np.int64)
    filt.P = np.zeros(filt.p_start[-1])
    for b, size in enumerate(sizes):
        filt.P[filt.p_start[b]:filt.p_start[b + 1]].reshape(size, size)[
            np.diag_indices(size)] = 1.0
    filt.lam, filt.nu, filt.updates = 1.0, 0.9987, 0
    filt.q0, filt.q_tau, filt.q_min = 1e-4, 1e4, 1e-6
    filt.n_threads, filt._kernel = n_threads, _kernels.module("_kalman")
    return filt


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    filt = ethanol_filter(args.threads)
    rng = np.random.default_rng(1)
    x = np.zeros(len(filt.index))
    H = rng.normal(size=(8, len(x))) * 0.01
    print(f"kernels {_kernels.active}, {args.threads} thread(s), P {filt.P.nbytes / 1e6:.1f} MB")
    print("| measurements together | ms per update (median) | ms per measurement |")
    print("|---|---|---|")
    for m in (1, 4, 8):
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            filt.update(x, rng.normal(size=m) * 0.1, H[:m])
            times.append(time.perf_counter() - start)
        median = float(np.median(times)) * 1e3
        print(f"| {m} | {median:.2f} | {median / m:.2f} |")


if __name__ == "__main__":
    main()
