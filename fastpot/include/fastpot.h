/* fastpot's C API: load a potential (.fastpot file) and compute energies, forces and stress,
 * from C, C++ or Fortran (through ISO_C_BINDING).
 *
 *     cc prog.c $(fastpot config --cflags) $(fastpot config --libs) -o prog
 *
 * Units are eV and Å at every interface. Every function returns 0 on success. On failure it
 * returns non-zero and, when `error` is not NULL, sets *error to a message that stays valid
 * until the next fastpot call on the same thread. Nothing here aborts the calling program.
 *
 * The library runs fastpot's own compiled kernels. Loading a model starts an embedded Python
 * interpreter (or uses the one of a Python host) to read the file and lay out the model;
 * fastpot_model_compute_neighbors, the entry point for MD engines with their own neighbour
 * lists (LAMMPS), then runs without any Python call.
 */
#ifndef FASTPOT_H
#define FASTPOT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fastpot_model fastpot_model;

/* Read a .fastpot file. */
int fastpot_model_load(const char* path, fastpot_model** model, const char** error);

/* The model's cutoff radius, Å: no atom farther than this from a centre changes its energy. */
int fastpot_model_cutoff(const fastpot_model* model, double* cutoff, const char** error);

/* Energy, forces and stress of one structure. The model keeps a neighbour list with a
 * Verlet skin between calls, so repeated calls on moving atoms (MD) rarely search again. */
int fastpot_model_compute(
    fastpot_model* model, int64_t n_atoms,
    const int32_t* atomic_numbers,  /* n_atoms */
    const double* positions,        /* n_atoms x 3, Å */
    const double* cell,             /* 3 x 3, rows are lattice vectors, Å */
    const int32_t* pbc,             /* 3 flags */
    double* energy,                 /* eV */
    double* forces,                 /* n_atoms x 3, eV/Å, or NULL */
    double* stress,                 /* 3 x 3, eV/Å^3, ASE's sign convention, or NULL;
                                       only for cells periodic in all three directions */
    const char** error);

/* Energies and forces from the caller's full neighbour list, for MD engines that keep their
 * own atoms and ghost (periodic image) atoms. Atoms 0..n_centres-1 are the centres; atoms
 * n_centres..n_atoms-1 are ghosts that only appear as neighbours. Centre i's neighbours are
 * neighbors[offsets[i]] .. neighbors[offsets[i + 1] - 1], indices below n_atoms, every
 * neighbour within the cutoff listed (farther ones are allowed and skipped).
 *   energies     n_centres, eV (or NULL)
 *   forces       n_atoms x 3, eV/Å, ADDED to (ghost atoms get forces too: sum them back)
 *   virial       3 x 3, eV, ADDED to: -sum over pairs of D (x) dE/dD, D = r_j - r_i (the
 *                convention of LAMMPS' virial; divide by the volume for a pressure), or NULL
 *   atom_virial  n_atoms x 9, eV, ADDED to: each pair's virial split half and half between
 *                its two atoms, or NULL
 * Runs on fastpot_model_set_threads threads (default: omp_get_max_threads()). No Python. */
int fastpot_model_compute_neighbors(
    fastpot_model* model, int64_t n_centres, int64_t n_atoms,
    const int32_t* atomic_numbers,  /* n_atoms */
    const double* positions,        /* n_atoms x 3, Å */
    const int64_t* offsets,         /* n_centres + 1 */
    const int32_t* neighbors,       /* offsets[n_centres] */
    double* energies, double* forces, double* virial, double* atom_virial,
    const char** error);

/* Threads of fastpot_model_compute_neighbors; 0 restores the default (omp_get_max_threads()). */
int fastpot_model_set_threads(fastpot_model* model, int n_threads, const char** error);

/* The atomic number of a chemical symbol ("Cu" -> 29), for callers that name elements. */
int fastpot_atomic_number(const char* symbol, int32_t* atomic_number, const char** error);

/* The chemical symbols of the model's elements, space-separated (valid while the model is). */
int fastpot_model_elements(const fastpot_model* model, const char** elements,
                           const char** error);

void fastpot_model_free(fastpot_model* model);

#ifdef __cplusplus
}
#endif

#endif
