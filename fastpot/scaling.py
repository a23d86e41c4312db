"""Symmetry-function scaling: the stage between descriptors and networks (N2P2_FORMAT.md §5).

G_s = Smin + k (G - shift), with k and shift per element and function:

| mode           | shift  | k                          |
|----------------|--------|----------------------------|
| ``none``       | 0      | 1 (and Smin = 0)           |
| ``scale``      | Gmin   | (Smax - Smin)/(Gmax - Gmin)|
| ``center``     | Gmean  | 1 (and Smin = 0)           |
| ``scalecenter``| Gmean  | (Smax - Smin)/(Gmax - Gmin)|
| ``sigma``      | Gmean  | (Smax - Smin)/Gsigma       |

The statistics (min, max, mean, sigma) come from a data set (``Scaling.from_data``) or from
n2p2's ``scaling.data`` (read and written by fastpot/n2p2.py). They also bound the range in
which a potential was trained: values outside [Gmin, Gmax] are extrapolation (§9).
"""
import numpy as np

MODES = ("none", "scale", "center", "scalecenter", "sigma")
# n2p2's tolerance for the extrapolation check
EXTRAPOLATION_EPS = 1000 * np.finfo(float).eps


class Scaling:
    """Per-element statistics and the scaling mode.

    ``stats[element]`` is an array of shape (n_functions, 4): Gmin, Gmax, Gmean, Gsigma.
    A function with zero spread cannot be scaled: ``constant="error"`` refuses it (reading
    n2p2 files, where n2p2 would divide by zero), ``"ignore"`` gives it a zero factor (fitting
    statistics to data: a constant function carries no information).
    """

    def __init__(self, mode, stats, smin=0.0, smax=1.0, constant="error"):
        if mode not in MODES:
            raise ValueError(f"unknown scaling mode {mode!r}; choose from {', '.join(MODES)}")
        self.mode = mode
        self.smin = float(smin)
        self.smax = float(smax)
        if not (np.isfinite(self.smin) and np.isfinite(self.smax)) or self.smax <= self.smin:
            raise ValueError(f"scaling range must have smin < smax, got {smin}, {smax}")
        self.stats = {}
        for element, table in stats.items():
            table = np.array(table, dtype=np.float64)
            if table.ndim != 2 or table.shape[1] != 4:
                raise ValueError(f"scaling statistics of {element} must have shape "
                                 f"(n_functions, 4), got {table.shape}")
            if not np.isfinite(table).all():
                raise ValueError(f"scaling statistics of {element} are not finite")
            self.stats[element] = table
        self.factor, self.shift, self.offset = {}, {}, {}
        for element, table in self.stats.items():
            self.factor[element], self.shift[element] = self._factor_shift(element, table,
                                                                           constant)
            self.offset[element] = self.smin if mode in ("scale", "scalecenter", "sigma") else 0.0

    def _factor_shift(self, element, table, constant):
        gmin, gmax, gmean, gsigma = table.T
        width = self.smax - self.smin
        if self.mode == "none":
            return np.ones(len(table)), np.zeros(len(table))
        if self.mode == "center":
            return np.ones(len(table)), gmean.copy()
        spread = gsigma if self.mode == "sigma" else gmax - gmin
        bad = np.flatnonzero(spread <= 0.0)
        if bad.size and constant == "ignore":
            safe = np.where(spread > 0.0, spread, 1.0)
            factor = np.where(spread > 0.0, width / safe, 0.0)
            return factor, gmin.copy() if self.mode == "scale" else gmean.copy()
        if bad.size:
            what = "Gsigma" if self.mode == "sigma" else "Gmax - Gmin"
            raise ValueError(f"scaling mode {self.mode!r}: {what} is zero for element {element} "
                             f"function {int(bad[0]) + 1} (1-based; {bad.size} such): that "
                             "function is constant in the data and cannot be scaled")
        shift = gmin.copy() if self.mode == "scale" else gmean.copy()
        return width / spread, shift

    # -- from data -----------------------------------------------------------------------------
    @classmethod
    def from_data(cls, sf, values, mode="scalecenter", smin=0.0, smax=1.0):
        """Statistics of unscaled symmetry functions: `values` is a list of per-structure dicts
        (as ``SymmetryFunctions.compute`` returns) or one dict of stacked rows per element.

        Functions that are constant over the data get a zero factor (they carry no
        information), instead of the infinite factor n2p2 would compute."""
        if isinstance(values, dict):
            values = [values]
        stats = {}
        for element in sf.elements:
            rows = [v[element] for v in values if element in v and len(v[element])]
            width = sf.n_functions(element)
            if not rows:
                raise ValueError(f"no atoms of element {element} in the data: its scaling "
                                 "statistics cannot be computed")
            data = np.concatenate(rows).reshape(-1, width)
            stats[element] = np.column_stack([data.min(axis=0), data.max(axis=0),
                                              data.mean(axis=0), data.std(axis=0)])
        return cls(mode, stats, smin, smax, constant="ignore")

    # -- applying ------------------------------------------------------------------------------
    def apply(self, values):
        """Scaled copies of per-element arrays {element: (n, n_functions)}."""
        return {e: self.offset[e] + self.factor[e] * (g - self.shift[e]) for e, g in values.items()}

    def extrapolation(self, element, values):
        """Boolean mask of values outside [Gmin, Gmax] (n2p2's tolerance), same shape."""
        gmin, gmax = self.stats[element][:, 0], self.stats[element][:, 1]
        return (values + EXTRAPOLATION_EPS < gmin) | (values - EXTRAPOLATION_EPS > gmax)

    def __eq__(self, other):
        return (isinstance(other, Scaling) and self.mode == other.mode
                and self.smin == other.smin and self.smax == other.smax
                and self.stats.keys() == other.stats.keys()
                and all(np.array_equal(self.stats[e], other.stats[e]) for e in self.stats)
                and all(np.array_equal(self.factor[e], other.factor[e]) for e in self.stats))
