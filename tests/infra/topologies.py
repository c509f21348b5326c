"""The two topologies' bring-ups on booted test hosts: boot, converge, converge again.

Each runs in the background (tests/infra/headstart.py) at niceness `BACKGROUND_NICE`, and
records every play it ran; the deploy modules assert on those records.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.infra.deploy import REPO, PlayResult, make_inventory, new_secrets, run_playbook
from tests.infra.hosts import TestHost, boot_host
from tests.infra.mesh import route_mesh
from tests.infra.rootfs import debian_mirror, ensure_rootfs
from tests.infra.tls import TestTls, make_tls

__all__ = [
    "BACKGROUND_NICE",
    "SPLIT_GROUPS",
    "BringUp",
    "Controller",
    "Converged",
    "all_in_one",
    "make_controller",
    "split",
]

# The bring-ups' niceness: the lowest CPU priority there is, so that the rest of the suite
# running meanwhile keeps the CPU when it wants it.
BACKGROUND_NICE = 19


@dataclass(frozen=True)
class Controller:
    """What the operator's machine holds: the rootfs for test hosts, an SSH key, the mirror."""

    rootfs: Path
    ssh_key: Path
    mirror: str
    workdir: Path
    apt_cache: Path


@dataclass(frozen=True)
class Converged:
    """A topology's hosts after the background work: converged, and converged again."""

    hosts: dict[str, TestHost]
    inventory: Path
    tls: TestTls
    vault: dict[str, str]
    first_run: PlayResult
    second_run: PlayResult
    # The all-in-one's `--check --diff` on the converged hosts (None for the split).
    check_run: PlayResult | None


def make_controller(workdir: Path) -> Controller:
    if os.geteuid() != 0:
        raise PermissionError("the deploy tests boot systemd-nspawn hosts and need root")
    rootfs = ensure_rootfs(REPO / ".tools")
    # The wheel, the runtime lock and its wheelhouse, as an operator builds them.
    subprocess.run(
        [sys.executable, str(REPO / "infra/ansible/build_artifacts.py"), "--offline"],
        check=True,
        timeout=600,
    )
    key = workdir / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30
    )
    # Debian packages fetched for the test hosts, kept like the rootfs (a fresh machine fills it).
    apt_cache = REPO / ".tools" / "apt-cache"
    apt_cache.mkdir(exist_ok=True)
    return Controller(
        rootfs=rootfs, ssh_key=key, mirror=debian_mirror(), workdir=workdir, apt_cache=apt_cache
    )


# A topology's bring-up: (controller, workdir, the hosts it boots, filled as they boot).
BringUp = Callable[[Controller, Path, dict[str, TestHost]], Converged]


def _boot(controller: Controller, name: str, workdir: Path) -> TestHost:
    return boot_host(
        name,
        rootfs=controller.rootfs,
        workdir=workdir,
        mirror=controller.mirror,
        ssh_public_key=controller.ssh_key.with_suffix(".pub").read_text(),
        apt_cache=controller.apt_cache,
        nice=BACKGROUND_NICE,
    )


ALL_IN_ONE_GROUPS = (
    "postgres",
    "redis",
    "minio",
    "sfu",
    "control_plane",
    "recorder",
    "load_balancer",
    "monitoring",
)


def all_in_one_vars(address: str, controller_address: str) -> dict[str, object]:
    """Host vars of the test's all-in-one host, on top of the example inventory."""
    return {
        "ansible_host": address,
        # SSH (internal) from the controller too: this machine, at the veth's far end.
        "common_firewall_internal_sources": [address, controller_address],
        "livekit_node_ip": address,
        # /proc/sys is read-only in a container: the sysctl.d file is written, not applied.
        "livekit_sysctl_apply": False,
        "evr_domain": "evr.test",
        "evr_app_public_base_url": f"https://{address}",
        "evr_app_livekit_client_url": f"ws://{address}:7880",
    }


def all_in_one(controller: Controller, workdir: Path, hosts: dict[str, TestHost]) -> Converged:
    """One host with every group: converge, converge again, then `--check --diff`."""
    host = hosts["evr-aio"] = _boot(controller, "evr-aio", workdir / "host")
    tls = make_tls(workdir / "tls", names=["evr.test", "turn.evr.test"], addresses=[host.address])
    vault = new_secrets()
    inventory = make_inventory(
        workdir / "inventory",
        topology="all-in-one",
        groups={
            g: {host.name: all_in_one_vars(host.address, host.net.host_ip)}
            for g in ALL_IN_ONE_GROUPS
        },
        vault=vault,
        tls_dir=tls.ca.parent,
        ssh_key=controller.ssh_key,
    )
    first = run_playbook(inventory, nice=BACKGROUND_NICE)
    second = check = first
    if first.returncode == 0:
        second = run_playbook(inventory, nice=BACKGROUND_NICE)
        check = run_playbook(inventory, "site.yml", "--check", "--diff", nice=BACKGROUND_NICE)
    return Converged(dict(hosts), inventory, tls, vault, first, second, check)


# Inventory group -> its hosts, as in inventories/split/hosts.yml (Redis beside SFU 1).
SPLIT_GROUPS: dict[str, tuple[str, ...]] = {
    "sfu": ("evr-sfu-1", "evr-sfu-2"),
    "redis": ("evr-sfu-1",),
    "control_plane": ("evr-cp-1", "evr-cp-2"),
    "recorder": ("evr-rec-1", "evr-rec-2"),
    "postgres": ("evr-db",),
    "minio": ("evr-minio",),
    "load_balancer": ("evr-lb",),
    "monitoring": ("evr-mon",),
}
SPLIT_NAMES = tuple(dict.fromkeys(name for names in SPLIT_GROUPS.values() for name in names))


def split_vars(name: str, hosts: dict[str, TestHost]) -> dict[str, Any]:
    host = hosts[name]
    everyone = [h.address for h in hosts.values()]
    lb, sfu = hosts["evr-lb"].address, hosts["evr-sfu-1"].address
    values: dict[str, Any] = {
        "ansible_host": host.address,
        # The inventory's hosts, and the controller (this machine, at the veth's far end).
        "common_firewall_internal_sources": [*everyone, host.net.host_ip],
        "evr_domain": "evr.test",
        "evr_app_public_base_url": f"https://{lb}",
        "evr_app_livekit_client_url": f"ws://{sfu}:7880",
    }
    if name in SPLIT_GROUPS["sfu"]:
        values["livekit_node_ip"] = host.address
        values["livekit_sysctl_apply"] = False  # /proc/sys is read-only in a container
    return values


def split(controller: Controller, workdir: Path, hosts: dict[str, TestHost]) -> Converged:
    """Ten hosts routed to each other (and to nothing else): converge, converge again."""
    for name in SPLIT_NAMES:
        hosts[name] = _boot(controller, name, workdir / name)
    route_mesh([h.net for h in hosts.values()])
    tls = make_tls(
        workdir / "tls", names=["evr.test", "turn.evr.test"], addresses=[hosts["evr-lb"].address]
    )
    vault = new_secrets()
    inventory = make_inventory(
        workdir / "inventory",
        topology="split",
        groups={
            group: {name: split_vars(name, hosts) for name in names}
            for group, names in SPLIT_GROUPS.items()
        },
        vault=vault,
        tls_dir=tls.ca.parent,
        ssh_key=controller.ssh_key,
    )
    forks = ("--forks", str(len(SPLIT_NAMES)))
    first = run_playbook(inventory, "site.yml", *forks, timeout=3600, nice=BACKGROUND_NICE)
    second = first
    if first.returncode == 0:
        second = run_playbook(inventory, "site.yml", *forks, nice=BACKGROUND_NICE)
    return Converged(dict(hosts), inventory, tls, vault, first, second, None)
