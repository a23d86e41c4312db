"""Descriptors, stored derivatives and references of a group of training structures, laid
out for the loss kernels (ext/_training.pyx).

Atoms of all structures are concatenated; per-atom function rows are grouped by element
(see SymmetryFunctions.layout). The trainer holds one TrainingSet per minibatch (and, over
MPI, per rank and minibatch), so that a minibatch step touches only its own arrays and a
full-batch loss is the sum over them.

Built in two stages: the constructor computes the descriptors and keeps the neighbour lists;
``store_derivatives`` then computes dG/dR for the atoms whose forces are fitted, which the
trainer decides from the sizes of all sets together (``derivative_nbytes``).
"""
import numpy as np

from fastpot.symmetry import _slots


class TrainingSet:
    """Structures `samples` (with global indices `indices`, which seed the force subsample
    so that it does not depend on how the structures are grouped)."""

    def __init__(self, samples, sf, n_threads, indices=None):
        self.sf = sf
        self.samples = list(samples)
        self.indices = np.arange(len(samples)) if indices is None else np.asarray(indices)
        self.n_threads = n_threads
        n = [s.n_atoms for s in samples]
        self.n_structures = len(samples)
        self.structure_start = np.concatenate([[0], np.cumsum(n)]).astype(np.int64)
        self.n_atoms = np.array(n, dtype=np.int64)
        self.species = (np.concatenate([sf.species(s.atoms) for s in samples]).astype(np.int32)
                        if samples else np.zeros(0, dtype=np.int32))
        self.row_start, block_start, self.counts, self.widths = sf.layout(self.species)
        self.element_atoms = [np.flatnonzero(self.species == k) for k in range(len(sf.elements))]
        self.block_start = block_start
        self.n_functions = self.widths[self.species].astype(np.int32)
        self.has_energy = np.array([s.energy is not None for s in samples], dtype=bool)
        self.energy = np.array([s.energy if s.energy is not None else 0.0 for s in samples])
        self.composition = np.zeros((len(samples), len(sf.elements)))
        for k, (a, b) in enumerate(zip(self.structure_start[:-1], self.structure_start[1:])):
            self.composition[k] = np.bincount(self.species[a:b], minlength=len(sf.elements))

        self.G = np.zeros(block_start[-1])
        self._neighbor_lists = []     # (structure, list) of those with forces, until stored
        for k, sample in enumerate(samples):
            a, b = self.structure_start[k], self.structure_start[k + 1]
            try:
                nl = sf.neighbor_list(sample.atoms, n_threads)
            except ValueError as error:  # overlapping atoms, a bad cell: say which structure
                raise ValueError(f"{sample.source or f'structure {k}'}: {error}") from None
            flat, _ = sf._values(self.species[a:b], nl, n_threads)
            local_row = sf.layout(self.species[a:b])[0]
            # move each atom's row to its place in this set's layout
            for i in range(b - a):
                w = self.widths[self.species[a + i]]
                self.G[self.row_start[a + i]:self.row_start[a + i] + w] = \
                    flat[local_row[i]:local_row[i] + w]
            if sample.forces is not None:
                self._neighbor_lists.append((k, nl))
        self.derivative_nbytes = {}
        for k, nl in self._neighbor_lists:
            a, b = self.structure_start[k], self.structure_start[k + 1]
            slot_offsets = _slots(sf, self.species[a:b], nl)[0]
            self.derivative_nbytes[int(self.indices[k])] = 8 * int(
                (np.diff(slot_offsets) * self.widths[self.species[a:b]] * 3).sum())

        self.forces = np.zeros((len(self.species), 3))
        for k, sample in enumerate(samples):
            if sample.forces is not None:
                a, b = self.structure_start[k], self.structure_start[k + 1]
                self.forces[a:b] = sample.forces
        self.has_stress = np.array([s.stress is not None for s in samples], dtype=bool)
        self.stress = np.array([s.stress if s.stress is not None else np.zeros(6)
                                for s in samples]).reshape(len(samples), 6)
        self.volume = np.array([abs(s.atoms.get_volume()) if s.atoms.pbc.all() else 0.0
                                for s in samples])
        # structure of every function row, for per-structure sums of row quantities
        atom_structure = np.repeat(np.arange(len(samples)), self.n_atoms)
        self.row_structure = np.empty(block_start[-1], dtype=np.int64)
        for k in range(len(sf.elements)):
            atoms = self.element_atoms[k]
            self.row_structure[block_start[k]:block_start[k + 1]] = np.repeat(
                atom_structure[atoms], self.widths[k])

    def store_derivatives(self, fraction, seed):
        """Stored dG/dR and strain derivatives. With `fraction` < 1 the forces of a random
        `fraction` of each structure's atoms are fitted (at least one), seeded by `seed` and
        the structure's global index; derivatives with respect to the other atoms are not
        needed and not stored."""
        sf = self.sf
        self.has_forces_atom = np.zeros(len(self.species), dtype=bool)
        slot_counts = np.zeros(len(self.species), dtype=np.int64)
        stored_sets = []
        for k, nl in self._neighbor_lists:
            a, b = self.structure_start[k], self.structure_start[k + 1]
            selected = np.ones(b - a, dtype=bool)
            if fraction < 1.0:
                selected[:] = False
                rng = np.random.default_rng([seed, int(self.indices[k])])
                selected[rng.choice(b - a, size=atoms_fitted(b - a, fraction),
                                    replace=False)] = True
            stored = sf.derivatives(self.samples[k].atoms, self.n_threads, neighbor_list=nl,
                                    max_bytes=2**62, selected=selected)
            stored_sets.append((k, stored))
            slot_counts[a:b] = np.diff(stored.slot_offsets)
            self.has_forces_atom[a:b] = selected
        self._neighbor_lists = []
        self.derivative_bytes = sum(stored.values.nbytes for _, stored in stored_sets)
        self.slot_offsets = np.concatenate([[0], np.cumsum(slot_counts)]).astype(np.int64)
        sizes_atom = slot_counts * self.n_functions * 3
        self.deriv_start = np.concatenate([[0], np.cumsum(sizes_atom)]).astype(np.int64)
        self.slot_atoms = np.zeros(self.slot_offsets[-1], dtype=np.int64)
        self.blocks = np.empty(self.deriv_start[-1])
        self.strain = np.zeros((self.block_start[-1], 6))
        for k, stored in stored_sets:
            a, b = self.structure_start[k], self.structure_start[k + 1]
            s0, s1 = self.slot_offsets[a], self.slot_offsets[b]
            self.slot_atoms[s0:s1] = stored.slot_atoms + a
            self.blocks[self.deriv_start[a]:self.deriv_start[b]] = stored.values
            if self.samples[k].stress is None:
                continue
            for i in range(b - a):
                w = self.widths[self.species[a + i]]
                self.strain[self.row_start[a + i]:self.row_start[a + i] + w] = \
                    stored.strain[stored.row_start[i]:stored.row_start[i] + w]
        self.has_stress &= np.array([s.forces is not None for s in self.samples], dtype=bool)

    def element_block(self, array, k):
        return array[self.block_start[k]:self.block_start[k + 1]].reshape(self.counts[k],
                                                                          self.widths[k])


def atoms_fitted(n_atoms, fraction):
    """How many of a structure's atoms have their forces fitted, for a force fraction."""
    return n_atoms if fraction >= 1.0 else max(1, int(round(fraction * n_atoms)))
