"""fastpot: fast Behler-Parrinello neural-network interatomic potentials on CPUs.

Pipeline: atoms -> neighbor list -> symmetry functions -> scaling -> per-element networks
-> energy, forces, stress -> trainer / MD / ASE calculator.
"""
__version__ = "0.1.0"

from fastpot._config import show_config
from fastpot.neighbors import NeighborList, neighbor_list

__all__ = ["NeighborList", "neighbor_list", "show_config", "__version__"]
