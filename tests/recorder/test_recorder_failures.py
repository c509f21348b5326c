"""Recorder failures are loud and never lose a statement silently.

* no recorder: the control plane itself shows the statement as not secured;
* `kill -9` mid-statement: the visit shows it within seconds, what was written decodes,
  another recorder resumes in a new segment, and the manifest records the gap;
* a full disk, and a recorder that cannot join: a metric, a JSON log line, and
  `secured: false` with a problem on the visit, within seconds.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from livekit import api as lk
from livekit import rtc

from control_plane.keys import RECORDINGS
from core.tokens import is_recorder_identity
from evidence.verify import verify_store_entry
from tests.recorder.statement import (
    consent_and_start,
    decode,
    manifest_of,
    masters,
    open_call,
    recording_of,
    trusted_of,
    wait_recording,
)
from tests.support.recorder import (
    RunningRecorder,
    eventually,
    metric,
    scrape,
    start_recorder,
    stop_recorder,
)
from tests.support.stack import Api

LOUD_WITHIN = 8.0
"""Seconds within which a failure must show on the visit (a few heartbeats)."""


@pytest.fixture
def recorders(tmp_path: Path) -> Iterator[list[RunningRecorder]]:
    started: list[RunningRecorder] = []
    try:
        yield started
    finally:
        for rec in started:
            stop_recorder(rec, kill=True)


async def _failed(session: aiohttp.ClientSession, rec: RunningRecorder, reason: str) -> float:
    return metric(await scrape(session, rec), "evr_recordings_failed_total", reason=reason) or 0.0


async def test_crash_mid_statement_resumes_in_a_new_segment_with_the_gap_recorded(
    api: Api, tmp_path: Path, recorders: list[RunningRecorder]
) -> None:
    call = await open_call(api)
    try:
        await consent_and_start(api, call)
        vid = call.visit_id
        # Nobody has claimed it: the control plane alone flips it to not secured.
        unclaimed = await wait_recording(api, vid, status="requested", secured=False)
        rec = await eventually(
            lambda: _problem_like(api, vid, "no recorder has joined"), timeout=LOUD_WITHIN
        )
        assert rec["secured"] is False

        first = start_recorder(api.stack, tmp_path, name="rec-a", segment_seconds=3.0)
        recorders.append(first)
        await wait_recording(api, vid, status="recording", secured=True)
        spool = api.stack.settings.recording.spool_dir / unclaimed["id"]
        # Wait until one segment is closed and the next is being written, then crash.
        await eventually(lambda: _segments_at_least(spool, 2), timeout=20)
        await asyncio.sleep(2.0)  # > one 1 s fragment (+ the writer's 0.25 s reorder window)
        stop_recorder(first, kill=True)
        crashed = sorted(spool.glob("segment-*.mp4"))[-1]

        # The visit shows it within seconds: the heartbeat went stale.
        rec = await eventually(
            lambda: _problem_like(api, vid, "stopped responding"), timeout=LOUD_WITHIN
        )
        assert rec["secured"] is False
        # What was written up to the crash decodes.
        partial = decode(crashed)
        assert partial.video_seconds >= 0.5, partial.video_seconds
        assert partial.audio_seconds >= 0.5, partial.audio_seconds

        second = start_recorder(api.stack, tmp_path, name="rec-b", segment_seconds=3.0)
        recorders.append(second)
        await wait_recording(api, vid, status="recording", secured=True)
        assert await _failed(api.session, second, "crashed") == 1
        await asyncio.sleep(2.0)
        await api.ok("POST", f"/api/v1/visits/{vid}/recording/stop", who="alice", expect=202)
        sealed = await wait_recording(api, vid, status="sealed", secured=True, timeout=60)
    finally:
        await call.close()

    manifest = manifest_of(api, sealed["evidence_id"])
    names = [s.name for s in manifest.segments]
    assert names == sorted(names)
    assert crashed.name in names
    assert names[-1] > crashed.name  # the statement continued in a new segment
    by_name = {s.name: s for s in manifest.segments}
    assert by_name[crashed.name].hashed == "recovery"
    assert by_name[names[0]].hashed == "capture"
    assert by_name[names[-1]].hashed == "capture"
    [gap] = manifest.gaps
    assert gap.after_segment == crashed.name
    assert "rec-a" in gap.reason
    assert "hashed at recovery" in gap.reason
    assert gap.start <= gap.end
    assert gap.end <= by_name[names[-1]].start
    for path in masters(api, sealed["evidence_id"]):
        assert decode(path).video_seconds > 0
    store = api.stack.app[RECORDINGS].store
    report = await asyncio.to_thread(
        verify_store_entry, store, sealed["evidence_id"], trusted_key_ids=trusted_of(api)
    )
    assert report.ok, report.failures


async def test_a_full_disk_is_loud(
    api: Api, tmp_path: Path, recorders: list[RunningRecorder]
) -> None:
    spool = tmp_path / "tiny-spool"
    spool.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(spool)]
    await asyncio.to_thread(subprocess.run, mount, check=True)
    try:
        # Leave 16 KiB: the first fragments of a statement fill it within a second or two.
        filler = spool / "filler"
        with filler.open("wb") as fh:
            fh.write(b"\0" * (1024 * 1024 - 16 * 1024))
        rec = start_recorder(api.stack, tmp_path, name="rec-full", spool_dir=spool)
        recorders.append(rec)
        call = await open_call(api)
        try:
            await consent_and_start(api, call)
            state = await eventually(
                lambda: _problem_like(api, call.visit_id, "disk is full"), timeout=LOUD_WITHIN + 20
            )
            assert state["secured"] is False
            # Full while writing: the statement fails; full before the first write: the job
            # is handed back to be retried. Loud either way.
            assert state["status"] in ("failed", "requested")
            assert await _failed(api.session, rec, "disk_full") >= 1
            text = await scrape(api.session, rec)
            assert (metric(text, "evr_recordings_not_secured") or 0) >= 1
            lines = [
                line
                for line in rec.log_lines()
                if line.get("reason") == "disk_full" and line["level"] == "error"
            ]
            assert lines, rec.log_path.read_text()[-2000:]
            assert lines[0]["visit_id"] == call.visit_id
        finally:
            await call.close()
            # Leave nothing for later recorders to pick up, whichever way it failed.
            await api.call(
                "POST", f"/api/v1/visits/{call.visit_id}/end", who="alice", json={"reason": "test"}
            )
    finally:
        stop_recorder(recorders.pop(), kill=True)
        await asyncio.to_thread(subprocess.run, ["umount", "-l", str(spool)], check=False)


async def test_a_recorder_that_cannot_join_is_loud(
    api: Api, tmp_path: Path, recorders: list[RunningRecorder]
) -> None:
    rec = start_recorder(api.stack, tmp_path, name="rec-nokey", bad_secret=True)
    recorders.append(rec)
    call = await open_call(api)
    try:
        await consent_and_start(api, call)
        state = await eventually(
            lambda: _problem_like(api, call.visit_id, "could not start"), timeout=LOUD_WITHIN
        )
        assert state["secured"] is False
        assert await _failed(api.session, rec, "start_failed") >= 1
        assert any(
            line.get("reason") == "start_failed" and line.get("visit_id") == call.visit_id
            for line in rec.log_lines()
        )
        # Stopping it leaves nothing claimable behind: the job ends as failed, not lost.
        await api.ok(
            "POST", f"/api/v1/visits/{call.visit_id}/recording/stop", who="alice", expect=202
        )
        final = await wait_recording(api, call.visit_id, status="failed", timeout=20)
        assert final["secured"] is False
        assert final["problem"]
    finally:
        await call.close()


async def _problem_like(api: Api, vid: str, text: str) -> dict[str, object] | None:
    rec = await recording_of(api, vid)
    problem = rec.get("problem") if rec else None
    return rec if isinstance(problem, str) and text in problem else None


async def _segments_at_least(spool: Path, count: int) -> bool:
    found = await asyncio.to_thread(lambda: list(spool.glob("segment-*.mp4")))
    return len(found) >= count


async def test_a_lost_track_is_loud_and_clears_when_it_returns(
    api: Api, tmp_path: Path, recorders: list[RunningRecorder]
) -> None:
    rec = start_recorder(api.stack, tmp_path, name="rec-tracks")
    recorders.append(rec)
    call = await open_call(api)
    try:
        await consent_and_start(api, call)
        await wait_recording(api, call.visit_id, status="recording", secured=True)
        local = call.victim.room.local_participant
        [video] = [
            p for p in local.track_publications.values() if p.kind == rtc.TrackKind.KIND_VIDEO
        ]
        await local.unpublish_track(video.sid)
        state = await eventually(
            lambda: _problem_like(api, call.visit_id, "lost a track: video of victim:"),
            timeout=LOUD_WITHIN,
        )
        assert state["secured"] is False
        assert await _failed(api.session, rec, "track_lost") >= 1
        assert any(
            line.get("msg") == "lost a track while recording" and line.get("kind") == "video"
            for line in rec.log_lines()
        )
        await call.victim.publish(audio=False)  # the camera comes back
        await wait_recording(api, call.visit_id, status="recording", secured=True)
        await api.ok(
            "POST", f"/api/v1/visits/{call.visit_id}/recording/stop", who="alice", expect=202
        )
        await wait_recording(api, call.visit_id, status="sealed", secured=True, timeout=60)
    finally:
        await call.close()


async def test_a_recorder_dropped_from_the_room_rejoins_and_records_the_gap(
    api: Api, tmp_path: Path, recorders: list[RunningRecorder]
) -> None:
    rec = start_recorder(api.stack, tmp_path, name="rec-rejoin")
    recorders.append(rec)
    call = await open_call(api)
    try:
        await consent_and_start(api, call)
        await wait_recording(api, call.visit_id, status="recording", secured=True)
        await asyncio.sleep(1.5)
        sfu = api.stack.sfu
        client = lk.LiveKitAPI(sfu.url, sfu.api_key, sfu.api_secret, session=api.session)
        room = f"evr-{call.visit_id}"
        listed = await client.room.list_participants(lk.ListParticipantsRequest(room=room))
        (recorder,) = [p.identity for p in listed.participants if is_recorder_identity(p.identity)]
        await client.room.remove_participant(
            lk.RoomParticipantIdentity(room=room, identity=recorder)
        )
        state = await eventually(
            lambda: _problem_like(api, call.visit_id, "lost its connection"), timeout=LOUD_WITHIN
        )
        assert state["secured"] is False
        await wait_recording(api, call.visit_id, status="recording", secured=True, timeout=30)
        await asyncio.sleep(1.5)
        await api.ok(
            "POST", f"/api/v1/visits/{call.visit_id}/recording/stop", who="alice", expect=202
        )
        sealed = await wait_recording(api, call.visit_id, status="sealed", secured=True, timeout=60)
    finally:
        await call.close()
    manifest = manifest_of(api, sealed["evidence_id"])
    assert len(manifest.segments) >= 2
    [gap] = manifest.gaps
    assert "interrupted" in gap.reason
    assert gap.after_segment == manifest.segments[0].name
    assert all(s.hashed == "capture" for s in manifest.segments)  # closed cleanly, not a crash


async def test_a_recorder_shut_down_mid_statement_hands_it_over_cleanly(
    api: Api, tmp_path: Path, recorders: list[RunningRecorder]
) -> None:
    first = start_recorder(api.stack, tmp_path, name="rec-old")
    recorders.append(first)
    call = await open_call(api)
    try:
        await consent_and_start(api, call)
        await wait_recording(api, call.visit_id, status="recording", secured=True)
        await asyncio.sleep(1.5)
        await asyncio.to_thread(stop_recorder, first)  # SIGTERM: a deploy, not a crash
        assert first.process.returncode == 0
        state = await eventually(
            lambda: _problem_like(api, call.visit_id, "waiting for one to resume"),
            timeout=LOUD_WITHIN,
        )
        assert state["secured"] is False
        second = start_recorder(api.stack, tmp_path, name="rec-new")
        recorders.append(second)
        await wait_recording(api, call.visit_id, status="recording", secured=True)
        assert await _failed(api.session, second, "crashed") == 0
        await asyncio.sleep(1.0)
        await api.ok(
            "POST", f"/api/v1/visits/{call.visit_id}/recording/stop", who="alice", expect=202
        )
        sealed = await wait_recording(api, call.visit_id, status="sealed", secured=True, timeout=60)
    finally:
        await call.close()
    manifest = manifest_of(api, sealed["evidence_id"])
    assert all(s.hashed == "capture" for s in manifest.segments)
    [gap] = manifest.gaps
    assert "interrupted" in gap.reason
