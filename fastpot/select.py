"""Choosing the structures to label next: the selection step of active learning.

    train --committee K -> md -> select -> label with DFT -> add to the data -> train again

The frames the committee disagrees on most are where the potential is least sure; among
them, frames that are nearly the same structure would be labelled twice for the price of
one new piece of information (consecutive MD frames usually are), so a frame is skipped when
its descriptor summary is closer than `min_distance` to one already picked.

The descriptor summary of a frame is, for each element of the model, the mean and the
standard deviation over its atoms of the scaled symmetry functions (the networks' inputs,
which span about [-1, 1] on the training data); the distance is the root mean square of the
difference over those numbers. The default min_distance (MIN_DISTANCE) is 0.5 % of the
training range: it skips frames that are nearly the same configuration, such as MD frames a
few femtoseconds apart, and keeps independent ones. Measured on models of EMT copper
(training cells strained up to 4 %): 108-atom frames with independent thermal displacements
of 0.08 Å are 0.017 apart, with 0.08 and 0.05 Å 0.025, a cell strained by 0.5 % is 0.076 away
and one with a vacancy 0.067; in a 600 K NVT run of 32 atoms, frames 10 fs apart are about
0.007 apart and frames 100 fs or more apart 0.02-0.04. The distances are in units of the
training range (a model trained on narrower data sees the same structures farther apart) and
shrink with the number of atoms (means over more atoms fluctuate less); ``--min-distance``
sets another threshold: larger spreads the picks over more distinct structures, 0 keeps
every frame.
"""
import numpy as np

__all__ = ["MIN_DISTANCE", "select_frames", "frame_summary", "disagreement"]

MIN_DISTANCE = 0.01
MEASURES = ("forces", "energy")


def disagreement(potential, atoms, by="forces", n_threads=None):
    """The committee's disagreement on a structure: ``"forces"``, the largest per-atom
    length of the force standard deviation (eV/Å, as ``fastpot md --max-force-std``);
    ``"energy"``, the energy standard deviation per atom (eV/atom)."""
    if by == "forces":
        result = potential.evaluate(atoms, stress=False, forces_std=True, n_threads=n_threads)
        return float(np.sqrt((result["forces_std"] ** 2).sum(axis=1)).max()), result
    result = potential.evaluate(atoms, forces=False, stress=False, n_threads=n_threads)
    return result["energy_std"] / len(atoms), result


def frame_summary(potential, atoms, n_threads=None):
    """Per element of the model, the mean and standard deviation over its atoms of the scaled
    symmetry functions, concatenated (zeros for an element the frame lacks)."""
    values = potential.scaling.apply(potential.sf.compute(atoms, n_threads=n_threads))
    parts = []
    for element in potential.elements:
        block = values.get(element)
        width = potential.sf.n_functions(element)
        if block is None:
            parts.append(np.zeros(2 * width))
        else:
            parts.append(np.concatenate([block.mean(axis=0), block.std(axis=0)]))
    return np.concatenate(parts)


def select_frames(potential, frames, n, by="forces", min_distance=MIN_DISTANCE,
                  n_threads=None, names=None):
    """The (at most) `n` frames with the largest committee disagreement, skipping those
    within `min_distance` of a frame already picked. Returns a list of dicts, largest
    disagreement first: ``index`` (into `frames`), ``disagreement``, ``energy_std`` (eV),
    ``max_force_std`` (eV/Å, when by="forces"), and ``skipped``: how many more uncertain
    frames were left out as near-duplicates before this one was picked.

    `names` (optional, one per frame) name the frames in error messages."""
    if not potential.is_committee:
        raise ValueError("selection needs a committee potential (this one has one model; "
                         "train one with fastpot train --committee K)")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"the number of frames to select must be a positive integer, "
                         f"got {n!r}")
    if by not in MEASURES:
        raise ValueError(f"by must be one of {', '.join(MEASURES)}, got {by!r}")
    if not isinstance(min_distance, (int, float)) or not min_distance >= 0:
        raise ValueError(f"min_distance must be a number >= 0, got {min_distance!r}")
    if not len(frames):
        raise ValueError("there are no frames to select from")
    names = names or [f"frame {k}" for k in range(len(frames))]
    scored = []
    for k, atoms in enumerate(frames):
        try:
            value, result = disagreement(potential, atoms, by, n_threads)
        except ValueError as error:
            raise ValueError(f"{names[k]}: {error}") from None
        if not np.isfinite(value):
            raise ValueError(f"{names[k]}: the committee's disagreement is not finite")
        entry = {"index": k, "disagreement": value, "energy_std": result["energy_std"]}
        if by == "forces":
            entry["max_force_std"] = value
        scored.append(entry)
    # the most uncertain first; ties keep the frames' order
    scored.sort(key=lambda entry: (-entry["disagreement"], entry["index"]))
    picked, summaries, skipped = [], [], 0
    for entry in scored:
        if len(picked) == n:
            break
        summary = frame_summary(potential, frames[entry["index"]], n_threads)
        if summaries:
            distance = np.sqrt(np.mean((np.array(summaries) - summary) ** 2, axis=1)).min()
            if distance < min_distance:
                skipped += 1
                continue
        entry["skipped"] = skipped
        skipped = 0
        picked.append(entry)
        summaries.append(summary)
    return picked
