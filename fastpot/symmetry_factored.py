"""n2p2 symmetry-function types 12, 13 and 20-25: definitions, checks, n2p2 sort keys, and the
tables of the factored kernel (ext/kernels/_sf_factored.pyx).

- 12 ``WeightedRadial`` and 13 ``WeightedAngular``: Gaussian functions over all neighbours,
  weighted by atomic numbers (Gastegger et al. 2018, "wACSF"); they use the potential's
  cutoff function.
- 20/23 ``CompactRadial`` and 21/22/24/25 ``CompactAngular``: polynomial ("compact")
  functions of Bircher et al. 2021, bumps on a window (rl, rc) of distances and (left, right)
  of angles, in degrees. With neighbour elements they are types 20, 21 (narrow) and 22
  (wide); without (``None``), all neighbours weighted by Z: types 23, 24 and 25. They ignore
  the cutoff function: the bump is the cutoff.

ext/kernels/n2p2_types_12_to_25.md has the formulas, n2p2's line formats and order.
"""
from dataclasses import dataclass, replace

import numpy as np
from ase.data import atomic_numbers

# compact cores (ext/_compact.h FP_CORE_*) and the factor/angle shapes (ext/_contract.pxd)
POLY_CORES = {"p1": 1, "p2": 2, "p3": 3, "p4": 4}
CORE_EXP = 0
FACTOR_GAUSSIAN, FACTOR_COMPACT = 0, 1
ANGLE_POWER, ANGLE_COMPACT = 0, 1


def _g(x):
    """A number in short form for messages (anything else as its repr)."""
    try:
        return f"{x:g}"
    except (TypeError, ValueError):
        return repr(x)


def parse_subtype(subtype):
    """(core, asymmetric) of an n2p2 compact subtype: p1-p4, p1a-p4a, or e... (exponential)."""
    if not isinstance(subtype, str) or not 1 <= len(subtype) <= 3:
        raise ValueError(f"compact subtype must be p1-p4, p1a-p4a or e, got {subtype!r}")
    if subtype.startswith("e"):
        return CORE_EXP, False
    core = POLY_CORES.get(subtype[:2])
    if core is None or len(subtype) == 3 and subtype[2] != "a":
        raise ValueError(f"compact subtype must be p1-p4, p1a-p4a or e, got {subtype!r}")
    return core, len(subtype) == 3


@dataclass(frozen=True)
class WeightedRadial:
    """n2p2 type 12: sum over all neighbours j of Z_j exp(-eta (R - rs)^2) f_c(R)."""
    center: str
    eta: float
    rs: float
    rc: float

    kind = 12

    def sort_key(self, index):
        return (12, self.rc, self.eta, self.rs)

    def describe(self):
        return f"{self.center} type 12 eta={_g(self.eta)} rs={_g(self.rs)} rc={_g(self.rc)}"


@dataclass(frozen=True)
class WeightedAngular:
    """n2p2 type 13: sum over all neighbour pairs of Z_j Z_k 2^(1-zeta) (1 + lam cos)^zeta
    exp(-eta sum (R - rs)^2) prod f_c over the three distances (R_ij, R_ik, R_jk)."""
    center: str
    eta: float
    lam: float
    zeta: float
    rc: float
    rs: float = 0.0

    kind = 13

    def sort_key(self, index):
        return (13, self.rc, self.eta, self.rs, self.zeta, self.lam)

    def describe(self):
        return (f"{self.center} type 13 eta={_g(self.eta)} lambda={_g(self.lam)} "
                f"zeta={_g(self.zeta)} rc={_g(self.rc)} rs={_g(self.rs)}")


@dataclass(frozen=True)
class CompactRadial:
    """n2p2 type 20 (neighbours of element `neighbor`) or 23 (`neighbor` None: all
    neighbours, weighted by Z_j): sum of the compact bump C(R) on (rl, rc)."""
    center: str
    neighbor: object
    rl: float
    rc: float
    subtype: str = "p2"

    @property
    def kind(self):
        return 23 if self.neighbor is None else 20

    def sort_key(self, index):
        if self.neighbor is None:
            return (23, self.subtype, self.rc, self.rl)
        return (20, self.subtype, index[self.neighbor], self.rc, self.rl)

    def describe(self):
        neighbor = "" if self.neighbor is None else f" neighbor {self.neighbor}"
        return (f"{self.center} type {self.kind}{neighbor} rl={_g(self.rl)} rc={_g(self.rc)} "
                f"subtype={self.subtype}")


@dataclass(frozen=True)
class CompactAngular:
    """n2p2 types 21 (narrow) and 22 (``wide``) for neighbour pairs of elements (neighbor1,
    neighbor2), or 24 and 25 with both None (all pairs, weighted by Z_j Z_k): sum over pairs
    of C(R_ij) C(R_ik) [C(R_jk), narrow only] Ca(theta), with C on (rl, rc) and Ca on
    (angle_left, angle_right) in degrees (the same core, never asymmetric)."""
    center: str
    neighbor1: object
    neighbor2: object
    rl: float
    rc: float
    angle_left: float
    angle_right: float
    subtype: str = "p2"
    wide: bool = False

    @property
    def kind(self):
        if self.neighbor1 is None:
            return 25 if self.wide else 24
        return 22 if self.wide else 21

    def sort_key(self, index):
        tail = (self.rc, self.rl, self.angle_left, self.angle_right)
        if self.neighbor1 is None:
            return (self.kind, self.subtype) + tail
        return (self.kind, self.subtype, index[self.neighbor1], index[self.neighbor2]) + tail

    def describe(self):
        neighbors = ("" if self.neighbor1 is None
                     else f" neighbors {self.neighbor1} {self.neighbor2}")
        return (f"{self.center} type {self.kind}{neighbors} rl={_g(self.rl)} rc={_g(self.rc)} "
                f"angles={_g(self.angle_left)}..{_g(self.angle_right)} subtype={self.subtype}")


FACTORED_TYPES = (WeightedRadial, WeightedAngular, CompactRadial, CompactAngular)


def neighbor_elements(f):
    """The neighbour elements a function names (none for the weighted types)."""
    if isinstance(f, CompactRadial):
        return [] if f.neighbor is None else [f.neighbor]
    if isinstance(f, CompactAngular):
        return [n for n in (f.neighbor1, f.neighbor2) if n is not None]
    return []


def gaussian_numbers(f, where, number):
    """The numbers of a Gaussian-type function (n2p2 types 2, 3, 9, 12, 13) as checked floats:
    {eta, rc, rs}, and lam and zeta for the angular ones; `number(value, what)` turns a
    value into a finite float."""
    eta, rc, rs = number(f.eta, "eta"), number(f.rc, "rc"), number(f.rs, "rs")
    if eta < 0.0:
        raise ValueError(f"{where}: eta must be >= 0, got {eta}")
    if rc <= 0.0:
        raise ValueError(f"{where}: rc must be > 0, got {rc}")
    numbers = {"eta": eta, "rc": rc, "rs": rs}
    if not hasattr(f, "lam"):
        return numbers
    lam, zeta = number(f.lam, "lambda"), number(f.zeta, "zeta")
    if lam not in (-1.0, 1.0):
        raise ValueError(f"{where}: lambda must be +1 or -1, got {lam}")
    if zeta < 1.0:
        raise ValueError(f"{where}: zeta must be >= 1, got {zeta}")
    return dict(numbers, lam=lam, zeta=zeta)


def checked(f, index, where, number):
    """`f` with its numbers as floats and its neighbour pair in element order, after checks
    that name `where`; `number(value, what)` turns a value into a finite float."""
    if isinstance(f, (WeightedRadial, WeightedAngular)):
        return replace(f, **gaussian_numbers(f, where, number))
    rl, rc = number(f.rl, "rl"), number(f.rc, "rc")
    if rc <= 0.0:
        raise ValueError(f"{where}: rc must be > 0, got {rc}")
    if not rl < rc:
        raise ValueError(f"{where}: the lower radial boundary rl={rl} must be below rc={rc}")
    try:
        parse_subtype(f.subtype)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    if isinstance(f, CompactRadial):
        return replace(f, rl=rl, rc=rc)
    if (f.neighbor1 is None) != (f.neighbor2 is None):
        raise ValueError(f"{where}: give both neighbour elements (types 21, 22) or neither "
                         "(types 24, 25)")
    left, right = number(f.angle_left, "angle_left"), number(f.angle_right, "angle_right")
    centre = 0.5 * (left + right)
    if not left < right:
        raise ValueError(f"{where}: angle_left={left} must be below angle_right={right}")
    if right - left > 360.0:
        raise ValueError(f"{where}: the angle window {left}..{right} is wider than 360 "
                         "degrees")
    if left < 0.0 and centre != 0.0:
        raise ValueError(f"{where}: an angle window reaching below 0 degrees must be centred "
                         f"on 0, got {left}..{right}")
    if right > 180.0 and centre != 180.0:
        raise ValueError(f"{where}: an angle window reaching above 180 degrees must be "
                         f"centred on 180, got {left}..{right}")
    n1, n2 = f.neighbor1, f.neighbor2
    if n1 is not None and index[n1] > index[n2]:
        n1, n2 = n2, n1  # n2p2 stores the neighbour pair ordered by element index
    return replace(f, neighbor1=n1, neighbor2=n2, rl=rl, rc=rc, angle_left=left,
                   angle_right=right, wide=bool(f.wide))


def _izeta(zeta):
    return int(zeta) if zeta == round(zeta) and zeta <= 100 else -1


def factored_tables(sf):
    """The arrays of the factored kernel's tables (ext/_contract.pxd `Factored`) for the
    functions of these types in `sf`, or None when it has none."""
    if not any(isinstance(f, FACTORED_TYPES) for fs in sf.functions.values() for f in fs):
        return None
    factor_rows, factor_offsets = [], [0]
    radial_rows, radial_offsets = [], [0]
    group_rows, group_offsets = [], [0]
    gfactors, gfactor_offsets = [], [0]
    angle_rows, angle_offsets = [], [0]
    member_rows, member_offsets = [], [0]
    for symbol in sf.elements:
        factors = []   # distinct radial factors of this element
        groups = {}    # (a, b, narrow) -> (factors used, angles, members)

        def factor_of(row):
            if row not in factors:
                factors.append(row)
            return factors.index(row)

        for col, f in enumerate(sf.functions[symbol]):
            if not isinstance(f, FACTORED_TYPES):
                continue
            if isinstance(f, (WeightedRadial, WeightedAngular)):
                factor = (FACTOR_GAUSSIAN, 0, 0, f.eta, f.rs, -1.0, f.rc)
            else:
                core, asym = parse_subtype(f.subtype)
                factor = (FACTOR_COMPACT, core, int(asym), 0.0, 0.0, f.rl, f.rc)
            local = factor_of(factor)
            if isinstance(f, (WeightedRadial, CompactRadial)):
                neighbor = -1 if getattr(f, "neighbor", None) is None else sf.index[f.neighbor]
                radial_rows.append((local, neighbor, col))
                continue
            if isinstance(f, WeightedAngular):
                key, angle = (-1, -1, 1), (ANGLE_POWER, 0, f.lam, f.zeta, _izeta(f.zeta),
                                           2.0 ** (1.0 - f.zeta))
            else:
                core, _ = parse_subtype(f.subtype)
                pair = ((-1, -1) if f.neighbor1 is None
                        else (sf.index[f.neighbor1], sf.index[f.neighbor2]))
                key = pair + (int(not f.wide),)
                angle = (ANGLE_COMPACT, core, f.angle_left * np.pi / 180.0,
                         f.angle_right * np.pi / 180.0, -1, 1.0)
            used, angles, members = groups.setdefault(key, ([], [], []))
            if local not in used:
                used.append(local)
            if angle not in angles:
                angles.append(angle)
            members.append((used.index(local), angles.index(angle), col))
        for key in sorted(groups):
            used, angles, members = groups[key]
            windows = [factors[u] for u in used]
            rl = min((row[5] if row[0] == FACTOR_COMPACT else -1.0) for row in windows)
            group_rows.append(key + (rl, max(row[6] for row in windows)))
            gfactors.extend(used)
            gfactor_offsets.append(len(gfactors))
            angle_rows.extend(angles)
            angle_offsets.append(len(angle_rows))
            member_rows.extend(members)
            member_offsets.append(len(member_rows))
        factor_rows.extend(factors)
        factor_offsets.append(len(factor_rows))
        radial_offsets.append(len(radial_rows))
        group_offsets.append(len(group_rows))

    def columns(rows, width):
        return np.array(rows, dtype=np.float64).reshape(-1, width).T

    fr, rr = columns(factor_rows, 7), columns(radial_rows, 3)
    gr, ar, mr = columns(group_rows, 5), columns(angle_rows, 6), columns(member_rows, 3)
    return {
        "z": np.array([atomic_numbers[s] for s in sf.elements], dtype=np.float64),
        "factor_offsets": factor_offsets, "factor_shape": fr[0], "factor_core": fr[1],
        "factor_asym": fr[2], "factor_eta": fr[3], "factor_rs": fr[4], "factor_rl": fr[5],
        "factor_rc": fr[6],
        "radial_offsets": radial_offsets, "radial_factor": rr[0], "radial_neighbor": rr[1],
        "radial_col": rr[2],
        "group_offsets": group_offsets, "group_a": gr[0], "group_b": gr[1],
        "group_narrow": gr[2], "group_rl": gr[3], "group_rc": gr[4],
        "gfactor_offsets": gfactor_offsets, "gfactor": gfactors,
        "angle_offsets": angle_offsets, "angle_shape": ar[0], "angle_core": ar[1],
        "angle_p1": ar[2], "angle_p2": ar[3], "angle_izeta": ar[4], "angle_prefactor": ar[5],
        "member_offsets": member_offsets, "member_factor": mr[0], "member_angle": mr[1],
        "member_col": mr[2],
    }
