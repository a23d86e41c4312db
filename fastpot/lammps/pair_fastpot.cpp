/* pair_style fastpot (see pair_fastpot.h). */
#include "pair_fastpot.h"

#include "atom.h"
#include "comm.h"
#include "error.h"
#include "force.h"
#include "memory.h"
#include "neigh_list.h"
#include "neighbor.h"
#include "update.h"
#include "utils.h"

#include "fastpot.h"

#include <cstdlib>
#include <cstring>

using namespace LAMMPS_NS;

PairFastpot::PairFastpot(LAMMPS *lmp) : Pair(lmp), model(nullptr), cutoff(0.0), threads(1)
{
  single_enable = 0;
  restartinfo = 0;
  one_coeff = 1;
  manybody_flag = 1;
  no_virial_fdotr_compute = 1;  // the virial is summed from the pair terms themselves
  centroidstressflag = CENTROID_NOTAVAIL;
  const char *omp = std::getenv("OMP_NUM_THREADS");
  if (omp && std::atoi(omp) > 0) threads = std::atoi(omp);
}

PairFastpot::~PairFastpot()
{
  fastpot_model_free(model);
  if (allocated) {
    memory->destroy(setflag);
    memory->destroy(cutsq);
    memory->destroy(cutghost);
  }
}

void PairFastpot::allocate()
{
  allocated = 1;
  int n = atom->ntypes + 1;
  memory->create(setflag, n, n, "pair:setflag");
  memory->create(cutsq, n, n, "pair:cutsq");
  memory->create(cutghost, n, n, "pair:cutghost");
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) setflag[i][j] = 0;
}

void PairFastpot::settings(int narg, char **arg)
{
  int iarg = 0;
  while (iarg < narg) {
    if (std::strcmp(arg[iarg], "threads") == 0) {
      if (iarg + 1 >= narg)
        error->all(FLERR, "pair_style fastpot: threads needs a value (usage: pair_style "
                   "fastpot [threads N])");
      threads = utils::inumeric(FLERR, arg[iarg + 1], false, lmp);
      if (threads < 1) error->all(FLERR, "pair_style fastpot: threads must be >= 1, got {}",
                                  threads);
      iarg += 2;
    } else {
      error->all(FLERR, "pair_style fastpot: unknown argument '{}' (usage: pair_style "
                 "fastpot [threads N])", arg[iarg]);
    }
  }
}

void PairFastpot::coeff(int narg, char **arg)
{
  const char *message = nullptr;
  int ntypes = atom->ntypes;
  if (!allocated) allocate();
  if (narg < 3 || std::strcmp(arg[0], "*") != 0 || std::strcmp(arg[1], "*") != 0)
    error->all(FLERR, "pair_coeff for fastpot must be: pair_coeff * * MODEL.fastpot "
               "ELEMENT... (one element per atom type)");
  if (narg != 3 + ntypes)
    error->all(FLERR, "pair_coeff for fastpot needs one element (or NULL) per atom type: "
               "got {} for {} type(s)", narg - 3, ntypes);
  fastpot_model_free(model);
  model = nullptr;
  if (fastpot_model_load(arg[2], &model, &message))
    error->all(FLERR, "pair_style fastpot: {}", message);
  const char *elements = nullptr;
  if (fastpot_model_cutoff(model, &cutoff, &message)
      || fastpot_model_set_threads(model, threads, &message)
      || fastpot_model_elements(model, &elements, &message))
    error->all(FLERR, "pair_style fastpot: {}", message);
  std::string known = std::string(" ") + elements + " ";
  type_number.assign(ntypes + 1, 0);
  int mapped = 0;
  for (int t = 1; t <= ntypes; t++) {
    const char *symbol = arg[2 + t];
    if (std::strcmp(symbol, "NULL") == 0) continue;
    int32_t z;
    if (fastpot_atomic_number(symbol, &z, &message))
      error->all(FLERR, "pair_coeff for fastpot, atom type {}: {}", t, message);
    if (known.find(std::string(" ") + symbol + " ") == std::string::npos)
      error->all(FLERR, "pair_coeff for fastpot, atom type {}: element {} is not in the model "
                 "{} (its elements: {})", t, symbol, arg[2], elements);
    type_number[t] = z;
    mapped++;
  }
  if (mapped == 0) error->all(FLERR, "pair_coeff for fastpot maps no atom type to an element");
  for (int i = 1; i <= ntypes; i++)
    for (int j = i; j <= ntypes; j++)
      if (type_number[i] > 0 && type_number[j] > 0) setflag[i][j] = 1;
}

void PairFastpot::init_style()
{
  if (!model) error->all(FLERR, "pair_style fastpot needs a pair_coeff line first");
  if (force->newton_pair == 0) error->all(FLERR, "pair_style fastpot requires newton pair on");
  if (std::strcmp(update->unit_style, "metal") != 0)
    error->all(FLERR, "pair_style fastpot requires units metal (Å, eV), not {}",
               update->unit_style);
  neighbor->add_request(this, NeighConst::REQ_FULL);
}

double PairFastpot::init_one(int i, int j)
{
  // LAMMPS itself refuses type pairs left unset ("All pair coeffs are not set")
  cutghost[i][j] = cutghost[j][i] = cutoff;
  return cutoff;
}

void PairFastpot::compute(int eflag, int vflag)
{
  const char *message = nullptr;
  ev_init(eflag, vflag);
  double **x = atom->x;
  double **f = atom->f;
  int *type = atom->type;
  int nlocal = atom->nlocal;
  int nall = nlocal + atom->nghost;
  int inum = list->inum;
  int *ilist = list->ilist;
  int *numneigh = list->numneigh;
  int **firstneigh = list->firstneigh;

  // compact numbering: the mapped local atoms of the list, then every mapped ghost
  compact.assign(nall, -1);
  original.clear();
  for (int ii = 0; ii < inum; ii++) {
    int i = ilist[ii];
    if (type_number[type[i]] > 0) {
      compact[i] = (int) original.size();
      original.push_back(i);
    }
  }
  int n_centres = (int) original.size();
  for (int a = 0; a < nall; a++)
    if (compact[a] < 0 && a >= nlocal && type_number[type[a]] > 0) {
      compact[a] = (int) original.size();
      original.push_back(a);
    }
  int n_atoms = (int) original.size();
  numbers.resize(n_atoms);
  positions.resize(3 * (size_t) n_atoms);
  for (int c = 0; c < n_atoms; c++) {
    int a = original[c];
    numbers[c] = type_number[type[a]];
    positions[3 * c] = x[a][0];
    positions[3 * c + 1] = x[a][1];
    positions[3 * c + 2] = x[a][2];
  }
  offsets.assign(n_centres + 1, 0);
  neighbors.clear();
  for (int c = 0; c < n_centres; c++) {
    int i = original[c];
    const int *jlist = firstneigh[i];
    for (int jj = 0; jj < numneigh[i]; jj++) {
      int j = compact[jlist[jj] & NEIGHMASK];
      if (j >= 0) neighbors.push_back(j);
    }
    offsets[c + 1] = (int64_t) neighbors.size();
  }
  energies.assign(n_centres, 0.0);
  forces.assign(3 * (size_t) n_atoms, 0.0);
  double w[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
  if (vflag_atom) atom_virial.assign(9 * (size_t) n_atoms, 0.0);
  if (fastpot_model_compute_neighbors(
          model, n_centres, n_atoms, numbers.data(), positions.data(), offsets.data(),
          neighbors.empty() ? nullptr : neighbors.data(), energies.data(), forces.data(),
          vflag_global ? w : nullptr, vflag_atom ? atom_virial.data() : nullptr, &message))
    error->one(FLERR, "pair_style fastpot: {}", message);

  for (int c = 0; c < n_atoms; c++) {
    int a = original[c];
    f[a][0] += forces[3 * c];
    f[a][1] += forces[3 * c + 1];
    f[a][2] += forces[3 * c + 2];
  }
  if (eflag_global)
    for (int c = 0; c < n_centres; c++) eng_vdwl += energies[c];
  if (eflag_atom)
    for (int c = 0; c < n_centres; c++) eatom[original[c]] += energies[c];
  if (vflag_global) {
    // LAMMPS' order xx yy zz xy xz yz, symmetrised
    virial[0] += w[0];
    virial[1] += w[4];
    virial[2] += w[8];
    virial[3] += 0.5 * (w[1] + w[3]);
    virial[4] += 0.5 * (w[2] + w[6]);
    virial[5] += 0.5 * (w[5] + w[7]);
  }
  if (vflag_atom)
    for (int c = 0; c < n_atoms; c++) {
      const double *v = &atom_virial[9 * (size_t) c];
      double *out = vatom[original[c]];
      out[0] += v[0];
      out[1] += v[4];
      out[2] += v[8];
      out[3] += 0.5 * (v[1] + v[3]);
      out[4] += 0.5 * (v[2] + v[6]);
      out[5] += 0.5 * (v[5] + v[7]);
    }
}
