"""A Potential as the fused kernel reads it (ext/kernels/_fused.pyx), and its evaluation:
energies, forces and strain derivative in one pass over the atoms; a committee of models
(ext/_committee.pxd) likewise, with the members' energies and optionally their forces."""
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport malloc, free

from _contract cimport *
from _committee cimport CommitteeEvaluate
from fastpot._dispatch cimport kernels, check, committee_kernel
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


cdef class CommitteeData:
    """The members of a committee (ModelData each, built from single-model Potentials that
    share one SymmetryFunctions and Scaling) as one array of Model for the kernel."""
    cdef Model *members
    cdef int n_members
    cdef list keep

    def __cinit__(self):
        self.members = NULL

    def __init__(self, list models):
        cdef ModelData data
        cdef int k
        if len(models) < 1:
            raise ValueError("a committee needs at least one member")
        self.keep = list(models)
        self.members = <Model *> malloc(len(models) * sizeof(Model))
        if self.members == NULL:
            raise MemoryError("no memory for the committee's models")
        self.n_members = len(models)
        for k in range(self.n_members):
            data = models[k]
            self.members[k] = data.m

    def __dealloc__(self):
        free(self.members)


def evaluate_committee(CommitteeData committee, const int32_t[::1] species, Pairs pairs,
                       bint mean_forces, bint member_forces, bint skip_self_images,
                       int n_threads):
    """(energies (K, n_atoms), extrapolated count per atom, mean gradient, mean strain
    derivative, member gradients (K, n_atoms, 3), member strain derivatives (K, 3, 3)); the
    gradients are None unless asked for. With member_forces the mean gradient is the mean of
    the members' (one backward pass per member); with mean_forces only, one backward pass of
    the members' mean dE/dG."""
    cdef int64_t n_atoms = species.shape[0], n_entries = pairs.c.n_entries
    cdef int K = committee.n_members, k
    cdef Error error
    cdef int status
    error.code = STATUS_OK
    if n_atoms != pairs.c.n_atoms:
        raise ValueError("species and neighbour list disagree on the number of atoms")
    if n_atoms == 0:
        raise ValueError("the structure has no atoms")
    energies = np.zeros((K, n_atoms))
    extrapolated = np.zeros(n_atoms, dtype=np.int32)
    grad_members = np.empty((K, max(n_entries, 1), 3)) if member_forces else None
    cdef double[:, ::1] e_view = energies
    cdef int32_t[::1] x_view = extrapolated
    cdef double[:, :, ::1] gm_view
    cdef double *grad_mean = NULL
    cdef double *grad_each = NULL
    if member_forces:
        gm_view = grad_members
        grad_each = &gm_view[0, 0, 0]
    elif mean_forces:
        grad_mean = pairs.entry_gradient_data
    cdef CommitteeEvaluate evaluate = committee_kernel()
    with nogil:
        status = evaluate(committee.members, K, &species[0], &pairs.c, &e_view[0, 0],
                          &x_view[0], grad_mean, grad_each, n_threads, &error)
    check(status, &error)
    if not (mean_forces or member_forces):
        return energies, extrapolated, None, None, None, None
    if not member_forces:
        gradient, strain = pairs.gather(skip_self_images, n_threads)
        return energies, extrapolated, gradient, strain, None, None
    pairs.transpose()
    gradients = np.empty((K, n_atoms, 3))
    strains = np.zeros((K, 3, 3))
    cdef double[:, :, ::1] g = gradients
    cdef double[:, :, ::1] w = strains
    for k in range(K):
        with nogil:
            gather_entry_gradients(&pairs.c, &gm_view[k, 0, 0], skip_self_images,
                                   &g[k, 0, 0], &w[k, 0, 0], n_threads)
    return (energies, extrapolated, gradients.mean(axis=0), strains.mean(axis=0), gradients,
            strains)
