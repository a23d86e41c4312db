"""The kernels of ext/kernels/ compiled for the avx2 instruction set (see fastpot/_kernels)."""
