"""Reading (and later writing) n2p2's files: ``input.nn`` settings.

Rules from ../shared/N2P2_FORMAT.md §1: one keyword per line, comments start at the first
``#`` or ``!``, tokens are separated by spaces or tabs, a keyword alone is a flag. Unlike
n2p2 (C ``atof``), numbers are parsed strictly: ``1.0d-3`` or ``abc`` is an error naming the
file and line, never a silent 1.0 or 0.
"""
import math
import warnings
from pathlib import Path

import numpy as np

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
    """A float in strict syntax (no Fortran ``d`` exponents, no trailing garbage)."""
    try:
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
        from ase.data import atomic_numbers
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
    """
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    path = Path(path)
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
    from ase.data import atomic_numbers
    where = f"{path}:{block['line']}"
    if len(block["lattice"]) not in (0, 3):
        raise N2P2FormatError(f"{where}: structure has {len(block['lattice'])} lattice lines "
                              "(need 0 or 3)")
    for symbol in block["symbols"]:
        if symbol not in atomic_numbers:
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
