"""fastpot: fast Behler-Parrinello neural-network interatomic potentials on CPUs.

Pipeline: atoms -> neighbor list -> symmetry functions -> scaling -> per-element networks
-> energy, forces, stress -> trainer / MD / ASE calculator.
"""
__version__ = "0.1.0"

from fastpot import _kernels  # noqa: F401  (installs the kernel variant this CPU runs)
from fastpot._config import show_config
from fastpot.calculator import FastpotCalculator
from fastpot.n2p2 import read_input_data
from fastpot.neighbors import NeighborList, neighbor_list
from fastpot.network import Network
from fastpot.potential import Potential
from fastpot.scaling import Scaling
from fastpot.symmetry import (Angular, CompactAngular, CompactRadial, Radial, SymmetryFunctions,
                              WeightedAngular, WeightedRadial)
from fastpot.symmetry_sets import default_symmetry_functions

__all__ = ["Angular", "CompactAngular", "CompactRadial", "FastpotCalculator", "NeighborList",
           "Network", "Potential", "Radial", "Scaling", "SymmetryFunctions", "WeightedAngular",
           "WeightedRadial", "default_symmetry_functions", "neighbor_list", "read_input_data",
           "show_config", "__version__"]
