"""Python threads sharing one Potential (and one calculator class) at once give the numbers
of serial calls: the kernels release the GIL, keep their scratch per OpenMP thread
(thread-local), and read the potential without writing it."""
import threading

import numpy as np
from ase.build import bulk

from fastpot import Potential
from potentials import oxide, synthetic_potential


def run_in_threads(work, n_threads=4, repeats=6):
    """work(k) in n_threads Python threads at once, `repeats` times each; results by k."""
    results = {k: [] for k in range(n_threads)}
    errors = []
    start = threading.Barrier(n_threads)

    def body(k):
        try:
            start.wait()
            for _ in range(repeats):
                results[k].append(work(k))
        except Exception as error:          # reported below, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=body, args=(k,)) for k in range(n_threads)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert not any(thread.is_alive() for thread in threads)
    return results


def test_threads_sharing_a_potential_get_the_serial_numbers():
    potential = synthetic_potential(seed=5)
    structures = [oxide(seed, repeat=3) for seed in range(4)]
    # the serial numbers from a copy, so that the threads make the first calls (the
    # compiled layout is built lazily) on the shared one
    serial = [potential.copy().evaluate(atoms, n_threads=1) for atoms in structures]
    results = run_in_threads(lambda k: potential.evaluate(structures[k], n_threads=1))
    for k, runs in results.items():
        for result in runs:
            np.testing.assert_array_equal(result["energies"], serial[k]["energies"])
            np.testing.assert_array_equal(result["forces"], serial[k]["forces"])
            np.testing.assert_array_equal(result["stress"], serial[k]["stress"])


def test_threads_with_their_own_calculators_and_a_committee():
    members = [synthetic_potential(seed=s) for s in range(3)]
    base = members[0]
    committee = Potential(base.sf, base.scaling, [m.networks for m in members],
                          base.energy_unit, base.atom_energy)
    structures = [oxide(seed + 10, repeat=2) for seed in range(4)]
    serial = [committee.copy().evaluate(atoms, forces_std=True) for atoms in structures]

    def work(k):
        atoms = structures[k].copy()
        atoms.calc = committee.calculator(forces_std=True)
        return atoms.get_forces(), atoms.calc.results["forces_std"], \
            atoms.get_potential_energy()

    for k, runs in run_in_threads(work).items():
        for forces, forces_std, energy in runs:
            np.testing.assert_allclose(forces, serial[k]["forces"], rtol=0, atol=1e-12)
            np.testing.assert_allclose(forces_std, serial[k]["forces_std"], rtol=0, atol=1e-12)
            assert energy == serial[k]["energy"]


def test_threads_with_two_openmp_threads_each():
    potential = synthetic_potential(seed=6)
    atoms = bulk("Cu", "fcc", a=3.7, cubic=True).repeat(4)
    atoms.symbols[::5] = "O"
    atoms.rattle(0.1, seed=2)
    serial = potential.evaluate(atoms, n_threads=2)
    results = run_in_threads(lambda k: potential.evaluate(atoms, n_threads=2), n_threads=3,
                             repeats=3)
    for runs in results.values():
        for result in runs:
            np.testing.assert_array_equal(result["forces"], serial["forces"])


def test_a_calculator_in_use_by_another_thread_is_an_error_not_wrong_numbers():
    potential = synthetic_potential(seed=7)
    structures = [oxide(seed + 20, repeat=2) for seed in range(2)]
    serial = [potential.evaluate(atoms)["energy"] for atoms in structures]
    calc = potential.calculator()
    with calc.in_use:  # this thread is inside the calculator
        error = run_in_threads(lambda k: _raised(lambda: calc.get_potential_energy(
            structures[0])), n_threads=1, repeats=1)[0][0]
    assert isinstance(error, RuntimeError)
    assert "this FastpotCalculator is in use by another thread" in str(error)
    assert "give each thread its own" in str(error)
    # threads racing on one calculator: each call raises that error or has its own numbers
    outcomes = run_in_threads(lambda k: _raised(lambda: calc.get_potential_energy(
        structures[k % 2])), n_threads=4, repeats=20)
    for k, runs in outcomes.items():
        for outcome in runs:
            if isinstance(outcome, Exception):
                assert isinstance(outcome, RuntimeError) and "in use" in str(outcome)
            else:
                assert outcome == serial[k % 2]
    assert calc.get_potential_energy(structures[1]) == serial[1]  # usable afterwards


def test_a_neighbor_list_in_use_by_another_thread_is_an_error():
    from fastpot import NeighborList
    atoms = oxide(30)
    nl = NeighborList(4.5, skin=0.3).build(atoms)
    with nl.in_use:
        errors = run_in_threads(lambda k: [_raised(lambda: nl.update(atoms)),
                                           _raised(lambda: synthetic_potential().evaluate(
                                               atoms, neighbor_list=nl))],
                                n_threads=1, repeats=1)[0][0]
    for error in errors:
        assert isinstance(error, RuntimeError)
        assert "this NeighborList is in use by another thread" in str(error)
    assert nl.update(atoms) is False  # the owner may go on


def _raised(call):
    try:
        return call()
    except Exception as error:
        return error
