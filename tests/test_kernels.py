"""The instruction-set variants of the hot kernels (fastpot/_kernels): every variant this
machine runs gives the baseline's results to round-off, and the choice is explained and
checked (FASTPOT_SIMD)."""
import subprocess
import sys

import numpy as np
import pytest
from ase.build import bulk

from fastpot import Network, Potential, Scaling, _kernels
from fastpot.symmetry import Angular, Radial, SymmetryFunctions

RUNNABLE = _kernels.runnable_variants()


def mixed_potential(seed=0):
    """Two elements, radial, narrow (type 3) and wide (type 9) functions with rs and
    non-integer zeta, random networks: every kernel path."""
    functions = []
    for centre in ("Cu", "O"):
        for other in ("Cu", "O"):
            functions += [Radial(centre, other, eta, rs, 4.2) for eta, rs in
                          ((0.5, 0.0), (2.0, 1.8), (1.0, 2.6))]
        for a, b in (("Cu", "Cu"), ("Cu", "O"), ("O", "O")):
            functions += [Angular(centre, a, b, 0.3, lam, zeta, 4.2) for lam in (1.0, -1.0)
                          for zeta in (1.0, 2.5, 4.0)]
            functions.append(Angular(centre, a, b, 0.2, 1.0, 2.0, 3.9, rs=0.4, wide=True))
    sf = SymmetryFunctions(["Cu", "O"], functions, cutoff_type="poly2")
    structures = [oxide(s) for s in range(2)]
    scaling = Scaling.from_data(sf, [sf.compute(a) for a in structures])
    rng = np.random.default_rng(seed)
    networks = {e: Network([sf.n_functions(e), 7, 5, 1], "ttl").initialize(rng)
                for e in sf.elements}
    return Potential(sf, scaling, networks, energy_unit=0.5, atom_energy={"Cu": -3.0})


def oxide(seed):
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat(2)
    atoms.symbols[::3] = "O"
    atoms.rattle(0.15, seed=seed)
    return atoms


def everything(potential, atoms):
    """Every kernel's output on one structure."""
    sf = potential.sf
    result = potential.evaluate(atoms)
    values = sf.compute(atoms)
    rng = np.random.default_rng(1)
    weights = {e: rng.normal(size=v.shape) for e, v in values.items()}
    gradient, strain = sf.backward(atoms, weights)
    stored = sf.derivatives(atoms)
    net = potential.networks["Cu"]
    x = rng.normal(size=(9, net.n_inputs))
    y, dydx = net.evaluate(x)
    dw = net.weight_gradient(x, rng.normal(size=9), rng.normal(size=9),
                             rng.normal(size=x.shape))
    return {"energies": result["energies"], "forces": result["forces"],
            "stress": result["stress"], "values_Cu": values["Cu"], "values_O": values["O"],
            "gradient": gradient, "strain": strain, "derivatives": stored.values,
            "derivative_strain": stored.strain, "y": y, "dydx": dydx, "weight_gradient": dw}


@pytest.fixture
def restore_variant():
    before = _kernels.active
    yield
    _kernels.use(before)


def test_every_variant_matches_the_baseline(restore_variant):
    potential, atoms = mixed_potential(), oxide(7)
    _kernels.use("baseline")
    reference = everything(potential, atoms)
    assert np.abs(reference["forces"]).max() > 1e-3  # not trivially zero
    for variant in RUNNABLE:
        _kernels.use(variant)
        assert _kernels.active == variant
        for name, value in everything(potential, atoms).items():
            scale = np.abs(reference[name]).max()
            np.testing.assert_allclose(value, reference[name], rtol=1e-12, atol=1e-13 * scale,
                                       err_msg=f"{variant}: {name}")


def test_auto_is_the_widest_runnable():
    variant, reason = _kernels.choose("auto")
    assert variant == RUNNABLE[0] and "auto" in reason
    assert RUNNABLE[-1] == "baseline"


def test_forced_variant_in_a_new_process():
    for variant in RUNNABLE:
        out = subprocess.run(
            [sys.executable, "-c", "import fastpot, fastpot._kernels as k; "
             "print(k.active, '|', k.reason, '|', fastpot._config.config()['kernels'])"],
            env={**__import__("os").environ, "FASTPOT_SIMD": variant},
            capture_output=True, text=True, check=True)
        active, reason, shown = (part.strip() for part in out.stdout.split("|"))
        assert active == variant
        assert reason == f"forced by FASTPOT_SIMD={variant}"
        assert shown.startswith(variant)


def test_only_the_chosen_variant_is_ever_loaded():
    # loading a variant wider than the CPU can die with SIGILL in its module initialisation
    # (seen on an AVX2-only EPYC): listing the built variants must not import them
    out = subprocess.run(
        [sys.executable, "-c", "import sys, fastpot._kernels as k; k.built_variants(); "
         "k.runnable_variants(); print(k.active, sorted(m for m in sys.modules "
         "if m.startswith('fastpot._kernels.') and m.count('.') == 3))"],
        capture_output=True, text=True, check=True)
    active, loaded = out.stdout.split(" ", 1)
    assert eval(loaded) == [f"fastpot._kernels.{active}.{name}" for name in
                            ("_fused", "_net", "_sf", "_sf_factored")]


def test_bad_requests_are_refused(monkeypatch):
    with pytest.raises(ValueError, match=r"FASTPOT_SIMD='sse9': choose one of auto, avx512, "
                                         r"avx2, baseline"):
        _kernels.choose("sse9")
    monkeypatch.setattr(_kernels, "cpu_level", lambda: 0)
    if "avx512" in _kernels.built_variants():
        with pytest.raises(ValueError, match="FASTPOT_SIMD=avx512: this CPU cannot run avx512 "
                                             r"kernels \(it runs: baseline\)"):
            _kernels.choose("avx512")
    assert _kernels.choose("auto")[0] == "baseline"
    with pytest.raises(ValueError, match="kernel variant 'avx2' is not available here"):
        _kernels.use("avx2")


def test_a_bad_environment_value_fails_the_import():
    out = subprocess.run([sys.executable, "-c", "import fastpot"],
                         env={**__import__("os").environ, "FASTPOT_SIMD": "fastest"},
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "FASTPOT_SIMD='fastest': choose one of auto" in out.stderr
