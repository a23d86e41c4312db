"""The fused prediction kernel, and the kernel table of this instruction-set variant.

For each centre atom: symmetry functions -> scaling -> its element's network -> dE/dG ->
backward pass, in one pass over the atoms with per-thread work arrays, so nothing but the
per-entry gradients is written between stages. The caller sums entry gradients into atoms
(ext/_neighbors.pyx gather_entry_gradients), so MD and single evaluations share that step.
"""
from cpython.pycapsule cimport PyCapsule_New
from libc.stdlib cimport malloc, calloc, free
from libc.stdint cimport int32_t, int64_t

from _contract cimport *
from _parallel cimport parallel_for

from ._sf cimport (Scratch, scratch_new, scratch_delete, centre_values, centre_values_kept,
                   centre_backward, sf_values, sf_backward, sf_derivatives)
from ._net cimport atom_forward, atom_input_gradient, net_evaluate, net_weight_gradient


cdef extern from *:
    """
    #ifndef FASTPOT_VARIANT
    #define FASTPOT_VARIANT "unknown"
    #endif
    """
    const char *FASTPOT_VARIANT


cdef struct Workspace:
    Scratch *scratch
    double *rows          # G, x, dy/dx, c, committee mean of c: 5 x max_functions
    double *net           # network buffers
    # the sizes it was made for, so that a later call can reuse it
    int64_t capacity, max_functions, net_buffer
    int max_factors, max_powers, n_elements


cdef extern from *:
    """
    /* One workspace kept per thread between calls: MD and the C API evaluate thousands of
       times, and making the workspace anew each time (its kept pair rows grow to about a
       megabyte) cost page faults and mmap calls on every step. OpenMP's worker threads
       persist, so their caches do; each holds at most one workspace. */
    static __thread void *fastpot_kept_workspace = NULL;
    """
    void *fastpot_kept_workspace


cdef struct Job:
    const Model *m
    const int32_t *species
    const PairList *pairs
    double *energies
    int32_t *extrapolated
    double *grad_entry


cdef void *workspace_new(const void *context) noexcept nogil:
    """This thread's kept workspace when it is large enough for the job, else a new one."""
    global fastpot_kept_workspace
    cdef const Job *job = <const Job *> context
    cdef const Model *m = job.m
    cdef Workspace *w = <Workspace *> fastpot_kept_workspace
    if w != NULL:
        fastpot_kept_workspace = NULL
        if (w.capacity >= job.pairs.max_row and w.max_functions >= m.max_functions
                and w.net_buffer >= m.net_buffer and w.max_factors >= m.sf.max_factors
                and w.max_powers >= m.sf.max_powers and w.n_elements >= m.n_elements):
            return w
        workspace_free(w)
    w = <Workspace *> calloc(1, sizeof(Workspace))
    if w == NULL:
        return NULL
    w.capacity = job.pairs.max_row
    w.max_functions = m.max_functions
    w.net_buffer = m.net_buffer
    w.max_factors = m.sf.max_factors
    w.max_powers = m.sf.max_powers
    w.n_elements = m.n_elements
    w.scratch = scratch_new(w.capacity, w.max_factors, w.max_powers, w.n_elements)
    w.rows = <double *> malloc(5 * w.max_functions * sizeof(double))
    w.net = <double *> malloc(w.net_buffer * sizeof(double))
    if w.scratch == NULL or w.rows == NULL or w.net == NULL:
        workspace_free(w)
        return NULL
    return w


cdef void workspace_delete(const void *context, void *scratch) noexcept nogil:
    """Keep the workspace for this thread's next call (or free it when one is kept)."""
    global fastpot_kept_workspace
    if fastpot_kept_workspace == NULL:
        fastpot_kept_workspace = scratch
    else:
        workspace_free(<Workspace *> scratch)


cdef void workspace_free(Workspace *w) noexcept nogil:
    scratch_delete(w.scratch)
    free(w.rows)
    free(w.net)
    free(w)



cdef int centre_inputs(int64_t i, const Model *m, Scratch *scratch, const int32_t *species,
                       const PairList *pairs, bint keep, double *G, double *x,
                       int32_t *extrapolated) noexcept nogil:
    """Centre i's symmetry functions G (keeping what their derivatives need when `keep`), its
    scaled network inputs x and how many functions lie outside their training range. Returns
    0, or -1 when memory runs out."""
    cdef int e = species[i]
    cdef int64_t s, n = m.sf.n_functions[e]
    cdef double eps = m.extrapolation_eps
    cdef int32_t outside = 0
    for s in range(n):
        G[s] = 0.0
    if keep:
        if centre_values_kept(i, &m.sf, scratch, species, pairs, G) != 0:
            return -1
    elif centre_values(i, &m.sf, scratch, species, pairs, G) != 0:
        return -1
    for s in range(n):
        if G[s] + eps < m.gmin[e][s] or G[s] - eps > m.gmax[e][s]:
            outside += 1
        x[s] = m.offset[e] + m.factor[e][s] * (G[s] - m.shift[e][s])
    extrapolated[0] = outside
    return 0

cdef int model_centre(const void *context, void *scratch, int64_t i) noexcept nogil:
    """Energy of atom i, its count of functions outside the training range, and (with
    grad_entry) the gradients of the total energy with respect to its entry vectors."""
    cdef const Job *job = <const Job *> context
    cdef const Model *m = job.m
    cdef Workspace *w = <Workspace *> scratch
    cdef int e = job.species[i]
    cdef int64_t n = m.sf.n_functions[e], s, L = m.nets[e].n_layers, W = m.nets[e].width
    cdef double *G = w.rows
    cdef double *x = w.rows + m.max_functions
    cdef double *dydx = w.rows + 2 * m.max_functions
    cdef double *c = w.rows + 3 * m.max_functions
    cdef double *buf = w.net
    if centre_inputs(i, m, w.scratch, job.species, job.pairs, job.grad_entry != NULL, G, x,
                     &job.extrapolated[i]) != 0:
        return STATUS_NO_MEMORY
    atom_forward(&m.nets[e], m.weights[e], x, buf, buf + (L + 1) * W, buf + 2 * (L + 1) * W,
                 buf + 3 * (L + 1) * W)
    job.energies[i] = m.energy_unit * buf[(L + 1) * W + L * W] + m.atom_energy[e]
    if job.grad_entry != NULL:
        atom_input_gradient(&m.nets[e], m.weights[e], buf + 2 * (L + 1) * W,
                            buf + 4 * (L + 1) * W, dydx)
        for s in range(n):
            c[s] = m.energy_unit * dydx[s] * m.factor[e][s]
        centre_backward(i, &m.sf, w.scratch, job.species, job.pairs, c, job.grad_entry)
    return STATUS_OK


cdef int model_evaluate(const Model *m, const int32_t *species, const PairList *pairs,
                        double *energies, int32_t *extrapolated, double *grad_entry,
                        int n_threads, Error *error) noexcept nogil:
    """Energies of all atoms, extrapolation counts, and (grad_entry not NULL) the gradient of
    the total energy with respect to every entry vector (3 doubles per entry, all written)."""
    cdef Job job
    job.m = m
    job.species = species
    job.pairs = pairs
    job.energies = energies
    job.extrapolated = extrapolated
    job.grad_entry = grad_entry
    return parallel_for(pairs.n_atoms, 4, n_threads, workspace_new, model_centre,
                        workspace_delete, &job, "potential", error)


cdef struct CommitteeJob:
    const Model *members      # [n_members], sharing symmetry functions, scaling, energies
    int n_members
    const int32_t *species
    const PairList *pairs
    double *energies          # [n_members][n_atoms]
    int32_t *extrapolated
    double *grad_mean         # 3 per entry, or NULL
    double *grad_members      # [n_members][3 per entry], or NULL


cdef void *committee_workspace_new(const void *context) noexcept nogil:
    cdef const CommitteeJob *cj = <const CommitteeJob *> context
    cdef Job job
    job.m = cj.members
    job.pairs = cj.pairs
    return workspace_new(&job)


cdef int committee_centre(const void *context, void *scratch, int64_t i) noexcept nogil:
    """Atom i's energy under every member, and the entry gradients of the members' mean
    energy (one backward pass) and/or of every member's energy (one pass each): the symmetry
    functions of atom i are computed once for all members."""
    cdef const CommitteeJob *job = <const CommitteeJob *> context
    cdef const Model *m = job.members
    cdef const Model *mk
    cdef Workspace *w = <Workspace *> scratch
    cdef int e = job.species[i], k, K = job.n_members
    cdef int64_t n = m.sf.n_functions[e], s, L, W, n_atoms = job.pairs.n_atoms
    cdef int64_t stride = 3 * job.pairs.n_entries
    cdef double *G = w.rows
    cdef double *x = w.rows + m.max_functions
    cdef double *dydx = w.rows + 2 * m.max_functions
    cdef double *c = w.rows + 3 * m.max_functions
    cdef double *cmean = w.rows + 4 * m.max_functions
    cdef double *buf = w.net
    cdef bint gradient = job.grad_mean != NULL or job.grad_members != NULL
    for s in range(n):
        cmean[s] = 0.0
    if centre_inputs(i, m, w.scratch, job.species, job.pairs, gradient, G, x,
                     &job.extrapolated[i]) != 0:
        return STATUS_NO_MEMORY
    for k in range(K):
        mk = &job.members[k]
        L = mk.nets[e].n_layers
        W = mk.nets[e].width
        atom_forward(&mk.nets[e], mk.weights[e], x, buf, buf + (L + 1) * W,
                     buf + 2 * (L + 1) * W, buf + 3 * (L + 1) * W)
        job.energies[k * n_atoms + i] = (mk.energy_unit * buf[(L + 1) * W + L * W]
                                         + mk.atom_energy[e])
        if not gradient:
            continue
        atom_input_gradient(&mk.nets[e], mk.weights[e], buf + 2 * (L + 1) * W,
                            buf + 4 * (L + 1) * W, dydx)
        for s in range(n):
            c[s] = mk.energy_unit * dydx[s] * m.factor[e][s]
            cmean[s] += c[s]
        if job.grad_members != NULL:
            centre_backward(i, &m.sf, w.scratch, job.species, job.pairs, c,
                            job.grad_members + k * stride)
    if job.grad_mean != NULL:
        for s in range(n):
            cmean[s] /= K
        centre_backward(i, &m.sf, w.scratch, job.species, job.pairs, cmean, job.grad_mean)
    return STATUS_OK


cdef int committee_evaluate(const Model *members, int n_members, const int32_t *species,
                            const PairList *pairs, double *energies, int32_t *extrapolated,
                            double *grad_mean, double *grad_members, int n_threads,
                            Error *error) noexcept nogil:
    """Per-atom energies of every member ([member][atom]), extrapolation counts, and the
    entry gradients of the mean energy (grad_mean) and of every member's energy
    (grad_members, [member][3 per entry]) where not NULL. The members share their symmetry
    functions, scaling, energy unit and atom energies (those of members[0] are used)."""
    cdef CommitteeJob job
    job.members = members
    job.n_members = n_members
    job.species = species
    job.pairs = pairs
    job.energies = energies
    job.extrapolated = extrapolated
    job.grad_mean = grad_mean
    job.grad_members = grad_members
    return parallel_for(pairs.n_atoms, 4, n_threads, committee_workspace_new,
                        committee_centre, workspace_delete, &job, "committee", error)


def committee_kernel():
    """committee_evaluate of this variant, as a capsule for ext/_dispatch.pyx (the kernel
    table of ext/_contract.pxd has no slot for it)."""
    return PyCapsule_New(<void *> committee_evaluate, b"fastpot.committee_evaluate", NULL)


cdef KernelTable TABLE
TABLE.name = FASTPOT_VARIANT
TABLE.sf_values = sf_values
TABLE.sf_backward = sf_backward
TABLE.sf_derivatives = sf_derivatives
TABLE.net_evaluate = net_evaluate
TABLE.net_weight_gradient = net_weight_gradient
TABLE.model_evaluate = model_evaluate


def kernel_table():
    """The entry points of this variant, as a capsule for ext/_dispatch.pyx."""
    return PyCapsule_New(&TABLE, b"fastpot.KernelTable", NULL)
