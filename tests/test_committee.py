"""Committees: the mean and spread of K networks on one set of symmetry functions."""
import json

import numpy as np
import pytest

from fastpot import Potential
from fastpot.network import mean_network
from potentials import oxide, synthetic_potential


def committee(k=3, normalize=False):
    pots = [synthetic_potential(seed=s, normalize=normalize) for s in range(k)]
    base = pots[0]
    return Potential(base.sf, base.scaling, [p.networks for p in pots], base.energy_unit,
                     base.atom_energy), pots


@pytest.mark.parametrize("normalize", [False, True])
def test_mean_and_std_equal_the_members(normalize):
    c, pots = committee(normalize=normalize)
    for seed in range(2):
        atoms = oxide(seed + 5)
        members = [p.evaluate(atoms) for p in pots]
        energy = np.array([r["energy"] for r in members])
        forces = np.array([r["forces"] for r in members])
        stress = np.array([r["stress"] for r in members])
        energies = np.array([r["energies"] for r in members])
        for result in (c.evaluate(atoms), c.evaluate(atoms, forces_std=True)):
            np.testing.assert_allclose(result["energy"], energy.mean(), rtol=1e-13)
            np.testing.assert_allclose(result["energy_std"], energy.std(ddof=0), rtol=1e-10)
            np.testing.assert_allclose(result["energies"], energies.mean(0), rtol=1e-12)
            np.testing.assert_allclose(result["energies_std"], energies.std(0), atol=1e-13)
            np.testing.assert_allclose(result["forces"], forces.mean(0), atol=1e-12)
            np.testing.assert_allclose(result["stress"], stress.mean(0), atol=1e-14)
        assert result["energy_std"] > 1e-3   # random members disagree
        np.testing.assert_allclose(result["forces_std"], forces.std(0), atol=1e-12)
        np.testing.assert_allclose(result["member_forces"], forces, atol=1e-12)
        assert result["forces_std"].shape == (len(atoms), 3)


def test_mean_forces_are_the_gradient_of_the_mean_energy():
    c, _ = committee()
    atoms = oxide(7)
    forces = c.evaluate(atoms)["forces"]
    h = 1e-5
    for a, x in [(0, 0), (3, 1), (9, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[a, x] += h
        minus.positions[a, x] -= h
        numeric = -(c.energy(plus) - c.energy(minus)) / (2 * h)
        assert abs(forces[a, x]) > 1e-3
        np.testing.assert_allclose(forces[a, x], numeric, rtol=1e-6, atol=1e-8)


def test_mean_network_runs_the_mean_everywhere():
    c, pots = committee(normalize=True)
    atoms = oxide(3)
    single = Potential(c.sf, c.scaling, c.networks, c.energy_unit, c.atom_energy)
    expected = np.mean([p.evaluate(atoms)["forces"] for p in pots], axis=0)
    np.testing.assert_allclose(single.evaluate(atoms)["forces"], expected, atol=1e-12)
    nets = [p.networks["Cu"] for p in pots]
    nets[0] = synthetic_potential(activations="tts").networks["Cu"]
    with pytest.raises(ValueError, match="same layers"):
        mean_network(nets)


def test_threads_agree():
    c, _ = committee()
    atoms = oxide(2, repeat=3)
    one = c.evaluate(atoms, n_threads=1, forces_std=True)
    two = c.evaluate(atoms, n_threads=2, forces_std=True)
    for key in ("energy", "energy_std", "energies_std", "forces", "forces_std", "stress"):
        np.testing.assert_allclose(one[key], two[key], rtol=1e-13, atol=1e-15)


def test_file_version_2_and_1(tmp_path):
    c, pots = committee()
    c.save(tmp_path / "c.fastpot")
    data = json.loads((tmp_path / "c.fastpot").read_text())
    assert data["version"] == 2 and len(data["members"]) == 3
    again = Potential.load(tmp_path / "c.fastpot")
    atoms = oxide(1)
    assert again.n_members == 3
    np.testing.assert_array_equal(again.evaluate(atoms, forces_std=True)["forces_std"],
                                  c.evaluate(atoms, forces_std=True)["forces_std"])
    # a version-1 file (a single model) loads unchanged
    single = pots[0].to_dict()
    single["version"] = 1
    (tmp_path / "v1.fastpot").write_text(json.dumps(single))
    v1 = Potential.load(tmp_path / "v1.fastpot")
    assert not v1.is_committee
    np.testing.assert_array_equal(v1.evaluate(atoms)["forces"], pots[0].evaluate(atoms)["forces"])
    data["version"] = 1
    (tmp_path / "bad.fastpot").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="version-1 file cannot hold a committee"):
        Potential.load(tmp_path / "bad.fastpot")


def test_single_model_unchanged_and_errors():
    p = synthetic_potential()
    atoms = oxide(0)
    result = p.evaluate(atoms)
    assert "energy_std" not in result and not p.is_committee and p.n_members == 1
    with pytest.raises(ValueError, match="forces_std needs a committee potential"):
        p.evaluate(atoms, forces_std=True)
    with pytest.raises(ValueError, match="a committee needs at least 2 members, got 1"):
        Potential(p.sf, p.scaling, [p.networks])
    c, _ = committee()
    with pytest.raises(IndexError, match="out of range"):
        c.member(5)


def test_calculator_results():
    c, pots = committee()
    atoms = oxide(4)
    atoms.calc = c.calculator()
    atoms.get_forces()
    r = atoms.calc.results
    assert r["energy_std"] > 0 and r["energies_std"].shape == (len(atoms),)
    assert "forces_std" not in r
    fstd = atoms.calc.get_property("forces_std")
    expected = np.std([p.evaluate(atoms)["forces"] for p in pots], axis=0)
    np.testing.assert_allclose(fstd, expected, atol=1e-12)
    atoms.calc = c.calculator(forces_std=True)
    atoms.get_potential_energy()
    np.testing.assert_allclose(atoms.calc.results["forces_std"], expected, atol=1e-12)


def test_md_runs_the_committee_mean():
    from fastpot import md
    c, _ = committee()
    mean = Potential(c.sf, c.scaling, c.networks, c.energy_unit, c.atom_energy)
    runs = []
    for potential in (c, mean):
        atoms = oxide(0)
        atoms.set_momenta(np.zeros((len(atoms), 3)))
        md.run(atoms, potential, ensemble="nve", timestep=0.5, steps=5, n_threads=1)
        runs.append(atoms.positions.copy())
    np.testing.assert_allclose(runs[0], runs[1], atol=1e-12)
    assert np.abs(runs[0] - oxide(0).positions).max() > 1e-6


def test_md_logs_the_force_std_and_stops_past_the_limit(tmp_path):
    import csv

    from ase.io import read

    from fastpot import md
    c, _ = committee()
    atoms = oxide(0)
    expected = c.evaluate(atoms, forces_std=True)["forces_std"]
    dyn = md.run(atoms.copy(), c, ensemble="nve", timestep=0.5, steps=6, every=3, n_threads=1,
                 thermo=tmp_path / "thermo.csv", max_force_std=1e6)
    rows = list(csv.DictReader(open(tmp_path / "thermo.csv")))
    assert [int(r["step"]) for r in rows] == [0, 3, 6] and dyn.stop_reason is None
    assert float(rows[0]["max_force_std"]) == pytest.approx(
        np.sqrt((expected**2).sum(axis=1)).max(), rel=1e-9)
    frame = tmp_path / "uncertain.extxyz"
    messages = []
    dyn = md.run(atoms.copy(), c, ensemble="nve", timestep=0.5, steps=6, every=3, n_threads=1,
                 max_force_std=1e-9, uncertain_frame=frame, log=messages.append)
    assert dyn.step == 0 and "passed max_force_std 1e-09 eV/Å" in dyn.stop_reason
    assert "frame saved to" in messages[-1]
    saved = read(frame)
    np.testing.assert_allclose(saved.positions, atoms.positions, rtol=0, atol=1e-6)
    assert saved.info["max_force_std"] > 1e-9
    single = synthetic_potential()
    with pytest.raises(ValueError, match="max_force_std needs a committee model"):
        md.run(atoms.copy(), single, steps=2, max_force_std=0.1)
    with pytest.raises(ValueError, match="max_force_std must be a positive number"):
        md.run(atoms.copy(), c, steps=2, max_force_std=-1.0)


def test_md_command_stops_with_status_3(tmp_path, monkeypatch, capsys):
    from ase.io import write

    from fastpot.cli import main as cli
    c, _ = committee()
    c.save(tmp_path / "committee.fastpot")
    write(tmp_path / "start.extxyz", oxide(0))
    monkeypatch.chdir(tmp_path)
    status = cli(["md", "committee.fastpot", "start.extxyz", "--steps", "4", "--every", "2",
                  "--max-force-std", "1e-9"])
    assert status == 3
    assert ("fastpot md: stopped: step 0: the committee's largest force standard"
            in capsys.readouterr().err)
    assert (tmp_path / "uncertain.extxyz").is_file()
    header = (tmp_path / "thermo.csv").read_text().splitlines()[0]
    assert header.endswith(",max_force_std")
