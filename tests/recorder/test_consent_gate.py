"""Issue 12, finding 8: someone who joins after recording started is recorded only once they
have consented, and the manifest says from when.

A unit test of the room session's gate, with hand-written fakes for the job store, the tracks
and the participants (no LiveKit here: the media path itself is covered in test_statement).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from livekit import rtc

import recorder.room as room_module
from core.utc import parse_utc
from evidence.manifest import Manifest, Participant
from recorder.room import RoomSession

VISIT = "visit-1"
VICTIM = f"victim:{VISIT}"
GUARDIAN = f"guardian:{VISIT}"
OFFICER = "officer:local:1001"


@dataclass
class FakeJobStore:
    consents_given: list[str]
    saved: list[list[dict[str, str]]] = field(default_factory=list)

    async def consents(self, visit_id: str) -> list[dict[str, Any]]:
        assert visit_id == VISIT
        return [{"identity": i} for i in self.consents_given]

    async def save_participants(self, _recording_id: str, people: list[dict[str, str]]) -> None:
        self.saved.append(people)


@dataclass
class FakeTrack:
    sid: str = "TR_audio"
    kind: rtc.TrackKind.ValueType = rtc.TrackKind.KIND_AUDIO


@dataclass
class FakeParticipant:
    identity: str


async def _until(condition: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


@pytest.fixture
def read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Identities whose tracks the session started reading into the recording."""
    identities: list[str] = []

    async def fake_read(_track: object, identity: str, *_sinks: object) -> None:
        identities.append(identity)

    monkeypatch.setattr(room_module, "read_audio", fake_read)
    monkeypatch.setattr(room_module, "read_video", fake_read)
    return identities


def _session(store: FakeJobStore, logged: list[str]) -> RoomSession:
    return RoomSession(
        recording_id="rec-1",
        visit_id=VISIT,
        job_store=cast(Any, store),
        metrics=cast(Any, None),
        spans=cast(Any, None),
        log=cast(Any, lambda _level, message, **_extra: logged.append(message)),
        stop=lambda _reason: True,
        stopping=lambda: False,
        consent_poll=0.01,
    )


@dataclass
class FakePublication:
    """An audio publication: the recorder asks no simulcast layer of it."""

    kind: rtc.TrackKind.ValueType = rtc.TrackKind.KIND_AUDIO
    simulcasted: bool = False


def _subscribe(session: RoomSession, identity: str) -> None:
    session._on_track_subscribed(
        cast(Any, FakeTrack()), cast(Any, FakePublication()), cast(Any, FakeParticipant(identity))
    )


async def test_a_late_joiner_is_held_out_until_they_consent(read: list[str]) -> None:
    store = FakeJobStore(consents_given=[VICTIM])
    logged: list[str] = []
    session = _session(store, logged)
    await session.refresh_consents()
    _subscribe(session, OFFICER)
    _subscribe(session, VICTIM)
    _subscribe(session, GUARDIAN)  # joined after recording started, no consent yet
    await asyncio.sleep(0.1)
    assert sorted(read) == [OFFICER, VICTIM]
    assert GUARDIAN not in session.participants
    assert GUARDIAN in session.held
    assert any("not recorded until they do" in m for m in logged)

    consented_at = datetime.now(UTC)
    store.consents_given.append(GUARDIAN)
    await _until(lambda: GUARDIAN in read)
    assert not session.held
    recorded_from = parse_utc(session.participants[GUARDIAN]["recorded_from"])
    assert recorded_from >= consented_at
    assert parse_utc(session.participants[VICTIM]["recorded_from"]) < consented_at
    await _until(lambda: any(GUARDIAN in {p["identity"] for p in s} for s in store.saved))
    await session.leave()


async def test_someone_who_never_consents_is_never_recorded(read: list[str]) -> None:
    store = FakeJobStore(consents_given=[VICTIM])
    session = _session(store, [])
    await session.refresh_consents()
    _subscribe(session, f"interpreter:{VISIT}")
    await asyncio.sleep(0.1)
    assert read == []
    session._on_track_unsubscribed(
        cast(Any, FakeTrack()), cast(Any, None), cast(Any, FakeParticipant(f"interpreter:{VISIT}"))
    )
    assert not session.held
    assert not session.lost_tracks  # never recorded, so not a lost track either
    await session.leave()
    assert read == []


def test_the_manifest_says_who_was_recorded_from_when() -> None:
    at = datetime(2026, 11, 29, 16, 0, 5, tzinfo=UTC)
    joined = Participant(GUARDIAN, "guardian", "Android", recorded_from=at)
    assert joined.to_json()["recorded_from"] == "2026-11-29T16:00:05.000000Z"
    # Manifests sealed before the field existed still parse.
    legacy = Participant(VICTIM, "victim", "iOS")
    assert "recorded_from" not in legacy.to_json()
    data = {
        "format": "evr-manifest/1",
        "evidence_id": "E",
        "visit_id": VISIT,
        "crime_reference": "CR",
        "officer": {"id": "o", "collar_number": "1"},
        "participants": [joined.to_json(), legacy.to_json()],
        "consents": [],
        "start": "2026-11-29T16:00:00.000000Z",
        "end": "2026-11-29T16:01:00.000000Z",
        "segments": [],
        "gaps": [],
        "recorder": {"version": "v", "host": "h", "key_id": "k"},
    }
    parsed = Manifest.from_json(data)
    assert parsed.participants == (joined, legacy)
