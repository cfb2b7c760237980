"""Ports for the servers autoops starts are picked outside the kernel's ephemeral range, so no
socket bound to "any port" can take one between its pick and its bind (the demo test once
failed on "address already in use" for its web port)."""

from __future__ import annotations

import socket

from agents.ports import _PICK_FROM, _ephemeral_low, free_port


def test_picked_ports_are_free_and_below_the_ephemeral_range() -> None:
    low = _ephemeral_low()
    ports = {free_port() for _ in range(50)}
    assert all(_PICK_FROM <= p < low for p in ports)
    assert len(ports) > 40  # spread out, not one port for everyone
    for port in list(ports)[:5]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free indeed


def test_a_taken_port_is_not_picked(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import agents.ports as ports

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        busy = taken.getsockname()[1]
        real = ports._RNG.randint
        offered = [busy, busy]  # the taken port twice, then the generator's own picks

        def pick(a: int, b: int) -> int:
            return offered.pop() if offered else real(a, b)

        monkeypatch.setattr(ports._RNG, "randint", pick)
        monkeypatch.setattr(ports, "_PICK_FROM", 1024)
        monkeypatch.setattr(ports, "_ephemeral_low", lambda: 65536)
        assert ports.free_port() != busy
        assert not offered  # both offers of the taken port were refused
