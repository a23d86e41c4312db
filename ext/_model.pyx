"""A Potential as the fused kernel reads it (ext/kernels/_fused.pyx), and its evaluation:
energies, forces and strain derivative in one pass over the atoms."""
from libc.stdint cimport int32_t, int64_t

from _contract cimport *
from fastpot._dispatch cimport kernels, check
from fastpot._neighbors cimport Pairs, gather_entry_gradients
from fastpot._network cimport NetLayout
from fastpot._symmetry cimport SymmetryTables

import numpy as np

from fastpot.scaling import EXTRAPOLATION_EPS


cdef const double *_doubles(object array, list keep) except NULL:
    """Pointer to a float64 copy of `array` kept alive in `keep`."""
    array = np.ascontiguousarray(array, dtype=np.float64)
    if array.size == 0:
        array = np.zeros(1)
    keep.append(array)
    cdef const double[::1] view = array.ravel()
    return &view[0]


cdef class ModelData:
    """A Potential's numbers laid out for the fused kernel (keeps the arrays alive). Built by
    Potential.compiled(), which rebuilds it when weights, scaling or energies change."""

    def __init__(self, potential):
        sf = potential.sf
        cdef SymmetryTables tables = sf.tables
        cdef NetLayout layout
        n_el = len(sf.elements)
        if n_el > MODEL_MAX_ELEMENTS:
            raise ValueError(f"at most {MODEL_MAX_ELEMENTS} elements are supported, got {n_el}")
        self.keep = [tables]
        self.m.sf = tables.t
        self.m.n_elements = n_el
        self.m.energy_unit = potential.energy_unit
        self.m.extrapolation_eps = EXTRAPOLATION_EPS
        self.m.atom_energy = _doubles([potential.atom_energy[e] for e in sf.elements], self.keep)
        self.m.max_functions = max(sf.n_functions(e) for e in sf.elements)
        width, layers = 1, 1
        scaling = potential.scaling
        for k, element in enumerate(sf.elements):
            net = potential.networks[element]
            layout = net.layout
            self.keep += [layout, net.weights]
            self.m.nets[k] = layout.net
            self.m.weights[k] = _doubles(net.weights, self.keep)
            width = max(width, layout.net.width)
            layers = max(layers, layout.net.n_layers)
            self.m.factor[k] = _doubles(scaling.factor[element], self.keep)
            self.m.shift[k] = _doubles(scaling.shift[element], self.keep)
            self.m.gmin[k] = _doubles(scaling.stats[element][:, 0], self.keep)
            self.m.gmax[k] = _doubles(scaling.stats[element][:, 1], self.keep)
            self.m.offset[k] = scaling.offset[element]
        self.m.net_buffer = 5 * (layers + 1) * width

    def address(self):
        """Address of the C struct Model, for the C API (valid while this object lives)."""
        return <size_t> &self.m


def evaluate(ModelData model, const int32_t[::1] species, Pairs pairs, bint forces,
             bint skip_self_images, int n_threads):
    """(energies, gradient, strain derivative (3, 3), extrapolated count per atom); gradient
    and strain are None without `forces`."""
    cdef int64_t n_atoms = species.shape[0]
    cdef Error error
    cdef int status
    error.code = STATUS_OK
    if n_atoms != pairs.c.n_atoms:
        raise ValueError("species and neighbour list disagree on the number of atoms")
    energies = np.zeros(n_atoms)
    extrapolated = np.zeros(n_atoms, dtype=np.int32)
    if n_atoms == 0:
        return energies, (np.zeros((0, 3)) if forces else None), \
            (np.zeros((3, 3)) if forces else None), extrapolated
    cdef double[::1] e_view = energies
    cdef int32_t[::1] x_view = extrapolated
    cdef double *grad_entry = pairs.entry_gradient_data if forces else NULL
    cdef const KernelTable *k = kernels()
    with nogil:
        status = k.model_evaluate(&model.m, &species[0], &pairs.c, &e_view[0],
                                          &x_view[0], grad_entry, n_threads, &error)
    check(status, &error)
    if not forces:
        return energies, None, None, extrapolated
    gradient, strain = pairs.gather(skip_self_images, n_threads)
    return energies, gradient, strain, extrapolated
