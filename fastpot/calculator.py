"""The ASE calculator: ``atoms.calc = FastpotCalculator(potential)`` or ``pot.calculator()``."""
import warnings

from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from fastpot.neighbors import NeighborList


class FastpotCalculator(Calculator):
    """ASE calculator for a fastpot ``Potential``.

    One evaluation gives every property (energy, free_energy, per-atom energies, forces and,
    for cells periodic in all directions, stress), so asking for forces after the energy of the
    same structure costs nothing. The neighbour list is kept between calls with a Verlet skin,
    so molecular dynamics and relaxations rarely search for neighbours.

    Parameters
    ----------
    potential : Potential
    n_threads : int or None
        OpenMP threads (None: OMP_NUM_THREADS or all cores).
    skin : float
        Verlet skin of the kept neighbour list, Å.
    warn_extrapolation : bool
        Issue a warning when a structure leaves the training range of the symmetry functions;
        the count is in ``results["extrapolations"]`` either way.
    n2p2_forces : bool
        Reproduce n2p2's nnp-predict forces where they differ from the exact gradient (for
        comparisons only).
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, potential, n_threads=None, skin=0.5, warn_extrapolation=False,
                 n2p2_forces=False, **kwargs):
        super().__init__(**kwargs)
        self.potential = potential
        self.n_threads = n_threads
        self.warn_extrapolation = warn_extrapolation
        self.n2p2_forces = n2p2_forces
        self.neighbor_list = NeighborList(potential.cutoff, skin=skin, n_threads=n_threads)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        if "stress" in properties and not atoms.pbc.all():
            raise PropertyNotImplementedError(
                "stress needs a cell that is periodic in all three directions")
        if len(atoms) == 0:
            raise ValueError("the structure has no atoms")
        self.neighbor_list.update(atoms)
        result = self.potential.evaluate(atoms, forces=True, stress=True,
                                         n_threads=self.n_threads,
                                         neighbor_list=self.neighbor_list,
                                         n2p2_forces=self.n2p2_forces)
        self.results = {
            "energy": result["energy"],
            "free_energy": result["energy"],
            "energies": result["energies"],
            "forces": result["forces"],
            "extrapolations": result["extrapolations"],
        }
        if "stress" in result:
            self.results["stress"] = result["stress"]
        if self.warn_extrapolation and result["extrapolations"]:
            warnings.warn(f"{result['extrapolations']} symmetry-function value(s) of "
                          f"{len(result['extrapolating_atoms'])} atom(s) outside the training "
                          "range (extrapolation)", stacklevel=2)

    def check_state(self, atoms, tol=1e-15):
        return super().check_state(atoms, tol=tol)

