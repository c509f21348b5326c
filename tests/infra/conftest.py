"""Fixtures for the deploy tests: the cached rootfs, the controller's artifacts, SSH and TLS
material, and a converged all-in-one deployment on one booted Debian 12 host."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra.deploy import REPO, PlayResult, make_inventory, new_secrets, run_playbook
from tests.infra.hosts import TestHost, boot_host, destroy_host
from tests.infra.rootfs import debian_mirror, ensure_rootfs
from tests.infra.tls import TestTls, make_tls


@dataclass(frozen=True)
class Controller:
    """What the operator's machine holds: the rootfs for test hosts, an SSH key, the mirror."""

    rootfs: Path
    ssh_key: Path
    mirror: str
    workdir: Path


@dataclass(frozen=True)
class Deployment:
    host: TestHost
    inventory: Path
    tls: TestTls
    vault: dict[str, str]
    first_run: PlayResult


@pytest.fixture(scope="session")
def controller(tmp_path_factory: pytest.TempPathFactory) -> Controller:
    if os.geteuid() != 0:
        pytest.fail("the deploy tests boot systemd-nspawn hosts and need root")
    rootfs = ensure_rootfs(REPO / ".tools")
    # The wheel, the runtime lock and its wheelhouse, as an operator builds them.
    subprocess.run(
        [sys.executable, str(REPO / "infra/ansible/build_artifacts.py"), "--offline"],
        check=True,
        timeout=600,
    )
    workdir = tmp_path_factory.mktemp("controller")
    key = workdir / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True, timeout=30
    )
    return Controller(rootfs=rootfs, ssh_key=key, mirror=debian_mirror(), workdir=workdir)


def all_in_one_vars(address: str) -> dict[str, object]:
    """Host vars of the test's all-in-one host, on top of the example inventory."""
    return {
        "ansible_host": address,
        "livekit_node_ip": address,
        # /proc/sys is read-only in a container: the sysctl.d file is written, not applied.
        "livekit_sysctl_apply": False,
        "evr_domain": "evr.test",
        "evr_app_public_base_url": f"https://{address}",
        "evr_app_livekit_client_url": f"ws://{address}:7880",
    }


@pytest.fixture(scope="module")
def all_in_one(
    controller: Controller, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    workdir = tmp_path_factory.mktemp("all-in-one")
    host = boot_host(
        "evr-aio",
        rootfs=controller.rootfs,
        workdir=workdir / "host",
        mirror=controller.mirror,
        ssh_public_key=(controller.ssh_key.with_suffix(".pub")).read_text(),
    )
    try:
        tls = make_tls(
            workdir / "tls", names=["evr.test", "turn.evr.test"], addresses=[host.address]
        )
        vault = new_secrets()
        groups = (
            "postgres",
            "redis",
            "minio",
            "sfu",
            "control_plane",
            "recorder",
            "load_balancer",
            "monitoring",
        )
        inventory = make_inventory(
            workdir / "inventory",
            topology="all-in-one",
            groups={g: {host.name: all_in_one_vars(host.address)} for g in groups},
            vault=vault,
            tls_dir=tls.ca.parent,
            ssh_key=controller.ssh_key,
        )
        first = run_playbook(inventory)
        assert first.returncode == 0, first.output[-6000:]
        yield Deployment(host=host, inventory=inventory, tls=tls, vault=vault, first_run=first)
    finally:
        destroy_host(host)
