"""Errors of a potential on reference structures: the figures of metrics.json, the
training log and ``fastpot evaluate``."""
import numpy as np
from scipy.stats import spearmanr

from fastpot._mpi import SerialComm


def evaluate_samples(potential, samples, n_threads=None, comm=None):
    """Errors of a potential on reference samples, as in metrics.json.

    energy_rmse, energy_mae: per atom, meV/atom. forces_component_rmse/_mae: over every
    Cartesian component, meV/Å (what n2p2 and most BP papers quote); forces_vector_rmse/_mae:
    over atoms, of the length of the force error vector |F - F_ref|, meV/Å (what some MLIP
    papers quote; the vector RMSE is sqrt(3) times the component RMSE). stress_rmse/_mae: over
    the six Voigt components, meV/Å^3. Absent quantities are None (stress is left out when no
    sample has it).

    A committee adds energy_std_mean (the members' spread of the energy per atom, meV/atom,
    averaged over the structures) and energy_std_spearman: the rank correlation between that
    spread and the absolute energy error per structure, how well the uncertainty orders the
    errors (None for fewer than three structures with energies)."""
    comm = comm or SerialComm()
    mine = []     # (index, energy error, force errors, stress errors) of this rank's share
    for index in range(comm.rank, len(samples), comm.size):
        sample = samples[index]
        try:
            result = potential.evaluate(sample.atoms, n_threads=n_threads,
                                        stress=sample.stress is not None)
        except ValueError as error:
            raise ValueError(f"{sample.source}: {error}") from None
        mine.append((index,
                     (result["energy"] - sample.energy) / sample.n_atoms
                     if sample.energy is not None else None,
                     result["forces"] - sample.forces if sample.forces is not None else None,
                     result["stress"] - sample.stress
                     if sample.stress is not None and "stress" in result else None,
                     result["energy_std"] / sample.n_atoms if "energy_std" in result
                     else None))
    # every rank's errors, back in the samples' order: the same figures as one process
    errors_by_sample = sorted((row for rows in comm.gather_objects(mine) for row in rows),
                              key=lambda row: row[0])
    de = [row[1] for row in errors_by_sample if row[1] is not None]
    df = [row[2] for row in errors_by_sample if row[2] is not None]
    ds = [row[3] for row in errors_by_sample if row[3] is not None]
    n_atoms = sum(sample.n_atoms for sample in samples)
    metrics = {"n_structures": len(samples), "n_atoms": n_atoms}
    errors = {"energy": np.array(de) * 1000.0 if de else None,
              "forces_component": np.concatenate(df).ravel() * 1000.0 if df else None,
              "forces_vector": np.linalg.norm(np.concatenate(df), axis=1) * 1000.0 if df
              else None,
              "stress": np.concatenate(ds) * 1000.0 if ds else None}
    for name, v in errors.items():
        if v is not None:
            metrics[f"{name}_rmse"] = float(np.sqrt(np.mean(v**2)))
            metrics[f"{name}_mae"] = float(np.mean(np.abs(v)))
        elif name != "stress":
            metrics[f"{name}_rmse"] = metrics[f"{name}_mae"] = None
    if potential.is_committee:
        std = np.array([row[4] for row in errors_by_sample]) * 1000.0
        metrics["energy_std_mean"] = float(std.mean()) if len(std) else None
        with_energy = [row[1] is not None for row in errors_by_sample]
        metrics["energy_std_spearman"] = (
            float(spearmanr(std[with_energy], np.abs(errors["energy"])).statistic)
            if errors["energy"] is not None and len(errors["energy"]) >= 3 else None)
    return metrics
