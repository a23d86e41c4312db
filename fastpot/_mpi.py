"""The communicator data-parallel training runs on: MPI through mpi4py when fastpot runs
under ``mpiexec`` with more than one rank, otherwise a serial stand-in with the same calls.

Every reduction here gathers each rank's array and sums them in rank order, so all ranks
hold bitwise the same result (MPI's own Allreduce does not promise that), and the loss,
the gradient and the optimizer's path are identical on every rank.
"""
import os

import numpy as np

# set by mpiexec/mpirun: MPICH's hydra (PMI_SIZE), Open MPI, Slurm's srun (PMI2/PMIx)
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_NTASKS")


class SerialComm:
    """One process: reductions are the identity."""

    rank = 0
    size = 1
    ranks_on_this_node = 1

    def sum(self, array):
        return np.array(array, dtype=np.float64)

    def min(self, array):
        return np.array(array, dtype=np.float64)

    def max(self, array):
        return np.array(array, dtype=np.float64)

    def gather_objects(self, obj):
        return [obj]

    def broadcast(self, obj):
        return obj

    def barrier(self):
        pass


class MPIComm:
    """mpi4py's COMM_WORLD behind the SerialComm calls."""

    def __init__(self, comm):
        from mpi4py import MPI
        self._comm = comm
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.ranks_on_this_node = comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()

    def _gathered(self, array):
        array = np.ascontiguousarray(array, dtype=np.float64)
        everything = np.empty((self.size,) + array.shape)
        self._comm.Allgather(array, everything)
        return everything

    def sum(self, array):
        # rank by rank, in rank order: the same bits on every rank
        everything = self._gathered(array)
        total = everything[0].copy()
        for part in everything[1:]:
            total += part
        return total

    def min(self, array):
        return self._gathered(array).min(axis=0)

    def max(self, array):
        return self._gathered(array).max(axis=0)

    def gather_objects(self, obj):
        return self._comm.allgather(obj)

    def broadcast(self, obj):
        return self._comm.bcast(obj, root=0)

    def barrier(self):
        self._comm.Barrier()


def launched_ranks():
    """The number of ranks mpiexec (or srun) started, from its environment; 1 outside it."""
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name)
        if value and value.isdigit():
            return int(value)
    return 1


def world():
    """The communicator of this run: MPI when started on several ranks, else serial."""
    if launched_ranks() <= 1:
        return SerialComm()
    try:
        from mpi4py import MPI
    except ImportError:
        raise RuntimeError(f"started on {launched_ranks()} MPI ranks but mpi4py is not "
                           "installed: pip install 'fastpot[mpi]' (mpi4py and the mpich "
                           "wheel), and run with that MPI's mpiexec") from None
    comm = MPIComm(MPI.COMM_WORLD)
    if comm.size != launched_ranks():
        raise RuntimeError(f"mpiexec started {launched_ranks()} ranks but MPI sees "
                           f"{comm.size}: mpi4py is built against another MPI than this "
                           "mpiexec (use the mpich wheel's mpiexec)")
    return comm
