/* pair_style fastpot: a fastpot potential (.fastpot file) in LAMMPS, through fastpot's C API.
 *
 *   units metal
 *   newton on                           # the default
 *   pair_style fastpot [threads N]      # OpenMP threads per MPI rank (default:
 *                                       # OMP_NUM_THREADS, else 1)
 *   pair_coeff * * model.fastpot Cu S   # element of each atom type, in type order (NULL:
 *                                       # the type is not handled by this style)
 *
 * Each rank hands its local atoms (the centres), its ghost atoms and LAMMPS' full neighbour
 * list to fastpot_model_compute_neighbors; forces on ghosts are summed back by LAMMPS'
 * reverse communication, as for any many-body style. Nothing here assumes one node.
 */
#ifndef LMP_PAIR_FASTPOT_H
#define LMP_PAIR_FASTPOT_H

#include "pair.h"

#include <cstdint>
#include <string>
#include <vector>

struct fastpot_model;

namespace LAMMPS_NS {

class PairFastpot : public Pair {
 public:
  PairFastpot(class LAMMPS *);
  ~PairFastpot() override;
  void compute(int, int) override;
  void settings(int, char **) override;
  void coeff(int, char **) override;
  void init_style() override;
  double init_one(int, int) override;

 private:
  fastpot_model *model;
  double cutoff;
  int threads;
  std::vector<int32_t> type_number;  // atomic number of each LAMMPS type, 0: NULL
  // per step: LAMMPS atom <-> fastpot's compact numbering (centres first, then ghosts)
  std::vector<int> compact, original;
  std::vector<int32_t> numbers, neighbors;
  std::vector<int64_t> offsets;
  std::vector<double> positions, energies, forces, atom_virial;

  void allocate();
};

}  // namespace LAMMPS_NS

#endif
