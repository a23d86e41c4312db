/* Registers pair_style fastpot with LAMMPS' plugin loader. */
#include "lammpsplugin.h"
#include "pair_fastpot.h"

using namespace LAMMPS_NS;

#ifndef FASTPOT_LAMMPS_VERSION
#define FASTPOT_LAMMPS_VERSION "unknown"
#endif

static Pair *create_pair_fastpot(LAMMPS *lmp) { return new PairFastpot(lmp); }

extern "C" void lammpsplugin_init(void *lmp, void *handle, void *regfunc) {
  lammpsplugin_t plugin;
  lammpsplugin_regfunc register_plugin = (lammpsplugin_regfunc) regfunc;
  plugin.version = FASTPOT_LAMMPS_VERSION;
  plugin.style = "pair";
  plugin.name = "fastpot";
  plugin.info = "fastpot Behler-Parrinello neural-network potentials";
  plugin.author = "fastpot";
  plugin.creator.v1 = (lammpsplugin_factory1 *) &create_pair_fastpot;
  plugin.handle = handle;
  (*register_plugin)(&plugin, lmp);
}
