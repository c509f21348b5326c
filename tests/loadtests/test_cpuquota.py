"""The capacity runner's CPU quota: the process lands in a group with the quota, and leaves
it (and the group is removed) when the block ends."""

import subprocess
from collections.abc import Iterator

import pytest

from loadtests.cpuquota import PERIOD_US, cpu_quota


@pytest.fixture
def sleeper() -> Iterator[int]:
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def _limit(group_files: dict[str, str]) -> tuple[int, int]:
    if "cpu.max" in group_files:
        quota, period = group_files["cpu.max"].split()
        return int(quota), int(period)
    return int(group_files["cpu.cfs_quota_us"]), int(group_files["cpu.cfs_period_us"])


def test_the_process_runs_under_the_quota_until_the_block_ends(sleeper: int) -> None:
    with cpu_quota(sleeper, 0.25, name="evr-test-quota") as group:
        files = {
            f.name: f.read_text().strip()
            for f in group.iterdir()
            if f.name in {"cpu.max", "cpu.cfs_quota_us", "cpu.cfs_period_us"}
        }
        assert _limit(files) == (PERIOD_US // 4, PERIOD_US)
        assert str(sleeper) in (group / "cgroup.procs").read_text().split()
    assert not group.exists()
    assert str(sleeper) in (group.parent / "cgroup.procs").read_text().split()


@pytest.mark.parametrize("cores", [0, -1, 65])
def test_a_quota_of_no_cpu_or_of_more_than_64_cores_is_refused(sleeper: int, cores: float) -> None:
    with pytest.raises(ValueError, match="cores must be"), cpu_quota(sleeper, cores):
        pass
