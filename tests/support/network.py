"""Ports on 127.0.0.1 for the servers the tests start."""

import socket
from contextlib import closing


def free_port() -> int:
    """A port nobody listens on: the OS just handed it out (it may be taken again later, but rarely is)."""
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
