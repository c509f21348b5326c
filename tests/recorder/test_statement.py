"""A statement on the real SFU, recorded by the real recorder process, sealed and checked.

Officer and victim are synthetic LiveKit participants publishing a colour and a tone; the
victim also publishes a sync mark (a white flash and a click at one instant). The recorder
is `evr recorder`, run as a child process against the same database and evidence store.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import aiohttp
import pytest
from livekit import api as lk

from control_plane.keys import RECORDINGS
from core.custody import CustodyEvent
from evidence.verify import verify_store_entry
from tests.recorder.statement import (
    OFFICER_TONE,
    VICTIM_TONE,
    consent_and_start,
    decode,
    ffprobe,
    manifest_of,
    masters,
    open_call,
    recording_of,
    sleep_until,
    tone_power,
    trusted_of,
    wait_recording,
)
from tests.support.recorder import (
    RunningRecorder,
    metric,
    scrape,
    start_recorder,
    stop_recorder,
)
from tests.support.stack import Api, Stack

SPEAK_SECONDS = 4.0


@pytest.fixture(scope="module")
def recorder(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRecorder]:
    rec = start_recorder(stack, tmp_path_factory.mktemp("recorder"), name="rec-main")
    try:
        yield rec
    finally:
        stop_recorder(rec)


@dataclass
class Recorded:
    visit_id: str
    evidence_id: str
    recording_seconds: float
    marker_offset: float


RECORD_ATTEMPTS = 3
"""Statements recorded until one is clean: no gap, and the sync mark sent as planned. On this
shared 2-core machine a starved test process now and then stops its synthetic participants'
media (the recorder then pauses and records a gap, tested on purpose in
test_recorder_failures.py) or sends the mark late on one side (the participant says so:
`SyntheticParticipant.sync_mark_doubtful`). The subject here is a clean statement, and every
assertion below is unchanged."""


async def _record_once(api: Api) -> tuple[Recorded, str | None]:
    """One statement on a fresh call: (what was recorded, why it is not clean, if it is not)."""
    call = await open_call(api)
    try:
        vid = call.visit_id
        status, body = await api.call("POST", f"/api/v1/visits/{vid}/recording/start", who="alice")
        assert status == 409, body
        assert call.victim_identity in body["error"]["details"]["missing_consent"]
        state = await consent_and_start(api, call)
        assert state["recording"]["status"] == "requested"
        assert state["consents"][0]["identity"] == call.victim_identity
        rec = await wait_recording(api, vid, status="recording", secured=True, timeout=30)
        began = time.perf_counter()
        # Everyone in the room is told: the room metadata says recording is on.
        assert '"recording": true' in call.victim.room.metadata
        call.victim.marker = began + 2.0
        await sleep_until(began + SPEAK_SECONDS)
        await api.ok("POST", f"/api/v1/visits/{vid}/recording/stop", who="alice", expect=202)
        rec = await wait_recording(api, vid, status="sealed", secured=True, timeout=60)
        # Expected: from the recorder joining the room to the officer pressing stop.
        expected = datetime.fromisoformat(rec["stop_requested_at"]) - datetime.fromisoformat(
            rec["started_at"]
        )
        recorded = Recorded(vid, rec["evidence_id"], expected.total_seconds(), 2.0)
        doubt = call.victim.sync_mark_doubtful()
    finally:
        await call.close()
    gaps = manifest_of(api, recorded.evidence_id).gaps
    return recorded, (f"{len(gaps)} gap(s)" if gaps else doubt)


@pytest.fixture(scope="module")
async def recorded(
    stack: Stack, http: aiohttp.ClientSession, recorder: RunningRecorder
) -> Recorded:
    api = Api(http, stack)
    for attempt in range(1, RECORD_ATTEMPTS + 1):
        result, flaw = await _record_once(api)
        if flaw is None or attempt == RECORD_ATTEMPTS:
            break
        print(f"statement {attempt} set aside: {flaw}")  # shown with the test's output
        # A statement set aside: its visit is ended so that nothing of it is left to pick up.
        await api.ok(
            "POST", f"/api/v1/visits/{result.visit_id}/end", who="alice", json={"reason": "done"}
        )
    return result


async def test_statement_is_sealed_and_decodes_with_both_parties(
    api: Api, recorded: Recorded
) -> None:
    manifest = manifest_of(api, recorded.evidence_id)
    files = masters(api, recorded.evidence_id)
    assert [f.name for f in files] == [s.name for s in manifest.segments]
    assert all(s.hashed == "capture" for s in manifest.segments)
    total_video = total_audio = 0.0
    for path in files:
        probe = ffprobe(path)
        assert sorted(s["codec_name"] for s in probe["streams"]) == ["aac", "h264"]
        assert probe["format"]["tags"]["creation_time"].endswith("Z")
        decoded = decode(path)
        total_video += decoded.video_seconds
        total_audio += decoded.audio_seconds
        # Both parties' video: the officer's red tile on the left, the victim's blue on the right.
        mid = decoded.tiles[len(decoded.tiles) // 2]
        assert mid[0] > 120, mid
        assert mid[1] > 120, mid
        # Both parties' audio: each tone carries a clear share of the mix.
        assert tone_power(decoded.audio, decoded.sample_rate, OFFICER_TONE) > 0.1
        assert tone_power(decoded.audio, decoded.sample_rate, VICTIM_TONE) > 0.1
    span = (manifest.end - manifest.start).total_seconds()
    assert abs(total_video - span) <= 0.2
    assert abs(total_audio - span) <= 0.2
    assert abs(total_video - recorded.recording_seconds) <= 1.0, (
        total_video,
        recorded.recording_seconds,
    )


async def test_audio_and_video_in_sync_within_100ms(api: Api, recorded: Recorded) -> None:
    found = []
    for path in masters(api, recorded.evidence_id):
        decoded = decode(path)
        if decoded.flash_at is not None:
            found.append((decoded.flash_at, decoded.click_at))
    assert found, "the sync mark's flash was not found in any segment"
    flash, click = found[0]
    assert click is not None
    assert abs(click - flash) <= 0.1, (flash, click)


async def test_manifest_signature_chain_and_metadata(
    api: Api, recorded: Recorded, recorder: RunningRecorder
) -> None:
    manifest = manifest_of(api, recorded.evidence_id)
    assert manifest.visit_id == recorded.visit_id
    assert manifest.crime_reference == "CR/2026/0001"
    assert manifest.officer.collar_number == "1001"
    identities = {p.identity for p in manifest.participants}
    assert f"victim:{recorded.visit_id}" in identities
    assert any(i.startswith("officer:") for i in identities)
    assert {c.identity for c in manifest.consents} >= {f"victim:{recorded.visit_id}"}
    assert manifest.recorder.version.startswith("evr-recorder")
    assert manifest.gaps == ()
    service = api.stack.app
    store = service[RECORDINGS].store
    report = await asyncio.to_thread(
        verify_store_entry, store, recorded.evidence_id, trusted_key_ids=trusted_of(api)
    )
    assert report.ok, report.failures
    entries = await service[RECORDINGS].custody.entries_for_async(recorded.evidence_id)
    assert [e.event for e in entries][:2] == [CustodyEvent.CREATED, CustodyEvent.SEALED]
    text = await scrape(api.session, recorder)
    assert (metric(text, "evr_recordings_sealed_total") or 0) >= 1
    assert (metric(text, "evr_recordings_started_total") or 0) >= 1
    assert (metric(text, "evr_recorder_bytes_written_total") or 0) > 10_000
    for reason in ("start_failed", "track_lost", "disk_full", "crashed", "seal_failed"):
        assert metric(text, "evr_recordings_failed_total", reason=reason) is not None


async def test_room_shows_recording_off_after_stop(api: Api, recorded: Recorded) -> None:
    sfu = api.stack.sfu
    client = lk.LiveKitAPI(sfu.url, sfu.api_key, sfu.api_secret, session=api.session)
    rooms = await client.room.list_rooms(lk.ListRoomsRequest(names=[f"evr-{recorded.visit_id}"]))
    assert rooms.rooms
    assert '"recording": false' in rooms.rooms[0].metadata
    rec = await recording_of(api, recorded.visit_id)
    assert rec["secured"] is True
    assert rec["problem"] is None


async def test_ending_the_visit_stops_and_seals_the_statement(
    api: Api, recorder: RunningRecorder
) -> None:
    call = await open_call(api)
    try:
        await consent_and_start(api, call)
        await wait_recording(api, call.visit_id, status="recording", secured=True)
        await asyncio.sleep(1.0)
        await api.ok(
            "POST", f"/api/v1/visits/{call.visit_id}/end", who="alice", json={"reason": "done"}
        )
        sealed = await wait_recording(api, call.visit_id, status="sealed", timeout=60)
    finally:
        await call.close()
    assert sealed["secured"] is True
    assert manifest_of(api, sealed["evidence_id"]).segments
