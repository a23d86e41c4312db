# The fused prediction kernel: for each centre atom, symmetry functions -> scaling -> its
# element's network -> dE/dG -> backward pass, in one pass over the atoms with per-thread
# work arrays, so nothing but the per-entry gradients is written between stages. Included by
# ext/_model.pyx (prediction) and ext/_md.pyx (the MD step loop), which call model_evaluate
# without the GIL.
from libc.stdlib cimport malloc, calloc, free
from libc.stdint cimport int32_t, int64_t
from cython.parallel cimport prange, parallel

include "_sf_kernel.pxi"
include "_net_kernel.pxi"

import numpy as np

cdef enum:
    MODEL_MAX_ELEMENTS = 128

# n2p2's tolerance for the extrapolation check (N2P2_FORMAT.md §9)
cdef double EXTRAPOLATION_EPS = 1000 * 2.220446049250313e-16


cdef struct ModelC:
    Tables sf
    int n_elements
    int max_factors
    int max_powers
    int64_t max_functions
    int64_t net_buffer            # doubles of network scratch per thread
    double energy_unit
    const double *atom_energy     # [element], eV
    const int64_t *n_functions    # [element]
    Net nets[MODEL_MAX_ELEMENTS]
    const double *weights[MODEL_MAX_ELEMENTS]
    const double *factor[MODEL_MAX_ELEMENTS]
    const double *shift[MODEL_MAX_ELEMENTS]
    const double *gmin[MODEL_MAX_ELEMENTS]
    const double *gmax[MODEL_MAX_ELEMENTS]
    double offset[MODEL_MAX_ELEMENTS]


cdef class ModelData:
    """A Potential's numbers laid out for the fused kernel (keeps the arrays alive)."""
    cdef ModelC m
    cdef list keep

    def __init__(self, potential):
        sf = potential.sf
        n_el = len(sf.elements)
        if n_el > MODEL_MAX_ELEMENTS:
            raise ValueError(f"at most {MODEL_MAX_ELEMENTS} elements are supported")
        tables = sf.tables
        n_elements, cutoff_type, alpha, arrays = tables.source
        self.keep = [arrays]
        fill_tables(&self.m.sf, n_elements, cutoff_type, alpha, arrays)
        self.m.n_elements = n_el
        self.m.max_factors = tables.max_factors
        self.m.max_powers = tables.max_powers
        self.m.energy_unit = potential.energy_unit
        atom_energy = np.array([potential.atom_energy[e] for e in sf.elements])
        n_functions = np.array([sf.n_functions(e) for e in sf.elements], dtype=np.int64)
        self.keep += [atom_energy, n_functions]
        self.m.atom_energy = _double_ptr(atom_energy)
        self.m.n_functions = _int64_ptr(n_functions)
        self.m.max_functions = int(n_functions.max())
        width, layers = 1, 1
        for k, element in enumerate(sf.elements):
            net = potential.networks[element]
            parts = [net._size, net._act, net._scale, net._woff, net._boff, net.weights]
            self.keep += parts
            self.m.nets[k] = make_net(net._size, net._act, net._scale, net._woff, net._boff,
                                      net.n_weights)
            self.m.weights[k] = _double_ptr(net.weights)
            width = max(width, self.m.nets[k].width)
            layers = max(layers, self.m.nets[k].n_layers)
            scaling = potential.scaling
            factor = np.ascontiguousarray(scaling.factor[element], dtype=np.float64)
            shift = np.ascontiguousarray(scaling.shift[element], dtype=np.float64)
            gmin = np.ascontiguousarray(scaling.stats[element][:, 0])
            gmax = np.ascontiguousarray(scaling.stats[element][:, 1])
            self.keep += [factor, shift, gmin, gmax]
            self.m.factor[k] = _double_ptr(factor)
            self.m.shift[k] = _double_ptr(shift)
            self.m.gmin[k] = _double_ptr(gmin)
            self.m.gmax[k] = _double_ptr(gmax)
            self.m.offset[k] = scaling.offset[element]
        self.m.net_buffer = 5 * (layers + 1) * width


cdef struct Workspace:
    Scratch *scratch
    double *rows          # G, x, dy/dx, c: 4 x max_functions
    double *net           # network buffers


cdef Workspace *workspace_new(const ModelC *m, int64_t capacity) noexcept nogil:
    cdef Workspace *w = <Workspace *> calloc(1, sizeof(Workspace))
    if w == NULL:
        return NULL
    w.scratch = scratch_new(capacity, m.max_factors, m.max_powers, m.n_elements)
    w.rows = <double *> malloc(4 * m.max_functions * sizeof(double))
    w.net = <double *> malloc(m.net_buffer * sizeof(double))
    if w.scratch == NULL or w.rows == NULL or w.net == NULL:
        workspace_delete(w)
        return NULL
    return w


cdef void workspace_delete(Workspace *w) noexcept nogil:
    if w == NULL:
        return
    scratch_delete(w.scratch)
    free(w.rows)
    free(w.net)
    free(w)


cdef double model_centre(const ModelC *m, Workspace *w, int64_t i, const int32_t *species,
                         const int64_t *offsets, const int32_t *neighbors,
                         const double *vectors, const double *distances, bint forces,
                         double *grad_entry, int32_t *extrapolated) noexcept nogil:
    """Energy of atom i; with `forces`, also the gradients of the total energy with respect
    to its neighbour entries (grad_entry, as centre_backward)."""
    cdef int e = species[i]
    cdef int64_t n = m.n_functions[e], s, L = m.nets[e].n_layers, W = m.nets[e].width
    cdef double *G = w.rows
    cdef double *x = w.rows + m.max_functions
    cdef double *dydx = w.rows + 2 * m.max_functions
    cdef double *c = w.rows + 3 * m.max_functions
    cdef double *buf = w.net
    cdef int32_t outside = 0
    cdef double y
    for s in range(n):
        G[s] = 0.0
    centre_values(i, &m.sf, w.scratch, species, offsets, neighbors, vectors, distances, G)
    for s in range(n):
        if G[s] + EXTRAPOLATION_EPS < m.gmin[e][s] or G[s] - EXTRAPOLATION_EPS > m.gmax[e][s]:
            outside += 1
        x[s] = m.offset[e] + m.factor[e][s] * (G[s] - m.shift[e][s])
    extrapolated[i] = outside
    atom_forward(&m.nets[e], m.weights[e], x, buf, buf + (L + 1) * W, buf + 2 * (L + 1) * W,
                 buf + 3 * (L + 1) * W)
    y = buf[(L + 1) * W + L * W]
    if forces:
        atom_input_gradient(&m.nets[e], m.weights[e], buf + 2 * (L + 1) * W,
                            buf + 4 * (L + 1) * W, dydx)
        for s in range(n):
            c[s] = m.energy_unit * dydx[s] * m.factor[e][s]
        centre_backward(i, &m.sf, w.scratch, species, offsets, neighbors, vectors, distances,
                        c, grad_entry)
    return m.energy_unit * y + m.atom_energy[e]


cdef int model_evaluate(const ModelC *m, int64_t n_atoms, const int32_t *species,
                        const int64_t *offsets, const int32_t *neighbors,
                        const double *vectors, const double *distances, int64_t capacity,
                        bint forces, bint skip_self_images, double *energies,
                        double *grad_entry, double *gradient, double *strain,
                        int32_t *extrapolated, int n_threads) noexcept nogil:
    """Energies of all atoms and, with `forces`, the gradient of the total energy with respect
    to positions (n_atoms x 3, zeroed here) and its strain derivative (3 x 3, zeroed here),
    summed in entry order. grad_entry must hold 3 doubles per neighbour entry, zeroed.
    Returns 0, or -1 when per-thread memory could not be allocated."""
    cdef int64_t i, p, j
    cdef int a, b
    cdef int failed[1]
    cdef Workspace *w
    failed[0] = 0
    with parallel(num_threads=n_threads):
        w = workspace_new(m, capacity)
        for i in prange(n_atoms, schedule="dynamic", chunksize=4):
            if w == NULL:
                failed[0] = 1
                continue
            energies[i] = model_centre(m, w, i, species, offsets, neighbors, vectors,
                                       distances, forces, grad_entry, extrapolated)
        workspace_delete(w)
    if failed[0]:
        return -1
    if not forces:
        return 0
    for i in range(3 * n_atoms):
        gradient[i] = 0.0
    for a in range(9):
        strain[a] = 0.0
    for i in range(n_atoms):
        for p in range(offsets[i], offsets[i + 1]):
            j = neighbors[p]
            for a in range(3):
                if not (skip_self_images and j == i):
                    gradient[3 * j + a] += grad_entry[3 * p + a]
                gradient[3 * i + a] -= grad_entry[3 * p + a]
                for b in range(3):
                    strain[3 * a + b] += grad_entry[3 * p + a] * vectors[3 * p + b]
    return 0
