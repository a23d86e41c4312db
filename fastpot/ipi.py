"""fastpot as an i-PI force client: ``fastpot ipi MODEL STRUCTURE --address unix:NAME``.

i-PI (the path-integral MD server) sends positions and cells over a socket and asks for
energy, forces and virial; ASE's ``SocketClient`` speaks that protocol, and a fastpot
calculator answers. The structure file gives the atoms' elements (and a first cell); the
positions come from i-PI. The client runs until the server says it is done or closes the
connection.
"""
import socket

from ase.calculators.socketio import SocketClient, SocketClosed


def parse_address(address):
    """(unixsocket, host, port) from ``unix:NAME`` or ``HOST:PORT``."""
    if not isinstance(address, str) or ":" not in address:
        raise ValueError(f"i-PI address must be unix:NAME or HOST:PORT, got {address!r}")
    kind, _, rest = address.partition(":")
    if kind == "unix":
        if not rest:
            raise ValueError("i-PI address unix:NAME needs a socket name")
        return rest, None, None
    try:
        port = int(rest)
    except ValueError:
        raise ValueError(f"i-PI address {address!r}: port {rest!r} is not a number") from None
    if not 0 < port < 65536:
        raise ValueError(f"i-PI address {address!r}: port must be in 1..65535")
    return None, kind or "localhost", port


def run_client(potential, atoms, address, n_threads=None, log=None):
    """Serve forces to the i-PI server at `address` until it stops; returns the number of
    force evaluations."""
    unixsocket, host, port = parse_address(address)
    atoms.calc = potential.calculator(n_threads=n_threads)
    try:
        client = SocketClient(host=host or "localhost", port=port, unixsocket=unixsocket)
    except (ConnectionRefusedError, FileNotFoundError, socket.gaierror, OSError) as error:
        where = f"unix socket {unixsocket!r}" if unixsocket else f"{host}:{port}"
        raise ConnectionError(f"cannot connect to the i-PI server at {where} ({error}); "
                              "is i-PI running with that address?") from None
    steps = 0
    try:
        for _ in client.irun(atoms, use_stress=bool(atoms.pbc.all())):
            steps += 1
            if log:
                log(f"step {steps}: energy {atoms.get_potential_energy():.8f} eV")
    except SocketClosed:
        pass  # the server went away: i-PI closes the socket when its run ends
    finally:
        client.close()
    return steps
