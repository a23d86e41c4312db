"""Potentials made for the tests (random networks on small symmetry-function sets), the
structures they are evaluated on, and the units of the n2p2 reference potentials."""
import numpy as np
from ase.build import bulk

from fastpot import Network, Potential, Scaling, default_symmetry_functions

# Bohr per Å and Hartree per eV: the units of n2p2's water potential (H2O_RPBE-D3)
BOHR, HARTREE = 1.8897261328, 0.0367493254


def synthetic_potential(seed=0, activations="ttl", normalize=False, cutoff=4.5):
    """Two elements, random networks, scaling fitted to a few rattled cells."""
    sf = default_symmetry_functions(["Cu", "O"], cutoff=cutoff, n_shifted=4, n_centred=2,
                                    n_angular_eta=1, zetas=(1.0, 4.0), wide=False)
    structures = [oxide(s) for s in range(3)]
    scaling = Scaling.from_data(sf, [sf.compute(a) for a in structures], mode="scalecenter")
    rng = np.random.default_rng(seed)
    networks = {e: Network([sf.n_functions(e), 8, 6, 1], activations, normalize=normalize)
                .initialize(rng) for e in sf.elements}
    for net in networks.values():
        net.weights = net.weights * 3.0
    return Potential(sf, scaling, networks, energy_unit=0.7, atom_energy={"Cu": -3.2, "O": -1.1})


def oxide(seed, repeat=2):
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat(repeat)
    atoms.symbols[::3] = "O"
    atoms.rattle(0.15, seed=seed)
    return atoms


def assert_same_predictions(a, b, structures, rtol=0.0, atol=0.0):
    for atoms in structures:
        ra, rb = a.evaluate(atoms), b.evaluate(atoms)
        np.testing.assert_allclose(ra["energies"], rb["energies"], rtol=rtol, atol=atol)
        np.testing.assert_allclose(ra["forces"], rb["forces"], rtol=rtol, atol=atol)


def ideal_gas_potential(cutoff=0.2):
    """A copper potential whose energy is zero everywhere (all weights zero) with a short
    cutoff: its atoms are an ideal gas, the exact reference for thermostats and barostats."""
    sf = default_symmetry_functions(["Cu"], cutoff=cutoff, r_inner=cutoff / 2, n_shifted=2,
                                    n_centred=1, n_angular_eta=1, zetas=(1.0,))
    sample = bulk("Cu", "fcc", a=cutoff * 0.9, cubic=True)
    scaling = Scaling.from_data(sf, [sf.compute(sample)], mode="center")
    network = Network([sf.n_functions("Cu"), 4, 1], "tl").initialize(np.random.default_rng(0))
    network.weights = 0.0 * network.weights
    return Potential(sf, scaling, {"Cu": network})


def labelled_frames(samples):
    """Atoms of fastpot Samples with their references in info/arrays, for writing extxyz
    training files that the command line reads back."""
    frames = []
    for sample in samples:
        atoms = sample.atoms.copy()
        atoms.info["energy"] = sample.energy
        atoms.arrays["forces"] = sample.forces
        if sample.stress is not None:
            atoms.info["stress"] = sample.stress
        frames.append(atoms)
    return frames
