"""Neighbour search: an O(N) cell list for any cell shape and periodicity.

``neighbor_list`` is a drop-in for ``ase.neighborlist.neighbor_list`` (letters ``i j d D S``);
``NeighborList`` is the reusable CSR object that the descriptor, force and MD kernels consume,
with a Verlet skin so that moving atoms rarely trigger a new search.
"""
import math
from types import SimpleNamespace

import numpy as np

from fastpot import _neighbors
from fastpot._kernels import Status
from fastpot._memory import physical_memory
from fastpot._threading import OneThreadAtATime, resolve_threads
from fastpot._validate import non_negative_number, positive_number, structure_arrays

# Bytes per pair at the peak of a search and of an energy + forces call. The list holds 48
# (j 4, shift 12, vector 24, distance 8), but the search fills per-thread chunks and then
# copies them into the list (measured peak 86 bytes/pair for "ijdD"), and an evaluation adds
# its per-entry gradients (measured 107; benchmarks/scale.py).
PEAK_BYTES_PER_PAIR = 112
# A search visiting more (atom, periodic image of a bin) combinations than this is refused:
# it comes from a cutoff many times longer than the cell and would run for minutes or hours.
MAX_BIN_VISITS = 2_000_000_000
MAX_REACH = 2**31 - 1  # bins searched in one direction, at most (the kernels take int32)
BINS_PER_CUTOFF = 1
# Default cap on a list's size: its peak (PEAK_BYTES_PER_PAIR) stays within this fraction of
# the machine's memory, so a request the machine cannot hold is an error, not the OOM killer.
PAIRS_MEMORY_FRACTION = 3 / 4
# Closer than this (Å), two atoms sit on one point and nothing downstream is defined.
OVERLAP_DISTANCE = 1e-8
# More neighbours than this per atom (a dense solid has ~100 within 6 Å) come from a tiny
# cell or wrong units; the per-atom work of the descriptors grows as their square and the
# kernels' per-thread scratch as their number.
MAX_NEIGHBORS = 10_000


def _default_max_pairs():
    """PAIRS_MEMORY_FRACTION of the machine's memory, in pairs."""
    return max(int(physical_memory() * PAIRS_MEMORY_FRACTION) // PEAK_BYTES_PER_PAIR,
               1_000_000)


def check_pairs(nl, consequence):
    """Raise ValueError naming the closest two atoms (and their distance) when any pair of a
    built NeighborList is closer than OVERLAP_DISTANCE, `consequence` ending the message; or
    naming the atom with the most neighbours when it has more than MAX_NEIGHBORS."""
    counts = nl.counts if nl.n_atoms else np.zeros(1, np.int64)
    if counts.max() > MAX_NEIGHBORS:
        i = int(np.argmax(counts))
        raise ValueError(f"atom {i} has {int(counts[i])} neighbours within the cutoff, more "
                         f"than {MAX_NEIGHBORS}: the cell is much smaller than the cutoff or "
                         "the positions are not in Å")
    if nl.n_pairs and nl.distances.min() < OVERLAP_DISTANCE:
        p = int(np.argmin(nl.distances))
        i = int(np.searchsorted(nl.offsets, p, side="right") - 1)
        j = int(nl.neighbors[p])
        raise ValueError(f"atoms {i} and {j} overlap (distance {nl.distances[p]:.3g}): "
                         f"{consequence}")


def _binning_frame(cell, pbc):
    """Rows spanning space: the periodic lattice vectors, completed by unit vectors
    orthogonal to them for the non-periodic directions."""
    frame = np.zeros((3, 3))
    periodic = np.flatnonzero(pbc)
    free = np.flatnonzero(~pbc)
    lengths = np.linalg.norm(cell, axis=1)
    for a in periodic:
        if lengths[a] == 0.0:
            raise ValueError(f"cell vector {a} is zero but direction {a} is periodic")
        frame[a] = cell[a]
    if len(periodic) == 3:
        volume = abs(np.linalg.det(cell))
        if volume <= 1e-12 * np.prod(lengths):
            raise ValueError(f"cell is singular (volume {volume:.3g}) but all directions are periodic")
    elif len(periodic) == 2:
        normal = np.cross(cell[periodic[0]], cell[periodic[1]])
        area = np.linalg.norm(normal)
        if area <= 1e-12 * lengths[periodic[0]] * lengths[periodic[1]]:
            raise ValueError(f"periodic cell vectors {periodic[0]} and {periodic[1]} are parallel")
        frame[free[0]] = normal / area
    elif len(periodic) == 1:
        axis = cell[periodic[0]] / lengths[periodic[0]]
        helper = np.eye(3)[np.argmin(np.abs(axis))]
        u = helper - helper.dot(axis) * axis
        u /= np.linalg.norm(u)
        frame[free[0]] = u
        frame[free[1]] = np.cross(axis, u)
    else:
        frame = np.eye(3)
    return frame


def _plan_bins(positions, frame, pbc, cutoff, n_atoms):
    """Bin counts and search reach per direction, plus the frame origin/extent."""
    to_frame = np.linalg.inv(frame)
    # distance between the planes s_a = const and s_a + 1
    heights = 1.0 / np.linalg.norm(to_frame, axis=0)
    origin = np.zeros(3)
    extent = np.ones(3)
    if n_atoms and not pbc.all():
        scaled = positions @ to_frame
        low, high = scaled.min(axis=0), scaled.max(axis=0)
        for a in np.flatnonzero(~pbc):
            origin[a] = low[a]
            extent[a] = max(high[a] - low[a], 1e-300)
            heights[a] = extent[a]  # free frame vectors have unit length
    # Bins a little wider than the cutoff: one bin of reach in each direction suffices.
    nbins = np.maximum(1, np.floor(BINS_PER_CUTOFF * heights / (cutoff * (1.0 + 1e-10)))).astype(np.int64)
    nbins[~pbc & (extent <= 1e-300)] = 1
    # Never more bins than atoms (a molecule in a huge box must not allocate gigabytes).
    limit = max(n_atoms, 1)
    while np.prod(nbins) > limit:
        nbins = np.maximum(1, (nbins * (limit / np.prod(nbins)) ** (1.0 / 3.0)).astype(np.int64))
    reach = np.zeros(3, dtype=np.int64)
    # along a non-periodic direction with a single bin there is nothing to reach for
    searched = pbc | (nbins > 1)
    # capped before the cast: a cutoff of 1e200 would overflow int64 into a negative reach
    # (and a silently short list); any reach near the cap is refused by the caller's guard
    reach[searched] = np.minimum(
        np.ceil(cutoff * nbins[searched] / heights[searched] * (1.0 + 1e-10)), MAX_REACH)
    reach[~pbc] = np.minimum(reach[~pbc], nbins[~pbc] - 1)
    return to_frame, origin, extent, heights, nbins, reach


class NeighborList:
    """Full neighbour list in CSR layout, reusable as atoms move.

    After ``build``, the neighbours of atom ``i`` are the entries
    ``offsets[i]:offsets[i + 1]`` of ``neighbors`` (atom index j), ``shifts`` (integer lattice
    shift S), ``vectors`` (D = r_j - r_i + S @ cell) and ``distances`` (|D|), exactly as ASE's
    ``neighbor_list("ijSDd")`` defines them. Every pair appears in both directions.

    With ``skin > 0`` the list holds every pair closer than ``cutoff + skin`` and ``update``
    only recomputes vectors and distances until some atom has moved far enough that a pair
    might have entered the cutoff unseen; then it searches again. Consumers must therefore
    test ``distances < cutoff`` themselves (the symmetry-function kernels do).

    A list belongs to one structure and one thread at a time: a second thread building,
    updating or evaluating with it while the first is raises RuntimeError (``in_use`` is the
    guard; the evaluations that take a list hold it too).

    Parameters
    ----------
    cutoff : float
        Cutoff radius (same length unit as the positions), > 0.
    skin : float
        Verlet skin added to the cutoff, >= 0.
    self_interaction : bool
        Include each atom as its own neighbour at zero shift (ASE's option).
    n_threads : int or None
        OpenMP threads (None: OMP_NUM_THREADS or the CPUs this process may use).
    max_pairs : int or None
        Refuse (ValueError) to hold more pairs than this; default: as many as keep the peak
        within PAIRS_MEMORY_FRACTION of the machine's memory.
    """

    def __init__(self, cutoff, skin=0.0, self_interaction=False, n_threads=None, max_pairs=None):
        self.cutoff = positive_number(cutoff, "cutoff")
        self.skin = non_negative_number(skin, "skin")
        self.self_interaction = bool(self_interaction)
        self.n_threads = n_threads
        resolve_threads(n_threads)  # fail early on a bad value
        self.max_pairs = _default_max_pairs() if max_pairs is None else int(max_pairs)
        self.n_builds = 0
        self.pairs = None  # the list as the kernels take it (ext/_neighbors.pyx Pairs)
        self._positions = None
        self._cell = None
        self._pbc = None
        self.in_use = OneThreadAtATime("NeighborList")

    # -- building and updating -------------------------------------------------------------
    def build(self, atoms=None, *, positions=None, cell=None, pbc=None):
        """Search from scratch. Give an ASE Atoms object or raw arrays. Returns self."""
        positions, cell, pbc = structure_arrays(atoms, positions, cell, pbc)
        with self.in_use:
            return self._build(positions, cell, pbc)

    def _build(self, positions, cell, pbc):
        result = _search(positions, cell, pbc, self.cutoff + self.skin, self.self_interaction,
                         "SDd", max_pairs=self.max_pairs,
                         n_threads=resolve_threads(self.n_threads))
        self.pairs = _neighbors.Pairs(*result)
        self._positions = positions.copy()
        self._cell = cell.copy()
        self._pbc = pbc.copy()
        self.n_builds += 1
        return self

    def update(self, atoms=None, *, positions=None, cell=None, pbc=None):
        """Bring the list up to date with new positions (and cell).

        Returns True if a new search was needed, False if the stored pairs were reused
        (vectors and distances are recomputed either way).
        """
        positions, cell, pbc = structure_arrays(atoms, positions, cell, pbc)
        with self.in_use:
            if self._needs_search(positions, cell, pbc):
                self._build(positions, cell, pbc)
                return True
            self.pairs.refresh(positions, cell, resolve_threads(self.n_threads))
            return False

    def _needs_search(self, positions, cell, pbc):
        if self.pairs is None or positions.shape != self._positions.shape:
            return True
        if not np.array_equal(pbc, self._pbc):
            return True
        # only the periodic rows of the cell matter; the one criterion MD uses too
        cell = np.where(pbc[:, None], cell, self._cell)
        return _neighbors.needs_rebuild(positions, self._positions, np.ascontiguousarray(cell),
                                        self._cell, bool(pbc.all()), self.cutoff + self.skin,
                                        self.skin)

    # -- the arrays (see the class docstring) -------------------------------------------------
    @property
    def offsets(self):
        return None if self.pairs is None else self.pairs.offsets

    @property
    def neighbors(self):
        return None if self.pairs is None else self.pairs.neighbors

    @property
    def shifts(self):
        return None if self.pairs is None else self.pairs.shifts

    @property
    def vectors(self):
        return None if self.pairs is None else self.pairs.vectors

    @property
    def distances(self):
        return None if self.pairs is None else self.pairs.distances

    # -- views ------------------------------------------------------------------------------
    @property
    def n_atoms(self):
        return 0 if self.offsets is None else len(self.offsets) - 1

    @property
    def n_pairs(self):
        return 0 if self.offsets is None else int(self.offsets[-1])

    @property
    def counts(self):
        """Number of neighbours of each atom."""
        return np.diff(self.offsets)

    @property
    def centers(self):
        """Centre atom i of every entry (ASE's ``i``)."""
        return np.repeat(np.arange(self.n_atoms, dtype=np.int32), self.counts)

    @property
    def nbytes(self):
        """Memory held by the list, in bytes (the kernels' transposed list and per-entry
        gradient scratch included)."""
        if self.pairs is None:
            return 0
        p = self.pairs
        arrays = [p.offsets, p.neighbors, p.shifts, p.vectors, p.distances, p.entry_gradient,
                  p.incoming_offsets, p.incoming]
        return sum(a.nbytes for a in arrays if a is not None)

    def __repr__(self):
        return (f"NeighborList(cutoff={self.cutoff}, skin={self.skin}, n_atoms={self.n_atoms}, "
                f"n_pairs={self.n_pairs})")


def _search(positions, cell, pbc, cutoff, self_interaction, quantities, *, max_pairs,
            n_threads):
    """Validated arrays in, (offsets, j, shift, vector, distance) out; of shift ("S"),
    vector ("D") and distance ("d") only those in `quantities` are computed."""
    n_atoms = len(positions)
    if n_atoms == 0:
        return (np.zeros(1, np.int64), np.zeros(0, np.int32),
                np.zeros((0, 3), np.int32) if "S" in quantities else None,
                np.zeros((0, 3)) if "D" in quantities else None,
                np.zeros(0) if "d" in quantities else None)
    frame = _binning_frame(cell, pbc)
    to_frame, origin, extent, heights, nbins, reach = _plan_bins(positions, frame, pbc, cutoff,
                                                                 n_atoms)
    images = math.prod(2 * int(r) + 1 for r in reach)  # Python integers: no wrap-around
    if n_atoms * images > MAX_BIN_VISITS:
        shortest = float(heights[pbc].min()) if pbc.any() else float("nan")
        at_least = "at least " if reach.max() == MAX_REACH else ""  # the reach was capped
        raise ValueError(
            f"cutoff {cutoff:g} is {cutoff / shortest:.3g} times the shortest cell height "
            f"({shortest:.3g}): the search would visit {at_least}{images:.3g} periodic images "
            f"of each bin for each of {n_atoms} atoms. Use a larger cell or a shorter cutoff.")
    lattice = np.where(pbc[:, None], cell, 0.0)
    # Bin widths in a unit u (the height for periodic directions, frame length otherwise) and
    # the floor of |r|^2 / |u|^2, so the kernel can bound an atom's distance to a bin.
    scale = np.where(pbc, heights, 1.0)
    bin_width = np.where(pbc, heights, extent) / nbins
    u_to_r = frame / scale[:, None]
    metric_floor = float(np.linalg.eigvalsh(u_to_r @ u_to_r.T).min()) * (1.0 - 1e-9)
    plan = SimpleNamespace(
        lattice=np.ascontiguousarray(lattice), to_frame=np.ascontiguousarray(to_frame),
        origin=origin, extent=extent, periodic=pbc.astype(np.int32),
        nbins=nbins.astype(np.int32), reach=reach.astype(np.int32),
        bin_width=np.ascontiguousarray(bin_width), metric_floor=metric_floor)
    offsets, j, shift, vector, distance, status = _neighbors.search(
        positions, plan, cutoff, self_interaction, quantities, max_pairs, n_threads)
    if status == Status.NO_MEMORY:
        raise MemoryError("neighbour search ran out of memory")
    if status == Status.TOO_MANY_PAIRS:
        raise ValueError(
            f"the neighbour list would hold more than max_pairs={max_pairs} pairs "
            f"(~{max_pairs * PEAK_BYTES_PER_PAIR / 2**30:.1f} GiB at its peak; this machine "
            f"has {physical_memory() / 2**30:.1f} GiB) for {n_atoms} atoms with cutoff "
            f"{cutoff:g}: the cutoff is too long for this density, or atoms overlap")
    return offsets, j, shift, vector, distance


_LETTERS = "ijdDS"


def neighbor_list(quantities, atoms=None, cutoff=None, self_interaction=False, n_threads=None,
                  *, positions=None, cell=None, pbc=None, max_pairs=None):
    """ASE-compatible neighbour list: ``neighbor_list("ijdDS", atoms, cutoff)``.

    Returns one array per letter, in the order asked (a single array for a single letter):
    ``i`` centre atom, ``j`` neighbour atom, ``d`` distance, ``D`` vector r_j - r_i + S @ cell,
    ``S`` integer cell shift. Entries are sorted by ``i``; both directions of every pair are
    present. Instead of ``atoms`` you may pass ``positions``, ``cell`` and ``pbc`` arrays.
    """
    if not isinstance(quantities, str) or not quantities:
        raise TypeError(f"quantities must be a string of the letters {_LETTERS!r}, got {quantities!r}")
    unknown = sorted(set(quantities) - set(_LETTERS))
    if unknown:
        raise ValueError(f"unknown quantity letter(s) {''.join(unknown)!r}; "
                         f"supported: {_LETTERS!r}")
    if cutoff is None:
        raise TypeError("cutoff is required")
    if np.ndim(cutoff) != 0 or isinstance(cutoff, dict):
        raise TypeError("cutoff must be a single number (per-atom or per-pair cutoffs are not "
                        "supported)")
    cutoff = positive_number(cutoff, "cutoff")
    positions, cell, pbc = structure_arrays(atoms, positions, cell, pbc)
    offsets, j, shift, vector, distance = _search(
        positions, cell, pbc, cutoff, bool(self_interaction), quantities,
        max_pairs=_default_max_pairs() if max_pairs is None else int(max_pairs),
        n_threads=resolve_threads(n_threads))
    arrays = {}
    for letter in quantities:
        if letter == "i":
            arrays["i"] = np.repeat(np.arange(len(positions), dtype=np.int32), np.diff(offsets))
        elif letter == "j":
            arrays["j"] = j
        elif letter == "d":
            arrays["d"] = distance
        elif letter == "D":
            arrays["D"] = vector
        else:
            arrays["S"] = shift
    result = tuple(arrays[letter] for letter in quantities)
    return result[0] if len(result) == 1 else result
