"""Reference data for training and evaluation: structures with DFT energies, forces, stress.

Any file ASE reads with energies and forces (extxyz first) and n2p2's ``input.data``. Values
are taken from ``atoms.calc`` (where ASE's readers put them) or from ``atoms.info`` /
``atoms.arrays`` (keys ``energy``, ``forces``, ``stress``). A structure may lack forces or
energy (its term drops out of the loss); a data set with neither is an error.
"""
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Sample:
    """One reference structure. energy in eV, forces (n, 3) in eV/Å, stress (6,) in eV/Å^3
    (ASE Voigt order); any of them may be None."""
    atoms: object
    energy: float = None
    forces: np.ndarray = None
    stress: np.ndarray = None
    source: str = ""
    info: dict = field(default_factory=dict)

    @property
    def n_atoms(self):
        return len(self.atoms)


def _property(atoms, name):
    calc = atoms.calc
    if calc is not None:
        try:
            value = calc.results.get(name) if hasattr(calc, "results") else None
        except Exception:
            value = None
        if value is not None:
            return value
    if name in atoms.info:
        return atoms.info[name]
    if name in atoms.arrays:
        return atoms.arrays[name]
    return None


def sample_from_atoms(atoms, source="structure"):
    """Validate one structure's reference values; errors name `source`."""
    if len(atoms) == 0:
        raise ValueError(f"{source}: structure has no atoms")
    energy = _property(atoms, "energy")
    if energy is None:
        energy = _property(atoms, "free_energy")
    if energy is not None:
        try:
            energy = float(energy)
        except (TypeError, ValueError):
            raise ValueError(f"{source}: energy {energy!r} is not a number") from None
    forces = _property(atoms, "forces")
    if forces is not None:
        forces = np.asarray(forces, dtype=float)
    stress = _property(atoms, "stress")
    if stress is not None:
        stress = np.asarray(stress, dtype=float)
        if stress.shape == (3, 3):
            stress = stress[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]
        if stress.shape != (6,) or not np.isfinite(stress).all():
            raise ValueError(f"{source}: stress must be 6 finite numbers (Voigt) or 3x3, got "
                             f"shape {stress.shape}")
        if not atoms.pbc.all():
            stress = None  # stress is defined for bulk cells only
    clean = atoms.copy()
    clean.calc = None
    sample = Sample(clean, energy, forces, stress, source, dict(atoms.info))
    check_sample(sample, source)
    return sample


def check_sample(sample, where):
    """The checks every Sample passes, read from a file or made in code: atoms, finite
    positions, a finite energy and finite forces of shape (n_atoms, 3), when present."""
    if not isinstance(sample, Sample):
        raise TypeError(f"{where}: expected a fastpot.data.Sample, got "
                        f"{type(sample).__name__}")
    n = sample.n_atoms
    if n == 0:
        raise ValueError(f"{where}: structure has no atoms")
    bad = ~np.isfinite(sample.atoms.get_positions()).all(axis=1)
    if bad.any():
        raise ValueError(f"{where}: position of atom {int(np.flatnonzero(bad)[0])} is not finite")
    if sample.energy is not None:
        if not isinstance(sample.energy, (int, float, np.integer, np.floating)):
            raise ValueError(f"{where}: energy {sample.energy!r} is not a number")
        if not np.isfinite(sample.energy):
            raise ValueError(f"{where}: energy is {sample.energy}")
    if sample.forces is not None:
        forces = np.asarray(sample.forces)
        if forces.shape != (n, 3):
            raise ValueError(f"{where}: forces have shape {forces.shape}, expected ({n}, 3)")
        bad = ~np.isfinite(forces).all(axis=1)
        if bad.any():
            raise ValueError(f"{where}: force on atom {int(np.flatnonzero(bad)[0])} is not finite")


def read_samples(path, index=":", cflength=1.0, cfenergy=1.0):
    """Read reference data from a file: n2p2 ``input.data`` (by name or ``.data`` suffix) or
    anything ``ase.io.read`` understands.

    Raises FileNotFoundError when `path` is not a file and ValueError for anything wrong in
    it (unreadable, no structures, no labels, a non-finite or misshapen value); the message
    names the file and the structure or line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data file not found: {path}")
    if path.name == "input.data" or path.suffix == ".data":
        from fastpot.n2p2 import read_input_data
        frames = read_input_data(path, cflength, cfenergy)
    else:
        import ase.io
        _check_declared_sizes(path)
        try:
            frames = ase.io.read(path, index=index)
        except Exception as error:
            raise ValueError(f"{path}: cannot read structures ({error})") from None
        if not isinstance(frames, list):
            frames = [frames]
    samples = [sample_from_atoms(atoms, f"{path} structure {k}") for k, atoms in enumerate(frames)]
    check_samples(samples, str(path))
    return samples


# Columns one extxyz property may declare: ASE's reader builds a list of that many column
# names before reading a line, so "forces:R:1000000000" (a damaged file) would take all
# memory. Real files have 1 to 9 (a per-atom 3x3 tensor); this leaves ample room.
MAX_PROPERTY_COLUMNS = 1000
_PROPERTIES = re.compile(rb'Properties="?([^\s"]*)')


def _check_declared_sizes(path):
    """Refuse what would make ASE's reader take all memory or time: an extxyz
    ``Properties=`` entry declaring an absurd number of columns, or an (ext)xyz frame header
    declaring more atoms than the file has lines (ASE reads that many lines, past the end:
    "1000000000" hangs it). One pass over the lines, none of them kept."""
    headers = path.suffix in (".xyz", ".extxyz")  # frame headers are checked while they parse
    header_line = declared = frame_end = n_lines = 0
    with open(path, "rb") as f:
        for k, line in enumerate(f):
            n_lines = k + 1 + line.endswith(b"\n")  # lines as split("\n") counts them
            if headers and k == frame_end:
                try:
                    declared = int(line)
                except ValueError:
                    headers = False  # a blank line or not a header ASE reads: it says so
                else:
                    header_line, frame_end = k, k + max(declared, 0) + 2
            if b"Properties=" in line:
                _check_properties(path, k + 1, line)
    if headers and frame_end > n_lines:
        raise ValueError(f"{path}:{header_line + 1}: frame declares {declared} atoms, but only "
                         f"{max(n_lines - header_line - 2, 0)} lines follow")


def _check_properties(path, line_number, line):
    for match in _PROPERTIES.finditer(line):
        fields = match.group(1).split(b":")
        for name, count in zip(fields[0::3], fields[2::3]):
            if count.isdigit() and int(count) > MAX_PROPERTY_COLUMNS:
                raise ValueError(
                    f"{path}:{line_number}: property {name.decode(errors='replace')!r} "
                    f"declares {int(count)} columns (at most {MAX_PROPERTY_COLUMNS} are read): "
                    "the file is damaged")


def check_samples(samples, what="data"):
    if not samples:
        raise ValueError(f"{what}: no structures")
    for k, sample in enumerate(samples):
        check_sample(sample, getattr(sample, "source", "") or f"{what} structure {k}")
    if all(s.energy is None and s.forces is None for s in samples):
        raise ValueError(f"{what}: no energies and no forces to learn from")


def split(samples, fraction, seed):
    """(train, valid): a seeded random `fraction` of the samples held out for validation."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    n_valid = int(round(fraction * len(samples)))
    if fraction > 0.0 and len(samples) >= 2:
        n_valid = max(1, min(n_valid, len(samples) - 1))
    order = np.random.default_rng(seed).permutation(len(samples))
    valid = sorted(order[:n_valid])
    train = sorted(order[n_valid:])
    return [samples[k] for k in train], [samples[k] for k in valid]


def elements_of(samples):
    from ase.data import atomic_numbers
    present = {s for sample in samples for s in sample.atoms.get_chemical_symbols()}
    return sorted(present, key=lambda s: atomic_numbers[s])
