"""Throw-away network namespaces joined to the root namespace by a veth pair.

libwebrtc (the Python `livekit` SDK, Chromium) ignores loopback interfaces, so tests run the
SFU inside a namespace and reach it over a veth /30. Addresses come from 10.213.0.0/16 and are
derived from the tag and pid, so parallel runs do not clash.

Traffic rule: packets leaving the namespace can only reach the host. The host end of the veth
has IPv4 forwarding switched off (forwarding is decided per ingress interface) and IPv6 is
disabled on both ends, so even the namespace's default route cannot lead past this machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import itertools
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "TestNet",
    "create_testnet",
    "destroy_testnet",
    "route_between",
    "unroute_between",
]

_SUPERNET = ipaddress.IPv4Network("10.213.0.0/16")
_SUBNETS = 2 ** (30 - _SUPERNET.prefixlen)  # number of /30 blocks in the supernet
_counter = itertools.count()


@dataclass(frozen=True)
class TestNet:
    """A namespace `name` whose `ns_if` has `ns_ip`, peered with `host_if`/`host_ip` in root."""

    __test__ = False  # not a pytest test class, despite the name

    name: str
    host_ip: str
    ns_ip: str
    host_if: str
    ns_if: str


def create_testnet(tag: str) -> TestNet:
    """Create a fresh namespace with lo up, a veth /30 to the root namespace and a default
    route via the host end. Raises RuntimeError (after cleaning up) if any step fails."""
    used = _used_addresses()
    seed = int.from_bytes(
        hashlib.sha256(f"{tag}:{os.getpid()}:{next(_counter)}".encode()).digest()[:4], "big"
    )
    for attempt in range(_SUBNETS):
        index = (seed + attempt) % _SUBNETS
        subnet = ipaddress.IPv4Network((int(_SUPERNET.network_address) + 4 * index, 30))
        host_ip, ns_ip = (str(ip) for ip in subnet.hosts())
        suffix = f"{index:04x}"
        net = TestNet(
            name=f"evr-{_slug(tag)}-{suffix}",
            host_ip=host_ip,
            ns_ip=ns_ip,
            host_if=f"evr{suffix}h",
            ns_if=f"evr{suffix}n",
        )
        if host_ip in used or ns_ip in used or _exists(net):
            continue
        try:
            _setup(net)
        except (subprocess.CalledProcessError, OSError) as exc:
            destroy_testnet(net)
            detail = exc.stderr if isinstance(exc, subprocess.CalledProcessError) else exc
            raise RuntimeError(f"could not create test namespace {net.name}: {detail}") from exc
        return net
    raise RuntimeError("no free /30 left in 10.213.0.0/16 for a test namespace")


def destroy_testnet(net: TestNet) -> None:
    """Stop anything still running in the namespace and delete it and its veth. Idempotent."""
    for pid in _pids_in(net.name):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    # Deleting the namespace destroys ns_if, and with it the host end of the veth pair.
    _run("ip", "netns", "delete", net.name, check=False)
    _run("ip", "link", "delete", net.host_if, check=False)


def _setup(net: TestNet) -> None:
    ns = ("ip", "-n", net.name)
    _run("ip", "netns", "add", net.name)
    _run("ip", "link", "add", net.host_if, "type", "veth", "peer", "name", net.ns_if)
    _run("ip", "link", "set", net.ns_if, "netns", net.name)
    _sysctl(Path(f"/proc/sys/net/ipv6/conf/{net.host_if}/disable_ipv6"), "1")
    _sysctl(Path(f"/proc/sys/net/ipv4/conf/{net.host_if}/forwarding"), "0")
    _run("ip", "addr", "add", f"{net.host_ip}/30", "dev", net.host_if)
    _run("ip", "link", "set", net.host_if, "up")
    _run(
        "ip",
        "netns",
        "exec",
        net.name,
        "sysctl",
        "-qw",
        f"net.ipv6.conf.{net.ns_if}.disable_ipv6=1",
    )
    _run(*ns, "addr", "add", f"{net.ns_ip}/30", "dev", net.ns_if)
    _run(*ns, "link", "set", "lo", "up")
    _run(*ns, "link", "set", net.ns_if, "up")
    _run(*ns, "route", "add", "default", "via", net.host_ip)


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, check=check, capture_output=True, text=True, timeout=10)


def _sysctl(path: Path, value: str) -> None:
    path.write_text(value)


def _exists(net: TestNet) -> bool:
    return Path(f"/run/netns/{net.name}").exists() or Path(f"/sys/class/net/{net.host_if}").exists()


def _used_addresses() -> set[str]:
    out = _run("ip", "-o", "-4", "addr", "show").stdout
    return {field.split("/")[0] for line in out.splitlines() for field in line.split()[3:4]}


def _pids_in(name: str) -> list[int]:
    result = _run("ip", "netns", "pids", name, check=False)
    return [int(pid) for pid in result.stdout.split() if pid.isdigit()]


def _slug(tag: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in tag.lower()).strip("-")
    return cleaned[:24] or "net"


def _table_for(net: TestNet) -> int:
    # One routing table per test namespace, numbered from its /30 (its interface suffix).
    return 10_000 + int(net.host_if[3:7], 16)


def route_between(a: TestNet, b: TestNet) -> None:
    """Opt in to routing between two test namespaces through the host, and nowhere else.

    Forwarding is switched on for the two host ends only, and packets arriving on either
    are looked up in a table of their own that holds the other namespace's /30 and an
    `unreachable` default: a packet from a test namespace can reach the host or the other
    namespace, never anything past this machine. Undo with `unroute_between`.
    """
    for src, dst in ((a, b), (b, a)):
        table = str(_table_for(src))
        _run("ip", "route", "flush", "table", table, check=False)
        subnet = str(ipaddress.ip_interface(f"{dst.host_ip}/30").network)
        _run("ip", "route", "add", subnet, "dev", dst.host_if, "table", table)
        _run("ip", "route", "add", "unreachable", "default", "table", table)
        _run("ip", "rule", "add", "pref", "1000", "iif", src.host_if, "lookup", table)
    for net in (a, b):
        _sysctl(Path(f"/proc/sys/net/ipv4/conf/{net.host_if}/forwarding"), "1")


def unroute_between(a: TestNet, b: TestNet) -> None:
    """Undo `route_between`. Idempotent."""
    for net in (a, b):
        with contextlib.suppress(OSError):
            _sysctl(Path(f"/proc/sys/net/ipv4/conf/{net.host_if}/forwarding"), "0")
        table = str(_table_for(net))
        _run("ip", "rule", "del", "pref", "1000", "iif", net.host_if, check=False)
        _run("ip", "route", "flush", "table", table, check=False)
