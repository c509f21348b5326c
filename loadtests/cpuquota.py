"""Hold a process to a fraction of one core with a CFS quota, so a benchmark can drive it to
saturation while the load generator still has CPU to spare (on a 2-core machine the Go agent
needs about as much CPU per visit as livekit-server, so pinning alone never fills the SFU's
core first).

cgroup v2 (a `cpu` controller in /sys/fs/cgroup) or v1 (/sys/fs/cgroup/cpu). The period is
10 ms rather than the kernel's 100 ms default, so a throttled SFU stalls for a few
milliseconds at a time, not for most of a video frame interval.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

PERIOD_US = 10_000
ROOT = Path("/sys/fs/cgroup")


def _hierarchy(root: Path) -> tuple[Path, bool]:
    """The cgroup directory that holds the cpu controller, and whether it is cgroup v2."""
    controllers = root / "cgroup.controllers"
    if controllers.exists() and "cpu" in controllers.read_text().split():
        return root, True
    if (root / "cpu" / "cpu.cfs_quota_us").exists():
        return root / "cpu", False
    raise RuntimeError(f"no cgroup cpu controller under {root}: cannot set a CPU quota")


@contextlib.contextmanager
def cpu_quota(pid: int, cores: float, *, name: str = "evr-capacity-sfu") -> Iterator[Path]:
    """Run `pid` (every thread, and children started later) at most `cores` of one core until
    the block ends; then move it back to the root group and remove the group."""
    if not 0 < cores <= 64:
        raise ValueError(f"cores must be in (0, 64], got {cores}")
    base, v2 = _hierarchy(ROOT)
    group = base / f"{name}-{os.getpid()}"
    group.mkdir(exist_ok=True)
    quota = max(1000, round(cores * PERIOD_US))
    if v2:
        (group / "cpu.max").write_text(f"{quota} {PERIOD_US}\n")
    else:
        (group / "cpu.cfs_period_us").write_text(f"{PERIOD_US}\n")
        (group / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (group / "cgroup.procs").write_text(f"{pid}\n")
    try:
        yield group
    finally:
        with contextlib.suppress(OSError):  # the process may have exited already
            (base / "cgroup.procs").write_text(f"{pid}\n")
        with contextlib.suppress(OSError):
            group.rmdir()


def throttled_periods(group: Path) -> int:
    """How many CFS periods the group was held back in so far (0 if unreadable)."""
    with contextlib.suppress(OSError):
        for line in (group / "cpu.stat").read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "nr_throttled":
                return int(value)
    return 0
