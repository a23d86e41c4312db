"""The Python side of fastpot's C API (ext/capi/fastpot.c, fastpot/include/fastpot.h).

A ``Handle`` is what a ``fastpot_model*`` holds: the loaded Potential, its laid-out model,
a neighbour list kept between calls, and the raw addresses the C library passes to the
kernels (the model, the installed kernel variant's table, an atomic-number lookup). The C
library reads those once at load and calls ``compute`` for fastpot_model_compute; its
neighbour-list entry point never comes back here.
"""
import ctypes
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers
from ase.stress import voigt_6_to_full_3x3_stress

from fastpot import _dispatch
from fastpot.neighbors import NeighborList
from fastpot.potential import Potential

MAX_ATOMIC_NUMBER = 118
SKIN = 0.5  # Å, of the neighbour list kept between fastpot_model_compute calls


def _array(address, shape, ctype):
    """A numpy view of `shape` items of `ctype` at a C address."""
    count = int(np.prod(shape))
    return np.ctypeslib.as_array((ctype * count).from_address(address)).reshape(shape)


class Handle:
    """A loaded model, as the C API keeps it."""

    def __init__(self, path):
        path = Path(path)
        if path.suffix != ".fastpot":
            raise ValueError(f"{path}: the C API reads .fastpot files (Potential.save)")
        self.potential = Potential.load(path)
        self.compiled = self.potential.compiled()
        self.cutoff = float(self.potential.cutoff)
        self.elements = " ".join(self.potential.elements)
        self.species = np.full(MAX_ATOMIC_NUMBER + 1, -1, dtype=np.int32)
        for k, symbol in enumerate(self.potential.elements):
            self.species[atomic_numbers[symbol]] = k
        self.max_number = MAX_ATOMIC_NUMBER
        self.model_address = self.compiled.address()
        self.kernels_address = _dispatch.table_address()
        self.species_address = self.species.ctypes.data
        self.neighbor_list = NeighborList(self.cutoff, skin=SKIN)
        self.atoms = None

    def compute(self, n_atoms, numbers, positions, cell, pbc, energy, forces, stress):
        """fastpot_model_compute: read the caller's arrays, write energy, forces, stress."""
        numbers = _array(numbers, (n_atoms,), ctypes.c_int32)
        positions = _array(positions, (n_atoms, 3), ctypes.c_double)
        cell = _array(cell, (3, 3), ctypes.c_double)
        pbc = _array(pbc, (3,), ctypes.c_int32) != 0
        if stress and not pbc.all():
            raise ValueError(f"stress needs a cell periodic in all three directions, got "
                             f"pbc={pbc.astype(int).tolist()}")
        if (numbers < 0).any() or (numbers > MAX_ATOMIC_NUMBER).any():
            atom = int(np.flatnonzero((numbers < 0) | (numbers > MAX_ATOMIC_NUMBER))[0])
            raise ValueError(f"atom {atom} has atomic number {int(numbers[atom])}, which is "
                             "not an element")
        if self.atoms is None or len(self.atoms) != n_atoms:
            self.atoms = Atoms(numbers=numbers, positions=positions, cell=cell, pbc=pbc)
        else:
            self.atoms.numbers[:] = numbers
            self.atoms.positions[:] = positions
            self.atoms.cell[:] = cell
            self.atoms.pbc = pbc
        self.neighbor_list.update(self.atoms)
        result = self.potential.evaluate(self.atoms, forces=bool(forces), stress=bool(stress),
                                         neighbor_list=self.neighbor_list)
        _array(energy, (1,), ctypes.c_double)[0] = result["energy"]
        if forces:
            _array(forces, (n_atoms, 3), ctypes.c_double)[:] = result["forces"]
        if stress:
            _array(stress, (3, 3), ctypes.c_double)[:] = voigt_6_to_full_3x3_stress(
                result["stress"])
