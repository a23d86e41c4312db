"""Atom-centred symmetry functions: definitions, n2p2 order, and the compute front-end.

A ``SymmetryFunctions`` object holds, per central element, a list of radial (n2p2 type 2) and
angular (type 3 narrow, type 9 wide) functions sharing one cutoff function, and any of n2p2's
element-weighted (12, 13) and polynomial (20-25) types (fastpot/symmetry_factored.py). Functions are
kept in n2p2's internal order (N2P2_FORMAT.md §3), which is the order of the columns of every
array returned here and of the network inputs. The ``symfunction_short`` lines of n2p2's
``input.nn`` are read and written by fastpot/n2p2.py.
"""
from dataclasses import dataclass, replace

import numpy as np
from ase.data import atomic_numbers

from fastpot import _symmetry
from fastpot._memory import physical_memory
from fastpot._threading import resolve_threads
from fastpot.neighbors import NeighborList, check_pairs
from fastpot.symmetry_factored import (FACTORED_TYPES, CompactAngular, CompactRadial,
                                       WeightedAngular, WeightedRadial, _g, factored_tables,
                                       gaussian_numbers, neighbor_elements)
from fastpot.symmetry_factored import checked as _checked_factored


# Default limit of stored derivatives (``derivatives``): this fraction of the machine's memory.
DERIVATIVE_MEMORY_FRACTION = 1 / 4
# Why overlapping atoms are refused.
OVERLAP_CONSEQUENCE = "symmetry functions are undefined there"

CUTOFF_TYPES = {"hard": 0, "cos": 1, "tanhu": 2, "tanh": 3, "exp": 4,
                "poly1": 5, "poly2": 6, "poly3": 7, "poly4": 8}
CUTOFF_NAMES = {number: name for name, number in CUTOFF_TYPES.items()}


@dataclass(frozen=True)
class Radial:
    """n2p2 type 2: sum over neighbours j of element `neighbor` of exp(-eta (R - rs)^2) f_c(R)."""
    center: str
    neighbor: str
    eta: float
    rs: float
    rc: float

    kind = 2

    def sort_key(self, index):
        return (2, self.rc, self.eta, self.rs, index[self.neighbor])

    def describe(self):
        return (f"{self.center} type 2 neighbor {self.neighbor} eta={_g(self.eta)} "
                f"rs={_g(self.rs)} rc={_g(self.rc)}")


@dataclass(frozen=True)
class Angular:
    """n2p2 type 3 (narrow, ``wide=False``) or type 9 (wide): sum over neighbour pairs of
    2^(1-zeta) (1 + lam cos theta)^zeta exp(-eta sum (R - rs)^2) prod f_c, where the narrow
    form also includes the j-k distance in the exponent and the cutoff product."""
    center: str
    neighbor1: str
    neighbor2: str
    eta: float
    lam: float
    zeta: float
    rc: float
    rs: float = 0.0
    wide: bool = False

    @property
    def kind(self):
        return 9 if self.wide else 3

    def sort_key(self, index):
        return (self.kind, self.rc, self.eta, self.rs, self.zeta, self.lam,
                index[self.neighbor1], index[self.neighbor2])

    def describe(self):
        return (f"{self.center} type {self.kind} neighbors {self.neighbor1} {self.neighbor2} "
                f"eta={_g(self.eta)} lambda={_g(self.lam)} zeta={_g(self.zeta)} "
                f"rc={_g(self.rc)} rs={_g(self.rs)}")


def function_row(f):
    """A symmetry function as a dict of plain numbers and names (the ``.fastpot`` file)."""
    if isinstance(f, Radial):
        return {"type": 2, "neighbor": f.neighbor, "eta": f.eta, "rs": f.rs, "rc": f.rc}
    if isinstance(f, Angular):
        return {"type": f.kind, "neighbors": [f.neighbor1, f.neighbor2], "eta": f.eta,
                "lambda": f.lam, "zeta": f.zeta, "rc": f.rc, "rs": f.rs}
    if isinstance(f, WeightedRadial):
        return {"type": 12, "eta": f.eta, "rs": f.rs, "rc": f.rc}
    if isinstance(f, WeightedAngular):
        return {"type": 13, "eta": f.eta, "lambda": f.lam, "zeta": f.zeta, "rc": f.rc,
                "rs": f.rs}
    row = {"type": f.kind, "rl": f.rl, "rc": f.rc, "subtype": f.subtype}
    if isinstance(f, CompactRadial):
        return {**row, "neighbor": f.neighbor}
    return {**row, "neighbors": None if f.neighbor1 is None else [f.neighbor1, f.neighbor2],
            "angle_left": f.angle_left, "angle_right": f.angle_right}


def function_from_row(center, row):
    """The inverse of function_row (KeyError or TypeError when a field is missing)."""
    kind = row["type"]
    if kind == 2:
        return Radial(center, row["neighbor"], row["eta"], row["rs"], row["rc"])
    if kind in (3, 9):
        return Angular(center, *row["neighbors"], row["eta"], row["lambda"], row["zeta"],
                       row["rc"], row["rs"], wide=kind == 9)
    if kind == 12:
        return WeightedRadial(center, row["eta"], row["rs"], row["rc"])
    if kind == 13:
        return WeightedAngular(center, row["eta"], row["lambda"], row["zeta"], row["rc"],
                               row["rs"])
    if kind in (20, 23):
        neighbor = row["neighbor"] if kind == 20 else None
        if kind == 20 and neighbor is None:
            raise ValueError("a type 20 function needs a neighbor element")
        return CompactRadial(center, neighbor, row["rl"], row["rc"], row["subtype"])
    if kind in (21, 22, 24, 25):
        neighbors = row["neighbors"] if kind in (21, 22) else None
        if kind in (21, 22) and neighbors is None:
            raise ValueError(f"a type {kind} function needs two neighbor elements")
        n1, n2 = neighbors if neighbors is not None else (None, None)
        return CompactAngular(center, n1, n2, row["rl"], row["rc"], row["angle_left"],
                              row["angle_right"], row["subtype"], wide=kind in (22, 25))
    raise ValueError(f"unknown symmetry function type {kind!r}")


def _cutoff_type_number(cutoff_type):
    if isinstance(cutoff_type, str):
        if cutoff_type not in CUTOFF_TYPES:
            raise ValueError(f"unknown cutoff function {cutoff_type!r}; "
                             f"choose from {', '.join(CUTOFF_TYPES)}")
        return CUTOFF_TYPES[cutoff_type]
    if isinstance(cutoff_type, (int, np.integer)) and not isinstance(cutoff_type, bool):
        if int(cutoff_type) not in CUTOFF_NAMES:
            raise ValueError(f"unknown cutoff type {cutoff_type}; n2p2 types 0-8 are supported")
        return int(cutoff_type)
    raise TypeError(f"cutoff_type must be a name or an n2p2 number, got {cutoff_type!r}")


def _finite(value, what, where):
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: {what} must be a number, got {value!r}") from None
    if not np.isfinite(value):
        raise ValueError(f"{where}: {what} must be finite, got {value}")
    return value


class SymmetryFunctions:
    """Symmetry-function definitions for a set of elements.

    Parameters
    ----------
    elements : sequence of str
        Chemical symbols; stored sorted by atomic number (n2p2's element order).
    functions : sequence of Radial / Angular / WeightedRadial / WeightedAngular /
                CompactRadial / CompactAngular
        Every function of every element. Lengths in Å, eta in 1/Å^2, angles in degrees.
    cutoff_type : str or int
        One of ``hard cos tanhu tanh exp poly1 poly2 poly3 poly4`` or n2p2's number 0-8.
    cutoff_alpha : float
        Inner cutoff as a fraction of rc, in [0, 1) (ignored by tanhu and tanh, as in n2p2).
    """

    def __init__(self, elements, functions, cutoff_type="cos", cutoff_alpha=0.0):
        elements = list(elements)
        for symbol in elements:
            if symbol not in atomic_numbers or symbol == "X":
                raise ValueError(f"unknown element {symbol!r}")
        if len(set(elements)) != len(elements) or not elements:
            raise ValueError(f"elements must be distinct and not empty, got {elements}")
        self.elements = tuple(sorted(elements, key=lambda s: atomic_numbers[s]))
        self.index = {symbol: k for k, symbol in enumerate(self.elements)}
        self.cutoff_type = _cutoff_type_number(cutoff_type)
        alpha = _finite(cutoff_alpha, "cutoff alpha", "cutoff function")
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"cutoff alpha must be in [0, 1), got {alpha}")
        self.cutoff_alpha = alpha
        checked = [self._checked(f, number) for number, f in enumerate(functions)]
        self.functions = {}
        for symbol in self.elements:
            own = [f for f in checked if f.center == symbol]
            if not own:
                raise ValueError(f"element {symbol} has no symmetry functions")
            own.sort(key=lambda f: f.sort_key(self.index))
            for a, b in zip(own, own[1:]):
                if a == b:
                    raise ValueError(f"symmetry function defined twice: {a.describe()}")
            self.functions[symbol] = tuple(own)
        self.cutoff = max(f.rc for fs in self.functions.values() for f in fs)
        self._tables = None

    def _checked(self, f, number):
        where = f"symmetry function {number}"
        if not isinstance(f, (Radial, Angular) + FACTORED_TYPES):
            raise TypeError(f"{where}: expected one of Radial, Angular, "
                            f"{', '.join(t.__name__ for t in FACTORED_TYPES)}; got "
                            f"{type(f).__name__}")
        where = f"{where} ({f.describe()})"
        if isinstance(f, Radial):
            names = [f.center, f.neighbor]
        elif isinstance(f, Angular):
            names = [f.center, f.neighbor1, f.neighbor2]
        else:
            names = [f.center] + neighbor_elements(f)
        for symbol in names:
            if symbol not in self.index:
                raise ValueError(f"{where}: element {symbol!r} is not one of {self.elements}")
        def number(value, what):
            return _finite(value, what, where)
        if isinstance(f, FACTORED_TYPES):
            return _checked_factored(f, self.index, where, number)
        numbers = gaussian_numbers(f, where, number)
        if isinstance(f, Radial):
            return replace(f, **numbers)
        n1, n2 = f.neighbor1, f.neighbor2
        if self.index[n1] > self.index[n2]:
            n1, n2 = n2, n1  # n2p2 stores the neighbour pair ordered by element index
        return replace(f, neighbor1=n1, neighbor2=n2, wide=bool(f.wide), **numbers)

    # -- descriptions -------------------------------------------------------------------------
    def n_functions(self, element):
        return len(self.functions[element])

    def __len__(self):
        return sum(len(fs) for fs in self.functions.values())

    def __repr__(self):
        counts = ", ".join(f"{s}: {len(self.functions[s])}" for s in self.elements)
        return (f"SymmetryFunctions({counts}; cutoff {CUTOFF_NAMES[self.cutoff_type]}, "
                f"rc max {self.cutoff:g})")

    def __eq__(self, other):
        return (isinstance(other, SymmetryFunctions) and self.elements == other.elements
                and self.cutoff_type == other.cutoff_type
                and self.cutoff_alpha == other.cutoff_alpha and self.functions == other.functions)

    # -- kernels ------------------------------------------------------------------------------
    @property
    def tables(self):
        if self._tables is None:
            self._tables = _build_tables(self)
        return self._tables

    def species(self, atoms):
        """Element index of every atom (n2p2 element order); unknown elements are errors."""
        numbers = np.asarray(atoms.numbers if hasattr(atoms, "numbers") else atoms)
        lookup = np.full(max(int(numbers.max(initial=0)), max(atomic_numbers[s] for s in
                                                                self.elements)) + 1, -1,
                         dtype=np.int32)
        for symbol, k in self.index.items():
            lookup[atomic_numbers[symbol]] = k
        if numbers.size and numbers.min() < 0:
            raise ValueError("atomic numbers must be >= 0")
        species = lookup[numbers]
        bad = np.flatnonzero(species < 0)
        if bad.size:
            from ase.data import chemical_symbols
            atom = int(bad[0])
            raise ValueError(f"atom {atom} is {chemical_symbols[numbers[atom]]}, which has no "
                             f"symmetry functions (elements: {', '.join(self.elements)}); "
                             f"{bad.size} such atom(s)")
        return species

    def layout(self, species):
        """Where each atom's row starts in the flat buffer (atoms grouped by element, in
        input order within an element), the per-element blocks, and the buffer size."""
        counts = np.bincount(species, minlength=len(self.elements))
        widths = np.array([len(self.functions[s]) for s in self.elements])
        block_start = np.concatenate([[0], np.cumsum(counts * widths)])
        rank = np.zeros(len(species), dtype=np.int64)
        for k in range(len(self.elements)):
            members = np.flatnonzero(species == k)
            rank[members] = np.arange(len(members))
        row_start = block_start[species] + rank * widths[species]
        return row_start.astype(np.int64), block_start, counts, widths

    def neighbor_list(self, atoms, n_threads=None):
        """A NeighborList of the largest cutoff, built for `atoms`."""
        nl = NeighborList(self.cutoff, n_threads=n_threads).build(atoms)
        check_pairs(nl, OVERLAP_CONSEQUENCE)
        return nl

    def compute(self, atoms, n_threads=None, neighbor_list=None):
        """Unscaled symmetry functions: {symbol: (n_atoms_of_symbol, n_functions)} for every
        element present, rows in input order, columns in n2p2 order."""
        species = self.species(atoms)
        nl = neighbor_list if neighbor_list is not None else self.neighbor_list(atoms, n_threads)
        flat, row_start = self._values(species, nl, resolve_threads(n_threads))
        return self._split(flat, species)

    def _values(self, species, nl, n_threads):
        row_start, block_start, _, _ = self.layout(species)
        flat = np.empty(block_start[-1])
        _symmetry.values(self.tables, species, nl.pairs, row_start, flat, n_threads)
        return flat, row_start

    def _split(self, flat, species):
        _, block_start, counts, widths = self.layout(species)
        return {symbol: flat[block_start[k]:block_start[k + 1]].reshape(counts[k], widths[k])
                for k, symbol in enumerate(self.elements) if counts[k]}

    def _flatten(self, per_element, species, name):
        """The inverse of _split, with shape checks naming the element."""
        _, block_start, counts, widths = self.layout(species)
        flat = np.empty(block_start[-1])
        unknown = set(per_element) - {self.elements[k] for k in range(len(self.elements))
                                      if counts[k]}
        if unknown:
            raise ValueError(f"{name} has element(s) {sorted(unknown)} not in this structure")
        for k, symbol in enumerate(self.elements):
            if not counts[k]:
                continue
            if symbol not in per_element:
                raise ValueError(f"{name} is missing element {symbol}")
            block = np.asarray(per_element[symbol], dtype=np.float64)
            expected = (int(counts[k]), int(widths[k]))
            if block.shape != expected:
                raise ValueError(f"{name}[{symbol!r}] must have shape {expected}, "
                                 f"got {block.shape}")
            if not np.isfinite(block).all():
                raise ValueError(f"{name}[{symbol!r}] has non-finite values")
            flat[block_start[k]:block_start[k + 1]] = block.ravel()
        return flat

    def backward(self, atoms, dEdG, n_threads=None, neighbor_list=None):
        """Gradient of S = sum_i dEdG_i . G_i: returns (gradient (n_atoms, 3) with respect
        to positions, strain derivative (3, 3), symmetric). With dEdG = dE/dG, forces are
        -gradient and ASE's stress is strain_derivative / volume."""
        species = self.species(atoms)
        nl = neighbor_list if neighbor_list is not None else self.neighbor_list(atoms, n_threads)
        weights = self._flatten(dEdG, species, "dEdG")
        return self._backward(species, nl, weights, resolve_threads(n_threads))

    def _backward(self, species, nl, weights, n_threads, skip_self_images=False):
        row_start, _, _, _ = self.layout(species)
        _symmetry.backward(self.tables, species, nl.pairs, row_start, weights, n_threads)
        gradient, strain = nl.pairs.gather(skip_self_images, n_threads)
        return gradient, 0.5 * (strain + strain.T)

    def derivatives(self, atoms, n_threads=None, neighbor_list=None, max_bytes=None,
                    selected=None):
        """Stored sparse dG/dR of a structure (for training): see ``StoredDerivatives``.

        Only derivatives with respect to the `selected` atoms (a boolean mask; default all)
        are kept: the forces on those atoms are all a training loss needs. Refuses
        (MemoryError) to allocate more than `max_bytes` (default: DERIVATIVE_MEMORY_FRACTION
        of the machine's memory); ``derivative_nbytes`` tells the size beforehand."""
        species = self.species(atoms)
        nl = neighbor_list if neighbor_list is not None else self.neighbor_list(atoms, n_threads)
        slot_offsets, slot_atoms, slot_of_entry, self_slot = _slots(self, species, nl,
                                                                    selected)
        widths = np.array([len(self.functions[s]) for s in self.elements], dtype=np.int32)
        n_functions = widths[species]
        sizes = np.diff(slot_offsets) * n_functions * 3
        block_start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        nbytes = 8 * int(block_start[-1])
        if max_bytes is None:
            limit = int(physical_memory() * DERIVATIVE_MEMORY_FRACTION)
        else:
            limit = int(max_bytes)
        if nbytes > limit:
            raise MemoryError(f"stored symmetry-function derivatives of this structure need "
                              f"{nbytes / 2**20:.1f} MiB, more than the limit of "
                              f"{limit / 2**20:.1f} MiB (max_bytes)")
        values = np.zeros(block_start[-1])
        row_start, rows_end, _, _ = self.layout(species)
        strain = np.zeros((int(rows_end[-1]), 6))
        _symmetry.derivatives(self.tables, species, nl.pairs, slot_of_entry, self_slot,
                              block_start, values, row_start, strain, resolve_threads(n_threads))
        return StoredDerivatives(species, n_functions, slot_offsets, slot_atoms, block_start,
                                 values, strain, row_start)

    def derivative_nbytes(self, structures, n_threads=None):
        """Bytes that ``derivatives`` would hold for these structures, summed (neighbour
        lists only: cheap next to computing the derivatives)."""
        total = 0
        widths = np.array([len(self.functions[s]) for s in self.elements])
        for atoms in structures:
            species = self.species(atoms)
            slot_offsets, _, _, _ = _slots(self, species, self.neighbor_list(atoms, n_threads))
            total += 8 * int((np.diff(slot_offsets) * widths[species] * 3).sum())
        return total

    def compute_many(self, structures, n_threads=None):
        """``compute`` for each structure of a sequence; a list of dicts."""
        return [self.compute(atoms, n_threads=n_threads) for atoms in structures]


class StoredDerivatives:
    """dG_i/dr_j of one structure, kept only for the atoms j each centre i depends on.

    Centre i owns slots ``slot_offsets[i]:slot_offsets[i + 1]`` (atom i itself first when it
    is kept, then its neighbour atoms in increasing index; periodic images share a slot),
    with atom indices ``slot_atoms``. Its derivatives are
    ``values[block_start[i]:block_start[i + 1]].reshape(n_slots, n_functions_i, 3)``.
    """

    def __init__(self, species, n_functions, slot_offsets, slot_atoms, block_start, values,
                 strain=None, row_start=None):
        self.strain = strain          # [row_start[i] + s] -> dG_is/d(strain), Voigt (6,)
        self.row_start = row_start
        self.species = species
        self.n_functions = n_functions
        self.slot_offsets = slot_offsets
        self.slot_atoms = slot_atoms
        self.block_start = block_start
        self.values = values

    @property
    def nbytes(self):
        return sum(a.nbytes for a in (self.species, self.n_functions, self.slot_offsets,
                                      self.slot_atoms, self.block_start, self.values))

    def block(self, i):
        """(atoms, derivatives of shape (n_slots, n_functions, 3)) of centre i."""
        slots = slice(self.slot_offsets[i], self.slot_offsets[i + 1])
        values = self.values[self.block_start[i]:self.block_start[i + 1]]
        return self.slot_atoms[slots], values.reshape(-1, self.n_functions[i], 3)

    def gradient(self, weights_per_atom):
        """Gradient with respect to positions of sum_i w_i . G_i, for a list of per-atom weight
        vectors (a plain Python loop: for checks, not for speed)."""
        gradient = np.zeros((len(self.species), 3))
        for i, w in enumerate(weights_per_atom):
            atoms, block = self.block(i)
            np.add.at(gradient, atoms, np.einsum("s,asx->ax", w, block))
        return gradient


def _slots(sf, species, nl, selected=None):
    """Per centre, the atoms whose derivatives are kept: the centre itself, then its distinct
    neighbour atoms within its cutoff (increasing index), all restricted to `selected` (a
    boolean mask; None keeps every atom).

    Returns slot_offsets, slot_atoms, the slot of every neighbour entry (-1: not kept; an
    image of the centre maps to the centre's slot) and each centre's own slot (0 or -1)."""
    n_atoms = len(species)
    if selected is None:
        selected = np.ones(n_atoms, dtype=bool)
    centers = nl.centers.astype(np.int64)
    neighbors = nl.neighbors.astype(np.int64)
    rc = np.array([max(f.rc for f in sf.functions[s]) for s in sf.elements])
    within = nl.distances < rc[species[centers]]
    other = within & (neighbors != centers) & selected[neighbors]
    keys = np.unique(centers[other] * n_atoms + neighbors[other])
    own = selected.astype(np.int64)
    per_centre = np.bincount(keys // n_atoms, minlength=n_atoms) + own
    slot_offsets = np.concatenate([[0], np.cumsum(per_centre)])
    slot_atoms = np.empty(slot_offsets[-1], dtype=np.int64)
    first = slot_offsets[:-1]
    slot_atoms[first[selected]] = np.flatnonzero(selected)
    is_other = np.ones(slot_offsets[-1], dtype=bool)
    is_other[first[selected]] = False
    slot_atoms[is_other] = keys % n_atoms
    self_slot = np.where(selected, 0, -1).astype(np.int32)
    entry_keys = centers * n_atoms + neighbors
    rank = np.searchsorted(keys, entry_keys)
    centre_first = np.searchsorted(keys, np.arange(n_atoms) * n_atoms)
    slot_of_entry = np.full(len(neighbors), -1, dtype=np.int64)
    slot_of_entry[other] = (own[centers] + rank - centre_first[centers])[other]
    images = within & (neighbors == centers)
    slot_of_entry[images] = self_slot[centers[images]]
    return slot_offsets, slot_atoms, slot_of_entry.astype(np.int32), self_slot


def _build_tables(sf):
    """Flatten the definitions into the CSR tables the kernels read (ext/_contract.pxd
    `Tables`; ext/kernels/_sf.pyx says how they are used)."""
    n = len(sf.elements)
    rc_max = np.zeros(n)
    angular_rc_max = np.zeros(n)
    radial = {}      # (centre, neighbour) -> list of (eta, rs, rc, col)
    factors = []     # per centre: list of distinct (eta, rs, rc)
    groups = {}      # (centre, a, b) -> {(wide, factor): [(lam, zeta, col)]}
    for e, symbol in enumerate(sf.elements):
        own_factors = []
        for col, f in enumerate(sf.functions[symbol]):
            rc_max[e] = max(rc_max[e], f.rc)
            if isinstance(f, FACTORED_TYPES):
                continue  # ext/kernels/_sf_factored.pyx, tables from factored_tables()
            if isinstance(f, Radial):
                radial.setdefault((e, sf.index[f.neighbor]), []).append((f.eta, f.rs, f.rc, col))
                continue
            angular_rc_max[e] = max(angular_rc_max[e], f.rc)
            # n2p2 applies rs to angular functions only when rs > 0
            key = (f.eta, max(f.rs, 0.0), f.rc)
            if key not in own_factors:
                own_factors.append(key)
            pair = (e, sf.index[f.neighbor1], sf.index[f.neighbor2])
            groups.setdefault(pair, {}).setdefault((f.wide, own_factors.index(key)), []).append(
                (f.lam, f.zeta, col))
        factors.append(own_factors)

    radial_offsets = [0]
    radial_rows = []
    for e in range(n):
        for en in range(n):
            radial_rows.extend(radial.get((e, en), []))
            radial_offsets.append(len(radial_rows))
    radial_rows = np.array(radial_rows, dtype=np.float64).reshape(-1, 4)

    factor_offsets = np.concatenate([[0], np.cumsum([len(fs) for fs in factors])])
    factor_rows = np.array([row for fs in factors for row in fs], dtype=np.float64).reshape(-1, 3)

    group_offsets = [0]
    group_wide, group_factor, member_offsets, members = [], [], [0], []
    block_needs_rjk, block_narrow_cut = [], []
    member_power, power_rows, power_offsets = [], [], [0]
    for e in range(n):
        for a in range(n):
            for b in range(n):
                block = sorted(groups.get((e, a, b), {}).items())
                powers = []  # distinct (lambda, zeta) of the block, shared by its groups
                for (wide, factor), own in block:
                    group_wide.append(int(wide))
                    group_factor.append(factor)
                    for lam, zeta, col in own:
                        if (lam, zeta) not in powers:
                            powers.append((lam, zeta))
                        members.append((lam, zeta, col))
                        member_power.append(powers.index((lam, zeta)))
                    member_offsets.append(len(members))
                group_offsets.append(len(group_wide))
                power_rows.extend(powers)
                power_offsets.append(len(power_rows))
                narrow = [factors[e][factor][2] for (wide, factor), _ in block if not wide]
                block_needs_rjk.append(int(bool(narrow)))
                # with only narrow functions, partners farther than every rc from j add nothing
                block_narrow_cut.append(max(narrow) if narrow and len(narrow) == len(block)
                                        else -1.0)
    members = np.array(members, dtype=np.float64).reshape(-1, 3)
    power_rows = np.array(power_rows, dtype=np.float64).reshape(-1, 2)
    zeta = members[:, 1]
    arrays = {
        "n_functions": np.array([len(sf.functions[s]) for s in sf.elements], dtype=np.int64),
        "rc_max": rc_max, "angular_rc_max": angular_rc_max,
        "radial_offsets": np.array(radial_offsets, dtype=np.int64),
        "radial_eta": radial_rows[:, 0], "radial_rs": radial_rows[:, 1],
        "radial_rc": radial_rows[:, 2], "radial_col": radial_rows[:, 3].astype(np.int32),
        "factor_offsets": factor_offsets.astype(np.int64),
        "factor_eta": factor_rows[:, 0], "factor_rs": factor_rows[:, 1],
        "factor_rc": factor_rows[:, 2],
        "group_offsets": np.array(group_offsets, dtype=np.int64),
        "block_needs_rjk": np.array(block_needs_rjk, dtype=np.int32),
        "block_narrow_cut": np.array(block_narrow_cut, dtype=np.float64),
        "group_wide": np.array(group_wide, dtype=np.int32),
        "group_factor": np.array(group_factor, dtype=np.int32),
        "member_offsets": np.array(member_offsets, dtype=np.int64),
        "member_prefactor": 2.0 ** (1.0 - zeta),
        "member_col": members[:, 2].astype(np.int32),
        "member_power": np.array(member_power, dtype=np.int32),
        "power_offsets": np.array(power_offsets, dtype=np.int64),
        "power_lambda": power_rows[:, 0], "power_zeta": power_rows[:, 1],
        "power_izeta": np.where((power_rows[:, 1] == np.round(power_rows[:, 1]))
                                & (power_rows[:, 1] <= 100), power_rows[:, 1], -1).astype(np.int32),
    }
    return _symmetry.SymmetryTables(n, sf.cutoff_type, sf.cutoff_alpha, arrays,
                                    factored_tables(sf))
