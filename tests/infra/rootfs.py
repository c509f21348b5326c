"""The Debian 12 root filesystem every test host boots from, built once and cached in .tools/.

debootstrap (minbase plus systemd, sshd and Python for Ansible) from the mirror this machine's
own apt sources name, so a fresh CI machine builds it in about two minutes and later runs reuse
it. The directory is only ever the read-only lower layer of each host's overlay.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

__all__ = ["debian_mirror", "ensure_rootfs"]

SUITE = "bookworm"
INCLUDE = (
    "systemd,systemd-sysv,dbus,python3,python3-apt,iproute2,openssh-server,ca-certificates,sudo"
)
_SOURCES = (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list"))


def debian_mirror() -> str:
    """The Debian archive URL (not the security one) from this machine's apt sources."""
    for path in _SOURCES:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            fields = line.split()
            candidates = fields[1:] if fields[:1] == ["URIs:"] else fields[1:2]
            if fields[:1] not in (["URIs:"], ["deb"]):
                continue
            for uri in candidates:
                if uri.startswith("http://") and "security" not in uri:
                    return uri.rstrip("/")
    raise RuntimeError("no http:// Debian mirror in this machine's apt sources")


def ensure_rootfs(tools: Path) -> Path:
    """Return `tools/rootfs-bookworm`, debootstrapping it first if it is absent.

    Built under a temporary name and renamed, under a lock, so an interrupted build or two
    concurrent test runs never leave a half-made tree behind.
    """
    target = tools / f"rootfs-{SUITE}"
    tools.mkdir(parents=True, exist_ok=True)
    with (tools / f".rootfs-{SUITE}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "usr/sbin/sshd").exists():
            return target
        partial = tools / f"rootfs-{SUITE}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                f"--include={INCLUDE}",
                SUITE,
                str(partial),
                debian_mirror(),
            ],
            check=True,
            capture_output=True,
            timeout=900,
        )
        partial.rename(target)
    return target
