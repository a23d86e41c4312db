"""The file readers under mutated files (issue 12, the robustness campaign).

Valid files are made here with fastpot's own writers (a small two-element potential exported
to n2p2's files and to ``.fastpot``; EMT copper written as extxyz and as n2p2 ``input.data``),
then corrupted by hypothesis: bits flipped, bytes replaced, the file cut short, a line
duplicated, deleted or moved, a number replaced by nan, inf, a huge or tiny value or a Fortran
``1d5``, garbage bytes inserted. Each reader must then either

- succeed with a usable result: a potential evaluates to finite energies and forces on a
  small cluster and a small periodic cell (or refuses the structure with a ValueError), and
  structures have finite positions and labels of the right shape; or
- raise one of its documented errors (ValueError, of which n2p2.N2P2FormatError is one, or
  FileNotFoundError) with a message that names the file.

Anything else (IndexError, KeyError, UnicodeDecodeError, TypeError, OverflowError,
MemoryError, a crash, a hang) fails the test. The budget is fixed and the examples are
derandomized, so CI runs the same examples every time. Cases the fuzzing found are kept as
plain tests at the end.
"""
import functools
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from hypothesis import HealthCheck, event, given, settings
from hypothesis.control import currently_in_test_context
from hypothesis import strategies as st

from fastpot import Network, Potential, Scaling, default_symmetry_functions, read_input_data
from fastpot.data import read_samples
from fastpot.n2p2 import write_input_data

from potentials import labelled_frames, oxide

DOCUMENTED = (ValueError, FileNotFoundError)  # n2p2.N2P2FormatError is a ValueError
BUDGET = settings(max_examples=1000, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
N2P2_FILES = ("input.nn", "scaling.data", "weights.008.data", "weights.029.data")


# -- valid seed files, made once ----------------------------------------------------------------
def small_potential():
    """Cu and O, a few radial and angular functions, networks [n, 4, 1]: small files, so
    that a mutation hits every kind of line often."""
    sf = default_symmetry_functions(["Cu", "O"], cutoff=4.0, n_shifted=2, n_centred=1,
                                    n_angular_eta=1, zetas=(1.0,), wide=False)
    structures = [oxide(s, repeat=1) for s in range(3)]
    scaling = Scaling.from_data(sf, [sf.compute(a) for a in structures], mode="scalecenter")
    rng = np.random.default_rng(3)
    networks = {e: Network([sf.n_functions(e), 4, 1], "tl").initialize(rng)
                for e in sf.elements}
    return Potential(sf, scaling, networks, energy_unit=0.7, atom_energy={"Cu": -3.2, "O": -1.1})


@functools.lru_cache(maxsize=None)
def seeds():
    """File name -> bytes of every valid seed file."""
    from fastpot.emt_data import emt_samples
    import ase.io
    folder = Path(tempfile.mkdtemp(prefix="fastpot-fuzz-seeds-"))
    potential = small_potential()
    potential.to_n2p2(folder / "n2p2")
    potential.save(folder / "model.fastpot")
    frames = labelled_frames(emt_samples(3, element="Cu", size=1, seed=1))
    ase.io.write(folder / "data.extxyz", frames, format="extxyz")
    write_input_data(folder / "input.data", frames)
    files = {name: (folder / "n2p2" / name).read_bytes() for name in N2P2_FILES}
    for name in ("model.fastpot", "data.extxyz", "input.data"):
        files[name] = (folder / name).read_bytes()
    return files


def seed_strategy(name):
    """The seed file `name`, made at the first draw (not when the tests are collected)."""
    return st.deferred(lambda: st.just(seeds()[name]))


# -- mutations ----------------------------------------------------------------------------------
NUMBER = re.compile(rb"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
STRANGE_NUMBERS = [b"nan", b"inf", b"-inf", b"1e308", b"-1e308", b"1e999", b"1e-320", b"1d5",
                   b"-1.5D+02", b"0", b"-0.0", b"123456789012345678901234567890", b"1_000",
                   b"0x1p3", b"", b"--1", b"1e", b"1000000000",
                   # JSON's other values, for the .fastpot file
                   b"NaN", b"Infinity", b"null", b"true", b'"0.5"', b"[]", b"{}", b"[1, 2]"]


@st.composite
def _flip_bit(draw, data):
    if not data:
        return data
    k = draw(st.integers(0, len(data) - 1))
    return data[:k] + bytes([data[k] ^ (1 << draw(st.integers(0, 7)))]) + data[k + 1:]


@st.composite
def _replace_byte(draw, data):
    if not data:
        return data
    k = draw(st.integers(0, len(data) - 1))
    return data[:k] + bytes([draw(st.integers(0, 255))]) + data[k + 1:]


@st.composite
def _truncate(draw, data):
    return data[:draw(st.integers(0, len(data)))]


@st.composite
def _duplicate_line(draw, data):
    lines = data.splitlines(keepends=True)
    if not lines:
        return data
    k = draw(st.integers(0, len(lines) - 1))
    return b"".join(lines[:k + 1] + lines[k:])


@st.composite
def _delete_line(draw, data):
    lines = data.splitlines(keepends=True)
    if not lines:
        return data
    k = draw(st.integers(0, len(lines) - 1))
    return b"".join(lines[:k] + lines[k + 1:])


@st.composite
def _move_line(draw, data):
    lines = data.splitlines(keepends=True)
    if len(lines) < 2:
        return data
    line = lines.pop(draw(st.integers(0, len(lines) - 1)))
    lines.insert(draw(st.integers(0, len(lines))), line)
    return b"".join(lines)


@st.composite
def _replace_number(draw, data):
    numbers = list(NUMBER.finditer(data))
    if not numbers:
        return data
    match = numbers[draw(st.integers(0, len(numbers) - 1))]
    new = draw(st.sampled_from(STRANGE_NUMBERS))
    return data[:match.start()] + new + data[match.end():]


@st.composite
def _insert_garbage(draw, data):
    k = draw(st.integers(0, len(data)))
    return data[:k] + draw(st.binary(min_size=1, max_size=24)) + data[k:]


MUTATIONS = [_flip_bit, _replace_byte, _truncate, _duplicate_line, _delete_line, _move_line,
             _replace_number, _replace_number, _insert_garbage]


@st.composite
def mutated(draw, name):
    """Seed file `name` with one to three mutations applied in turn."""
    data = draw(seed_strategy(name))
    for _ in range(draw(st.integers(1, 3))):
        data = draw(draw(st.sampled_from(MUTATIONS))(data))
    return data


# -- what a reader may do -----------------------------------------------------------------------
def outcome(name):
    """Count `name` in hypothesis' statistics (pytest --hypothesis-show-statistics)."""
    if currently_in_test_context():
        event(name)


def read_or_refuse(read, path, names=None):
    """read(path), or None when it raised a documented error whose message names the file
    (or one of `names`: a change to input.nn may make another file of the folder wrong)."""
    try:
        with warnings.catch_warnings():
            # input.nn's unknown keywords and the like are warnings, not errors
            warnings.simplefilter("ignore", UserWarning)
            result = read(path)
    except DOCUMENTED as error:
        outcome(f"refused: {type(error).__name__}")
        message = str(error)
        assert message.strip(), f"{type(error).__name__} without a message"
        names = names or [path.name]
        assert any(name in message for name in names), \
            f"message names none of {names}: {message}"
        return None
    outcome("read")
    return result


def probe_structures():
    cluster = bulk("Cu", "fcc", a=3.6, cubic=True)
    cluster.symbols[::2] = "O"
    cluster.pbc = False
    cluster.center(vacuum=2.0)
    cluster.rattle(0.1, seed=1)
    return [cluster, oxide(0, repeat=1)]


def assert_usable(potential):
    """A potential that loaded evaluates to finite numbers, or refuses a structure."""
    for atoms in probe_structures():
        try:
            result = potential.evaluate(atoms, n_threads=1)
        except ValueError as error:
            outcome("evaluation refused")
            assert str(error).strip()
            continue
        assert np.isfinite(result["energy"]), result["energy"]
        assert np.isfinite(result["energies"]).all()
        assert result["forces"].shape == (len(atoms), 3)
        assert np.isfinite(result["forces"]).all()


def assert_structures(frames):
    for atoms in frames:
        assert np.isfinite(atoms.get_positions()).all()
        results = getattr(atoms.calc, "results", {}) if atoms.calc is not None else {}
        if results.get("forces") is not None:
            assert np.shape(results["forces"]) == (len(atoms), 3)
            assert np.isfinite(results["forces"]).all()
        if results.get("energy") is not None:
            assert np.isfinite(results["energy"])


def assert_samples(samples):
    assert samples
    for sample in samples:
        assert sample.n_atoms > 0
        assert np.isfinite(sample.atoms.get_positions()).all()
        assert sample.energy is None or np.isfinite(sample.energy)
        if sample.forces is not None:
            assert sample.forces.shape == (sample.n_atoms, 3)
            assert np.isfinite(sample.forces).all()
        if sample.stress is not None:
            assert sample.stress.shape == (6,) and np.isfinite(sample.stress).all()


def load_n2p2(name, content):
    """The n2p2 folder with file `name` replaced by `content`, read as a potential."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for other in N2P2_FILES:
            (folder / other).write_bytes(content if other == name else seeds()[other])
        potential = read_or_refuse(lambda path: Potential.from_n2p2(path.parent), folder / name,
                                   N2P2_FILES)
    if potential is not None:
        assert_usable(potential)


def read_file(name, content, read):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        return read_or_refuse(read, path)


# -- the readers under mutation -----------------------------------------------------------------
def test_seeds_are_valid():
    """Unmutated, every seed reads back: the fuzzing starts from working files."""
    load = Potential.from_n2p2
    with tempfile.TemporaryDirectory() as tmp:
        for name in N2P2_FILES:
            (Path(tmp) / name).write_bytes(seeds()[name])
        original = load(tmp)
    assert_usable(original)
    assert read_file("model.fastpot", seeds()["model.fastpot"], Potential.load) is not None
    assert len(read_file("data.extxyz", seeds()["data.extxyz"], read_samples)) == 3
    assert len(read_file("input.data", seeds()["input.data"], read_input_data)) == 3


@BUDGET
@given(content=mutated("input.nn"))
def test_input_nn(content):
    load_n2p2("input.nn", content)


@BUDGET
@given(content=mutated("scaling.data"))
def test_scaling_data(content):
    load_n2p2("scaling.data", content)


@BUDGET
@given(content=mutated("weights.029.data"))
def test_weights(content):
    load_n2p2("weights.029.data", content)


@BUDGET
@given(content=mutated("model.fastpot"))
def test_fastpot_file(content):
    potential = read_file("model.fastpot", content, Potential.load)
    if potential is not None:
        assert_usable(potential)


@BUDGET
@given(content=mutated("data.extxyz"))
def test_extxyz_training_file(content):
    samples = read_file("data.extxyz", content, read_samples)
    if samples is not None:
        assert_samples(samples)


@BUDGET
@given(content=mutated("input.data"))
def test_input_data(content):
    frames = read_file("input.data", content, read_input_data)
    if frames is not None:
        assert_structures(frames)


@BUDGET
@given(content=mutated("input.data"))
def test_input_data_training_file(content):
    samples = read_file("input.data", content, read_samples)
    if samples is not None:
        assert_samples(samples)


# -- cases the fuzzing found --------------------------------------------------------------------
def _n2p2_folder(tmp_path, name=None, old=None, new=None):
    for other in N2P2_FILES:
        content = seeds()[other]
        if other == name:
            assert old in content, (name, old)
            content = content.replace(old, new, 1)
        (tmp_path / other).write_bytes(content)
    return tmp_path


def test_found_huge_weight_gives_an_error_not_nan_forces(tmp_path):
    """A weight of 1e308 (a digit lost from 6.0e-02) is finite, so the file reads; the
    energy then overflows, and evaluate used to return NaN forces silently."""
    lines = seeds()["weights.029.data"].splitlines(keepends=True)
    value = lines[-3].split()[0]
    folder = _n2p2_folder(tmp_path, "weights.029.data", lines[-3], lines[-3].replace(value,
                                                                                     b"1e308"))
    potential = Potential.from_n2p2(folder)
    with pytest.raises(ValueError, match=r"non-finite energy or force for atom \d+ .*overflow"):
        potential.evaluate(probe_structures()[1])


def test_found_extxyz_declaring_a_billion_columns(tmp_path):
    """ASE's reader makes a list of one name per declared column before reading a line:
    "forces:R:1000000000" took all memory (the machine killed the test run)."""
    text = seeds()["data.extxyz"].replace(b"forces:R:3", b"forces:R:1000000000", 1)
    path = tmp_path / "data.extxyz"
    path.write_bytes(text)
    with pytest.raises(ValueError, match=r"data.extxyz:2: property 'forces' declares "
                                         r"1000000000 columns \(at most 1000"):
        read_samples(path)


@pytest.mark.parametrize("cutoff", [1e18, 1e200, 1e308])
def test_found_cutoff_overflowing_the_image_count(cutoff):
    """A cutoff of 1e200 (an rc mutated in a potential file) overflowed the int64 search
    reach to a negative number and gave a silently short list (12 pairs); at 1e18 the int64
    image count wrapped around (a wrong number in the message, and no guarantee of the
    refusal). All are refused now, with an exact count."""
    from fastpot import neighbor_list
    with pytest.raises(ValueError, match=r"times the shortest cell height .* periodic images"):
        neighbor_list("ij", bulk("Cu", "fcc", a=3.6, cubic=True), cutoff)


def test_found_cutoff_overflow_through_a_potential_file(tmp_path):
    import json
    data = json.loads(seeds()["model.fastpot"])
    for row in data["functions"]["Cu"]:
        row["rc"] = 1e200
    path = tmp_path / "model.fastpot"
    path.write_text(json.dumps(data))
    potential = Potential.load(path)
    with pytest.raises(ValueError, match=r"periodic images"):
        potential.evaluate(probe_structures()[1])


def test_found_layer_size_never_allocates_before_the_weights_are_read(tmp_path):
    """global_nodes_short 4 -> 5000000 is below the MAX_WEIGHTS guard (7e7 weights): the
    reader used to allocate the 560 MB network before finding the weights file short."""
    import tracemalloc
    folder = _n2p2_folder(tmp_path, "input.nn", b"global_nodes_short 4",
                          b"global_nodes_short 5000000")
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"weights.0\d\d.data: \d+ weights, but the "
                                             r"network needs 7\d{7}"):
            Potential.from_n2p2(folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50 * 2**20, peak


@pytest.mark.parametrize("header", [b"1000000000", b"123456789012345678901234567890"])
def test_found_extxyz_frame_declaring_a_billion_atoms(tmp_path, header):
    """ASE's reader reads as many lines as a frame header declares, past the end of the
    file: 10^9 took minutes, 10^29 forever."""
    path = tmp_path / "data.extxyz"
    path.write_bytes(seeds()["data.extxyz"].replace(b"4\n", header + b"\n", 1))
    with pytest.raises(ValueError, match=rf"data.extxyz:1: frame declares {header.decode()} "
                                         r"atoms, but only \d+ lines follow"):
        read_samples(path)
