"""Routing among test namespaces: a deployment's hosts (and the phone) reach each other only.

tests.support.netns gives each namespace a /30 to this machine with forwarding off, and
`route_between` opens one pair. A deployment needs a mesh: each namespace's packets are looked
up in a table of its own holding the other members' /30s and an `unreachable` default, so they
can reach this machine (local addresses are looked up first) or another member, nothing past.
"""

from __future__ import annotations

import contextlib
import ipaddress
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.support.netns import TestNet

__all__ = ["route_mesh", "unroute_mesh"]


def _table(net: TestNet) -> str:
    # The numbering tests.support.netns uses for its own per-namespace tables.
    return str(10_000 + int(net.host_if[3:7], 16))


def _subnet(net: TestNet) -> str:
    return str(ipaddress.ip_interface(f"{net.host_ip}/30").network)


def _ip(*argv: str, check: bool = True) -> None:
    subprocess.run(["ip", *argv], check=check, capture_output=True, text=True, timeout=10)


def route_mesh(nets: Sequence[TestNet]) -> None:
    """Let every namespace in `nets` reach every other one through this machine."""
    for net in nets:
        _ip("route", "flush", "table", _table(net), check=False)
        _ip("rule", "del", "pref", "1000", "iif", net.host_if, check=False)
        for other in nets:
            if other is not net:
                _ip("route", "add", _subnet(other), "dev", other.host_if, "table", _table(net))
        _ip("route", "add", "unreachable", "default", "table", _table(net))
        _ip("rule", "add", "pref", "1000", "iif", net.host_if, "lookup", _table(net))
    for net in nets:
        Path(f"/proc/sys/net/ipv4/conf/{net.host_if}/forwarding").write_text("1")


def unroute_mesh(nets: Sequence[TestNet]) -> None:
    """Undo `route_mesh`. Idempotent."""
    for net in nets:
        with contextlib.suppress(OSError):
            Path(f"/proc/sys/net/ipv4/conf/{net.host_if}/forwarding").write_text("0")
        _ip("rule", "del", "pref", "1000", "iif", net.host_if, check=False)
        _ip("route", "flush", "table", _table(net), check=False)
