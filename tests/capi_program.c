/* A small C program using fastpot's C API, compiled and run by tests/test_capi.py.
 *
 *   capi_program compute   MODEL STRUCTURE    energy, forces, stress of a structure
 *   capi_program neighbors MODEL LIST         energies, forces, virial from a neighbour list
 *   capi_program errors    MODEL STRUCTURE    every error path; one message per line
 *
 * STRUCTURE: n, then n lines "Z x y z", then 3 cell rows, then 3 pbc flags.
 * LIST: n_centres n_atoms n_entries, n_atoms lines "Z x y z", n_centres + 1 offsets,
 * n_entries neighbour indices.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastpot.h"

static int read_structure(const char *path, int64_t *n, int32_t **z, double **x, double *cell,
                          int32_t *pbc) {
    FILE *f = fopen(path, "r");
    long long count;
    int64_t i;
    if (!f || fscanf(f, "%lld", &count) != 1) return 1;
    *n = count;
    *z = malloc(count * sizeof **z);
    *x = malloc(3 * count * sizeof **x);
    for (i = 0; i < count; i++)
        if (fscanf(f, "%d %lf %lf %lf", &(*z)[i], &(*x)[3 * i], &(*x)[3 * i + 1],
                   &(*x)[3 * i + 2]) != 4) return 1;
    for (i = 0; i < 9; i++)
        if (fscanf(f, "%lf", &cell[i]) != 1) return 1;
    for (i = 0; i < 3; i++)
        if (fscanf(f, "%d", &pbc[i]) != 1) return 1;
    fclose(f);
    return 0;
}

/* call first, then report: the order in which a call's arguments are evaluated is
 * unspecified, so `error` must be read after the call that sets it */
static void report(const char *what, int status, const char *error) {
    printf("%s: %s\n", what, status ? error : "(no error)");
}

/* One line "case: message" per call (or "(no error)" when it succeeded), in the order of
 * the table in tests/test_bad_inputs.py. */
#define CASE(name, call)                                                                   \
    do {                                                                                    \
        const char *error = NULL;                                                           \
        int status = (call);                                                                \
        report(name, status, error);                                                        \
    } while (0)

static int errors(const char *model_path, const char *structure_path) {
    fastpot_model *model = NULL, *failed = (fastpot_model *) 1;
    const char *error = NULL, *elements;
    char garbage_path[4096];
    FILE *garbage;
    int64_t n, i;
    int32_t *z, pbc[3], slab[3] = {1, 1, 0}, number;
    double *x, cell[9], flat[9], energy, *forces, stress[9], cutoff;
    /* a neighbour list of three atoms, two of them centres */
    int32_t lz[3], neighbors[4] = {1, 2, 0, 2}, bad_neighbors[4];
    int64_t offsets[3] = {0, 2, 4}, bad_offsets[3], empty_offsets[3] = {0, 0, 0};
    double lx[9], lforces[9], energies[2];
    if (read_structure(structure_path, &n, &z, &x, cell, pbc)) return 2;
    forces = malloc(3 * n * sizeof *forces);
    snprintf(garbage_path, sizeof garbage_path, "%s.garbage.fastpot", structure_path);
    garbage = fopen(garbage_path, "wb");
    if (!garbage) return 2;
    for (i = 0; i < 4096; i++) fputc((int) (i * 37 % 256), garbage);
    fclose(garbage);

    /* loading */
    CASE("load missing file", fastpot_model_load("/nonexistent/model.fastpot", &model, &error));
    CASE("load wrong suffix", fastpot_model_load(structure_path, &model, &error));
    CASE("load garbage", fastpot_model_load(garbage_path, &failed, &error));
    printf("model after a failed load: %s\n", failed ? "not NULL" : "NULL");
    CASE("compute after a failed load", fastpot_model_compute(failed, n, z, x, cell, pbc,
                                                              &energy, forces, NULL, &error));
    CASE("load NULL path", fastpot_model_load(NULL, &model, &error));
    CASE("load NULL model", fastpot_model_load(model_path, NULL, &error));
    printf("load NULL error: status %d\n", fastpot_model_load(NULL, &model, NULL));
    if (fastpot_model_load(model_path, &model, &error)) {
        printf("load failed: %s\n", error);
        return 1;
    }
    /* small calls */
    CASE("cutoff NULL model", fastpot_model_cutoff(NULL, &cutoff, &error));
    CASE("cutoff NULL cutoff", fastpot_model_cutoff(model, NULL, &error));
    CASE("elements NULL model", fastpot_model_elements(NULL, &elements, &error));
    CASE("elements NULL elements", fastpot_model_elements(model, NULL, &error));
    CASE("threads NULL model", fastpot_model_set_threads(NULL, 1, &error));
    CASE("threads negative", fastpot_model_set_threads(model, -1, &error));
    CASE("threads huge", fastpot_model_set_threads(model, 1000000, &error));
    CASE("atomic number NULL symbol", fastpot_atomic_number(NULL, &number, &error));
    CASE("atomic number NULL output", fastpot_atomic_number("Cu", NULL, &error));
    CASE("atomic number unknown symbol", fastpot_atomic_number("Xx", &number, &error));
    CASE("atomic number empty symbol", fastpot_atomic_number("", &number, &error));
    CASE("atomic number lower case", fastpot_atomic_number("cu", &number, &error));
    /* fastpot_model_compute */
    CASE("compute NULL model", fastpot_model_compute(NULL, n, z, x, cell, pbc, &energy, forces,
                                                     NULL, &error));
    CASE("compute n_atoms 0", fastpot_model_compute(model, 0, z, x, cell, pbc, &energy, forces,
                                                    NULL, &error));
    CASE("compute n_atoms negative", fastpot_model_compute(model, -5, z, x, cell, pbc, &energy,
                                                           forces, NULL, &error));
    CASE("compute n_atoms huge", fastpot_model_compute(model, INT64_MAX, z, x, cell, pbc,
                                                       &energy, forces, NULL, &error));
    CASE("compute n_atoms 2^40", fastpot_model_compute(model, (int64_t) 1 << 40, z, x, cell,
                                                       pbc, &energy, forces, NULL, &error));
    CASE("compute NULL atomic_numbers", fastpot_model_compute(model, n, NULL, x, cell, pbc,
                                                              &energy, forces, NULL, &error));
    CASE("compute NULL positions", fastpot_model_compute(model, n, z, NULL, cell, pbc, &energy,
                                                         forces, NULL, &error));
    CASE("compute NULL cell", fastpot_model_compute(model, n, z, x, NULL, pbc, &energy, forces,
                                                    NULL, &error));
    CASE("compute NULL pbc", fastpot_model_compute(model, n, z, x, cell, NULL, &energy, forces,
                                                   NULL, &error));
    CASE("compute NULL energy", fastpot_model_compute(model, n, z, x, cell, pbc, NULL, forces,
                                                      NULL, &error));
    z[1] = 26;
    CASE("compute element not in the model", fastpot_model_compute(
        model, n, z, x, cell, pbc, &energy, forces, NULL, &error));
    z[1] = -3;
    CASE("compute negative atomic number", fastpot_model_compute(
        model, n, z, x, cell, pbc, &energy, forces, NULL, &error));
    z[1] = 200;
    CASE("compute atomic number 200", fastpot_model_compute(model, n, z, x, cell, pbc, &energy,
                                                            forces, NULL, &error));
    z[1] = z[0];
    x[4] = NAN;
    CASE("compute NaN position", fastpot_model_compute(model, n, z, x, cell, pbc, &energy,
                                                       forces, NULL, &error));
    x[4] = x[1];
    x[3] = x[0];
    x[5] = x[2];
    CASE("compute overlapping atoms", fastpot_model_compute(model, n, z, x, cell, pbc, &energy,
                                                            forces, NULL, &error));
    read_structure(structure_path, &n, &z, &x, cell, pbc);
    memcpy(flat, cell, sizeof flat);
    memcpy(flat + 6, cell + 3, 3 * sizeof *flat);
    CASE("compute singular cell", fastpot_model_compute(model, n, z, x, flat, pbc, &energy,
                                                        forces, NULL, &error));
    flat[0] = INFINITY;
    CASE("compute infinite cell", fastpot_model_compute(model, n, z, x, flat, pbc, &energy,
                                                        forces, NULL, &error));
    CASE("compute stress of a slab", fastpot_model_compute(model, n, z, x, cell, slab, &energy,
                                                           forces, stress, &error));
    CASE("compute NULL forces and stress", fastpot_model_compute(
        model, n, z, x, cell, pbc, &energy, NULL, NULL, &error));
    CASE("compute still usable", fastpot_model_compute(model, n, z, x, cell, pbc, &energy,
                                                       forces, stress, &error));
    /* fastpot_model_compute_neighbors on the first three atoms */
    memcpy(lz, z, sizeof lz);
    memcpy(lx, x, sizeof lx);
#define NEIGHBORS(nc, na, z_, x_, off, nb, f) \
    fastpot_model_compute_neighbors(model, nc, na, z_, x_, off, nb, energies, f, NULL, NULL, \
                                    &error)
    CASE("neighbors NULL model", fastpot_model_compute_neighbors(
        NULL, 2, 3, lz, lx, offsets, neighbors, energies, lforces, NULL, NULL, &error));
    CASE("neighbors n_centres negative", NEIGHBORS(-1, 3, lz, lx, offsets, neighbors, lforces));
    CASE("neighbors n_centres > n_atoms", NEIGHBORS(3, 2, lz, lx, offsets, neighbors, lforces));
    CASE("neighbors n_atoms negative", NEIGHBORS(0, -1, lz, lx, offsets, neighbors, lforces));
    CASE("neighbors n_atoms huge", NEIGHBORS(2, INT64_MAX, lz, lx, offsets, neighbors,
                                             lforces));
    CASE("neighbors NULL atomic_numbers", NEIGHBORS(2, 3, NULL, lx, offsets, neighbors,
                                                    lforces));
    CASE("neighbors NULL positions", NEIGHBORS(2, 3, lz, NULL, offsets, neighbors, lforces));
    CASE("neighbors NULL offsets", NEIGHBORS(2, 3, lz, lx, NULL, neighbors, lforces));
    CASE("neighbors NULL neighbors", NEIGHBORS(2, 3, lz, lx, offsets, NULL, lforces));
    CASE("neighbors NULL forces", NEIGHBORS(2, 3, lz, lx, offsets, neighbors, NULL));
    CASE("neighbors NULL neighbors of an empty list", NEIGHBORS(2, 3, lz, lx, empty_offsets,
                                                                NULL, lforces));
    memcpy(bad_offsets, offsets, sizeof bad_offsets);
    bad_offsets[0] = 1;
    CASE("neighbors offsets[0] not 0", NEIGHBORS(2, 3, lz, lx, bad_offsets, neighbors,
                                                 lforces));
    bad_offsets[0] = 0;
    bad_offsets[2] = 1;
    CASE("neighbors offsets decreasing", NEIGHBORS(2, 3, lz, lx, bad_offsets, neighbors,
                                                   lforces));
    bad_offsets[2] = INT64_MAX / 2;
    CASE("neighbors offsets huge", NEIGHBORS(2, 3, lz, lx, bad_offsets, neighbors, lforces));
    memcpy(bad_neighbors, neighbors, sizeof bad_neighbors);
    bad_neighbors[1] = 3;
    CASE("neighbors index out of range", NEIGHBORS(2, 3, lz, lx, offsets, bad_neighbors,
                                                   lforces));
    bad_neighbors[1] = -1;
    CASE("neighbors index negative", NEIGHBORS(2, 3, lz, lx, offsets, bad_neighbors, lforces));
    lz[2] = 26;
    CASE("neighbors element not in the model", NEIGHBORS(2, 3, lz, lx, offsets, neighbors,
                                                         lforces));
    lz[2] = 0;
    CASE("neighbors atomic number 0", NEIGHBORS(2, 3, lz, lx, offsets, neighbors, lforces));
    lz[2] = z[2];
    lx[7] = NAN;
    CASE("neighbors NaN position", NEIGHBORS(2, 3, lz, lx, offsets, neighbors, lforces));
    memcpy(lx + 6, lx, 3 * sizeof *lx);
    CASE("neighbors overlapping atoms", NEIGHBORS(2, 3, lz, lx, offsets, neighbors, lforces));
    memcpy(lx, x, sizeof lx);
    memset(lforces, 0, sizeof lforces);
    CASE("neighbors still usable", NEIGHBORS(2, 3, lz, lx, offsets, neighbors, lforces));
    printf("neighbors NULL error: status %d\n", fastpot_model_compute_neighbors(
        model, 2, 3, lz, lx, offsets, bad_neighbors, energies, lforces, NULL, NULL, NULL));
    fastpot_model_free(model);
    fastpot_model_free(NULL);
    printf("free NULL: (no error)\n");
    (void) error;
    return 0;
}

int main(int argc, char **argv) {
    fastpot_model *model = NULL;
    const char *error = NULL;
    double cutoff;
    if (argc != 4) {
        fprintf(stderr, "usage: %s compute|neighbors|errors MODEL FILE\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "errors") == 0) return errors(argv[2], argv[3]);
    if (fastpot_model_load(argv[2], &model, &error)) {
        printf("load failed: %s\n", error);
        return 1;
    }
    if (fastpot_model_cutoff(model, &cutoff, &error)) return 1;
    printf("cutoff %.17g\n", cutoff);
    if (strcmp(argv[1], "compute") == 0) {
        int64_t n, i;
        int32_t *z, pbc[3];
        double *x, cell[9], energy, *forces, stress[9];
        if (read_structure(argv[3], &n, &z, &x, cell, pbc)) return 2;
        forces = malloc(3 * n * sizeof *forces);
        if (fastpot_model_compute(model, n, z, x, cell, pbc, &energy, forces,
                                  pbc[0] && pbc[1] && pbc[2] ? stress : NULL, &error)) {
            printf("compute failed: %s\n", error);
            return 1;
        }
        printf("energy %.17g\n", energy);
        for (i = 0; i < n; i++)
            printf("force %.17g %.17g %.17g\n", forces[3 * i], forces[3 * i + 1],
                   forces[3 * i + 2]);
        if (pbc[0] && pbc[1] && pbc[2])
            for (i = 0; i < 3; i++)
                printf("stress %.17g %.17g %.17g\n", stress[3 * i], stress[3 * i + 1],
                       stress[3 * i + 2]);
    } else {
        FILE *f = fopen(argv[3], "r");
        long long nc, na, ne, i;
        int32_t *z, *neighbors;
        int64_t *offsets;
        double *x, *energies, *forces, virial[9] = {0}, *atom_virial;
        if (!f || fscanf(f, "%lld %lld %lld", &nc, &na, &ne) != 3) return 2;
        z = malloc(na * sizeof *z);
        x = malloc(3 * na * sizeof *x);
        offsets = malloc((nc + 1) * sizeof *offsets);
        neighbors = malloc((ne > 0 ? ne : 1) * sizeof *neighbors);
        for (i = 0; i < na; i++)
            if (fscanf(f, "%d %lf %lf %lf", &z[i], &x[3 * i], &x[3 * i + 1], &x[3 * i + 2]) != 4)
                return 2;
        for (i = 0; i <= nc; i++) {
            long long value;
            if (fscanf(f, "%lld", &value) != 1) return 2;
            offsets[i] = value;
        }
        for (i = 0; i < ne; i++)
            if (fscanf(f, "%d", &neighbors[i]) != 1) return 2;
        fclose(f);
        energies = malloc(nc * sizeof *energies);
        forces = calloc(3 * na, sizeof *forces);
        atom_virial = calloc(9 * na, sizeof *atom_virial);
        if (fastpot_model_compute_neighbors(model, nc, na, z, x, offsets, neighbors, energies,
                                            forces, virial, atom_virial, &error)) {
            printf("compute_neighbors failed: %s\n", error);
            return 1;
        }
        for (i = 0; i < nc; i++) printf("energy %.17g\n", energies[i]);
        for (i = 0; i < na; i++)
            printf("force %.17g %.17g %.17g\n", forces[3 * i], forces[3 * i + 1],
                   forces[3 * i + 2]);
        for (i = 0; i < 3; i++)
            printf("virial %.17g %.17g %.17g\n", virial[3 * i], virial[3 * i + 1],
                   virial[3 * i + 2]);
        for (i = 0; i < na; i++) {
            double trace = atom_virial[9 * i] + atom_virial[9 * i + 4] + atom_virial[9 * i + 8];
            printf("atom_virial_trace %.17g\n", trace);
        }
    }
    fastpot_model_free(model);
    return 0;
}
