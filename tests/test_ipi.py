"""fastpot as an i-PI force client, against the real i-PI server (the `ipi` package) on a unix
socket: the run finishes, and the potential energies i-PI reports are fastpot's own for the
positions i-PI sent."""
import os
import shutil
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest
from ase.io import read, write

from fastpot.cli import main as cli
from fastpot.ipi import parse_address

from potentials import oxide, synthetic_potential

I_PI = shutil.which("i-pi")
needs_ipi = pytest.mark.skipif(I_PI is None, reason="i-PI is not installed (pip install -e "
                                                    "\".[embed]\")")

INPUT = """<simulation verbosity='low' safe_stride='1000'>
  <output prefix='sim'>
    <properties stride='1' filename='out' flush='1'> [ step, potential{electronvolt},
      conserved{electronvolt} ] </properties>
    <trajectory filename='pos' stride='1' format='xyz' cell_units='angstrom' flush='1'>
      positions{angstrom} </trajectory>
  </output>
  <total_steps> 25 </total_steps>
  <prng><seed> 31415 </seed></prng>
  <ffsocket name='fastpot' mode='unix' pbc='false'>
    <address> {address} </address> <latency> 1e-4 </latency>
  </ffsocket>
  <system>
    <initialize nbeads='1'>
      <file mode='ase'> init.extxyz </file>
      <velocities mode='thermal' units='kelvin'> 300 </velocities>
    </initialize>
    <forces><force forcefield='fastpot'/></forces>
    <ensemble><temperature units='kelvin'> 300 </temperature></ensemble>
    <motion mode='dynamics'>
      <dynamics mode='nve'><timestep units='femtosecond'> 1.0 </timestep></dynamics>
    </motion>
  </system>
</simulation>
"""


def test_addresses():
    assert parse_address("unix:water") == ("water", None, None)
    assert parse_address("localhost:31415") == (None, "localhost", 31415)
    for bad, message in [("water", "must be unix:NAME or HOST:PORT"),
                         ("unix:", "needs a socket name"),
                         ("host:port", "port 'port' is not a number"),
                         ("host:0", "port must be in 1..65535")]:
        with pytest.raises(ValueError, match=message):
            parse_address(bad)


def test_no_server_gives_a_clear_error(tmp_path, capsys):
    potential = synthetic_potential(seed=1)
    potential.save(tmp_path / "model.fastpot")
    write(tmp_path / "init.extxyz", oxide(0))
    name = f"fastpot-missing-{uuid.uuid4().hex[:8]}"
    assert cli(["ipi", str(tmp_path / "model.fastpot"), str(tmp_path / "init.extxyz"),
                "--address", f"unix:{name}"]) == 2
    err = capsys.readouterr().err
    assert f"cannot connect to the i-PI server at unix socket '{name}'" in err
    assert "is i-PI running with that address?" in err


@needs_ipi
def test_ipi_nve_run(tmp_path):
    potential = synthetic_potential(seed=1)
    potential.save(tmp_path / "model.fastpot")
    atoms = oxide(3)
    write(tmp_path / "init.extxyz", atoms)
    name = f"fastpot-{uuid.uuid4().hex[:8]}"
    (tmp_path / "input.xml").write_text(INPUT.replace("{address}", name))
    socket_file = f"/tmp/ipi_{name}"
    server = subprocess.Popen([I_PI, "input.xml"], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        while not os.path.exists(socket_file):
            assert server.poll() is None, f"i-PI stopped: {server.stdout.read()}"
            assert time.time() < deadline, "i-PI did not open its socket within 60 s"
            time.sleep(0.2)
        client = subprocess.run([sys.executable, "-m", "fastpot.cli", "ipi",
                                 str(tmp_path / "model.fastpot"), str(tmp_path / "init.extxyz"),
                                 "--address", f"unix:{name}", "--threads", "1"],
                                capture_output=True, text=True, timeout=120)
        assert client.returncode == 0, client.stdout + client.stderr
        assert "i-PI server closed the run after" in client.stdout
        server.wait(timeout=60)
        assert server.returncode == 0, server.stdout.read()
    finally:
        if server.poll() is None:
            server.kill()
    table = np.loadtxt(tmp_path / "sim.out", ndmin=2)
    assert table[-1, 0] == 25  # the run finished
    frames = read(tmp_path / "sim.pos_0.xyz", ":")
    assert len(frames) == len(table)
    for row, frame in zip(table, frames):
        atoms.positions = frame.positions
        expected = potential.evaluate(atoms, forces=False, stress=False)["energy"]
        assert row[1] == pytest.approx(expected, rel=1e-6, abs=1e-6)
    # NVE: the conserved quantity stays put
    assert np.ptp(table[:, 2]) < 1e-3 * len(atoms)
