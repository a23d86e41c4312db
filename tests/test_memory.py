"""The one memory probe and the default limits taken from it."""
import os

import pytest

from fastpot import _memory, neighbors, symmetry, training
from fastpot._memory import FALLBACK_BYTES, physical_memory


def test_physical_memory_is_the_machines():
    memory = physical_memory()
    assert memory == os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert memory > 2**27


def test_fallback_when_the_system_does_not_say(monkeypatch):
    def unknown(name):
        raise ValueError(f"unrecognized configuration name {name!r}")
    monkeypatch.setattr(_memory.os, "sysconf", unknown)
    assert physical_memory() == FALLBACK_BYTES


@pytest.mark.parametrize("memory", [64 * 2**30, 2**30])
def test_each_default_limit_is_its_fraction_of_memory(monkeypatch, memory):
    for module in (neighbors, training):
        monkeypatch.setattr(module, "physical_memory", lambda: memory)
    pairs = memory * neighbors.PAIRS_MEMORY_FRACTION // neighbors.PEAK_BYTES_PER_PAIR
    assert neighbors.NeighborList(3.0).max_pairs == max(pairs, 1_000_000)
    assert training.default_memory_limit() == memory * training.TRAINING_MEMORY_FRACTION


def test_derivative_limit_is_its_fraction_of_memory(monkeypatch):
    from ase.build import bulk
    sf = symmetry.SymmetryFunctions(["Cu"], [symmetry.Radial("Cu", "Cu", 0.5, 0.0, 4.0)])
    atoms = bulk("Cu", cubic=True)
    needed = sf.derivative_nbytes([atoms])
    monkeypatch.setattr(symmetry, "physical_memory",
                        lambda: int(needed / symmetry.DERIVATIVE_MEMORY_FRACTION) - 8)
    with pytest.raises(MemoryError, match="more than the limit"):
        sf.derivatives(atoms)
    monkeypatch.setattr(symmetry, "physical_memory",
                        lambda: int(needed / symmetry.DERIVATIVE_MEMORY_FRACTION))
    assert sf.derivatives(atoms).values.nbytes == needed


def test_a_list_larger_than_the_machine_is_refused_with_the_sizes(monkeypatch):
    """97,556 copper atoms at 6 Å hold 7.6 million pairs; a 1 GiB machine can hold 7.2."""
    from ase.build import bulk
    monkeypatch.setattr(neighbors, "physical_memory", lambda: 2**30)
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat(29)
    with pytest.raises(ValueError, match=r"more than max_pairs=7190235 pairs \(~0.7 GiB at "
                                         r"its peak; this machine has 1.0 GiB\) for 97556 atoms"):
        neighbors.neighbor_list("ij", atoms, 6.0)
    assert len(neighbors.neighbor_list("ij", atoms, 5.0)[0]) < 7190235  # 4.1 million fit
