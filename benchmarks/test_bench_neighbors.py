"""pytest-benchmark suite for the neighbour list (measures; asserts nothing about speed).

    python -m pytest benchmarks/test_bench_neighbors.py --benchmark-only
"""
import pytest

from fastpot import NeighborList, neighbor_list
from _peers import copper_box

SIZES = [4000, 32000]


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("n_atoms", SIZES)
def test_neighbor_list_ijd(benchmark, n_atoms, n_threads):
    atoms = copper_box(n_atoms)
    i, j, d = benchmark(neighbor_list, "ijd", atoms, 6.0, n_threads=n_threads)
    assert len(i) == len(j) == len(d) > 0


@pytest.mark.parametrize("n_atoms", SIZES)
def test_csr_build_all_quantities(benchmark, n_atoms):
    atoms = copper_box(n_atoms)
    nl = NeighborList(6.0)
    benchmark(nl.build, atoms)
    assert nl.n_pairs > 0


@pytest.mark.parametrize("n_atoms", SIZES)
def test_verlet_refresh_without_search(benchmark, n_atoms):
    atoms = copper_box(n_atoms)
    nl = NeighborList(6.0, skin=1.0).build(atoms)
    rebuilt = benchmark(nl.update, atoms)
    assert rebuilt is False
