"""Checks done once, at the Python edge, before arrays reach the kernels.

Each helper returns a clean C-contiguous array (or number) or raises a ValueError/TypeError
that says what is wrong and where (which atom, which field).
"""
import numbers

import numpy as np


def _as_real_array(value, name):
    try:
        array = np.asarray(value)
    except Exception as error:  # ragged lists and the like
        raise TypeError(f"{name} must be an array of real numbers: {error}") from None
    if array.dtype == bool or not (np.issubdtype(array.dtype, np.integer)
                                   or np.issubdtype(array.dtype, np.floating)):
        raise TypeError(f"{name} must be an array of real numbers, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float64)
    # the kernels take writable memoryviews: a read-only array (a view of a file, a frozen
    # copy) is copied rather than refused
    return array if array.flags.writeable else array.copy()


def positions_array(positions, name="positions"):
    """(N, 3) float64 positions, every value finite."""
    array = _as_real_array(positions, name)
    if array.ndim != 2 or array.shape[1] != 3:
        raise ValueError(f"{name} must have shape (n_atoms, 3), got {array.shape}")
    bad = ~np.isfinite(array).all(axis=1)
    if bad.any():
        atom = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} of atom {atom} is not finite: {array[atom].tolist()}"
                         f" ({int(bad.sum())} atom(s) affected)")
    if array.shape[0] >= 2**31 - 1:
        raise ValueError(f"too many atoms: {array.shape[0]} (the limit is 2**31 - 2)")
    return array


def cell_array(cell):
    """(3, 3) float64 cell, rows are lattice vectors; (3,) lengths mean an orthorhombic cell."""
    if cell is None:
        return np.zeros((3, 3))
    array = _as_real_array(getattr(cell, "array", cell), "cell")
    if array.shape == (3,):
        array = np.diag(array)
    if array.shape != (3, 3):
        raise ValueError(f"cell must have shape (3, 3) or (3,), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"cell has non-finite entries: {array.tolist()}")
    return np.ascontiguousarray(array)


def pbc_array(pbc):
    """Three booleans."""
    if pbc is None:
        return np.zeros(3, dtype=bool)
    array = np.asarray(pbc)
    if array.dtype != bool and not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"pbc must be booleans, got {pbc!r}")
    if array.ndim == 0:
        array = np.repeat(array, 3)
    if array.shape != (3,):
        raise ValueError(f"pbc must be one boolean or three, got shape {array.shape}")
    return array.astype(bool)


def positive_number(value, name):
    """A finite number > 0, as float."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value <= 0.0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return value


def non_negative_number(value, name):
    """A finite number >= 0, as float."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0.0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def structure_arrays(atoms=None, positions=None, cell=None, pbc=None):
    """(positions, cell, pbc) from an ASE Atoms object or from raw arrays, validated."""
    if atoms is not None:
        if positions is not None or cell is not None or pbc is not None:
            raise TypeError("give either an Atoms object or positions/cell/pbc, not both")
        if not hasattr(atoms, "get_positions"):
            raise TypeError(f"expected an ase.Atoms object, got {type(atoms).__name__}")
        positions, cell, pbc = atoms.get_positions(), atoms.cell.array, atoms.pbc
    elif positions is None:
        raise TypeError("no structure given: pass an Atoms object or positions (and cell, pbc)")
    return positions_array(positions), cell_array(cell), pbc_array(pbc)
