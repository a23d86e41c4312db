"""Brute-force symmetry functions, written from N2P2_FORMAT.md §3-§4 with plain Python loops.

Independent of fastpot's kernels and neighbour list (it uses ASE's): slow, obvious, for tests.
"""
import math

import numpy as np
from ase.neighborlist import neighbor_list


def cutoff(kind, r, rc, alpha):
    if r >= rc:
        return 0.0
    if kind == 0:
        return 1.0
    if kind == 2:
        return math.tanh(1.0 - r / rc) ** 3
    if kind == 3:
        return math.tanh(1.0 - r / rc) ** 3 / math.tanh(1.0) ** 3
    rci = alpha * rc
    if r < rci:
        return 1.0
    x = (r - rci) / (rc - rci)
    if kind == 1:
        return 0.5 * (math.cos(math.pi * x) + 1.0)
    if kind == 4:
        return math.exp(1.0 - 1.0 / (1.0 - x * x))
    if kind == 5:
        return (2 * x - 3) * x**2 + 1
    if kind == 6:
        return ((15 - 6 * x) * x - 10) * x**3 + 1
    if kind == 7:
        return (x * (x * (20 * x - 70) + 84) - 35) * x**4 + 1
    if kind == 8:
        return (x * (x * ((315 - 70 * x) * x - 540) + 420) - 126) * x**5 + 1
    raise ValueError(kind)


def reference_values(sf, atoms):
    """{symbol: array} like SymmetryFunctions.compute, by direct summation."""
    i_list, j_list, D_list = neighbor_list("ijD", atoms, sf.cutoff)
    symbols = atoms.get_chemical_symbols()
    entries = [[] for _ in atoms]
    for i, j, D in zip(i_list, j_list, D_list):
        entries[i].append((symbols[j], np.asarray(D)))
    out = {s: [] for s in sf.elements if s in symbols}
    kind, alpha = sf.cutoff_type, sf.cutoff_alpha
    for i, symbol in enumerate(symbols):
        row = []
        for f in sf.functions[symbol]:
            total = 0.0
            if f.kind == 2:
                for element, D in entries[i]:
                    R = np.linalg.norm(D)
                    if element == f.neighbor and R < f.rc:
                        total += math.exp(-f.eta * (R - f.rs) ** 2) * cutoff(kind, R, f.rc, alpha)
            else:
                rs = max(f.rs, 0.0)
                own = entries[i]
                for a in range(len(own)):
                    for b in range(a + 1, len(own)):
                        (ea, Da), (eb, Db) = own[a], own[b]
                        if sorted([ea, eb]) != sorted([f.neighbor1, f.neighbor2]):
                            continue
                        Rj, Rk = np.linalg.norm(Da), np.linalg.norm(Db)
                        if Rj >= f.rc or Rk >= f.rc:
                            continue
                        cos = float(Da @ Db) / (Rj * Rk)
                        P = 1.0 + f.lam * cos
                        if P <= 0.0:
                            continue
                        exponent = (Rj - rs) ** 2 + (Rk - rs) ** 2
                        fcs = cutoff(kind, Rj, f.rc, alpha) * cutoff(kind, Rk, f.rc, alpha)
                        if f.kind == 3:
                            Rjk = np.linalg.norm(Db - Da)
                            if Rjk >= f.rc:
                                continue
                            exponent += (Rjk - rs) ** 2
                            fcs *= cutoff(kind, Rjk, f.rc, alpha)
                        total += 2.0 ** (1.0 - f.zeta) * P**f.zeta * math.exp(-f.eta * exponent) * fcs
            row.append(total)
        out[symbol].append(row)
    return {s: np.array(rows) for s, rows in out.items()}
