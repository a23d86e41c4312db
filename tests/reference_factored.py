"""Brute-force n2p2 types 12, 13 and 20-25 in NumPy, written from the definitions in
ext/kernels/n2p2_types_12_to_25.md (independent of the kernels: ASE's neighbour list, one
function at a time, every pair of neighbours). Values and the gradient with respect to every
position; the derivatives are checked against finite differences in the tests, too."""
import numpy as np
from ase.data import atomic_numbers
from ase.neighborlist import neighbor_list

from fastpot.symmetry_factored import (CompactRadial, WeightedAngular,
                                       WeightedRadial, parse_subtype)

E = np.e


def core(kind, x):
    """core(x) and core'(x), x in [0, 1]."""
    if kind == 1:
        return (2 * x - 3) * x * x + 1, 6 * x * x - 6 * x
    if kind == 2:
        return ((15 - 6 * x) * x - 10) * x**3 + 1, -30 * x * x * (x - 1) ** 2
    if kind == 3:
        return (x * (x * (20 * x - 70) + 84) - 35) * x**4 + 1, 140 * x**3 * (x - 1) ** 3
    if kind == 4:
        return ((x * (x * ((315 - 70 * x) * x - 540) + 420) - 126) * x**5 + 1,
                -630 * x**4 * (x - 1) ** 4)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        t = 1.0 / (x * x - 1.0)
        f = np.where(x < 1, E * np.exp(t), 0.0)
        return f, np.where(x < 1, -2 * x * t * t * f, 0.0)


def compact(t, left, right, kind, asym):
    """The compact bump on (left, right) and its derivative, 0 outside."""
    t = np.asarray(t, dtype=float)
    centre, width = 0.5 * (left + right), 0.5 * (right - left)
    a = (t - centre) / width
    x = np.minimum(np.abs(a), 1.0)
    if asym:
        u = x * (2 - x)
        f, d = core(kind, u)
        d = d * (2 - 2 * x)
    else:
        f, d = core(kind, x)
    inside = (t > left) & (t < right)
    return np.where(inside, f, 0.0), np.where(inside, np.sign(a) * d / width, 0.0)


def cutoff(r, rc, kind, alpha):
    """n2p2 cutoff function f_c and its derivative (N2P2_FORMAT.md)."""
    r = np.asarray(r, dtype=float)
    f, d = np.zeros_like(r), np.zeros_like(r)
    inside = r < rc
    if kind == 0:
        f[inside] = 1.0
        return f, d
    if kind in (2, 3):
        t = np.tanh(1 - r[inside] / rc)
        norm = 1.0 if kind == 2 else np.tanh(1.0) ** -3
        f[inside] = norm * t**3
        d[inside] = -3 * norm * t * t * (1 - t * t) / rc
        return f, d
    rci = alpha * rc
    flat = inside & (r < rci)
    outer = inside & (r >= rci)
    f[flat] = 1.0
    x = (r[outer] - rci) / (rc - rci)
    if kind == 1:
        value, slope = 0.5 * (np.cos(np.pi * x) + 1), -0.5 * np.pi * np.sin(np.pi * x)
    else:
        value, slope = core({4: 0, 5: 1, 6: 2, 7: 3, 8: 4}[kind], x)
    f[outer] = value
    d[outer] = slope / (rc - rci)
    return f, d


def factored_values_and_gradients(sf, atoms):
    """{element: G (n_of_element, n_functions)} and dG/dr (n_atoms, n_functions, n_atoms, 3)
    per element, for an `sf` made only of types 12, 13, 20-25."""
    n_atoms = len(atoms)
    i_all, j_all, D_all = neighbor_list("ijD", atoms, sf.cutoff)
    symbols = atoms.get_chemical_symbols()
    Z = np.array([atomic_numbers[s] for s in symbols], dtype=float)
    values, grads = {}, {}
    for symbol in sf.elements:
        own = [i for i in range(n_atoms) if symbols[i] == symbol]
        if not own:
            continue
        funcs = sf.functions[symbol]
        G = np.zeros((len(own), len(funcs)))
        dG = np.zeros((len(own), len(funcs), n_atoms, 3))
        for row, i in enumerate(own):
            sel = (i_all == i) & (np.linalg.norm(D_all, axis=1) <= sf.cutoff)
            J, D = j_all[sel], D_all[sel]
            for s, f in enumerate(funcs):
                G[row, s], dG[row, s] = _one(sf, f, i, J, D, Z, symbols, n_atoms)
        values[symbol], grads[symbol] = G, dG
    return values, grads


def _one(sf, f, i, J, D, Z, symbols, n_atoms):
    grad = np.zeros((n_atoms, 3))
    r = np.linalg.norm(D, axis=1)
    if isinstance(f, (WeightedRadial, CompactRadial)):
        if isinstance(f, WeightedRadial):
            fc, dfc = cutoff(r, f.rc, sf.cutoff_type, sf.cutoff_alpha)
            g = np.exp(-f.eta * (r - f.rs) ** 2)
            val, dval = Z[J] * g * fc, Z[J] * g * (dfc - 2 * f.eta * (r - f.rs) * fc)
        else:
            kind, asym = parse_subtype(f.subtype)
            val, dval = compact(r, f.rl, f.rc, kind, asym)
            if f.neighbor is None:
                val, dval = Z[J] * val, Z[J] * dval
            else:
                chosen = np.array([symbols[j] == f.neighbor for j in J])
                val, dval = val * chosen, dval * chosen
        vec = (dval / r)[:, None] * D   # dG/dr_j per entry (D = r_j - r_i)
        np.add.at(grad, J, vec)
        grad[i] -= vec.sum(axis=0)
        return val.sum(), grad
    total = 0.0
    for a in range(len(J)):
        for b in range(a + 1, len(J)):
            term, dj, dk = _pair(sf, f, D[a], D[b], J[a], J[b], Z, symbols)
            if term is None:
                continue
            total += term
            grad[J[a]] += dj
            grad[J[b]] += dk
            grad[i] -= dj + dk
    return total, grad


def _pair(sf, f, Dj, Dk, j, k, Z, symbols):
    """A pair's term and its gradients with respect to r_j and r_k (None: no term)."""
    rj, rk = np.linalg.norm(Dj), np.linalg.norm(Dk)
    Djk = Dk - Dj
    rjk = np.linalg.norm(Djk)
    c = Dj @ Dk / (rj * rk)
    dc_dj = Dk / (rj * rk) - c * Dj / rj**2
    dc_dk = Dj / (rj * rk) - c * Dk / rk**2
    if isinstance(f, WeightedAngular):
        fj, dfj = cutoff([rj, rk, rjk], f.rc, sf.cutoff_type, sf.cutoff_alpha)
        gauss = np.exp(-f.eta * ((np.array([rj, rk, rjk]) - f.rs) ** 2).sum())
        radial = fj.prod() * gauss
        slopes = [(dfj[m] - 2 * f.eta * ([rj, rk, rjk][m] - f.rs) * fj[m])
                  * np.prod(np.delete(fj, m)) * gauss for m in range(3)]
        base = 1 + f.lam * c
        P = base**f.zeta if base > 0 else 0.0
        dP = f.zeta * f.lam * base ** (f.zeta - 1) if base > 0 else 0.0
        weight = Z[j] * Z[k] * 2.0 ** (1 - f.zeta)
        angle, dangle_dc = P * weight, dP * weight
    else:
        if f.neighbor1 is not None and sorted([symbols[j], symbols[k]]) != sorted(
                [f.neighbor1, f.neighbor2]):
            return None, None, None
        if not -1 < c < 1:
            return None, None, None
        kind, asym = parse_subtype(f.subtype)
        dists = [rj, rk] + ([] if f.wide else [rjk])
        vals, ders = compact(np.array(dists), f.rl, f.rc, kind, asym)
        if f.wide:
            vals, ders = np.append(vals, 1.0), np.append(ders, 0.0)
        radial = vals.prod()
        slopes = [ders[m] * np.prod(np.delete(vals, m)) for m in range(3)]
        theta = np.arccos(c)
        ca, dca = compact(theta, np.radians(f.angle_left), np.radians(f.angle_right), kind,
                          False)
        weight = Z[j] * Z[k] if f.neighbor1 is None else 1.0
        angle, dangle_dc = weight * ca, weight * dca * (-1 / np.sqrt(1 - c * c))
    term = radial * angle
    if term == 0.0 and all(s == 0.0 for s in slopes) and dangle_dc * radial == 0.0:
        return 0.0, np.zeros(3), np.zeros(3)
    ujk = Djk / rjk
    dj = angle * (slopes[0] * Dj / rj - slopes[2] * ujk) + radial * dangle_dc * dc_dj
    dk = angle * (slopes[1] * Dk / rk + slopes[2] * ujk) + radial * dangle_dc * dc_dk
    return term, dj, dk
