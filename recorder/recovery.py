"""Resuming a statement an earlier run left: its open segments, and the gap before this run.

A recorder that crashed, or stalled long enough to lose its claim, leaves segments
registered as open. Each such file is first copied to a new file put in place under the
same name (:func:`take_over_file`): a stalled recorder that wakes still has the old file
open and may write on, but into a file nobody reads any more, so what is hashed here is
what is sealed. The copies are hashed now, marked as hashed at recovery (not at capture)
and checked to decode; a missing file is marked lost. The interval until this run starts
is written down as a gap, never hidden.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import av

from core.utc import utc_iso
from evidence.hashing import hash_file
from recorder.job_store import JobStore
from recorder.states import SegmentState


class JobLog(Protocol):
    """Logs one line about a job, with the job's ids added."""

    def __call__(self, level: int, message: str, **extra: Any) -> None: ...


@dataclass(frozen=True)
class Recovered:
    """What an earlier run left: the segment index to go on from and the names recovered."""

    next_index: int
    names: list[str]


def decoded_seconds(path: Path) -> float:
    """Seconds of video that decode from ``path`` (0.0 if nothing does)."""
    end = 0.0
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return 0.0
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                if frame.time is not None:
                    rate = float(stream.average_rate or 25)
                    end = max(end, frame.time + 1 / rate)
    except (av.FFmpegError, OSError, ValueError):
        return end
    return end


def take_over_file(path: Path) -> None:
    """Replace ``path`` by a copy of itself (same name, new inode; rename(2) is atomic).

    A previous holder that is only stalled keeps a descriptor on the old inode; whatever it
    writes when it wakes lands there, unlinked, and never in the file the manifest hashes.
    """
    tmp = path.with_name(f".{path.name}.takeover")
    tmp.unlink(missing_ok=True)  # left by a takeover that itself crashed part way
    with path.open("rb") as src, tmp.open("xb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
        dst.flush()
        os.fsync(dst.fileno())
    tmp.chmod(path.stat().st_mode & 0o777)
    os.replace(tmp, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def recover_segments(
    jobs: JobStore, recording_id: str, spool: Path, log: JobLog
) -> Recovered:
    """Hash and check segments a crashed run left open."""
    rows = await jobs.segments(recording_id)
    next_index = max((r["seg_index"] for r in rows), default=0) + 1
    recovered: list[str] = []
    for row in rows:
        if row["state"] != SegmentState.OPEN:
            continue
        path = spool / row["name"]
        values: dict[str, Any]
        if path.is_file():
            await asyncio.to_thread(take_over_file, path)
            digest = await asyncio.to_thread(hash_file, path)
            seconds = await asyncio.to_thread(decoded_seconds, path)
            values = {
                "state": SegmentState.RECOVERED.value,
                "sha256": digest.sha256,
                "bytes": digest.size,
                "end": row["start"] + timedelta(seconds=seconds),
            }
            recovered.append(row["name"])
            log(
                logging.WARNING,
                "recovered a segment left open by a recorder that stopped responding",
                segment=row["name"],
                decoded_seconds=round(seconds, 3),
                sha256=digest.sha256,
            )
        else:
            values = {"state": SegmentState.LOST.value, "end": row["start"]}
            log(logging.ERROR, "segment of a crashed recorder is missing", segment=row["name"])
        await jobs.update_segment(recording_id, row["seg_index"], values)
    return Recovered(next_index, recovered)


async def record_gap(
    jobs: JobStore,
    recording_id: str,
    *,
    resumed_at: datetime,
    resumed_by: str,
    previous_holder: str | None,
    recovered: list[str],
    log: JobLog,
) -> None:
    """Write down the interval between the last segment and this run (if any came before)."""
    rows = await jobs.segments(recording_id)
    if not rows:
        return
    last = max(rows, key=lambda r: r["seg_index"])
    end = max(r["end"] or r["start"] for r in rows)
    cause = (
        f"recorder {previous_holder} stopped responding (crashed or stalled)"
        if previous_holder
        else "recording was interrupted (recorder restart or lost connection)"
    )
    reason = f"{cause}; statement resumed by {resumed_by} in a new segment"
    if recovered:
        reason += f"; {', '.join(recovered)} hashed at recovery, not at capture"
    gap = {
        "after_segment": last["name"],
        "from": utc_iso(end),
        "to": utc_iso(resumed_at),
        "reason": reason,
    }
    await jobs.add_gap(recording_id, gap)
    log(logging.WARNING, "gap recorded", gap=gap)
