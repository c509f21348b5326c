"""`evr up` on SQLite: the control plane and a separate recorder process write to one file at
once. No request answers 500 (or 503) for a locked database and no write is lost."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import func, insert, select
from sqlalchemy.exc import OperationalError

from control_plane.keys import ENGINE
from control_plane.middleware import error_middleware
from core import schema
from core.recording_status import RecordingStatus
from tests.support.netns import create_testnet, destroy_testnet
from tests.support.recorder import REPO_ROOT
from tests.support.stack import Api, Stack, start_stack, stop_stack

WORKER = "rec-sqlite-writer"
GAPS = 60
VISITS = 8

# The recorder's own database code (recorder.job_store), in its own process: heartbeats on
# every recording while it appends gaps to one, each a short write transaction, the gap a
# read-then-write of the row.
_RECORDER = """
import asyncio, sys
from core import db
from recorder.job_store import JobStore

async def main(url: str, gap_to: str, others: list[str], gaps: int) -> None:
    engine = db.create_engine(url)
    store = JobStore(engine, worker_id=sys.argv[5], stale_after=30.0, retry_backoff=1.0)
    async def beat() -> None:
        for _ in range(gaps):
            for rid in others:
                await store.heartbeat(rid, 0.0, None, None)
    async def add() -> None:
        for i in range(gaps):
            await store.add_gap(gap_to, {"from": str(i), "to": str(i), "reason": "test"})
    try:
        await asyncio.gather(beat(), add())
    finally:
        await engine.dispose()

asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4])))
"""


@pytest.fixture
async def sqlite_stack(tmp_path: Path) -> AsyncIterator[Stack]:
    net = create_testnet("sqlite-writers")  # a fresh namespace: every SFU port is free
    try:
        stack = await start_stack(
            net=net,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'evr.sqlite3'}",
            workdir=tmp_path / "sfu",
            http_port=7880,
        )
        try:
            yield stack
        finally:
            await stop_stack(stack)
    finally:
        destroy_testnet(net)


async def _recording(stack: Stack, visit_id: str) -> str:
    """A recording this test's recorder holds, as the recorder's claim leaves it."""
    rid, now = str(uuid.uuid4()), datetime.now(UTC)
    async with stack.app[ENGINE].begin() as conn:
        await conn.execute(
            insert(schema.recordings).values(
                id=rid,
                visit_id=visit_id,
                status=RecordingStatus.RECORDING.value,
                requested_by="officer:1001",
                requested_at=now,
                claimed_by=WORKER,
                claimed_at=now,
                heartbeat_at=now,
                start_timeout=4.0,
                stale_after=30.0,
                attempts=1,
                participants=[],
                gaps=[],
            )
        )
    return rid


async def test_control_plane_and_recorder_write_one_sqlite_file_at_once(
    sqlite_stack: Stack, http: aiohttp.ClientSession
) -> None:
    api = Api(http, sqlite_stack)
    gap_visit = (await api.new_visit())["id"]
    gap_rec = await _recording(sqlite_stack, gap_visit)
    stoppable = [(await api.new_visit())["id"] for _ in range(VISITS)]
    recs = [await _recording(sqlite_stack, vid) for vid in stoppable]

    recorder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _RECORDER,
        sqlite_stack.settings.database_url,
        gap_rec,
        ",".join(recs),
        str(GAPS),
        WORKER,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    statuses: list[tuple[str, int]] = []

    async def officer() -> None:
        # Each a write transaction on the control plane: new visits, eligibility answers,
        # and the recording stop that once answered 500 "database is locked".
        for vid in stoppable:
            visit = await api.new_visit()
            for item in ("risk_assessment_clear", "adult_or_guardian"):
                status, _ = await api.call(
                    "PUT",
                    f"/api/v1/visits/{visit['id']}/eligibility/{item}",
                    who="alice",
                    json={"value": True},
                )
                statuses.append(("eligibility", status))
            status, body = await api.call(
                "POST", f"/api/v1/visits/{vid}/recording/stop", who="alice"
            )
            statuses.append(("stop", status))
            assert status == 202, body

    await asyncio.gather(officer(), officer_reads(api, gap_visit, statuses))
    out, _ = await asyncio.wait_for(recorder.communicate(), timeout=120)
    assert recorder.returncode == 0, out.decode()
    assert b"database is locked" not in out
    assert all(status in (200, 202) for _, status in statuses), statuses

    r = schema.recordings
    async with sqlite_stack.app[ENGINE].connect() as conn:
        gaps = (await conn.execute(select(r.c.gaps).where(r.c.id == gap_rec))).scalar_one()
        stopped = await conn.scalar(
            select(func.count()).where(
                r.c.id.in_(recs), r.c.status == RecordingStatus.STOPPING.value
            )
        )
        visits = await conn.scalar(select(func.count()).select_from(schema.visits))
    assert [g["from"] for g in gaps] == [str(i) for i in range(GAPS)]  # none lost
    assert stopped == VISITS
    assert visits == 2 * VISITS + 1


async def officer_reads(api: Api, visit_id: str, statuses: list[tuple[str, int]]) -> None:
    """The console polling the recording's state meanwhile (an audited read, so a write)."""
    for _ in range(VISITS * 2):
        status, _ = await api.call("GET", f"/api/v1/visits/{visit_id}/recording", who="sarge")
        statuses.append(("state", status))


async def test_a_write_lock_never_granted_is_503_not_500(http: aiohttp.ClientSession) -> None:
    """Past the busy timeout (a process stuck holding the write lock) the caller is told to
    retry: 503 with Retry-After, never a 500."""

    async def locked(_: web.Request) -> web.Response:
        raise OperationalError("UPDATE visits", {}, sqlite3.OperationalError("database is locked"))

    app = web.Application(middlewares=[error_middleware])
    app.router.add_post("/locked", locked)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        async with http.post(f"http://127.0.0.1:{port}/locked") as resp:
            assert resp.status == 503
            assert resp.headers["Retry-After"] == "1"
            assert (await resp.json())["error"]["code"] == "database_busy"
    finally:
        await runner.cleanup()
