"""Fencing a recorder whose claim lapsed (issue 11): once another recorder has claimed the
statement, every write the old holder makes about it is refused, by claim generation and not
only by worker id; a takeover's copy of an open segment is out of reach of the old holder's
open file; and a fenced writer thread stops without creating, finishing or reporting a
segment. Real databases, both backends; the end-to-end case (SIGSTOP of a real
recorder) is in test_pool_s3."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from core import db, schema
from core.recording_status import RecordingStatus
from evidence.hashing import hash_file
from evidence.writer import SegmentInfo, WriterConfig
from recorder.job_store import ClaimLostError, JobStore
from recorder.recovery import take_over_file
from recorder.states import SegmentState
from recorder.writer_thread import WriterThread
from tests.support.postgres import RunningPostgres, create_database

STALE = 0.3


@pytest.fixture(params=["sqlite", "postgresql"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    # A database of its own: a claim takes any claimable job, so none of another test's.
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'evr.sqlite3'}"
    else:
        pg: RunningPostgres = request.getfixturevalue("postgres")
        url = create_database(pg, f"evr_fence_{uuid.uuid4().hex[:8]}")
    engine = db.create_engine(url)
    await db.migrate(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _recording(engine: AsyncEngine) -> str:
    now = datetime.now(UTC)
    vid, rid = str(uuid.uuid4()), str(uuid.uuid4())
    async with engine.begin() as conn:
        await conn.execute(
            insert(schema.visits).values(
                id=vid, crime_reference="CR/1/26", officer_id="officer:local:1001",
                officer_collar="1001", unit="North", scheduled_at=now, contact_channel="sms",
                contact_value="+447700900000", status="live", created_at=now, updated_at=now,
            )
        )  # fmt: skip
        await conn.execute(
            insert(schema.recordings).values(
                id=rid, visit_id=vid, status=RecordingStatus.RECORDING.value,
                requested_by="officer:local:1001", requested_at=now, start_timeout=30.0,
                stale_after=STALE, attempts=0, participants=[], gaps=[],
            )
        )  # fmt: skip
    return rid


def _jobs(engine: AsyncEngine, worker: str) -> JobStore:
    return JobStore(engine, worker_id=worker, stale_after=STALE, retry_backoff=1.0)


async def _expect_fenced(jobs: JobStore, rid: str) -> None:
    now = datetime.now(UTC)
    with pytest.raises(ClaimLostError):
        await jobs.open_segment(rid, 2, "segment-00002.mp4", now)
    with pytest.raises(ClaimLostError):
        await jobs.update_segment(rid, 1, {"state": SegmentState.CLOSED.value})
    with pytest.raises(ClaimLostError):
        await jobs.add_gap(rid, {"from": "a", "to": "b", "reason": "late"})
    with pytest.raises(ClaimLostError):
        await jobs.save_participants(rid, [{"identity": "late"}])
    assert await jobs.heartbeat(rid, 0.0, None, None) is None
    assert not await jobs.finish(rid, status=RecordingStatus.FAILED, problem="x", reason=None)


async def test_writes_after_a_takeover_are_refused_by_generation(engine: AsyncEngine) -> None:
    rid = await _recording(engine)
    old = _jobs(engine, "rec-a")
    first = await old.claim(exclude=())
    assert first is not None
    assert first.generation == 1
    await old.open_segment(rid, 1, "segment-00001.mp4", datetime.now(UTC))

    await asyncio.sleep(STALE + 0.2)  # rec-a stalls past the stale limit
    new = _jobs(engine, "rec-b")
    second = await new.claim(exclude=())
    assert second is not None
    assert (second.generation, second.crashed, second.previous_holder) == (2, True, "rec-a")
    await _expect_fenced(old, rid)

    # The same worker id claiming again (a restarted rec-a) is a new generation: the stalled
    # process with the old one stays fenced although claimed_by names it again.
    await asyncio.sleep(STALE + 0.2)
    again = _jobs(engine, "rec-a")
    third = await again.claim(exclude=())
    assert third is not None
    assert third.generation == 3
    await _expect_fenced(old, rid)
    await again.update_segment(rid, 1, {"state": SegmentState.RECOVERED.value})
    assert await again.heartbeat(rid, 0.0, None, None) is not None

    # Nothing the fenced writers tried landed.
    row = await again.recording_row(rid)
    assert (row["gaps"], row["participants"], row["status"]) == ([], [], "recording")
    [segment] = await again.segments(rid)
    assert segment["state"] == SegmentState.RECOVERED.value


def test_a_taken_over_file_is_out_of_reach_of_its_old_writer(tmp_path: Path) -> None:
    path = tmp_path / "segment-00001.mp4"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    try:
        os.write(fd, b"captured before the stall")
        take_over_file(path)
        hashed = hash_file(path)
        os.write(fd, b" and written by the woken old holder")  # its descriptor still works
    finally:
        os.close(fd)
    assert path.read_bytes() == b"captured before the stall"
    assert hash_file(path).sha256 == hashed.sha256
    assert oct(path.stat().st_mode & 0o777) == oct(0o640)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def _writer(
    spool: Path, on_open: Callable[[int, str, datetime], None], closed: list[SegmentInfo]
) -> WriterThread:
    return WriterThread(
        "fence-test",
        spool=spool,
        config=WriterConfig(width=160, height=96, segment_seconds=0.4, keyframe_seconds=0.2),
        first_index=1,
        on_segment_open=on_open,
        on_segment_closed=closed.append,
    )


def test_a_writer_whose_segment_open_is_fenced_stops_without_a_file(tmp_path: Path) -> None:
    opened: list[int] = []

    def refuse(index: int, _name: str, _start: datetime) -> None:
        opened.append(index)
        raise ClaimLostError("held by another recorder now")

    closed: list[SegmentInfo] = []
    thread = _writer(tmp_path, refuse, closed)
    thread.start()
    thread.roll(["officer:local:1001"], datetime.now(UTC))
    time.sleep(0.5)
    thread.tick()  # time passes: the first segment is due
    thread.join(10)
    assert not thread.is_alive()
    assert thread.fenced.is_set()
    assert thread.fatal is None  # fenced, not failed
    assert opened == [1]
    assert list(tmp_path.iterdir()) == []  # the callback runs before the file is created
    assert closed == []


def test_a_fenced_writer_drops_its_open_segment_unfinished(tmp_path: Path) -> None:
    closed: list[SegmentInfo] = []
    thread = _writer(tmp_path, lambda *_: None, closed)
    thread.start()
    thread.roll(["officer:local:1001"], datetime.now(UTC))
    time.sleep(0.5)
    thread.tick()
    deadline = time.monotonic() + 10
    while not closed and time.monotonic() < deadline:  # one segment done, the next open
        thread.tick()
        time.sleep(0.1)
    assert closed
    thread.fence()
    thread.join(10)
    assert not thread.is_alive()
    assert thread.fatal is None
    # Nothing was closed or reported after the fence: the open segment was left as is.
    assert [c.index for c in closed] == [1]
