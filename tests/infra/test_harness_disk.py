"""The deploy harness's use of the disk: it refuses to boot hosts the disk cannot hold, and a
destroyed host's overlay layers are deleted, not left behind for later runs to trip over."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import Future
from pathlib import Path

import pytest

from tests.infra import headstart, hosts
from tests.infra.topologies import Controller, Converged


def test_a_disk_too_small_for_the_hosts_refuses_them_and_says_how_much_is_needed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    free_gb = shutil.disk_usage(tmp_path).free / 1e9
    monkeypatch.setitem(headstart.DISK_GB, "split", int(free_gb) + 1)

    reason = headstart._disk_short(tmp_path, ["all_in_one", "split"])

    assert reason is not None
    assert "not enough disk for the all_in_one and split test hosts" in reason
    # The free space itself moves while the suite runs: its form, not its digits.
    assert re.search(rf"\d+\.\d GB free under {re.escape(str(tmp_path))}, ", reason)
    needed = headstart.DISK_GB["all_in_one"] + int(free_gb) + 1 + headstart.SUITE_DISK_GB
    assert f"{needed} GB needed" in reason


def test_a_disk_with_room_for_the_hosts_lets_them_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(headstart.DISK_GB, "split", 0)
    monkeypatch.setattr(headstart, "SUITE_DISK_GB", 0)

    assert headstart._disk_short(tmp_path, ["split"]) is None


def test_a_refused_topology_fails_its_tests_with_the_reason_and_runs_nothing(
    tmp_path: Path,
) -> None:
    ran: list[str] = []

    def bring_up(
        controller: Controller, workdir: Path, booted: dict[str, hosts.TestHost]
    ) -> Converged:
        ran.append("bring-up")
        raise AssertionError("a refused topology must not be brought up")

    started = headstart.HeadStart(
        "split", Future(), bring_up, tmp_path, refusal="not enough disk for the split"
    )

    with pytest.raises(RuntimeError, match="not enough disk for the split"):
        started.result()
    started.close()
    assert ran == []


def _mounted_host(workdir: Path, lower: Path) -> Path:
    """An overlay laid out as a test host's in `workdir`, a file installed in its upper layer;
    returns `workdir`."""
    layers = {part: workdir / part for part in hosts.LAYERS}
    for path in layers.values():
        path.mkdir(parents=True)
    options = f"lowerdir={lower},upperdir={layers['upper']},workdir={layers['work']}"
    subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o", options, str(layers["root"])], check=True
    )
    (layers["root"] / "installed").write_text("a package's file, in the upper layer")
    return workdir


def test_a_layer_still_mounted_is_kept_and_an_unmounted_one_is_deleted(tmp_path: Path) -> None:
    lower = tmp_path / "lower"
    lower.mkdir()
    (lower / "from-the-rootfs").write_text("read-only layer")
    workdir = _mounted_host(tmp_path / "host", lower)
    try:
        hosts._remove_layers(workdir)
        assert (workdir / "upper" / "installed").exists()
        assert (workdir / "root" / "from-the-rootfs").exists()
    finally:
        hosts._unmount(workdir / "root")

    hosts._remove_layers(workdir)

    assert [p.name for p in workdir.iterdir()] == []
    assert (lower / "from-the-rootfs").read_text() == "read-only layer"


def test_hosts_left_mounted_by_a_killed_run_are_swept_and_a_live_runs_are_not(
    tmp_path: Path,
) -> None:
    lower = tmp_path / "lower"
    lower.mkdir()
    runs = tmp_path / "pytest-of-root"
    dead_pid = subprocess.Popen(["true"])  # a pid that no longer runs
    dead_pid.wait()
    killed, live, current = runs / "pytest-7", runs / "pytest-8", runs / "pytest-9"
    for run in (killed, live, current):
        run.mkdir(parents=True)
    (killed / ".lock").write_text(str(dead_pid.pid))
    (live / ".lock").write_text(str(os.getpid()))
    (current / ".lock").write_text(str(os.getpid()))
    hosts_by_run = {
        run: _mounted_host(run / "split0" / "evr-db", lower) for run in (killed, live, current)
    }
    (current / ".lock").unlink()  # the current run is never swept, whatever its lock says
    try:
        swept = hosts.sweep_stale_hosts(runs, current)

        assert swept == [hosts_by_run[killed]]
        assert [p.name for p in hosts_by_run[killed].iterdir()] == []
        for run in (live, current):
            assert os.path.ismount(hosts_by_run[run] / "root")
            assert (hosts_by_run[run] / "upper" / "installed").exists()
    finally:
        for workdir in hosts_by_run.values():
            hosts._unmount(workdir / "root")
