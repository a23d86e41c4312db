"""Peer neighbour-list codes, called the way their users call them, for side-by-side timing,
and the test systems and timer the benchmark scripts share.

Imported by the scripts beside it (``from _peers import ...``), never by the package. A peer
that is not installed is simply absent from ``available_neighbor_peers()``.
"""
import importlib.util
import time

import numpy as np


def _fastpot(atoms, cutoff, n_threads):
    from fastpot import neighbor_list
    return neighbor_list("ijd", atoms, cutoff, n_threads=n_threads)


def _ase(atoms, cutoff, n_threads):
    from ase.neighborlist import neighbor_list
    return neighbor_list("ijd", atoms, cutoff)


def _vesin(atoms, cutoff, n_threads):
    from vesin import NeighborList
    calculator = NeighborList(cutoff=cutoff, full_list=True)
    # copy=False is vesin's fastest mode (views into its own buffers)
    return calculator.compute(points=atoms.positions, box=atoms.cell.array,
                              periodic=atoms.pbc.tolist(), quantities="ijd", copy=False)


def _matscipy(atoms, cutoff, n_threads):
    from matscipy.neighbours import neighbour_list
    return neighbour_list("ijd", atoms, cutoff)


NEIGHBOR_PEERS = {"fastpot": _fastpot, "vesin": _vesin, "matscipy": _matscipy, "ase": _ase}


def package_version(name):
    if name == "fastpot":
        import fastpot
        return fastpot.__version__
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:
        return "unknown"


def available_neighbor_peers():
    """Names of the peers importable here, fastpot first."""
    return [name for name in NEIGHBOR_PEERS
            if name == "fastpot" or importlib.util.find_spec(name) is not None]


def copper_box(n_atoms):
    """An fcc Cu box (a = 3.61 Å) of about ``n_atoms`` atoms, with small random displacements."""
    from ase.build import bulk
    repeat = max(1, round((n_atoms / 4) ** (1.0 / 3.0)))
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(repeat)
    atoms.rattle(0.01, seed=0)
    return atoms


def time_call(function, repeats):
    """Wall times of ``repeats`` calls; the result of the last call."""
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return np.asarray(times), result
