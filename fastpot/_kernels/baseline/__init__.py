"""The kernels of ext/kernels/ compiled for the baseline instruction set (see fastpot/_kernels)."""
