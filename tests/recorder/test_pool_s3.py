"""A recorder pool sealing into MinIO with Object Lock, on PostgreSQL behind HAProxy.

* two recorders share the jobs; `kill -9` of the one holding a statement mid-statement: the
  other takes it over within seconds and the manifest records the gap;
* the holder stopped (SIGSTOP) past the stale limit and then woken: the other took over, the
  woken one is fenced (writes nothing more, logs and counts it) and the seal verifies;
* the sealed statement is object-locked in MinIO, and the control plane views, verifies and
  exports it from there;
* MinIO down while a statement is sealed: the seal is retried, the visit shows it as not
  secured meanwhile, and once MinIO is back it is sealed with nothing lost.
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from minio import Minio

from core.recording_settings import S3Settings
from tests.recorder.statement import (
    consent_and_start,
    open_call,
    recording_of,
    wait_recording,
)
from tests.support.minio import RunningMinio, restart_minio, start_minio, stop_minio
from tests.support.netns import TestNet
from tests.support.postgres import RunningPostgres, create_database
from tests.support.recorder import (
    RunningRecorder,
    eventually,
    metric,
    scrape,
    start_recorder,
    stop_recorder,
)
from tests.support.replicas import ReplicaSet, as_stack, start_replicas, stop_replicas
from tests.support.stack import Api

SFU_PORT = 18030
MINIO_PORT = 19010
TAKEOVER_WITHIN = 15.0
"""Seconds for a surviving recorder to hold a killed one's statement again: the stale
limit (3 s here) plus a poll, a join and a first heartbeat, with room for a loaded machine."""
WHY = {"X-Justification": "recorder pool test"}


@pytest.fixture(scope="module")
def minio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("minio")


@pytest.fixture(scope="module")
def minio(testnet: TestNet, minio_dir: Path) -> Iterator[list[RunningMinio]]:
    """A list so that a test can put the restarted server in place of the first."""
    servers = [start_minio(testnet, minio_dir, port=MINIO_PORT)]
    try:
        yield servers
    finally:
        stop_minio(servers[-1])


@pytest.fixture(scope="module")
async def pool(
    testnet: TestNet,
    postgres: RunningPostgres,
    minio: list[RunningMinio],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[ReplicaSet]:
    s3 = S3Settings(
        endpoint=minio[0].endpoint,
        bucket="evr-pool",
        access_key=minio[0].access_key,
        secret_key=minio[0].secret_key,
        secure=False,
        min_retention_days=1,
    )
    rs = await start_replicas(
        net=testnet,
        database_url=create_database(postgres, f"evr_pool_{uuid.uuid4().hex[:8]}"),
        workdir=tmp_path_factory.mktemp("pool"),
        sfu_port=SFU_PORT,
        count=1,
        s3=s3,
    )
    try:
        yield rs
    finally:
        stop_replicas(rs)


@pytest.fixture
async def recorders(pool: ReplicaSet, tmp_path: Path) -> AsyncIterator[list[RunningRecorder]]:
    started = [
        await asyncio.to_thread(
            start_recorder, as_stack(pool), tmp_path, name=name, segment_seconds=3.0
        )
        for name in ("rec-a", "rec-b")
    ]
    try:
        yield started
    finally:
        for rec in started:
            stop_recorder(rec, kill=True)


def _bucket(minio: RunningMinio) -> Minio:
    return Minio(
        minio.endpoint, access_key=minio.access_key, secret_key=minio.secret_key, secure=False
    )


async def _holder_two_segments_in(
    api: Api, vid: str, recorders: list[RunningRecorder]
) -> tuple[RunningRecorder, RunningRecorder]:
    """The recorder holding the visit's statement and the other one, once the statement is
    secured and two segments in."""
    rec = await wait_recording(api, vid, status="recording", secured=True)
    holder = next(r for r in recorders if r.name == rec["recorder"])
    other = next(r for r in recorders if r is not holder)
    await eventually(lambda: _segments(api, vid, at_least=2), timeout=20, interval=0.5)
    return holder, other


async def test_kill_9_of_the_holder_the_other_recorder_continues_and_minio_holds_it_locked(
    pool: ReplicaSet, minio: list[RunningMinio], recorders: list[RunningRecorder]
) -> None:
    async with aiohttp.ClientSession() as http:
        api = Api(http, as_stack(pool))
        call = await open_call(api)
        try:
            await consent_and_start(api, call)
            vid = call.visit_id
            # Two segments in, kill -9 the holder mid-statement.
            holder, other = await _holder_two_segments_in(api, vid, recorders)
            killed = time.monotonic()
            stop_recorder(holder, kill=True)

            async def taken_over() -> dict[str, Any] | None:
                r = await recording_of(api, vid)
                ok = r["recorder"] == other.name and r["secured"] and r["status"] == "recording"
                return r if ok else None

            await eventually(taken_over, timeout=TAKEOVER_WITHIN)
            print(f"takeover after kill -9: {time.monotonic() - killed:.1f} s")
            await asyncio.sleep(2.0)
            await api.ok("POST", f"/api/v1/visits/{vid}/recording/stop", who="alice", expect=202)
            sealed = await wait_recording(api, vid, status="sealed", secured=True, timeout=60)
        finally:
            await call.close()
        eid = sealed["evidence_id"]

        # The control plane reads it from MinIO: manifest with the gap, custody, verify+export.
        viewed = await api.ok("GET", f"/api/v1/evidence/{eid}", who="alice", headers=WHY)
        manifest = viewed["manifest"]
        [gap] = manifest["gaps"]
        assert holder.name in gap["reason"], gap
        names = [s["name"] for s in manifest["segments"]]
        assert names[-1] > gap["after_segment"]  # the statement continued in a new segment
        events = [e["event"] for e in viewed["custody"]]
        assert events[:2] == ["created", "sealed"], events
        export = {"justification": "disclosure to the CPS", "recipient": "CPS Wessex"}
        done = await api.ok(
            "POST", f"/api/v1/evidence/{eid}/export", who="sarge", json=export, expect=201
        )
        assert "masters/" + names[0] in done["files"]

    # Every Master is in the bucket under Object Lock, and cannot be deleted.
    client = _bucket(minio[-1])
    for name in names:
        key = f"evidence/{eid}/masters/{name}"
        lock = client.get_object_retention("evr-pool", key)
        assert lock is not None
        assert lock.mode == "COMPLIANCE"


async def _segments(api: Api, vid: str, *, at_least: int) -> bool:
    return int((await recording_of(api, vid))["segments"]) >= at_least


async def test_minio_down_while_sealing_is_retried_and_not_secured_until_sealed(
    pool: ReplicaSet,
    minio: list[RunningMinio],
    minio_dir: Path,
    testnet: TestNet,
    recorders: list[RunningRecorder],
) -> None:
    async with aiohttp.ClientSession() as http:
        api = Api(http, as_stack(pool))
        call = await open_call(api)
        try:
            await consent_and_start(api, call)
            vid = call.visit_id
            rec = await wait_recording(api, vid, status="recording", secured=True)
            holder = next(r for r in recorders if r.name == rec["recorder"])
            await asyncio.sleep(4.0)
            stop_minio(minio[-1])
            await api.ok("POST", f"/api/v1/visits/{vid}/recording/stop", who="alice", expect=202)

            async def waiting() -> dict[str, Any] | None:
                r = await recording_of(api, vid)
                unreachable = r["problem"] and "evidence store is unreachable" in r["problem"]
                return r if unreachable else None

            # The client's own retries take about 6 s before the first attempt gives up.
            pending = await eventually(waiting, timeout=40)
            assert pending["status"] == "sealing"
            assert pending["secured"] is False
            text = await scrape(http, holder)
            assert (metric(text, "evr_recordings_failed_total", reason="seal_failed") or 0) >= 1
            assert (metric(text, "evr_recordings_not_secured") or 0) >= 1
            # Still unsealed a few seconds on: it waits, it does not fail.
            await asyncio.sleep(3.0)
            still = await recording_of(api, vid)
            assert still["status"] == "sealing"
            assert still["secured"] is False

            minio.append(await asyncio.to_thread(restart_minio, minio[-1], testnet, minio_dir))
            sealed = await wait_recording(api, vid, status="sealed", secured=True, timeout=90)
        finally:
            await call.close()
        assert sealed["problem"] is None
        viewed = await api.ok(
            "GET", f"/api/v1/evidence/{sealed['evidence_id']}", who="alice", headers=WHY
        )
        # Nothing lost: every segment recorded is in the sealed manifest.
        assert len(viewed["manifest"]["segments"]) == sealed["segments"] >= 1
        export = {"justification": "disclosure to the CPS", "recipient": "CPS Wessex"}
        await api.ok(
            "POST",
            f"/api/v1/evidence/{sealed['evidence_id']}/export",
            who="sarge",
            json=export,
            expect=201,
        )


async def test_a_stalled_holder_that_wakes_is_fenced_and_the_seal_verifies(
    pool: ReplicaSet, recorders: list[RunningRecorder]
) -> None:
    async with aiohttp.ClientSession() as http:
        api = Api(http, as_stack(pool))
        call = await open_call(api)
        try:
            await consent_and_start(api, call)
            vid = call.visit_id
            holder, other = await _holder_two_segments_in(api, vid, recorders)
            # Alive but stalled (as if starved) past the stale limit, mid-segment.
            holder.process.send_signal(signal.SIGSTOP)
            try:
                # Until the other has recovered the open segment and is recording itself.
                async def taken_over() -> bool:
                    return bool(other.logged("recorder joined the room", vid))

                await eventually(taken_over, timeout=TAKEOVER_WITHIN)
            finally:
                holder.process.send_signal(signal.SIGCONT)

            # Woken, its writer has seconds of media queued (a tick jumps past the segment's
            # end): it must notice it was fenced and write nothing more about the statement.
            async def fenced() -> bool:
                return (metric(await scrape(http, holder), "evr_recorder_fenced_total") or 0) >= 1

            await eventually(fenced, timeout=20)
            await asyncio.sleep(2.0)
            still = await recording_of(api, vid)
            assert (still["recorder"], still["status"]) == (other.name, "recording"), still
            await api.ok("POST", f"/api/v1/visits/{vid}/recording/stop", who="alice", expect=202)
            sealed = await wait_recording(api, vid, status="sealed", secured=True, timeout=60)
        finally:
            await call.close()
        eid = sealed["evidence_id"]
        viewed = await api.ok("GET", f"/api/v1/evidence/{eid}", who="alice", headers=WHY)
        manifest = viewed["manifest"]
        [gap] = manifest["gaps"]
        assert holder.name in gap["reason"], gap
        # The segment open at the stall is sealed as the new holder hashed it at recovery:
        # nothing the woken recorder wrote or said afterwards changed it.
        [recovered] = [s for s in manifest["segments"] if s["hashed"] == "recovery"]
        hashed_at_takeover = [
            line["sha256"]
            for line in other.log_lines()
            if line.get("msg", "").startswith("recovered a segment") and line.get("visit_id") == vid
        ]
        assert hashed_at_takeover == [recovered["sha256"]], manifest
        # Export verifies the stored item first (signature, every Master re-hashed against
        # the manifest, custody) and refuses with an error if anything does not match.
        export = {"justification": "disclosure to the CPS", "recipient": "CPS Wessex"}
        await api.ok("POST", f"/api/v1/evidence/{eid}/export", who="sarge", json=export, expect=201)
    fence_lines = [
        line
        for line in holder.log_lines()
        if line.get("msg", "").startswith("fenced") and line.get("visit_id") == vid
    ]
    assert fence_lines, holder.log_path.read_text()[-3000:]
    assert fence_lines[0]["level"] == "error"
