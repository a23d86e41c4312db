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

int main(int argc, char **argv) {
    fastpot_model *model = NULL;
    const char *error = NULL;
    double cutoff;
    if (argc != 4) {
        fprintf(stderr, "usage: %s compute|neighbors|errors MODEL FILE\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "errors") == 0) {
        int64_t n;
        int32_t *z, pbc[3];
        double *x, cell[9], energy, *forces, stress[9];
        if (read_structure(argv[3], &n, &z, &x, cell, pbc)) return 2;
        forces = malloc(3 * n * sizeof *forces);
        {
            int status = fastpot_model_load("/nonexistent/model.fastpot", &model, &error);
            report("missing file", status, error);
        }
        {
            int status = fastpot_model_load(argv[3], &model, &error);
            report("wrong suffix", status, error);
        }
        {
            int status = fastpot_model_load(NULL, &model, &error);
            report("NULL path", status, error);
        }
        {
            int status = fastpot_model_load(argv[2], NULL, &error);
            report("NULL model", status, error);
        }
        if (fastpot_model_load(argv[2], &model, &error)) {
            printf("load failed: %s\n", error);
            return 1;
        }
        {
            int status = fastpot_model_cutoff(model, NULL, &error);
            report("cutoff NULL", status, error);
        }
        {
            int status = fastpot_model_compute(model, 0, z, x, cell, pbc, &energy, forces,
                                                  NULL, &error);
            report("n_atoms 0", status, error);
        }
        {
            int status = fastpot_model_compute(model, n, z, NULL, cell, pbc, &energy,
                                                       forces, NULL, &error);
            report("positions NULL", status, error);
        }
        {
            int status = fastpot_model_compute(NULL, n, z, x, cell, pbc, &energy, forces,
                                                   NULL, &error);
            report("model NULL", status, error);
        }
        z[1] = 26;
        {
            int status = fastpot_model_compute(model, n, z, x, cell, pbc, &energy,
                                                        forces, NULL, &error);
            report("unknown element", status, error);
        }
        z[1] = z[0];
        x[4] = NAN;
        {
            int status = fastpot_model_compute(model, n, z, x, cell, pbc, &energy, forces,
                                                     NULL, &error);
            report("NaN position", status, error);
        }
        x[4] = 0.0;
        {
            double flat[9];
            memcpy(flat, cell, sizeof flat);
            flat[6] = flat[3];
            flat[7] = flat[4];
            flat[8] = flat[5];
            {
            int status = fastpot_model_compute(model, n, z, x, flat, pbc, &energy,
                                                          forces, NULL, &error);
            report("singular cell", status, error);
        }
        }
        {
            int32_t slab[3] = {1, 1, 0};
            {
            int status = fastpot_model_compute(model, n, z, x, cell, slab, &energy,
                                                             forces, stress, &error);
            report("stress of a slab", status, error);
        }
        }
        {
            int status = fastpot_model_compute(model, n, z, x, cell, pbc, &energy, forces,
                                                     stress, &error);
            report("still usable", status, error);
        }
        fastpot_model_free(model);
        return 0;
    }
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
