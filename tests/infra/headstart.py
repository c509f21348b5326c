"""The deploy modules' converges, run in the background while the rest of the suite runs.

Converging test hosts is many minutes of CPU-bound work (dpkg, venvs, Ansible itself) on two
cores, and the rest of the suite spends much of its time waiting on real-time media. So when
the session starts, each selected topology is brought up in a thread: the hosts boot, and
site.yml converges them, then converges them again (and, for the all-in-one, runs with
`--check --diff`). The containers and Ansible run at niceness 19, so they take only what the
other tests leave. The deploy modules run last (tests/conftest.py orders them so); their
fixtures wait for the result, give the hosts normal priority back, and the tests assert on
the recorded runs and go on from there.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import Future
from pathlib import Path

import pytest

from tests.infra import topologies
from tests.infra.deploy import REPO, stop_playbooks
from tests.infra.hosts import TestHost, destroy_host, sweep_stale_hosts
from tests.infra.mesh import unroute_mesh
from tests.infra.topologies import BringUp, Controller, Converged

__all__ = ["MODULES", "HeadStart", "close_all", "get", "start_for"]

# Test module -> the topology it brings up.
MODULES: dict[str, BringUp] = {
    "tests/infra/test_all_in_one.py": topologies.all_in_one,
    "tests/infra/test_split.py": topologies.split,
}
# The most disk each topology's hosts take at once (their overlays' upper layers, after the
# upgrade's second release), with a margin: 2.2 and 5.3 GB measured in a full run.
DISK_GB = {"all_in_one": 4, "split": 9}
# Left free for the rest of the suite (recordings, databases, browsers) while the hosts grow.
SUITE_DISK_GB = 4


class HeadStart:
    """One topology brought up in a thread. The module fixture takes `result()` and calls
    `close()` when it is done; the session calls `close()` again in case it never did."""

    def __init__(
        self,
        name: str,
        controller: Future[Controller],
        bring_up: BringUp,
        workdir: Path,
        refusal: str | None = None,
    ):
        self.name = name
        self._workdir = workdir
        self._hosts: dict[str, TestHost] = {}
        self._future: Future[Converged] = Future()
        self._closed = False
        self._lock = threading.Lock()

        def work() -> None:
            if refusal is not None:
                self._future.set_exception(RuntimeError(refusal))
                return
            try:
                self._future.set_result(bring_up(controller.result(), workdir, self._hosts))
            except BaseException as exc:  # handed to whoever waits for the result
                self._future.set_exception(exc)

        self._thread = threading.Thread(target=work, name=f"headstart-{name}", daemon=True)
        self._thread.start()

    def result(self) -> Converged:
        """Wait for the bring-up; its hosts now run at normal priority. Re-raises its error."""
        converged = self._future.result()
        for host in converged.hosts.values():
            host.set_nice(0)
        return converged

    def close(self) -> None:
        """Stop any play still running, then halt and remove every host booted. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._thread.is_alive():
            stop_playbooks(self._workdir)
            self._thread.join()
        hosts = list(self._hosts.values())
        with contextlib.suppress(Exception):
            hosts = list(self._future.result(timeout=0).hosts.values())
        _destroy_all(hosts)


def _destroy_all(hosts: Iterable[TestHost]) -> None:
    hosts = list(hosts)
    if not hosts:
        return
    # The split's routes between hosts (a no-op where none were made), then every host at once:
    # one after another, each halt waiting for its own systemd, took 160 s.
    unroute_mesh([h.net for h in hosts])
    threads = [threading.Thread(target=destroy_host, args=(h,)) for h in hosts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


_STARTED: dict[str, HeadStart] = {}


def start_for(items: Iterable[pytest.Item], tmp_path_factory: pytest.TempPathFactory) -> None:
    """Start the bring-up of every topology whose module has a selected test."""
    paths = {Path(str(item.path)) for item in items}
    wanted = {p.relative_to(REPO).as_posix() for p in paths if p.is_relative_to(REPO)} & set(
        MODULES
    )
    if not wanted or _STARTED:
        return
    names = {path: Path(path).stem.removeprefix("test_") for path in wanted}
    basetemp = tmp_path_factory.getbasetemp()
    for workdir in sweep_stale_hosts(basetemp.parent, basetemp):
        print(f"deleted test host {workdir}, left mounted by a killed run", file=sys.stderr)
    # Hosts that would fill the disk mid-run fail every other test with them: when it is
    # short, their own tests fail with the reason instead, and nothing is booted.
    short = _disk_short(basetemp, sorted(names.values()))
    built: Future[Controller] = Future()
    workdir = tmp_path_factory.mktemp("controller")

    def build() -> None:
        try:
            built.set_result(topologies.make_controller(workdir))
        except BaseException as exc:
            built.set_exception(exc)

    if short is None:
        threading.Thread(target=build, name="headstart-controller", daemon=True).start()
    for path in sorted(wanted):
        name = names[path]
        _STARTED[name] = HeadStart(
            name, built, MODULES[path], tmp_path_factory.mktemp(name), refusal=short
        )


def _disk_short(where: Path, names: list[str]) -> str | None:
    """Why the disk under `where` cannot hold these topologies' hosts, or None if it can."""
    needed = sum(DISK_GB[name] for name in names) + SUITE_DISK_GB
    free = shutil.disk_usage(where).free / 1e9
    if free >= needed:
        return None
    return (
        f"not enough disk for the {' and '.join(names)} test hosts: {free:.1f} GB free under "
        f"{where}, {needed} GB needed ({', '.join(f'{n} {DISK_GB[n]} GB' for n in names)}, "
        f"the rest of the suite {SUITE_DISK_GB} GB); free some and run again"
    )


def get(name: str) -> HeadStart:
    try:
        return _STARTED[name]
    except KeyError:
        raise RuntimeError(f"the {name} topology was not started at the session's start") from None


def close_all() -> None:
    for started in _STARTED.values():
        started.close()
