/* fastpot's C API (fastpot/include/fastpot.h).
 *
 * Loading goes through Python: the library starts an embedded interpreter when the host has
 * none (C, C++ and Fortran programs, LAMMPS' lmp), or takes the GIL of the host's (Python
 * programs, LAMMPS driven from Python), imports fastpot.embed, and keeps the Python objects
 * of the model alive. From them it takes the raw pointers the kernels need: the laid-out
 * model (ext/_contract.pxd Model) and the table of the kernel variant this CPU runs.
 *
 * fastpot_model_compute (positions, cell, pbc) calls fastpot.embed under the GIL: neighbour
 * search and validation stay in one place, and the cost of the call is measured against a
 * direct Python call (benchmarks/compare_embedding.py). fastpot_model_compute_neighbors
 * takes the caller's neighbour list and calls the fused kernel directly, without Python.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "fastpot.h"

/* The C struct types of the kernel contract, as Cython lays them out (ext/_contract.pxd):
 * only pointers to Model are passed through, so the struct stays opaque here; PairList,
 * Error and the KernelTable entry used are declared to match. */
typedef struct {
    int64_t n_atoms;
    int64_t n_entries;
    int64_t max_row;
    const int64_t *offsets;
    const int32_t *neighbors;
    const int32_t *shifts;
    double *vectors;
    double *distances;
    const int64_t *incoming_offsets;
    const int64_t *incoming;
} PairList;

typedef struct {
    int code;
    char message[256];
} KernelError;

typedef struct Model Model;

typedef struct {
    const char *name;
    void *sf_values;
    void *sf_backward;
    void *sf_derivatives;
    void *net_evaluate;
    void *net_weight_gradient;
    int (*model_evaluate)(const Model *m, const int32_t *species, const PairList *pairs,
                          double *energies, int32_t *extrapolated, double *grad_entry,
                          int n_threads, KernelError *error);
} KernelTable;

#ifndef FASTPOT_PYTHON
#define FASTPOT_PYTHON ""
#endif
#ifndef FASTPOT_LIBPYTHON
#define FASTPOT_LIBPYTHON ""
#endif

struct fastpot_model {
    PyObject *handle;            /* fastpot.embed.Handle */
    const Model *model;          /* owned by handle */
    const KernelTable *kernels;  /* the installed variant's table */
    const int32_t *species_of;   /* atomic number -> element index of the model, or -1 */
    int32_t max_number;          /* largest atomic number species_of covers */
    double cutoff;
    char *elements;
    int n_threads;               /* of compute_neighbors; 0: omp_get_max_threads() */
    /* scratch of compute_neighbors, grown as needed */
    int32_t *species;
    double *vectors, *distances, *grad_entry, *energies;
    int32_t *extrapolated;
    int64_t atoms_capacity, centres_capacity, entries_capacity;
};

/* Sizes refused before anything is read or allocated: atoms are indexed with int32 (as in
 * the neighbour lists), and a count beyond these comes from a wrong argument, not from a
 * structure (2^40 entries would take 40 TB of scratch). */
#define MAX_ATOMS ((int64_t) INT32_MAX - 1)
#define MAX_ENTRIES ((int64_t) 1 << 40)
#define MAX_THREADS 4096

/* -- errors -------------------------------------------------------------------------------- */

static _Thread_local char last_error[2048];

static int fail(const char **error, const char *format, ...) {
    va_list args;
    va_start(args, format);
    vsnprintf(last_error, sizeof last_error, format, args);
    va_end(args);
    if (error) *error = last_error;
    return 1;
}

/* The pending Python exception as an error (the GIL must be held); clears it. */
static int fail_python(const char **error, const char *what) {
    PyObject *type, *value, *traceback, *text = NULL;
    const char *message = "unknown error";
    PyErr_Fetch(&type, &value, &traceback);
    PyErr_NormalizeException(&type, &value, &traceback);
    if (value) text = PyObject_Str(value);
    if (text) message = PyUnicode_AsUTF8(text);
    if (!message) message = "unknown error";
    fail(error, "%s: %s", what, message);
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(traceback);
    PyErr_Clear();
    return 1;
}

/* -- the interpreter ----------------------------------------------------------------------- */

/* Start Python if the process has none. The interpreter is the one fastpot was built with
 * (its virtual environment), so `import fastpot` finds this installation. */
static int ensure_python(const char **error) {
    PyStatus status;
    PyConfig config;
    if (Py_IsInitialized()) return 0;
    /* Python's extension modules (numpy, fastpot's kernels) expect its symbols to be global,
     * which they are not when this library was itself loaded with RTLD_LOCAL (a plugin) */
    if (FASTPOT_LIBPYTHON[0] && !dlopen(FASTPOT_LIBPYTHON, RTLD_NOW | RTLD_GLOBAL))
        return fail(error, "fastpot: cannot load the Python library %s: %s",
                    FASTPOT_LIBPYTHON, dlerror());
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;  /* the host program owns its signals */
    config.parse_argv = 0;
    if (FASTPOT_PYTHON[0]) {
        status = PyConfig_SetBytesString(&config, &config.executable, FASTPOT_PYTHON);
        if (PyStatus_Exception(status)) {
            PyConfig_Clear(&config);
            return fail(error, "fastpot: cannot configure Python: %s",
                        status.err_msg ? status.err_msg : "unknown error");
        }
    }
    status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status))
        return fail(error, "fastpot: cannot start Python (%s): %s", FASTPOT_PYTHON,
                    status.err_msg ? status.err_msg : "unknown error");
    /* release the GIL: every call takes it with PyGILState_Ensure, from any thread */
    PyEval_SaveThread();
    return 0;
}

/* Put the folder holding this installation's fastpot package (this library is
 * fastpot/lib/libfastpot.so) on sys.path when it is not there, so that `import fastpot`
 * finds the package beside the library even when the interpreter's own paths do not
 * (GIL held). Appended: a host's own path order stays as it is. */
static void find_own_package(void) {
    Dl_info info;
    char folder[4096];
    char *slash;
    int up;
    PyObject *path, *entry;
    if (!dladdr((void *) find_own_package, &info) || !info.dli_fname) return;
    snprintf(folder, sizeof folder, "%s", info.dli_fname);
    for (up = 0; up < 3; up++) {  /* .../site/fastpot/lib/libfastpot.so -> .../site */
        slash = strrchr(folder, '/');
        if (!slash) return;
        *slash = 0;
    }
    path = PySys_GetObject("path");  /* borrowed */
    entry = PyUnicode_FromString(folder);
    if (path && entry && PySequence_Contains(path, entry) == 0) PyList_Append(path, entry);
    Py_XDECREF(entry);
    PyErr_Clear();
}

/* A Python integer attribute of `object` as a C integer (GIL held); -1 with an exception. */
static long long integer_attribute(PyObject *object, const char *name) {
    PyObject *value = PyObject_GetAttrString(object, name);
    long long result;
    if (!value) return -1;
    result = PyLong_AsLongLong(value);
    Py_DECREF(value);
    return result;
}

/* -- the API ------------------------------------------------------------------------------- */

int fastpot_model_load(const char *path, fastpot_model **model, const char **error) {
    PyGILState_STATE gil;
    PyObject *module = NULL, *handle = NULL, *text = NULL;
    fastpot_model *m;
    int result = 1;
    if (!model) return fail(error, "fastpot_model_load: model is NULL");
    *model = NULL;
    if (!path) return fail(error, "fastpot_model_load: path is NULL");
    if (ensure_python(error)) return 1;
    gil = PyGILState_Ensure();
    find_own_package();
    module = PyImport_ImportModule("fastpot.embed");
    if (!module) {
        fail_python(error, "fastpot_model_load: cannot import fastpot");
        goto done;
    }
    handle = PyObject_CallMethod(module, "Handle", "s", path);
    if (!handle) {
        fail_python(error, "fastpot_model_load");
        goto done;
    }
    m = calloc(1, sizeof *m);
    if (!m) {
        fail(error, "fastpot_model_load: out of memory");
        goto done;
    }
    m->handle = handle;
    m->model = (const Model *) (intptr_t) integer_attribute(handle, "model_address");
    m->kernels = (const KernelTable *) (intptr_t) integer_attribute(handle, "kernels_address");
    m->species_of = (const int32_t *) (intptr_t) integer_attribute(handle, "species_address");
    m->max_number = (int32_t) integer_attribute(handle, "max_number");
    text = PyObject_GetAttrString(handle, "cutoff");
    m->cutoff = text ? PyFloat_AsDouble(text) : -1.0;
    Py_XDECREF(text);
    text = PyObject_GetAttrString(handle, "elements");
    if (text && PyUnicode_AsUTF8(text)) m->elements = strdup(PyUnicode_AsUTF8(text));
    Py_XDECREF(text);
    if (PyErr_Occurred() || !m->model || !m->kernels || !m->species_of || !m->elements) {
        fail_python(error, "fastpot_model_load: incomplete model handle");
        handle = NULL;  /* released by fastpot_model_free below */
        PyGILState_Release(gil);
        fastpot_model_free(m);
        return 1;
    }
    handle = NULL;
    *model = m;
    result = 0;
done:
    Py_XDECREF(handle);
    Py_XDECREF(module);
    PyGILState_Release(gil);
    return result;
}

int fastpot_model_cutoff(const fastpot_model *model, double *cutoff, const char **error) {
    if (!model) return fail(error, "fastpot_model_cutoff: model is NULL");
    if (!cutoff) return fail(error, "fastpot_model_cutoff: cutoff is NULL");
    *cutoff = model->cutoff;
    return 0;
}

int fastpot_model_set_threads(fastpot_model *model, int n_threads, const char **error) {
    if (!model) return fail(error, "fastpot_model_set_threads: model is NULL");
    if (n_threads < 0 || n_threads > MAX_THREADS)
        return fail(error, "fastpot_model_set_threads: n_threads must be in 0..%d (0: the "
                    "default), got %d", MAX_THREADS, n_threads);
    model->n_threads = n_threads;
    return 0;
}

static const char *const SYMBOLS[] = {
    "H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne", "Na", "Mg", "Al", "Si", "P", "S",
    "Cl", "Ar", "K", "Ca", "Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn", "Ga",
    "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y", "Zr", "Nb", "Mo", "Tc", "Ru", "Rh", "Pd",
    "Ag", "Cd", "In", "Sn", "Sb", "Te", "I", "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd", "Pm",
    "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu", "Hf", "Ta", "W", "Re", "Os",
    "Ir", "Pt", "Au", "Hg", "Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th", "Pa",
    "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm", "Md", "No", "Lr", "Rf", "Db", "Sg",
    "Bh", "Hs", "Mt", "Ds", "Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og"};

int fastpot_atomic_number(const char *symbol, int32_t *atomic_number, const char **error) {
    int32_t z;
    if (!symbol) return fail(error, "fastpot_atomic_number: symbol is NULL");
    if (!atomic_number) return fail(error, "fastpot_atomic_number: atomic_number is NULL");
    for (z = 1; z <= (int32_t) (sizeof SYMBOLS / sizeof SYMBOLS[0]); z++)
        if (strcmp(SYMBOLS[z - 1], symbol) == 0) {
            *atomic_number = z;
            return 0;
        }
    return fail(error, "fastpot_atomic_number: '%s' is not a chemical symbol", symbol);
}

int fastpot_model_elements(const fastpot_model *model, const char **elements,
                           const char **error) {
    if (!model) return fail(error, "fastpot_model_elements: model is NULL");
    if (!elements) return fail(error, "fastpot_model_elements: elements is NULL");
    *elements = model->elements;
    return 0;
}

int fastpot_model_compute(fastpot_model *model, int64_t n_atoms, const int32_t *atomic_numbers,
                          const double *positions, const double *cell, const int32_t *pbc,
                          double *energy, double *forces, double *stress,
                          const char **error) {
    PyGILState_STATE gil;
    PyObject *result;
    if (!model) return fail(error, "fastpot_model_compute: model is NULL");
    if (n_atoms <= 0)
        return fail(error, "fastpot_model_compute: n_atoms must be > 0, got %lld",
                    (long long) n_atoms);
    if (n_atoms > MAX_ATOMS)
        return fail(error, "fastpot_model_compute: n_atoms must be <= %lld, got %lld",
                    (long long) MAX_ATOMS, (long long) n_atoms);
    if (!atomic_numbers) return fail(error, "fastpot_model_compute: atomic_numbers is NULL");
    if (!positions) return fail(error, "fastpot_model_compute: positions is NULL");
    if (!cell) return fail(error, "fastpot_model_compute: cell is NULL");
    if (!pbc) return fail(error, "fastpot_model_compute: pbc is NULL");
    if (!energy) return fail(error, "fastpot_model_compute: energy is NULL");
    gil = PyGILState_Ensure();
    result = PyObject_CallMethod(model->handle, "compute", "LKKKKKKK", (long long) n_atoms,
                                 (unsigned long long) (uintptr_t) atomic_numbers,
                                 (unsigned long long) (uintptr_t) positions,
                                 (unsigned long long) (uintptr_t) cell,
                                 (unsigned long long) (uintptr_t) pbc,
                                 (unsigned long long) (uintptr_t) energy,
                                 (unsigned long long) (uintptr_t) forces,
                                 (unsigned long long) (uintptr_t) stress);
    if (!result) {
        fail_python(error, "fastpot_model_compute");
        PyGILState_Release(gil);
        return 1;
    }
    Py_DECREF(result);
    PyGILState_Release(gil);
    return 0;
}

/* Make `*data` hold `count` items of `item` bytes; 0, or 1 when out of memory. */
static int resize(void **data, int64_t count, size_t item) {
    void *p;
    if (count < 0 || (uint64_t) count > SIZE_MAX / item) return 1;
    p = realloc(*data, (size_t) (count > 0 ? count : 1) * item);
    if (!p) return 1;
    *data = p;
    return 0;
}

/* Scratch of compute_neighbors for n_atoms atoms, n_centres centres, n_entries entries. */
static int reserve(fastpot_model *m, int64_t n_atoms, int64_t n_centres, int64_t n_entries) {
    if (n_atoms > m->atoms_capacity) {
        if (resize((void **) &m->species, n_atoms, sizeof(int32_t))) return 1;
        m->atoms_capacity = n_atoms;
    }
    if (n_centres > m->centres_capacity) {
        if (resize((void **) &m->energies, n_centres, sizeof(double))
            || resize((void **) &m->extrapolated, n_centres, sizeof(int32_t)))
            return 1;
        m->centres_capacity = n_centres;
    }
    if (n_entries > m->entries_capacity) {
        if (resize((void **) &m->vectors, 3 * n_entries, sizeof(double))
            || resize((void **) &m->grad_entry, 3 * n_entries, sizeof(double))
            || resize((void **) &m->distances, n_entries, sizeof(double)))
            return 1;
        m->entries_capacity = n_entries;
    }
    return 0;
}

int fastpot_model_compute_neighbors(fastpot_model *model, int64_t n_centres, int64_t n_atoms,
                                    const int32_t *atomic_numbers, const double *positions,
                                    const int64_t *offsets, const int32_t *neighbors,
                                    double *energies, double *forces, double *virial,
                                    double *atom_virial, const char **error) {
    const char *what = "fastpot_model_compute_neighbors";
    PairList pairs;
    KernelError kernel_error;
    int64_t i, p, n_entries, max_row = 0, a;
    int status, n_threads = 1, x, y;
    if (!model) return fail(error, "%s: model is NULL", what);
    if (n_centres < 0 || n_atoms < n_centres)
        return fail(error, "%s: need 0 <= n_centres <= n_atoms, got %lld and %lld", what,
                    (long long) n_centres, (long long) n_atoms);
    if (n_atoms > MAX_ATOMS)
        return fail(error, "%s: n_atoms must be <= %lld, got %lld", what,
                    (long long) MAX_ATOMS, (long long) n_atoms);
    if (n_centres == 0) return 0;
    if (!atomic_numbers) return fail(error, "%s: atomic_numbers is NULL", what);
    if (!positions) return fail(error, "%s: positions is NULL", what);
    if (!offsets) return fail(error, "%s: offsets is NULL", what);
    if (!forces) return fail(error, "%s: forces is NULL", what);
    if (offsets[0] != 0)
        return fail(error, "%s: offsets[0] must be 0, got %lld", what, (long long) offsets[0]);
    for (i = 0; i < n_centres; i++) {
        if (offsets[i + 1] < offsets[i])
            return fail(error, "%s: offsets decrease at centre %lld", what, (long long) i);
        if (offsets[i + 1] - offsets[i] > max_row) max_row = offsets[i + 1] - offsets[i];
    }
    n_entries = offsets[n_centres];
    if (n_entries > MAX_ENTRIES)
        return fail(error, "%s: offsets[n_centres] = %lld neighbour entries, more than %lld",
                    what, (long long) n_entries, (long long) MAX_ENTRIES);
    /* an empty list may come as NULL (LAMMPS passes no array for isolated atoms) */
    if (!neighbors && n_entries > 0)
        return fail(error, "%s: neighbors is NULL but offsets[n_centres] = %lld", what,
                    (long long) n_entries);
    if (reserve(model, n_atoms, n_centres, n_entries))
        return fail(error, "%s: out of memory for %lld atoms and %lld neighbour entries",
                    what, (long long) n_atoms, (long long) n_entries);
    for (a = 0; a < n_atoms; a++) {
        int32_t z = atomic_numbers[a];
        int32_t s = (z >= 0 && z <= model->max_number) ? model->species_of[z] : -1;
        if (s < 0)
            return fail(error, "%s: atom %lld has atomic number %d, which is not an element "
                        "of the model (elements: %s)", what, (long long) a, (int) z,
                        model->elements);
        if (!isfinite(positions[3 * a]) || !isfinite(positions[3 * a + 1])
            || !isfinite(positions[3 * a + 2]))
            return fail(error, "%s: position of atom %lld is not finite", what, (long long) a);
        model->species[a] = s;
    }
    for (i = 0; i < n_centres; i++) {
        for (p = offsets[i]; p < offsets[i + 1]; p++) {
            int64_t j = neighbors[p];
            double dx, dy, dz;
            if (j < 0 || j >= n_atoms)
                return fail(error, "%s: neighbour %lld of centre %lld is atom %lld, outside "
                            "0..%lld", what, (long long) (p - offsets[i]), (long long) i,
                            (long long) j, (long long) (n_atoms - 1));
            dx = positions[3 * j] - positions[3 * i];
            dy = positions[3 * j + 1] - positions[3 * i + 1];
            dz = positions[3 * j + 2] - positions[3 * i + 2];
            model->vectors[3 * p] = dx;
            model->vectors[3 * p + 1] = dy;
            model->vectors[3 * p + 2] = dz;
            model->distances[p] = sqrt(dx * dx + dy * dy + dz * dz);
            if (model->distances[p] < 1e-8 && model->distances[p] < model->cutoff)
                return fail(error, "%s: atoms %lld and %lld overlap (distance %g)", what,
                            (long long) i, (long long) j, model->distances[p]);
        }
    }
    pairs.n_atoms = n_centres;
    pairs.n_entries = n_entries;
    pairs.max_row = max_row;
    pairs.offsets = offsets;
    pairs.neighbors = neighbors;
    pairs.shifts = NULL;
    pairs.vectors = model->vectors;
    pairs.distances = model->distances;
    pairs.incoming_offsets = NULL;
    pairs.incoming = NULL;
    kernel_error.code = 0;
    kernel_error.message[0] = 0;
    n_threads = model->n_threads;
#ifdef _OPENMP
    if (n_threads == 0) n_threads = omp_get_max_threads();
#endif
    if (n_threads < 1) n_threads = 1;
    status = model->kernels->model_evaluate(model->model, model->species, &pairs,
                                            model->energies, model->extrapolated,
                                            model->grad_entry, n_threads, &kernel_error);
    if (status != 0)
        return fail(error, "%s: %s", what, kernel_error.code ? kernel_error.message
                                                              : "kernel failed");
    if (energies) memcpy(energies, model->energies, (size_t) n_centres * sizeof(double));
    /* entry p of centre i: g = dE/dD with D = r_j - r_i, so F_i += g and F_j -= g */
    for (i = 0; i < n_centres; i++) {
        for (p = offsets[i]; p < offsets[i + 1]; p++) {
            int64_t j = neighbors[p];
            const double *g = &model->grad_entry[3 * p];
            const double *D = &model->vectors[3 * p];
            for (x = 0; x < 3; x++) {
                forces[3 * i + x] += g[x];
                forces[3 * j + x] -= g[x];
            }
            if (virial)
                for (x = 0; x < 3; x++)
                    for (y = 0; y < 3; y++) virial[3 * x + y] -= g[x] * D[y];
            if (atom_virial)
                for (x = 0; x < 3; x++)
                    for (y = 0; y < 3; y++) {
                        atom_virial[9 * i + 3 * x + y] -= 0.5 * g[x] * D[y];
                        atom_virial[9 * j + 3 * x + y] -= 0.5 * g[x] * D[y];
                    }
        }
    }
    return 0;
}

void fastpot_model_free(fastpot_model *model) {
    PyGILState_STATE gil;
    if (!model) return;
    if (model->handle && Py_IsInitialized()) {
        gil = PyGILState_Ensure();
        Py_DECREF(model->handle);
        PyGILState_Release(gil);
    }
    free(model->elements);
    free(model->species);
    free(model->vectors);
    free(model->distances);
    free(model->grad_entry);
    free(model->energies);
    free(model->extrapolated);
    free(model);
}
