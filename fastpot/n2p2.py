"""n2p2's file formats, all in this one module: ``input.nn`` settings and the symmetry
functions in them, ``scaling.data``, ``weights.NNN.data``, ``input.data`` structures, and
whole potentials (read and written).

The classes these files describe (SymmetryFunctions, Scaling, Network) know nothing of n2p2's
files; this module builds them and writes them out.

Rules from ../shared/N2P2_FORMAT.md §1: one keyword per line, comments start at the first
``#`` or ``!``, tokens are separated by spaces or tabs, a keyword alone is a flag. Unlike
n2p2 (C ``atof``), numbers are parsed strictly: ``1.0d-3`` or ``abc`` is an error naming the
file and line, never a silent 1.0 or 0.
"""
import math
import warnings
from pathlib import Path

import numpy as np
from ase.data import atomic_numbers

from fastpot._files import atomic_write
from fastpot.network import Network, check_architecture
from fastpot.scaling import Scaling
from fastpot.symmetry import Angular, Radial, SymmetryFunctions, _cutoff_type_number
from fastpot.symmetry_factored import (FACTORED_TYPES, CompactAngular, CompactRadial,
                                       WeightedAngular, WeightedRadial)

# Keywords that may appear more than once.
REPEATABLE = {"symfunction_short", "atom_energy", "element_nodes_short"}

# Keywords fastpot reads for prediction; others (training settings) are accepted silently
# when they are known to n2p2, and warned about otherwise.
PREDICTION_KEYWORDS = {
    "nnp_type", "number_of_elements", "elements", "atom_energy", "cutoff_type",
    "symfunction_short", "scale_symmetry_functions", "center_symmetry_functions",
    "scale_symmetry_functions_sigma", "scale_min_short", "scale_max_short",
    "global_hidden_layers_short", "global_nodes_short", "global_activation_short",
    "element_hidden_layers_short", "element_nodes_short", "element_activation_short",
    "normalize_nodes", "mean_energy", "conv_energy", "conv_length",
}
TRAINING_KEYWORDS = {
    "random_seed", "epochs", "updater_type", "parallel_mode", "jacobian_mode",
    "update_strategy", "selection_mode", "task_batch_size_energy", "task_batch_size_force",
    "memorize_symfunc_results", "use_short_forces", "force_weight", "short_energy_fraction",
    "short_force_fraction", "short_energy_error_threshold", "short_force_error_threshold",
    "rmse_threshold_trials", "weights_min", "weights_max", "nguyen_widrow_weights_short",
    "precondition_weights", "write_trainpoints", "write_trainforces", "write_weights_epoch",
    "write_neuronstats", "write_trainlog", "kalman_type", "kalman_epsilon", "kalman_q0",
    "kalman_qtau", "kalman_qmin", "kalman_eta", "kalman_etatau", "kalman_etamax",
    "kalman_lambda_short", "kalman_nue_short", "test_fraction", "gradient_type",
    "gradient_eta", "gradient_adam_eta", "gradient_adam_beta1", "gradient_adam_beta2",
    "gradient_adam_epsilon", "repeated_energy_update", "main_error_metric",
    "force_energy_ratio", "scale_symmetry_functions_sigma", "write_symfunctions",
    "symfunction_scaling", "rmse_threshold", "rmse_threshold_energy",
    "rmse_threshold_force", "rmse_threshold_trials_energy", "rmse_threshold_trials_force",
    "energy_threshold", "forces_threshold", "task_batch_size", "write_traincharges",
    "short_energy_error_threshold", "nnp_gen",
}


class N2P2FormatError(ValueError):
    """A malformed n2p2 file; the message names the file, the line and the problem."""


def parse_number(token, path, line_no, what):
    """A float in strict syntax (no Fortran ``d`` exponents, no trailing garbage, none of
    Python's digit separators: n2p2 would read "1_000" as 1)."""
    try:
        if "_" in token:
            raise ValueError(token)
        value = float(token)
    except ValueError:
        raise N2P2FormatError(f"{path}:{line_no}: {what}: {token!r} is not a number") from None
    if not math.isfinite(value):
        raise N2P2FormatError(f"{path}:{line_no}: {what}: {token!r} is not finite")
    return value


def parse_integer(token, path, line_no, what):
    try:
        return int(token)
    except ValueError:
        raise N2P2FormatError(f"{path}:{line_no}: {what}: {token!r} is not an integer") from None


class InputNN:
    """The keywords of an n2p2 ``input.nn`` file, with their line numbers.

    ``entries[keyword]`` is a list of ``(line_no, tokens)`` (tokens after the keyword).
    Raises FileNotFoundError, or N2P2FormatError naming the file and line; unknown keywords
    are a warning.
    """

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"n2p2 settings file not found: {self.path}")
        self.entries = {}
        unknown = []
        spellings = set()
        with open(self.path, encoding="utf-8", errors="replace") as f:
            for line_no, line in enumerate(f, start=1):
                for mark in "#!":
                    cut = line.find(mark)
                    if cut >= 0:
                        line = line[:cut]
                tokens = line.split()
                if not tokens:
                    continue
                keyword = tokens[0]
                if keyword in ("symfunction", "symfunction_short"):
                    spellings.add(keyword)
                    if len(spellings) == 2:
                        raise N2P2FormatError(f"{self.path}:{line_no}: both symfunction and "
                                              "symfunction_short are used")
                    keyword = "symfunction_short"
                if keyword in self.entries and keyword not in REPEATABLE:
                    first = self.entries[keyword][0][0]
                    raise N2P2FormatError(f"{self.path}:{line_no}: keyword {keyword!r} given "
                                          f"twice (first on line {first})")
                if keyword not in PREDICTION_KEYWORDS and keyword not in TRAINING_KEYWORDS:
                    unknown.append(keyword)
                self.entries.setdefault(keyword, []).append((line_no, tokens[1:]))
        if unknown:
            warnings.warn(f"{self.path}: unknown keyword(s) ignored: {', '.join(sorted(set(unknown)))}",
                          stacklevel=2)

    def has(self, keyword):
        return keyword in self.entries

    def lines(self, keyword):
        return self.entries.get(keyword, [])

    def tokens(self, keyword, required=True):
        """Tokens of a single-use keyword (None when absent and not required)."""
        if keyword not in self.entries:
            if required:
                raise N2P2FormatError(f"{self.path}: keyword {keyword!r} is missing")
            return None
        line_no, tokens = self.entries[keyword][0]
        return tokens

    def line_no(self, keyword):
        return self.entries[keyword][0][0]

    def number(self, keyword, default=None):
        tokens = self.tokens(keyword, required=default is None)
        if tokens is None:
            return default
        if len(tokens) < 1:
            raise N2P2FormatError(f"{self.path}:{self.line_no(keyword)}: {keyword} needs a value")
        return parse_number(tokens[0], self.path, self.line_no(keyword), keyword)

    def integer(self, keyword, default=None):
        tokens = self.tokens(keyword, required=default is None)
        if tokens is None:
            return default
        if len(tokens) < 1:
            raise N2P2FormatError(f"{self.path}:{self.line_no(keyword)}: {keyword} needs a value")
        return parse_integer(tokens[0], self.path, self.line_no(keyword), keyword)

    def elements(self):
        """The element symbols, checked against number_of_elements when present."""
        symbols = self.tokens("elements")
        if not symbols:
            raise N2P2FormatError(f"{self.path}:{self.line_no('elements')}: no elements listed")
        for symbol in symbols:
            if symbol not in atomic_numbers or symbol == "X":
                raise N2P2FormatError(f"{self.path}:{self.line_no('elements')}: unknown element "
                                      f"{symbol!r}")
        if len(set(symbols)) != len(symbols):
            raise N2P2FormatError(f"{self.path}:{self.line_no('elements')}: repeated element")
        count = self.integer("number_of_elements", default=len(symbols))
        if count != len(symbols):
            raise N2P2FormatError(
                f"{self.path}:{self.line_no('number_of_elements')}: number_of_elements {count} "
                f"but {len(symbols)} element(s) listed")
        return symbols


def read_input_data(path, cflength=1.0, cfenergy=1.0):
    """Structures of an n2p2 ``input.data`` file as ASE Atoms, converted to Å and eV.

    Lengths are divided by `cflength` (file units per Å) and energies by `cfenergy` (file
    units per eV). A block with three ``lattice`` lines is periodic in all directions, one
    without is not. The file's energy and forces, when present, are attached as a
    SinglePointCalculator; the block's comment goes to ``atoms.info["comment"]``.

    Raises FileNotFoundError for a missing file, N2P2FormatError (a ValueError) naming the
    file and line for a malformed one, ValueError for bad units.
    """
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    path = Path(path)
    for name, value in (("cflength", cflength), ("cfenergy", cfenergy)):
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {value}")
    structures = []
    block = None
    with open(path, encoding="utf-8", errors="replace") as f:
        for line_no, line in enumerate(f, start=1):
            tokens = line.split()
            if not tokens:
                continue
            key = tokens[0]
            if key == "begin":
                if block is not None:
                    raise N2P2FormatError(f"{path}:{line_no}: 'begin' inside a structure "
                                          f"(started on line {block['line']})")
                block = {"line": line_no, "lattice": [], "symbols": [], "positions": [],
                         "forces": [], "energy": None, "comment": ""}
                continue
            if block is None:
                raise N2P2FormatError(f"{path}:{line_no}: {key!r} outside a begin/end block")
            if key == "comment":
                block["comment"] = line.strip()[len("comment"):].strip()
            elif key == "lattice":
                if len(tokens) < 4:
                    raise N2P2FormatError(f"{path}:{line_no}: lattice needs 3 numbers")
                block["lattice"].append([parse_number(t, path, line_no, "lattice")
                                         for t in tokens[1:4]])
            elif key == "atom":
                if len(tokens) < 10:
                    raise N2P2FormatError(f"{path}:{line_no}: atom needs 'x y z element charge "
                                          f"energy fx fy fz' (9 fields), got {len(tokens) - 1}")
                block["positions"].append([parse_number(t, path, line_no, "position")
                                           for t in tokens[1:4]])
                block["symbols"].append(tokens[4])
                block["forces"].append([parse_number(t, path, line_no, "force")
                                        for t in tokens[7:10]])
            elif key == "energy":
                if len(tokens) < 2:
                    raise N2P2FormatError(f"{path}:{line_no}: energy needs a value")
                block["energy"] = parse_number(tokens[1], path, line_no, "energy")
            elif key == "charge":
                pass
            elif key == "end":
                structures.append(_block_to_atoms(block, path, cflength, cfenergy, Atoms,
                                                  SinglePointCalculator))
                block = None
            else:
                raise N2P2FormatError(f"{path}:{line_no}: unknown line type {key!r}")
    if block is not None:
        raise N2P2FormatError(f"{path}: structure started on line {block['line']} has no 'end'")
    return structures


def _block_to_atoms(block, path, cflength, cfenergy, Atoms, SinglePointCalculator):
    where = f"{path}:{block['line']}"
    if len(block["lattice"]) not in (0, 3):
        raise N2P2FormatError(f"{where}: structure has {len(block['lattice'])} lattice lines "
                              "(need 0 or 3)")
    for symbol in block["symbols"]:
        if symbol not in atomic_numbers or symbol == "X":  # ASE's dummy atom is no element
            raise N2P2FormatError(f"{where}: unknown element {symbol!r}")
    positions = np.array(block["positions"], dtype=float).reshape(-1, 3) / cflength
    periodic = len(block["lattice"]) == 3
    cell = np.array(block["lattice"]) / cflength if periodic else np.zeros((3, 3))
    atoms = Atoms(block["symbols"], positions=positions, cell=cell, pbc=periodic)
    atoms.info["comment"] = block["comment"]
    energy = None if block["energy"] is None else block["energy"] / cfenergy
    forces = np.array(block["forces"], dtype=float).reshape(-1, 3) * cflength / cfenergy
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
    return atoms


def write_input_data(path, structures, cflength=1.0, cfenergy=1.0):
    """Write structures (ASE Atoms) as an n2p2 ``input.data`` file, atomically, in file
    units (Å times `cflength`, eV times `cfenergy`; 17 significant digits). Energies and
    forces are written when the atoms have them (a calculator with results), zeros otherwise.
    Cells must be periodic in all three directions or in none (n2p2 knows no slabs)."""
    from fastpot._files import atomic_write
    lines = []
    for index, atoms in enumerate(structures):
        if atoms.pbc.any() and not atoms.pbc.all():
            raise ValueError(f"structure {index}: n2p2 needs a cell periodic in all three "
                             f"directions or in none, got pbc={atoms.pbc.tolist()}")
        results = getattr(atoms.calc, "results", {}) if atoms.calc is not None else {}
        energy = results.get("energy", 0.0) * cfenergy
        forces = np.asarray(results.get("forces", np.zeros((len(atoms), 3)))) * (
            cfenergy / cflength)
        comment = str(atoms.info.get("comment", "written by fastpot")).replace("\n", " ")
        lines += ["begin", f"comment {comment}"]
        if atoms.pbc.all():
            lines += [f"lattice {a * cflength:24.16E} {b * cflength:24.16E} "
                      f"{c * cflength:24.16E}" for a, b, c in atoms.cell.array]
        for symbol, (x, y, z), (fx, fy, fz) in zip(atoms.get_chemical_symbols(),
                                                  atoms.positions * cflength, forces):
            lines.append(f"atom {x:24.16E} {y:24.16E} {z:24.16E} {symbol:2s} "
                         f"{0.0:24.16E} {0.0:24.16E} {fx:24.16E} {fy:24.16E} {fz:24.16E}")
        lines += [f"energy {energy:24.16E}", f"charge {0.0:24.16E}", "end"]
    atomic_write(path, "\n".join(lines) + "\n")


# -- symmetry functions (input.nn) --------------------------------------------------------------

def read_symmetry_functions(settings, cflength=1.0):
    """SymmetryFunctions from ``elements``, ``cutoff_type`` and ``symfunction_short`` of an
    n2p2 ``input.nn`` (a path or an InputNN). Lengths are divided by `cflength` (file length
    units per Å) and eta multiplied by cflength^2, so that the result works in Å."""
    if not isinstance(settings, InputNN):
        settings = InputNN(settings)
    cflength = float(cflength)
    if not np.isfinite(cflength) or cflength <= 0.0:
        raise ValueError(f"cflength must be a finite number > 0, got {cflength}")
    path = settings.path
    elements = settings.elements()
    tokens = settings.tokens("cutoff_type")
    line_no = settings.line_no("cutoff_type")
    if not tokens:
        raise N2P2FormatError(f"{path}:{line_no}: cutoff_type needs a value")
    kind = parse_integer(tokens[0], path, line_no, "cutoff_type")
    alpha = parse_number(tokens[1], path, line_no, "cutoff alpha") if len(tokens) > 1 else 0.0
    try:
        kind = _cutoff_type_number(kind)
    except ValueError as error:
        raise N2P2FormatError(f"{path}:{line_no}: {error}") from None
    functions = []
    for line_no, tokens in settings.lines("symfunction_short"):
        functions.append(_parse_symfunction(tokens, path, line_no, cflength))
    if not functions:
        raise N2P2FormatError(f"{path}: no symfunction_short lines")
    try:
        sf = SymmetryFunctions(elements, functions, cutoff_type=kind, cutoff_alpha=alpha)
    except ValueError as error:
        raise N2P2FormatError(f"{path}: {error}") from None
    _warn_grouped_narrow_compact(sf, path)
    return sf


def _warn_grouped_narrow_compact(sf, path):
    """n2p2's grouped code for types 21 and 24 reuses the R_jk factor of the previous function
    of its group when both have the same (rl, rc), even across subtypes
    (ext/kernels/n2p2_types_12_to_25.md §3); fastpot follows the definition. Say so where it
    makes a difference."""
    for symbol in sf.elements:
        narrow = [f for f in sf.functions[symbol] if getattr(f, "kind", 0) in (21, 24)]
        for a, b in zip(narrow, narrow[1:]):
            same_group = (a.kind, a.neighbor1, a.neighbor2) == (b.kind, b.neighbor1,
                                                                 b.neighbor2)
            if same_group and (a.rl, a.rc) == (b.rl, b.rc) and a.subtype != b.subtype:
                warnings.warn(f"{path}: {b.describe()} follows {a.describe()} with the same "
                              "radial window: n2p2's nnp-predict computes it with the first "
                              "one's R_jk factor; fastpot computes it by its definition, so "
                              "the two differ for this function", stacklevel=3)


def _parse_symfunction(tokens, path, line_no, cflength):
    where = "symfunction_short"
    if len(tokens) < 2:
        raise N2P2FormatError(f"{path}:{line_no}: {where} needs a central element and a type")
    kind = parse_integer(tokens[1], path, line_no, "symmetry function type")
    number = lambda k, what: parse_number(tokens[k], path, line_no, what)  # noqa: E731
    if kind == 2:
        if len(tokens) != 6:
            raise N2P2FormatError(f"{path}:{line_no}: type 2 needs 'ec 2 e1 eta rs rc' "
                                  f"(6 fields), got {len(tokens)}")
        return Radial(tokens[0], tokens[2], number(3, "eta") * cflength**2,
                      number(4, "rs") / cflength, number(5, "rc") / cflength)
    if kind in (3, 9):
        if len(tokens) not in (8, 9):
            raise N2P2FormatError(f"{path}:{line_no}: type {kind} needs 'ec {kind} e1 e2 eta "
                                  f"lambda zeta rc [rs]' (8 or 9 fields), got {len(tokens)}")
        rs = number(8, "rs") / cflength if len(tokens) == 9 else 0.0
        return Angular(tokens[0], tokens[2], tokens[3], number(4, "eta") * cflength**2,
                       number(5, "lambda"), number(6, "zeta"), number(7, "rc") / cflength, rs,
                       wide=(kind == 9))
    if kind in FACTORED_LINES:
        return _parse_factored(kind, tokens, path, line_no, cflength)
    raise N2P2FormatError(f"{path}:{line_no}: symmetry function type {kind} is not supported "
                          "(supported: 2, 3, 9, 12, 13, 20-25)")


# n2p2's columns of the types 12, 13, 20-25 after `ec type` (lengths: rl, rc, rs; eta)
FACTORED_LINES = {
    12: "eta rs rc", 13: "eta rs lambda zeta rc", 20: "e1 rl rc subtype",
    21: "e1 e2 rl rc angle_left angle_right subtype",
    22: "e1 e2 rl rc angle_left angle_right subtype", 23: "rl rc subtype",
    24: "rl rc angle_left angle_right subtype", 25: "rl rc angle_left angle_right subtype",
}
_LENGTHS = {"rl", "rc", "rs"}
_NAMES = {"e1", "e2", "subtype"}


def _parse_factored(kind, tokens, path, line_no, cflength):
    columns = FACTORED_LINES[kind].split()
    if len(tokens) != 2 + len(columns):
        raise N2P2FormatError(f"{path}:{line_no}: type {kind} needs 'ec {kind} "
                              f"{FACTORED_LINES[kind]}' ({2 + len(columns)} fields), got "
                              f"{len(tokens)}")
    v = {}
    for name, token in zip(columns, tokens[2:]):
        if name in _NAMES:
            v[name] = token
            continue
        value = parse_number(token, path, line_no, name)
        v[name] = (value / cflength if name in _LENGTHS
                   else value * cflength**2 if name == "eta" else value)
    center = tokens[0]
    if kind == 12:
        return WeightedRadial(center, v["eta"], v["rs"], v["rc"])
    if kind == 13:
        return WeightedAngular(center, v["eta"], v["lambda"], v["zeta"], v["rc"], v["rs"])
    if kind in (20, 23):
        return CompactRadial(center, v.get("e1"), v["rl"], v["rc"], v["subtype"])
    return CompactAngular(center, v.get("e1"), v.get("e2"), v["rl"], v["rc"],
                          v["angle_left"], v["angle_right"], v["subtype"],
                          wide=kind in (22, 25))


def _factored_line(f, cflength):
    """The symfunction_short line of a type 12, 13, 20-25 function in file units."""
    if isinstance(f, WeightedRadial):
        numbers = [f.eta / cflength**2, f.rs * cflength, f.rc * cflength]
    elif isinstance(f, WeightedAngular):
        numbers = [f.eta / cflength**2, f.rs * cflength, f.lam, f.zeta, f.rc * cflength]
    elif isinstance(f, CompactRadial):
        numbers = ([] if f.neighbor is None else [f.neighbor]) + [
            f.rl * cflength, f.rc * cflength, f.subtype]
    else:
        numbers = ([] if f.neighbor1 is None else [f.neighbor1, f.neighbor2]) + [
            f.rl * cflength, f.rc * cflength, f.angle_left, f.angle_right, f.subtype]
    text = " ".join(x if isinstance(x, str) else repr(float(x)) for x in numbers)
    return f"symfunction_short {f.center} {f.kind} {text}"


def symmetry_function_lines(sf, cflength=1.0):
    """``cutoff_type`` and ``symfunction_short`` lines of `sf` in file units (lengths times
    cflength), in n2p2 order."""
    lines = [f"cutoff_type {sf.cutoff_type} {sf.cutoff_alpha!r}"]
    for symbol in sf.elements:
        for f in sf.functions[symbol]:
            if isinstance(f, FACTORED_TYPES):
                lines.append(_factored_line(f, cflength))
                continue
            eta = f.eta / cflength**2
            rs = f.rs * cflength
            rc = f.rc * cflength
            if isinstance(f, Radial):
                lines.append(f"symfunction_short {f.center} 2 {f.neighbor} {eta!r} {rs!r} "
                             f"{rc!r}")
            else:
                lines.append(f"symfunction_short {f.center} {f.kind} {f.neighbor1} "
                             f"{f.neighbor2} {eta!r} {f.lam:+.0f} {f.zeta!r} {rc!r} {rs!r}")
    return lines


# -- scaling (input.nn flags, scaling.data) -----------------------------------------------------

def scaling_mode(settings):
    """Scaling mode from input.nn flags, in n2p2's order of precedence (§5)."""
    scale = settings.has("scale_symmetry_functions")
    center = settings.has("center_symmetry_functions")
    sigma = settings.has("scale_symmetry_functions_sigma")
    if scale and not center:
        return "scale"
    if center and not scale:
        return "center"
    if scale and center:
        return "scalecenter"
    if sigma:
        return "sigma"
    return "none"


def read_scaling(path, sf, mode, smin=0.0, smax=1.0):
    """Scaling from ``scaling.data``: lines consumed in sequence, element by element in n2p2
    order, one per function of `sf` (the index columns are not used for routing, as in
    n2p2). Raises FileNotFoundError, or N2P2FormatError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"n2p2 scaling file not found: {path}")
    rows = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line_no, line in enumerate(f, start=1):
            if line.startswith("#"):
                continue
            tokens = line.split()
            if not tokens:
                raise N2P2FormatError(f"{path}:{line_no}: blank line (n2p2 aborts on it)")
            if len(tokens) < 5:
                raise N2P2FormatError(f"{path}:{line_no}: expected 'element function Gmin "
                                      f"Gmax Gmean [Gsigma]', got {len(tokens)} fields")
            numbers = [parse_number(t, path, line_no, "scaling value") for t in tokens[2:6]]
            if len(numbers) == 3:
                numbers.append(0.0)
            rows.append((line_no, numbers))
    needed = sum(sf.n_functions(e) for e in sf.elements)
    if len(rows) < needed:
        raise N2P2FormatError(f"{path}: {len(rows)} data lines, but the symmetry functions "
                              f"need {needed}")
    stats, k = {}, 0
    for element in sf.elements:
        n = sf.n_functions(element)
        stats[element] = np.array([numbers for _, numbers in rows[k:k + n]])
        k += n
    try:
        return Scaling(mode, stats, smin, smax)
    except ValueError as error:
        raise N2P2FormatError(f"{path}: {error}") from None


def write_scaling(scaling, sf, path):
    """Write `scaling` as ``scaling.data`` in n2p2's layout (17 significant digits),
    atomically."""
    lines = ["# Symmetry function scaling data written by fastpot",
             "# e_index sf_index Gmin Gmax Gmean Gsigma"]
    for e, element in enumerate(sf.elements, start=1):
        for s, (gmin, gmax, gmean, gsigma) in enumerate(scaling.stats[element], start=1):
            lines.append(f"{e:4d} {s:4d} {gmin:24.16E} {gmax:24.16E} {gmean:24.16E} "
                         f"{gsigma:24.16E}")
    atomic_write(path, "\n".join(lines) + "\n")


# -- potentials ---------------------------------------------------------------------------------

def _architecture(settings, elements, n_inputs):
    """(layers, activations) per element from the global keywords and the per-element
    overrides, with n2p2's quirks (N2P2_FORMAT.md §6)."""
    path = settings.path
    n_hidden = settings.integer("global_hidden_layers_short")
    nodes = settings.tokens("global_nodes_short")
    acts = settings.tokens("global_activation_short")
    line = settings.line_no("global_nodes_short")
    if len(nodes) != n_hidden:
        raise N2P2FormatError(f"{path}:{line}: global_nodes_short has {len(nodes)} values for "
                              f"{n_hidden} hidden layer(s)")
    nodes = [parse_integer(t, path, line, "global_nodes_short") for t in nodes]
    line = settings.line_no("global_activation_short")
    if len(acts) != n_hidden + 1 or any(len(a) != 1 for a in acts):
        raise N2P2FormatError(f"{path}:{line}: global_activation_short needs {n_hidden + 1} "
                              "single letters (hidden layers, then output)")
    result = {e: (list(nodes), list(acts)) for e in elements}
    overrides = {}
    for keyword in ("element_hidden_layers_short", "element_nodes_short",
                    "element_activation_short"):
        for line_no, tokens in settings.lines(keyword):
            if not tokens or tokens[0] not in elements:
                raise N2P2FormatError(f"{path}:{line_no}: {keyword} needs a known element")
            overrides.setdefault(tokens[0], {})[keyword] = (line_no, tokens[1:])
    for element, given in overrides.items():
        hidden, letters = result[element]
        if "element_hidden_layers_short" in given:
            line_no, tokens = given["element_hidden_layers_short"]
            count = parse_integer(tokens[0], path, line_no, "element_hidden_layers_short")
            if count > n_hidden:
                raise N2P2FormatError(f"{path}:{line_no}: more hidden layers for {element} "
                                      "than globally is not supported")
            hidden = hidden[:count - 1] + [hidden[n_hidden - 1]] if count > 0 else []
            letters = letters[:count - 1] + [letters[n_hidden - 1]] + [letters[-1]] \
                if count > 0 else [letters[-1]]
        count = len(hidden)
        if "element_nodes_short" in given:
            line_no, tokens = given["element_nodes_short"]
            # n2p2 sets only hidden layers 1..H'-1; the last keeps the global value
            values = [parse_integer(t, path, line_no, "element_nodes_short") for t in tokens]
            for k in range(min(len(values), count - 1)):
                hidden[k] = values[k]
        if "element_activation_short" in given:
            line_no, tokens = given["element_activation_short"]
            if len(tokens) != count + 1:
                raise N2P2FormatError(f"{path}:{line_no}: element_activation_short needs "
                                      f"{count + 1} letters for {element}")
            for k in range(count):  # the output activation stays global (n2p2)
                letters[k] = tokens[k]
        result[element] = (hidden, letters)
    return {e: ([n_inputs[e]] + hidden + [1], "".join(letters))
            for e, (hidden, letters) in result.items()}


def read_weights(path, count):
    """The first token of every data line of a weights.NNN.data file, exactly `count` values.
    Raises FileNotFoundError, or N2P2FormatError naming the file (and line)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"n2p2 weights file not found: {path}")
    values = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line_no, line in enumerate(f, start=1):
            if not line.strip():
                if line.strip("\n\r"):
                    raise N2P2FormatError(f"{path}:{line_no}: whitespace-only line (n2p2 would "
                                          "read NaN)")
                continue
            if line.startswith("#"):
                continue
            values.append(parse_number(line.split()[0], path, line_no, "weight"))
    if len(values) != count:
        raise N2P2FormatError(f"{path}: {len(values)} weights, but the network needs {count}")
    return np.array(values)


def read_potential(cls, directory, cflength=1.0, cfenergy=1.0):
    """A `cls` (Potential) from the n2p2 files in `directory` (see Potential.from_n2p2)."""
    directory = Path(directory)
    for name, value in (("cflength", cflength), ("cfenergy", cfenergy)):
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be a finite number > 0, got {value}")
    settings = InputNN(directory / "input.nn")
    path = settings.path
    kind = settings.tokens("nnp_type", required=False)
    if kind is not None and (not kind or kind[0] not in ("2G-HDNNP", "2")):
        raise N2P2FormatError(f"{path}:{settings.line_no('nnp_type')}: only 2G-HDNNP "
                              f"(short-range) potentials are supported, got {kind}")
    sf = read_symmetry_functions(settings, cflength)
    scaling = read_scaling(directory / "scaling.data", sf, scaling_mode(settings),
                           settings.number("scale_min_short", 0.0),
                           settings.number("scale_max_short", 1.0))
    architecture = _architecture(settings, sf.elements,
                                 {e: sf.n_functions(e) for e in sf.elements})
    normalize = settings.has("normalize_nodes")
    networks = {}
    for element, (layers, letters) in architecture.items():
        # the architecture is checked and the weights file read before any network is
        # allocated: a wrong layer size never allocates more than the file holds
        try:
            layers, n_weights = check_architecture(layers, letters)
        except ValueError as error:
            raise N2P2FormatError(f"{path}: network of {element}: {error}") from None
        weights_path = directory / f"weights.{atomic_numbers[element]:03d}.data"
        weights = read_weights(weights_path, n_weights)
        networks[element] = Network(layers, letters, weights, normalize=normalize)
    present = [k for k in ("mean_energy", "conv_energy", "conv_length") if settings.has(k)]
    if present and len(present) != 3:
        raise N2P2FormatError(f"{path}: mean_energy, conv_energy and conv_length must be given "
                              f"together (found only {', '.join(present)})")
    mean = settings.number("mean_energy") if present else 0.0
    conv_energy = settings.number("conv_energy") if present else 1.0
    conv_length = settings.number("conv_length") if present else 1.0
    if conv_energy == 0.0 or conv_length == 0.0:
        raise N2P2FormatError(f"{path}: conv_energy and conv_length must be nonzero")
    offsets = {}
    for line_no, tokens in settings.lines("atom_energy"):
        if len(tokens) < 2 or tokens[0] not in sf.elements:
            raise N2P2FormatError(f"{path}:{line_no}: atom_energy needs an element of the "
                                  f"potential and a value")
        offsets[tokens[0]] = parse_number(tokens[1], path, line_no, "atom_energy")
    # E_file = sum(y) / conv_energy + N mean + sum atom_energy;  E_eV = E_file / cfenergy
    potential = cls(sf, scaling, networks, energy_unit=1.0 / (conv_energy * cfenergy),
                    atom_energy={e: (mean + offsets.get(e, 0.0)) / cfenergy for e in sf.elements})
    potential.n2p2 = {"cflength": cflength, "cfenergy": cfenergy, "mean_energy": mean,
                      "conv_energy": conv_energy, "conv_length": conv_length,
                      "atom_energy": offsets, "normalization": bool(present)}
    return potential


def write_potential(potential, directory, cflength=None, cfenergy=None):
    """input.nn, scaling.data and weights.NNN.data of `potential` (see Potential.to_n2p2)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    original = potential.n2p2 or {}
    cflength = original.get("cflength", 1.0) if cflength is None else float(cflength)
    cfenergy = original.get("cfenergy", 1.0) if cfenergy is None else float(cfenergy)
    nets = [potential.networks[e] for e in potential.elements]
    hidden = {tuple(n.layers[1:-1]) for n in nets}
    letters = {n.activations for n in nets}
    if len(hidden) != 1 or len(letters) != 1 or len({n.normalize for n in nets}) != 1:
        raise ValueError("n2p2 export needs the same hidden layers, activations and "
                         "normalisation for every element")
    hidden, letters = hidden.pop(), letters.pop()
    same_units = (cflength == original.get("cflength") and cfenergy == original.get("cfenergy"))
    if original and same_units:
        # faithful: the numbers the potential was read with
        mean, conv_energy = original["mean_energy"], original["conv_energy"]
        conv_length = original["conv_length"]
        offsets = {e: original["atom_energy"].get(e, 0.0) for e in potential.elements}
        normalization = original["normalization"]
    else:
        mean, conv_length = 0.0, 1.0
        conv_energy = 1.0 / (potential.energy_unit * cfenergy)
        offsets = {e: potential.atom_energy[e] * cfenergy for e in potential.elements}
        normalization = True
    lines = ["# n2p2 potential written by fastpot",
             f"# units: {cflength!r} length units per Angstrom, {cfenergy!r} energy units per eV",
             "nnp_type 2G-HDNNP",
             f"number_of_elements {len(potential.elements)}",
             "elements " + " ".join(potential.elements)]
    if normalization:
        lines += [f"mean_energy {mean!r}", f"conv_energy {conv_energy!r}",
                  f"conv_length {conv_length!r}"]
    lines += [f"atom_energy {e} {offsets[e]!r}" for e in potential.elements if offsets[e] != 0.0]
    mode = potential.scaling.mode
    flags = {"none": [], "scale": ["scale_symmetry_functions"],
             "center": ["center_symmetry_functions"],
             "scalecenter": ["scale_symmetry_functions", "center_symmetry_functions"],
             "sigma": ["scale_symmetry_functions_sigma"]}[mode]
    lines += flags
    lines += [f"scale_min_short {potential.scaling.smin!r}",
              f"scale_max_short {potential.scaling.smax!r}",
              f"global_hidden_layers_short {len(hidden)}",
              "global_nodes_short " + " ".join(map(str, hidden)),
              "global_activation_short " + " ".join(letters)]
    if nets[0].normalize:
        lines.append("normalize_nodes")
    lines += symmetry_function_lines(potential.sf, cflength)
    atomic_write(directory / "input.nn", "\n".join(lines) + "\n")
    write_scaling(potential.scaling, potential.sf, directory / "scaling.data")
    for element, net in potential.networks.items():
        atomic_write(directory / f"weights.{atomic_numbers[element]:03d}.data",
                     _weights_text(net))


def _weights_text(net):
    rows = ["# weights written by fastpot: value, then a|b, index, layer/neuron of both ends"]
    index = 0
    for l, ((w, b), n_in, n_out) in enumerate(zip(net.layer_views(), net.layers[:-1],
                                                  net.layers[1:]), start=1):
        for j in range(n_in):
            for k in range(n_out):
                index += 1
                rows.append(f"{w[j, k]:24.16E} a {index:10d} {l - 1:6d} {j + 1:6d} {l:6d} "
                            f"{k + 1:6d}")
        for k in range(n_out):
            index += 1
            rows.append(f"{b[k]:24.16E} b {index:10d} {l:6d} {k + 1:6d}")
    return "\n".join(rows) + "\n"
