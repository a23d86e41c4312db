"""Built-in reference data made with ASE's EMT calculator, so that the demo and the tests
run anywhere: fcc cells rattled, strained, heated and with vacancies, with EMT energies,
forces and stress."""
import numpy as np

from fastpot.data import Sample


def emt_samples(n_structures=200, element="Cu", size=2, seed=0, alloy=None):
    """`n_structures` cubic fcc supercells (4 size^3 atoms) of `element`, each either rattled
    (thermal-like displacements), strained (up to +-4 % in any direction, sheared), with a
    vacancy, or both; `alloy` (a second EMT element) replaces a random fraction of atoms."""
    from ase.build import bulk
    from ase.calculators.emt import EMT
    rng = np.random.default_rng(seed)
    base = bulk(element, "fcc", cubic=True).repeat(size)
    samples = []
    for k in range(n_structures):
        atoms = base.copy()
        kind = k % 4
        strain = np.eye(3) + rng.uniform(-0.04, 0.04, size=(3, 3)) * (kind != 0)
        atoms.set_cell(atoms.cell.array @ (0.5 * (strain + strain.T)), scale_atoms=True)
        if kind == 3:
            del atoms[int(rng.integers(len(atoms)))]
        if alloy is not None:
            swap = rng.random(len(atoms)) < rng.uniform(0.0, 0.5)
            symbols = np.array(atoms.get_chemical_symbols())
            symbols[swap] = alloy
            atoms.set_chemical_symbols(symbols.tolist())
        amplitude = rng.uniform(0.02, 0.15)
        atoms.positions += rng.normal(size=atoms.positions.shape) * amplitude
        atoms.calc = EMT()
        sample = Sample(atoms.copy(), float(atoms.get_potential_energy()),
                        atoms.get_forces().copy(), atoms.get_stress().copy(),
                        source=f"EMT structure {k}")
        samples.append(sample)
    return samples
