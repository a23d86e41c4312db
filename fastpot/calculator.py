"""The ASE calculator: ``atoms.calc = FastpotCalculator(potential)`` or ``pot.calculator()``."""
import warnings

from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes

from fastpot._threading import OneThreadAtATime
from fastpot.neighbors import NeighborList


class FastpotCalculator(Calculator):
    """ASE calculator for a fastpot ``Potential``.

    One evaluation gives every property (energy, free_energy, per-atom energies, forces and,
    for cells periodic in all directions, stress), so asking for forces after the energy of the
    same structure costs nothing. The neighbour list is kept between calls with a Verlet skin,
    so molecular dynamics and relaxations rarely search for neighbours.

    Options live in ``calc.parameters``, as in every ASE calculator: give them as keyword
    arguments, change them with ``calc.set(...)`` (which discards the results) and read the
    ones that differ from the defaults with ``calc.todict()``.

    Parameters
    ----------
    potential : Potential
    n_threads : int or None
        OpenMP threads (None: OMP_NUM_THREADS or the CPUs this process may use).
    skin : float
        Verlet skin of the kept neighbour list, Å.
    warn_extrapolation : bool
        Issue a warning when a structure leaves the training range of the symmetry functions;
        the count is in ``results["extrapolations"]`` either way.
    n2p2_forces : bool
        Reproduce n2p2's nnp-predict forces where they differ from the exact gradient (for
        comparisons only).
    forces_std : bool
        For a committee: compute ``results["forces_std"]`` with every evaluation (one backward
        pass per member, about 2.6x the cost of the mean for 4 members). Without it, asking
        for the property (``calc.get_property("forces_std")``) computes it for that structure.

    A committee potential also fills ``results["energy_std"]`` (eV) and
    ``results["energies_std"]`` (per atom, eV) with every evaluation: the standard deviation
    over the members (ddof = 0); energy, forces and stress are the members' mean.

    A calculator keeps the state of the structure it last computed (as every ASE calculator
    does): it is not thread-safe, and a second thread using it while the first is raises
    RuntimeError. Give each thread its own; they may share one Potential.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress",
                              "energy_std", "energies_std", "forces_std"]
    default_parameters = {"n_threads": None, "skin": 0.5, "warn_extrapolation": False,
                          "n2p2_forces": False, "forces_std": False}
    # every option changes the results or how they are obtained: a change discards them
    discard_results_on_any_change = True
    nolabel = True

    def __init__(self, potential, **kwargs):
        self.potential = potential
        self.neighbor_list = None
        self.in_use = OneThreadAtATime("FastpotCalculator")
        super().__init__(**kwargs)  # hands the options to set()

    def get_property(self, name, atoms=None, allow_calculation=True):
        # held from the check of the stored results to their return, so that no other
        # thread's structure replaces them in between
        with self.in_use:
            return super().get_property(name, atoms, allow_calculation)

    def set(self, **kwargs):
        """Change options (see the class); returns the ones that changed. A new skin or
        thread count gives a new neighbour list."""
        unknown = sorted(set(kwargs) - set(self.default_parameters))
        if unknown:
            raise TypeError(f"unknown option(s) {', '.join(unknown)} for FastpotCalculator; "
                            f"options: {', '.join(self.default_parameters)}")
        options = {**self.parameters, **kwargs}
        # built before anything changes, so that a bad skin or n_threads leaves no trace
        neighbor_list = NeighborList(self.potential.cutoff, skin=options["skin"],
                                     n_threads=options["n_threads"])
        changed = super().set(**kwargs)
        if self.neighbor_list is None or {"skin", "n_threads"} & set(changed):
            self.neighbor_list = neighbor_list
        return changed

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        with self.in_use:
            self._calculate(atoms, properties, system_changes)

    def _calculate(self, atoms, properties, system_changes):
        super().calculate(atoms, properties, system_changes)
        atoms = self.atoms
        if "stress" in properties and not atoms.pbc.all():
            raise PropertyNotImplementedError(
                f"stress needs a cell that is periodic in all three directions (this one has "
                f"pbc={atoms.pbc.tolist()})")
        if len(atoms) == 0:
            raise ValueError("the structure has no atoms")
        committee = self.potential.is_committee
        wanted = set(properties) & {"energy_std", "energies_std", "forces_std"}
        if wanted and not committee:
            raise PropertyNotImplementedError(
                f"{', '.join(sorted(wanted))} need a committee potential (this one has one "
                "model)")
        forces_std = committee and (self.parameters.forces_std or "forces_std" in properties)
        self.neighbor_list.update(atoms)
        result = self.potential.evaluate(atoms, forces=True, stress=True,
                                         n_threads=self.parameters.n_threads,
                                         neighbor_list=self.neighbor_list,
                                         n2p2_forces=self.parameters.n2p2_forces,
                                         forces_std=forces_std)
        self.results = {
            "energy": result["energy"],
            "free_energy": result["energy"],
            "energies": result["energies"],
            "forces": result["forces"],
            "extrapolations": result["extrapolations"],
        }
        for key in ("energy_std", "energies_std", "forces_std", "stress_std"):
            if key in result:
                self.results[key] = result[key]
        if "stress" in result:  # cells periodic in all three directions only
            self.results["stress"] = result["stress"]
        if self.parameters.warn_extrapolation and result["extrapolations"]:
            warnings.warn(f"{result['extrapolations']} symmetry-function value(s) of "
                          f"{len(result['extrapolating_atoms'])} atom(s) outside the training "
                          "range (extrapolation)", stacklevel=2)
