"""Loopback ports for the servers autoops starts itself (embedded Temporal, reference partners,
the twin feed's OPC UA / MQTT / Modbus servers, tests' servers)."""

from __future__ import annotations

import random
import socket
from pathlib import Path

#: Ports picked for servers started here: above Ray's worker ports (10002-19999) and below the
#: kernel's ephemeral range. A port the kernel hands out for "any free port" (what every client
#: socket and Ray's own servers bind) could be given to another process between the moment this
#: one is picked and the moment its server binds it: the demo once failed so ("address already
#: in use" on its web port, picked a few seconds earlier).
_PICK_FROM = 20_000
_RNG = random.SystemRandom()  # not the global generator, which a caller may have seeded


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def free_port(host: str = "127.0.0.1") -> int:
    """A port of ``host`` free now, outside the range the kernel assigns on its own."""
    high = _ephemeral_low() - 1
    if high > _PICK_FROM:
        for _ in range(64):
            port = _RNG.randint(_PICK_FROM, high)
            with socket.socket() as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue  # taken: another
                return port
    with socket.socket() as sock:  # no room below the ephemeral range: the kernel's pick
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


__all__ = ["free_port"]
