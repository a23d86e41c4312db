"""Per-element reference energies: what the networks do not learn.

The networks fit E - sum_i mu(element of i); mu comes from isolated-atom energies when they
are known, else from least squares on the structures' compositions."""
from pathlib import Path

import numpy as np

from fastpot.data import elements_of


class Compositions:
    """Element counts and energies of structures (what the reference energies read)."""

    def __init__(self, samples, elements):
        index = {e: k for k, e in enumerate(elements)}
        self.elements = list(elements)
        self.composition = np.zeros((len(samples), len(elements)))
        for row, sample in zip(self.composition, samples):
            for symbol in sample.atoms.get_chemical_symbols():
                row[index[symbol]] += 1
        self.n_atoms = np.array([s.n_atoms for s in samples])
        self.has_energy = np.array([s.energy is not None for s in samples], dtype=bool)
        self.energy = np.array([s.energy if s.energy is not None else 0.0 for s in samples])


def reference_energies(data, isolated=None, log=print):
    """Per-element reference energies mu (eV) and the spread of what is left per atom (the
    network's energy unit); the networks learn E - sum_i mu(element of i).

    - With isolated-atom energies (`isolated`, {element: eV}, which must cover every
      element): mu = E_isolated + c, one shift c for all elements (the mean per-atom
      atomization energy of the data), so that the element split is the physical one and the
      networks still fit residuals of zero mean (as MACE's E0s with its mean shift).
    - Otherwise least squares on the composition matrix (structures x element counts). When
      its rank is below the number of elements (every structure with the same stoichiometry,
      say Cu2S only) the data do not determine the split; the rule then is: of all
      least-squares solutions, the one whose element energies spread least about their mean
      (for Cu2S, mu_Cu = mu_S = E(Cu2S) / 3). The log says so.
    """
    mask = data.has_energy
    elements = data.elements
    n_el = len(elements)
    if not mask.any():
        mu = np.array([isolated[e] for e in elements]) if isolated else np.zeros(n_el)
        return mu, 1.0
    A = data.composition[mask]
    b = data.energy[mask]
    n_atoms = data.n_atoms[mask]
    if isolated:
        prior = np.array([isolated[e] for e in elements])
        shift = float(np.mean((b - A @ prior) / n_atoms))
        mu = prior + shift
        log(f"reference energies: isolated-atom energies plus a common {shift:+.4f} eV/atom "
            "(the mean atomization energy per atom of the training data)")
    else:
        mu, _, rank, _ = np.linalg.lstsq(A, b, rcond=None)
        if rank < n_el:
            # every least-squares solution is mu + null @ z; take the one whose elements'
            # energies spread least about their mean (A @ ones != 0: counts are positive)
            null = np.linalg.svd(A)[2][rank:].T
            centre = np.eye(n_el) - 1.0 / n_el
            z, *_ = np.linalg.lstsq(centre @ null, -centre @ mu, rcond=None)
            mu = mu + null @ z
            log(f"reference energies: the composition matrix of the training data has rank "
                f"{rank} for {n_el} elements (too few different stoichiometries), so the "
                "data do not fix the energy of each element; using the least-squares "
                "solution whose element energies are closest to one another. Give "
                "isolated-atom energies (atom_energies option, or single-atom non-periodic "
                "structures in the data) to set them")
    residual = (b - A @ mu) / n_atoms
    unit = float(np.std(residual))
    return mu, unit if unit > 1e-4 else 1e-2


def isolated_atom_energies(option, train, log=print):
    """({element: eV} or None, training samples without the isolated atoms).

    Isolated atoms come from the `atom_energies` option (a {element: eV} table, or a file of
    single-atom structures with energies) or from the training data: single-atom structures
    with an energy and no periodic direction are taken out of the fit and used as isolated-
    atom energies."""
    table = {}
    if isinstance(option, (str, Path)):
        from fastpot.data import read_samples
        for sample in read_samples(option):
            if sample.n_atoms != 1 or sample.energy is None:
                raise ValueError(f"atom_energies file {option}: {sample.source} is not one "
                                 "atom with an energy")
            table[sample.atoms.get_chemical_symbols()[0]] = sample.energy
    elif isinstance(option, dict):
        from ase.data import atomic_numbers
        for element, energy in option.items():
            if element not in atomic_numbers:
                raise ValueError(f"atom_energies: unknown element {element!r}")
            if not isinstance(energy, (int, float)) or not np.isfinite(energy):
                raise ValueError(f"atom_energies: the energy of {element} must be a finite "
                                 f"number (eV), got {energy!r}")
            table[element] = float(energy)
    elif option is not None:
        raise ValueError("atom_energies must be a {element: eV} table or the path of a file "
                         f"of isolated atoms, got {option!r}")
    found = [s for s in train
             if s.n_atoms == 1 and s.energy is not None and not s.atoms.pbc.any()]
    if found:
        log(f"{len(found)} isolated atom(s) in the training data used as reference energies "
            "and left out of the fit")
        for sample in found:
            table.setdefault(sample.atoms.get_chemical_symbols()[0], sample.energy)
        train = [s for s in train if not any(s is f for f in found)]
    if not table:
        return None, train
    missing = [e for e in elements_of(train) if e not in table]
    if missing:
        raise ValueError(f"isolated-atom energies are given for {', '.join(sorted(table))} "
                         f"but not for {', '.join(missing)} of the training data")
    return table, train
