"""``Potential``: symmetry functions -> scaling -> per-element networks -> energy, forces,
stress, in eV and Å.

The atomic energy of atom i of element e is ``energy_unit * y_i + atom_energy[e]``, where y_i
is the output of element e's network for the scaled symmetry functions of atom i. Forces are
the exact negative gradient of the total energy, computed by the memory-light backward pass
of the symmetry functions (no dG/dR is ever stored).

A committee (ensemble) is K such sets of networks on one SymmetryFunctions and Scaling:
energies and forces are the members' mean, and their spread (population standard deviation
over the members, ddof = 0) is the uncertainty. The symmetry functions of each atom are
computed once for all members (ext/kernels/_fused.pyx committee_evaluate); the mean force
takes one backward pass of the mean dE/dG, the members' forces (for ``forces_std``) one pass
each.
"""
import copy
import json
from pathlib import Path

import numpy as np
from ase.stress import full_3x3_to_voigt_6_stress

from fastpot import _model
from fastpot._threading import resolve_threads
from fastpot.neighbors import check_pairs
from fastpot.network import Network, mean_network
from fastpot.scaling import Scaling
from fastpot.symmetry import (OVERLAP_CONSEQUENCE, SymmetryFunctions, function_from_row,
                              function_row)

FORMAT_NAME = "fastpot-potential"
FORMAT_VERSION = 2      # 2: "members" holds a committee's networks; version 1 still loads
READABLE_VERSIONS = (1, 2)


class Potential:
    """A Behler-Parrinello potential.

    Parameters
    ----------
    symmetry_functions : SymmetryFunctions
    scaling : Scaling
        Statistics for every element of the symmetry functions.
    networks : dict or list of dict
        Element -> Network, whose input size is that element's number of functions; a list
        of two or more such dicts (same layers for an element in all) is a committee.
    energy_unit : float
        eV per unit of network output.
    atom_energy : dict or None
        Element -> energy offset per atom in eV (reference energies).
    metadata : dict or None
        Free-form JSON-serialisable information (training settings, provenance).

    One Potential may be shared by several Python threads evaluating at once (the kernels
    keep their scratch per thread and only read the potential; tests/test_concurrency.py);
    changing its weights while another thread evaluates is not safe. A calculator holds
    per-structure state (its neighbour list): give each thread its own.
    """

    def __init__(self, symmetry_functions, scaling, networks, energy_unit=1.0, atom_energy=None,
                 metadata=None):
        self.sf = symmetry_functions
        self.scaling = scaling
        self.elements = symmetry_functions.elements
        members = list(networks) if isinstance(networks, (list, tuple)) else [networks]
        if isinstance(networks, (list, tuple)) and len(members) < 2:
            raise ValueError(f"a committee needs at least 2 members, got {len(members)}")
        for k, member in enumerate(members):
            where = f" in committee member {k}" if len(members) > 1 else ""
            if not isinstance(member, dict):
                raise TypeError(f"networks{where} must be a dict element -> Network")
            missing = [e for e in self.elements if e not in member]
            if missing:
                raise ValueError(f"no network for element(s) {missing}{where}")
            self._check_networks(member, symmetry_functions, scaling, where)
            if k:
                for element in self.elements:
                    a, b = members[0][element], member[element]
                    if (a.layers, a.activations, a.normalize) != \
                            (b.layers, b.activations, b.normalize):
                        raise ValueError(f"committee member {k} has network {b} for "
                                         f"{element}, member 0 {a}: members need the same "
                                         "layers")
        self.members = [{e: m[e] for e in self.elements} for m in members]
        self.energy_unit = _finite_number(energy_unit, "energy_unit")
        if self.energy_unit == 0.0:
            raise ValueError(f"energy_unit must be finite and nonzero, got {energy_unit}")
        atom_energy = dict(atom_energy or {})
        unknown = set(atom_energy) - set(self.elements)
        if unknown:
            raise ValueError(f"atom_energy for element(s) {sorted(unknown)} not in the potential")
        self.atom_energy = {e: _finite_number(atom_energy.get(e, 0.0), f"atom_energy of {e}")
                            for e in self.elements}
        self.metadata = dict(metadata or {})
        self.n2p2 = None  # original n2p2 normalisation, kept for a faithful export

    def _check_networks(self, networks, symmetry_functions, scaling, where):
        for element in self.elements:
            net = networks[element]
            if net.n_inputs != symmetry_functions.n_functions(element):
                raise ValueError(f"network of {element}{where} takes {net.n_inputs} inputs but "
                                 f"the element has {symmetry_functions.n_functions(element)} "
                                 "symmetry functions")
            if element not in scaling.stats:
                raise ValueError(f"no scaling statistics for element {element}")
            if len(scaling.stats[element]) != symmetry_functions.n_functions(element):
                raise ValueError(f"scaling statistics of {element} cover "
                                 f"{len(scaling.stats[element])} functions, not "
                                 f"{symmetry_functions.n_functions(element)}")

    @property
    def cutoff(self):
        return self.sf.cutoff

    @property
    def n_members(self):
        """Number of networks per element: 1, or the size of the committee."""
        return len(self.members)

    @property
    def is_committee(self):
        return len(self.members) > 1

    @property
    def networks(self):
        """Element -> Network. For a committee, the network of the members' mean
        (fastpot.network.mean_network): what MD, the C API, LAMMPS and n2p2 files run."""
        if not self.is_committee:
            return self.members[0]
        key = self._members_key()
        if getattr(self, "_mean_key", None) != key:
            self._mean = {e: mean_network([m[e] for m in self.members]) for e in self.elements}
            self._mean_key = key
        return self._mean

    def member(self, k):
        """Committee member k as a single-model Potential (sharing the symmetry functions,
        scaling and networks of this one)."""
        if not -self.n_members <= k < self.n_members:
            raise IndexError(f"committee member {k} out of range ({self.n_members} members)")
        potential = Potential(self.sf, self.scaling, self.members[k], self.energy_unit,
                              self.atom_energy, self.metadata)
        potential.n2p2 = self.n2p2
        return potential

    def __repr__(self):
        nets = ", ".join(f"{e}: {self.members[0][e]}" for e in self.elements)
        committee = f"committee of {self.n_members}; " if self.is_committee else ""
        return f"Potential({self.sf!r}; scaling {self.scaling.mode}; {committee}{nets})"

    # -- prediction ---------------------------------------------------------------------------
    def evaluate(self, atoms, forces=True, stress=True, n_threads=None, neighbor_list=None,
                 n2p2_forces=False, forces_std=False):
        """Energy (eV), per-atom energies and, if asked, forces (eV/Å) and ASE's stress
        (eV/Å^3, Voigt order; only for cells periodic in all three directions).

        Returns a dict with ``energy``, ``energies``, ``forces``, ``stress``,
        ``extrapolations`` (number of (atom, function) values outside the scaling range)
        and ``extrapolating_atoms``. ``n2p2_forces=True`` reproduces nnp-predict's forces where
        they are not the exact gradient (an atom seeing its own periodic image; §8).

        A committee gives the members' means, and also ``energy_std`` (eV),
        ``energies_std`` (per atom, eV) and ``member_energy`` (K,); with ``forces_std=True``
        also ``forces_std`` (eV/Å, (n_atoms, 3), per component), ``stress_std`` and
        ``member_forces`` (K, n_atoms, 3), at the cost of one backward pass per member
        (see benchmarks/RESULTS.md). Standard deviations are over the members, ddof = 0."""
        if not hasattr(atoms, "get_positions") or not hasattr(atoms, "numbers"):
            raise TypeError(f"expected an ase.Atoms object, got {type(atoms).__name__}")
        if forces_std and not self.is_committee:
            raise ValueError("forces_std needs a committee potential (this one has one model; "
                             "train with --committee K)")
        if len(atoms) == 0:
            raise ValueError("the structure has no atoms")
        n_threads = resolve_threads(n_threads)
        species = self.sf.species(atoms)
        if neighbor_list is None:
            neighbor_list = self.sf.neighbor_list(atoms, n_threads)
        else:
            check_pairs(neighbor_list, OVERLAP_CONSEQUENCE)
        want_gradient = bool(forces or stress or forces_std)
        with neighbor_list.in_use:  # no other thread may update it meanwhile
            if self.is_committee:
                return self._evaluate_committee(atoms, species, neighbor_list, want_gradient,
                                                bool(forces_std), bool(n2p2_forces), n_threads)
            return self._evaluate(atoms, species, neighbor_list, want_gradient,
                                  bool(n2p2_forces), n_threads)

    def _evaluate(self, atoms, species, nl, want_gradient, n2p2_forces, n_threads):
        energies, gradient, strain, outside = _model.evaluate(
            self.compiled(), species, nl.pairs, want_gradient, n2p2_forces, n_threads)
        _check_finite(energies, gradient if want_gradient else None)
        result = {"energy": float(energies.sum()), "energies": energies,
                  "extrapolations": int(outside.sum()),
                  "extrapolating_atoms": np.flatnonzero(outside)}
        if want_gradient:
            result["forces"] = -gradient
            volume = _periodic_volume(atoms)
            if volume:
                result["stress"] = full_3x3_to_voigt_6_stress(strain) / volume
        return result

    def _evaluate_committee(self, atoms, species, nl, want_gradient, forces_std, n2p2_forces,
                            n_threads):
        energies, outside, gradient, strain, gradients, strains = _model.evaluate_committee(
            self.compiled_committee(), species, nl.pairs, want_gradient, forces_std,
            n2p2_forces, n_threads)
        _check_finite(energies, gradient if want_gradient else None)
        member_energy = energies.sum(axis=1)
        result = {"energy": float(member_energy.mean()), "energies": energies.mean(axis=0),
                  "energy_std": float(member_energy.std()),
                  "energies_std": energies.std(axis=0), "member_energy": member_energy,
                  "extrapolations": int(outside.sum()),
                  "extrapolating_atoms": np.flatnonzero(outside)}
        if not want_gradient:
            return result
        result["forces"] = -gradient
        volume = _periodic_volume(atoms)
        if volume:
            result["stress"] = full_3x3_to_voigt_6_stress(strain) / volume
        if forces_std:
            result["member_forces"] = -gradients
            result["forces_std"] = gradients.std(axis=0)
            if volume:
                result["stress_std"] = np.array(
                    [full_3x3_to_voigt_6_stress(w) / volume for w in strains]).std(axis=0)
        return result

    def compiled(self):
        """The potential's numbers laid out for the fused kernel, rebuilt when the weights,
        scaling or energies changed."""
        key = (self._members_key(), id(self.scaling), self.energy_unit,
               tuple(self.atom_energy.items()))
        if getattr(self, "_compiled_key", None) != key:
            self._compiled = _model.ModelData(self)
            self._compiled_key = key
        return self._compiled

    def compiled_committee(self):
        """The members laid out for the committee kernel, rebuilt as compiled() is."""
        key = (self._members_key(), id(self.scaling), self.energy_unit,
               tuple(self.atom_energy.items()))
        if getattr(self, "_committee_key", None) != key:
            self._committee = _model.CommitteeData(
                [_model.ModelData(self.member(k)) for k in range(self.n_members)])
            self._committee_key = key
        return self._committee

    def _members_key(self):
        return tuple((m[e].version, id(m[e].weights)) for m in self.members
                     for e in self.elements)

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
        1.8897261328 and 0.0367493254 for Bohr and Hartree).

        Raises FileNotFoundError for a missing file and fastpot.n2p2.N2P2FormatError (a
        ValueError) naming the file, line and field for a malformed one; ValueError for bad
        units."""
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
            **({"members": [_networks_dict(m) for m in self.members]} if self.is_committee
               else {"networks": _networks_dict(self.members[0])}),
            "energy_unit": self.energy_unit,
            # copies: changing the dict must not change this potential
            "atom_energy": dict(self.atom_energy),
            "n2p2": copy.deepcopy(self.n2p2),
            "metadata": copy.deepcopy(self.metadata),
        }

    @classmethod
    def from_dict(cls, data, source="<dict>"):
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise ValueError(f"{source}: not a fastpot potential file")
        if data.get("version") not in READABLE_VERSIONS:
            raise ValueError(f"{source}: unsupported format version {data.get('version')!r} "
                             f"(this fastpot reads versions "
                             f"{', '.join(map(str, READABLE_VERSIONS))})")
        if data["version"] == 1 and "members" in data:
            raise ValueError(f"{source}: a version-1 file cannot hold a committee")
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
            if "members" in data:
                networks = [_networks_from_dict(m) for m in data["members"]]
            else:
                networks = _networks_from_dict(data["networks"])
            potential = cls(sf, scaling, networks, data["energy_unit"], data["atom_energy"],
                            data.get("metadata"))
        except (KeyError, TypeError, AttributeError) as error:  # a field of the wrong kind
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
        """Read a ``.fastpot`` file. Plain data only: loading never executes code.

        Raises FileNotFoundError when `path` is not a file, and ValueError (naming the file
        and the field) for anything else wrong in it: not UTF-8 JSON, another format or
        version, a missing or mistyped field, a value out of range."""
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



def _finite_number(value, name):
    """`value` as a finite float; a NaN here would make every energy NaN."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not np.isfinite(number):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return number


def _check_finite(energies, gradient):
    """Refuse what overflowed: weights or scaling statistics that are finite but huge (a
    corrupted file, 1e308 for 0.06) give inf or NaN energies, never to be returned silently."""
    bad = ~np.isfinite(energies)
    if bad.ndim == 2:  # committee: (members, atoms)
        bad = bad.any(axis=0)
    if gradient is not None:
        bad = bad | ~np.isfinite(gradient).all(axis=1)
    if bad.any():
        atom = int(np.flatnonzero(bad)[0])
        raise ValueError(f"the potential gives a non-finite energy or force for atom {atom} "
                         f"({int(bad.sum())} atom(s) affected): its weights or scaling "
                         "statistics overflow double precision")
    if not np.isfinite(energies.sum(axis=-1)).all():
        raise ValueError("the potential's total energy overflows double precision: its "
                         "weights or scaling statistics are too large")


def _periodic_volume(atoms):
    """The cell volume when the cell is periodic in all three directions, else 0."""
    cell = np.asarray(atoms.cell.array if hasattr(atoms, "cell") else np.zeros((3, 3)))
    pbc = np.asarray(getattr(atoms, "pbc", [False] * 3))
    # the triple product, not np.linalg.det: a LAPACK call here wakes BLAS threads that
    # then spin beside the kernels' own
    volume = abs(float((cell[0] * np.cross(cell[1], cell[2])).sum()))
    return volume if pbc.all() and volume > 0.0 else 0.0


def _networks_dict(networks):
    return {e: {"layers": net.layers, "activations": net.activations,
                "normalize": net.normalize, "weights": net.weights.tolist()}
            for e, net in networks.items()}


def _networks_from_dict(data):
    return {e: Network(n["layers"], n["activations"], n["weights"], n["normalize"])
            for e, n in data.items()}
