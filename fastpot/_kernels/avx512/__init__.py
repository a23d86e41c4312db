"""The kernels of ext/kernels/ compiled for the avx512 instruction set (see fastpot/_kernels)."""
