"""``Potential``: symmetry functions -> scaling -> per-element networks -> energy, forces,
stress, in eV and Å.

The atomic energy of atom i of element e is ``energy_unit * y_i + atom_energy[e]``, where y_i
is the output of element e's network for the scaled symmetry functions of atom i. Forces are
the exact negative gradient of the total energy, computed by the memory-light backward pass
of the symmetry functions (no dG/dR is ever stored).
"""
import json
from pathlib import Path

import numpy as np
from ase.stress import full_3x3_to_voigt_6_stress

from fastpot import _model
from fastpot._threading import resolve_threads
from fastpot.neighbors import check_no_overlap
from fastpot.network import Network
from fastpot.scaling import Scaling
from fastpot.symmetry import (OVERLAP_CONSEQUENCE, SymmetryFunctions, function_from_row,
                              function_row)

FORMAT_NAME = "fastpot-potential"
FORMAT_VERSION = 1


class Potential:
    """A Behler-Parrinello potential.

    Parameters
    ----------
    symmetry_functions : SymmetryFunctions
    scaling : Scaling
        Statistics for every element of the symmetry functions.
    networks : dict
        Element -> Network, whose input size is that element's number of functions.
    energy_unit : float
        eV per unit of network output.
    atom_energy : dict or None
        Element -> energy offset per atom in eV (reference energies).
    metadata : dict or None
        Free-form JSON-serialisable information (training settings, provenance).
    """

    def __init__(self, symmetry_functions, scaling, networks, energy_unit=1.0, atom_energy=None,
                 metadata=None):
        self.sf = symmetry_functions
        self.scaling = scaling
        self.elements = symmetry_functions.elements
        missing = [e for e in self.elements if e not in networks]
        if missing:
            raise ValueError(f"no network for element(s) {missing}")
        for element in self.elements:
            net = networks[element]
            if net.n_inputs != symmetry_functions.n_functions(element):
                raise ValueError(f"network of {element} takes {net.n_inputs} inputs but the "
                                 f"element has {symmetry_functions.n_functions(element)} "
                                 "symmetry functions")
            if element not in scaling.stats:
                raise ValueError(f"no scaling statistics for element {element}")
            if len(scaling.stats[element]) != symmetry_functions.n_functions(element):
                raise ValueError(f"scaling statistics of {element} cover "
                                 f"{len(scaling.stats[element])} functions, not "
                                 f"{symmetry_functions.n_functions(element)}")
        self.networks = {e: networks[e] for e in self.elements}
        self.energy_unit = float(energy_unit)
        if not np.isfinite(self.energy_unit) or self.energy_unit == 0.0:
            raise ValueError(f"energy_unit must be finite and nonzero, got {energy_unit}")
        atom_energy = dict(atom_energy or {})
        unknown = set(atom_energy) - set(self.elements)
        if unknown:
            raise ValueError(f"atom_energy for element(s) {sorted(unknown)} not in the potential")
        self.atom_energy = {e: float(atom_energy.get(e, 0.0)) for e in self.elements}
        self.metadata = dict(metadata or {})
        self.n2p2 = None  # original n2p2 normalisation, kept for a faithful export

    @property
    def cutoff(self):
        return self.sf.cutoff

    def __repr__(self):
        nets = ", ".join(f"{e}: {self.networks[e]}" for e in self.elements)
        return f"Potential({self.sf!r}; scaling {self.scaling.mode}; {nets})"

    # -- prediction ---------------------------------------------------------------------------
    def evaluate(self, atoms, forces=True, stress=True, n_threads=None, neighbor_list=None,
                 n2p2_forces=False):
        """Energy (eV), per-atom energies and, if asked, forces (eV/Å) and ASE's stress
        (eV/Å^3, Voigt order; only for cells periodic in all three directions).

        Returns a dict with ``energy``, ``energies``, ``forces``, ``stress``,
        ``extrapolations`` (number of (atom, function) values outside the scaling range)
        and ``extrapolating_atoms``. ``n2p2_forces=True`` reproduces nnp-predict's forces where
        they are not the exact gradient (an atom seeing its own periodic image; §8)."""
        if len(atoms) == 0:
            raise ValueError("the structure has no atoms")
        n_threads = resolve_threads(n_threads)
        species = self.sf.species(atoms)
        if neighbor_list is None:
            neighbor_list = self.sf.neighbor_list(atoms, n_threads)
        else:
            check_no_overlap(neighbor_list, OVERLAP_CONSEQUENCE)
        nl = neighbor_list
        want_gradient = bool(forces or stress)
        energies, gradient, strain, outside = _model.evaluate(
            self.compiled(), species, nl.pairs, want_gradient, bool(n2p2_forces), n_threads)
        result = {"energy": float(energies.sum()), "energies": energies,
                  "extrapolations": int(outside.sum()),
                  "extrapolating_atoms": np.flatnonzero(outside)}
        if want_gradient:
            result["forces"] = -gradient
            cell = np.asarray(atoms.cell.array if hasattr(atoms, "cell") else np.zeros((3, 3)))
            pbc = np.asarray(getattr(atoms, "pbc", [False] * 3))
            # the triple product, not np.linalg.det: a LAPACK call here wakes BLAS threads
            # that then spin beside the kernels' own
            volume = abs(float((cell[0] * np.cross(cell[1], cell[2])).sum()))
            if pbc.all() and volume > 0.0:
                result["stress"] = full_3x3_to_voigt_6_stress(strain) / volume
        return result

    def compiled(self):
        """The potential's numbers laid out for the fused kernel, rebuilt when the weights,
        scaling or energies changed."""
        key = (tuple(self.networks[e].version for e in self.elements),
               tuple(id(self.networks[e].weights) for e in self.elements), id(self.scaling),
               self.energy_unit, tuple(self.atom_energy.items()))
        if getattr(self, "_compiled_key", None) != key:
            self._compiled = _model.ModelData(self)
            self._compiled_key = key
        return self._compiled

    def energy(self, atoms, n_threads=None):
        return self.evaluate(atoms, forces=False, stress=False, n_threads=n_threads)["energy"]

    def forces(self, atoms, n_threads=None):
        return self.evaluate(atoms, n_threads=n_threads)["forces"]

    def stress(self, atoms, n_threads=None):
        result = self.evaluate(atoms, n_threads=n_threads)
        if "stress" not in result:
            raise ValueError("stress needs a cell that is periodic in all three directions")
        return result["stress"]

    def calculator(self, **kwargs):
        """An ASE calculator using this potential (see FastpotCalculator)."""
        from fastpot.calculator import FastpotCalculator
        return FastpotCalculator(self, **kwargs)

    # -- n2p2 files ---------------------------------------------------------------------------
    @classmethod
    def from_n2p2(cls, directory, cflength=1.0, cfenergy=1.0):
        """Read an n2p2 potential: ``input.nn``, ``scaling.data``, ``weights.NNN.data``.

        cflength and cfenergy are the file's length and energy units per Å and per eV (e.g.
        1.8897261328 and 0.0367493254 for Bohr and Hartree)."""
        from fastpot.n2p2 import read_potential
        return read_potential(cls, directory, cflength, cfenergy)

    def to_n2p2(self, directory, cflength=None, cfenergy=None):
        """Write n2p2 files (input.nn, scaling.data, weights.NNN.data) that n2p2 and LAMMPS'
        pair_style hdnnp read back to the same numbers. Units default to the ones the
        potential was read in (Å and eV for fastpot's own)."""
        from fastpot.n2p2 import write_potential
        write_potential(self, directory, cflength, cfenergy)

    # -- fastpot's own file -------------------------------------------------------------------
    def to_dict(self):
        functions = {}
        for element in self.elements:
            rows = []
            for f in self.sf.functions[element]:
                rows.append(function_row(f))
            functions[element] = rows
        return {
            "format": FORMAT_NAME, "version": FORMAT_VERSION,
            "elements": list(self.elements),
            "cutoff_type": self.sf.cutoff_type, "cutoff_alpha": self.sf.cutoff_alpha,
            "functions": functions,
            "scaling": {"mode": self.scaling.mode, "smin": self.scaling.smin,
                        "smax": self.scaling.smax,
                        "stats": {e: self.scaling.stats[e].tolist() for e in self.elements},
                        "constant": "ignore"},
            "networks": {e: {"layers": net.layers, "activations": net.activations,
                             "normalize": net.normalize, "weights": net.weights.tolist()}
                         for e, net in self.networks.items()},
            "energy_unit": self.energy_unit,
            "atom_energy": self.atom_energy,
            "n2p2": self.n2p2,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(cls, data, source="<dict>"):
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise ValueError(f"{source}: not a fastpot potential file")
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(f"{source}: unsupported format version {data.get('version')!r} "
                             f"(this fastpot reads version {FORMAT_VERSION})")
        try:
            functions = []
            for element, rows in data["functions"].items():
                for row in rows:
                    functions.append(function_from_row(element, row))
            sf = SymmetryFunctions(data["elements"], functions, data["cutoff_type"],
                                   data["cutoff_alpha"])
            sc = data["scaling"]
            scaling = Scaling(sc["mode"], sc["stats"], sc["smin"], sc["smax"],
                              constant=sc.get("constant", "error"))
            networks = {e: Network(n["layers"], n["activations"], n["weights"], n["normalize"])
                        for e, n in data["networks"].items()}
            potential = cls(sf, scaling, networks, data["energy_unit"], data["atom_energy"],
                            data.get("metadata"))
        except (KeyError, TypeError) as error:
            raise ValueError(f"{source}: malformed potential file ({error!r})") from None
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None
        potential.n2p2 = data.get("n2p2")
        return potential

    def save(self, path):
        """Write a ``.fastpot`` file (JSON, exact round trip of every number), atomically."""
        from fastpot._files import atomic_write
        path = Path(path)
        if path.suffix != ".fastpot":
            raise ValueError(f"potential files end in .fastpot, got {path.name!r}")
        atomic_write(path, json.dumps(self.to_dict(), allow_nan=False, indent=1) + "\n")

    @classmethod
    def load(cls, path):
        """Read a ``.fastpot`` file. Plain data only: loading never executes code."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"potential file not found: {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path}: not a fastpot potential file ({error})") from None
        return cls.from_dict(data, source=str(path))

    def copy(self):
        other = Potential.from_dict(self.to_dict())
        return other

