"""Bandwidth shaping of a test namespace's veth with tc tbf (this kernel has tbf and htb,
not netem: rates can be shaped, delay cannot), and random loss with an nftables rule.

Uplink is the namespace's egress (its end of the veth), downlink the host end's egress, so
everything the namespace sends or receives through the host is shaped.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.netns import TestNet

__all__ = ["block", "link_bytes", "lose", "shape", "unblock", "unlose", "unshape"]

LATENCY = "100ms"
"""tbf queue: what a mobile network buffers; longer only delays the drops TCP reacts to."""


def _tbf(prefix: tuple[str, ...], dev: str, kbit: int) -> None:
    # At least one full frame; otherwise ~20 ms at the rate, so bursts stay short.
    burst = max(4096, kbit * 1000 // 8 // 50)
    subprocess.run(
        [*prefix, "tc", "qdisc", "replace", "dev", dev, "root", "tbf",
         "rate", f"{kbit}kbit", "burst", str(burst), "latency", LATENCY],
        check=True, capture_output=True, text=True, timeout=10,
    )  # fmt: skip


def shape(net: TestNet, *, up_kbit: int | None = None, down_kbit: int | None = None) -> None:
    """Limit what `net` can send (up) and receive (down), in kbit/s. None leaves it alone."""
    if up_kbit is not None:
        _tbf(("ip", "netns", "exec", net.name), net.ns_if, up_kbit)
    if down_kbit is not None:
        _tbf((), net.host_if, down_kbit)


def unshape(net: TestNet) -> None:
    """Remove the shaping from both ends. Idempotent."""
    for prefix, dev in ((("ip", "netns", "exec", net.name), net.ns_if), ((), net.host_if)):
        subprocess.run(
            [*prefix, "tc", "qdisc", "del", "dev", dev, "root"],
            check=False, capture_output=True, timeout=10,
        )  # fmt: skip


def link_bytes(net: TestNet) -> int:
    """Bytes through the namespace's veth so far, both directions, on the wire (L2)."""
    stats = Path(f"/sys/class/net/{net.host_if}/statistics")
    return int((stats / "rx_bytes").read_text()) + int((stats / "tx_bytes").read_text())


_BLOCK_PREF = "50"


def block(net: TestNet, *, udp: bool = True, tcp_ports: tuple[int, ...] = ()) -> None:
    """Make the namespace's network refuse UDP (a firewall that blocks it) and, optionally,
    TCP to some ports: policy-routing `prohibit` rules, so sends fail at once."""
    ns = ("ip", "-n", net.name, "rule", "add", "pref", _BLOCK_PREF)
    if udp:
        subprocess.run([*ns, "ipproto", "udp", "prohibit"], check=True, timeout=10)
    for port in tcp_ports:
        subprocess.run(
            [*ns, "ipproto", "tcp", "dport", str(port), "prohibit"], check=True, timeout=10
        )


def unblock(net: TestNet) -> None:
    """Remove every rule `block` added. Idempotent."""
    while (
        subprocess.run(
            ["ip", "-n", net.name, "rule", "del", "pref", _BLOCK_PREF],
            check=False, capture_output=True, timeout=10,
        ).returncode
        == 0
    ):  # fmt: skip
        pass


_LOSS_TABLE = "evr_loss"


def lose(net: TestNet, *, percent: int) -> None:
    """Drop `percent` % of the UDP datagrams `net` receives, at random (nftables numgen on the
    namespace's input hook: on an output hook the sender would get EPERM, not a silent loss)."""
    if not 0 < percent < 100:
        raise ValueError(f"loss must be between 1 and 99 %, not {percent}")
    script = (
        f"table inet {_LOSS_TABLE} {{\n chain input {{\n  type filter hook input priority 0;\n"
        f"  meta l4proto udp numgen random mod 100 < {percent} drop\n }}\n}}\n"
    )
    unlose(net)
    subprocess.run(
        ["ip", "netns", "exec", net.name, "nft", "-f", "-"],
        input=script, check=True, capture_output=True, text=True, timeout=10,
    )  # fmt: skip


def unlose(net: TestNet) -> None:
    """Remove the loss rule. Idempotent."""
    subprocess.run(
        ["ip", "netns", "exec", net.name, "nft", "delete", "table", "inet", _LOSS_TABLE],
        check=False, capture_output=True, timeout=10,
    )  # fmt: skip
