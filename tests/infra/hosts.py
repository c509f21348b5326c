"""Debian 12 test hosts: systemd-nspawn containers, each booted in its own network namespace.

Each host is an overlay over the cached rootfs (boots in about a second), reached by Ansible
over SSH at its veth address, with apt going through an `AptProxy` on the host end of its
veth. The container keeps the namespace across reboots, so a reboot is a real systemd boot
with the same address. Recipe and pitfalls: the project's ansible-testing notes.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.infra.aptproxy import AptProxy
from tests.support.netns import TestNet, create_testnet, destroy_testnet

__all__ = ["LAYERS", "TestHost", "boot_host", "destroy_host", "sweep_stale_hosts"]

_CGROUP_ROOTS = (Path("/sys/fs/cgroup/systemd"), Path("/sys/fs/cgroup/unified"))
BOOT_TIMEOUT = 60.0
# pytest's numbered run directories (pytest-of-<user>/pytest-<n>), the only ones swept.
_NUMBERED_RUN = re.compile(r"pytest-\d+")
# The overlay's directories under a host's workdir; the last is the mounted root.
LAYERS = ("upper", "work", "root")


@dataclass(kw_only=True)
class TestHost:
    """One running container. `address` is where SSH (and every service) answers."""

    __test__ = False

    name: str
    net: TestNet
    root: Path
    workdir: Path
    proxy: AptProxy
    process: subprocess.Popen[bytes] | None = None
    # The niceness the container boots with; every process in it inherits it (see set_nice).
    nice: int = 0
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.workdir / "console.log"

    @property
    def address(self) -> str:
        return self.net.ns_ip

    @property
    def unique_name(self) -> str:
        """This run's name for the container (its network namespace's): its machine name and
        cgroup, so two test runs' hosts of the same inventory name never share them."""
        return self.net.name

    def pid1(self) -> int:
        """The container's init, as a PID in this machine's namespace."""
        assert self.process is not None
        deadline = time.monotonic() + BOOT_TIMEOUT
        while time.monotonic() < deadline:
            for task in Path(f"/proc/{self.process.pid}/task").glob("*/children"):
                children = task.read_text().split()
                if children:
                    return int(children[0])
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name}: systemd-nspawn exited; see {self.log}")
            time.sleep(0.1)
        raise TimeoutError(f"{self.name}: no init process")

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a command inside the container (all its namespaces)."""
        return subprocess.run(
            ["nsenter", "-t", str(self.pid1()), "-a", *argv],
            check=check,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start(self) -> None:
        """Boot the container and wait until systemd says it is up."""
        cgroup = self.unique_name
        for root in _CGROUP_ROOTS:
            (root / cgroup).mkdir(exist_ok=True)
        # Its own cgroup on both hierarchies, or two containers collide at the root's
        # /payload and /supervisor (this machine's hybrid layout).
        script = (
            f"for r in {' '.join(str(r) for r in _CGROUP_ROOTS)}; do "
            f'echo $$ > "$r/{cgroup}/cgroup.procs"; done; exec "$@"'
        )
        argv = [
            "sh",
            "-c",
            script,
            "nspawn",
            # Inherited by everything in the container, systemd and its services included.
            "nice",
            "-n",
            str(self.nice),
            "systemd-nspawn",
            "-D",
            str(self.root),
            "-M",
            self.unique_name,
            f"--hostname={self.name}",
            "-b",
            "--register=no",
            "--keep-unit",
            "--console=read-only",
            f"--network-namespace-path=/run/netns/{self.net.name}",
            # The namespace is the container's alone: let it manage its own firewall.
            "--capability=CAP_NET_ADMIN",
        ]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + BOOT_TIMEOUT
        state = ""
        while time.monotonic() < deadline:
            with contextlib.suppress(subprocess.SubprocessError, RuntimeError):
                state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
                if state in {"running", "degraded"}:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"{self.name} did not boot (state {state!r}); see {self.log}")

    def set_nice(self, nice: int) -> None:
        """Give every thread in the container `nice` (systemd inside included, so services it
        starts later get it too), and boot with it after a reboot."""
        self.nice = nice
        for tasks in (_CGROUP_ROOTS[0] / self.unique_name).rglob("tasks"):
            for tid in tasks.read_text().split():
                with contextlib.suppress(ProcessLookupError):
                    os.setpriority(os.PRIO_PROCESS, int(tid), nice)

    def stop(self) -> None:
        """Halt cleanly (SIGTERM to nspawn); SIGKILL only if it does not within 30 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def reboot(self) -> None:
        """`systemctl reboot` inside; nspawn exits when the container asks to reboot (it is
        not supervised here), so it is started again on the same disk and namespace."""
        assert self.process is not None
        self.run("systemctl", "reboot", check=False)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.stop()
        self.start()


def boot_host(
    name: str,
    *,
    rootfs: Path,
    workdir: Path,
    mirror: str,
    ssh_public_key: str,
    apt_cache: Path | None = None,
    nice: int = 0,
) -> TestHost:
    """Create the namespace, the overlay and the apt proxy (keeping .debs in `apt_cache`),
    seed SSH and apt, and boot with `nice` (TestHost.set_nice changes it later)."""
    net = create_testnet(name)
    workdir.mkdir(parents=True, exist_ok=True)
    layers = {part: workdir / part for part in LAYERS}
    for path in layers.values():
        path.mkdir(exist_ok=True)
    proxy: AptProxy | None = None
    try:
        subprocess.run(
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={rootfs},upperdir={layers['upper']},workdir={layers['work']}",
                str(layers["root"]),
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )
        proxy = AptProxy(net.host_ip, mirror, apt_cache)
        host = TestHost(
            name=name, net=net, root=layers["root"], workdir=workdir, proxy=proxy, nice=nice
        )
        _seed(host, ssh_public_key)
        host.start()
    except BaseException:
        if proxy is not None:
            proxy.close()
        _unmount(layers["root"])
        _remove_layers(workdir)
        destroy_testnet(net)
        raise
    return host


def destroy_host(host: TestHost) -> None:
    """Halt the container, then remove its overlay (its layers' files too), namespace and
    cgroups. Idempotent. The console log stays beside them in the workdir."""
    host.stop()
    host.proxy.close()
    _unmount(host.root)
    _remove_layers(host.workdir)
    destroy_testnet(host.net)
    for root in _CGROUP_ROOTS:
        _remove_cgroup(root / host.unique_name)


def _seed(host: TestHost, ssh_public_key: str) -> None:
    root = host.root
    ssh = root / "root/.ssh"
    ssh.mkdir(mode=0o700, exist_ok=True)
    (ssh / "authorized_keys").write_text(ssh_public_key)
    (ssh / "authorized_keys").chmod(0o600)
    (root / "etc/hostname").write_text(f"{host.name}\n")
    (root / "etc/hosts").write_text(f"127.0.0.1 localhost\n{host.address} {host.name}\n")
    (root / "etc/apt/apt.conf.d/01evr-test-proxy").write_text(
        f'Acquire::http::Proxy "http://{host.net.host_ip}:{host.proxy.port}/";\n'
    )
    # No DNS inside: apt resolves nothing itself (the proxy does), and nothing else may.
    (root / "etc/resolv.conf").unlink(missing_ok=True)
    (root / "etc/resolv.conf").write_text("")


def _unmount(path: Path) -> None:
    if os.path.ismount(path):
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True, timeout=30)


def sweep_stale_hosts(runs: Path, current: Path) -> list[Path]:
    """Unmount and delete the test hosts' overlays that earlier, killed runs left under
    `runs` (pytest's directory of numbered runs; `current` is this run's). A run is dead when
    its pytest lock is gone or names a process that no longer exists: a killed session (a CI
    timeout, a stopped session) never destroys its hosts, and each holds 0.1-2.2 GB."""
    swept = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _source, target, fstype, *_ = line.split()
        root = Path(target.replace("\\040", " "))
        if fstype != "overlay" or not root.is_relative_to(runs) or root.name != LAYERS[2]:
            continue
        run = runs / root.relative_to(runs).parts[0]
        if run == current or not _NUMBERED_RUN.fullmatch(run.name) or _alive(run):
            continue
        _unmount(root)
        _remove_layers(root.parent)
        swept.append(root.parent)
    return swept


def _alive(run: Path) -> bool:
    """Whether the pytest session that made `run` is still running (its lock names it)."""
    try:
        pid = int((run / ".lock").read_text().strip())
    except (OSError, ValueError):
        return False
    return Path(f"/proc/{pid}").exists()


def _remove_layers(workdir: Path) -> None:
    """Delete the overlay's directories: a converged host's upper layer is 0.1-2.2 GB, and
    pytest keeps its last three runs' temporary directories, so a machine that runs the suite
    again and again (as CI does, on the same disk) otherwise fills up. Never while mounted."""
    if os.path.ismount(workdir / LAYERS[2]):
        return
    for part in LAYERS:
        shutil.rmtree(workdir / part, ignore_errors=True)


def _remove_cgroup(path: Path) -> None:
    if not path.is_dir():
        return
    for child in sorted(path.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if child.is_dir():
            with contextlib.suppress(OSError):
                child.rmdir()
    with contextlib.suppress(OSError):
        path.rmdir()
