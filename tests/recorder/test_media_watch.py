"""The recorder's media watch (recorder/room.py): a gap whenever media stops reaching the
recording, even when the SDK never says it was disconnected.

A unit test of the room session with hand-written fakes for the tracks (their receivers' RTP
packet counters), the writer thread and the job store; the real thing, a LiveKit node killed
under a recorded statement, is tests/recorder/test_sfu_node_loss.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

from core.utc import parse_utc
from recorder.metrics import RecorderMetrics
from recorder.room import RoomSession

OFFICER, VICTIM = "officer:local:1001", "victim:visit-1"
POLL, STALL = 0.02, 0.1


@dataclass
class FakeTrack:
    """A subscribed track whose receiver has counted `packets` (None: get_stats fails)."""

    sid: str
    packets: int | None = 0
    muted: bool = False

    async def get_stats(self) -> list[Any]:
        if self.packets is None:
            raise Exception("track ended")  # noqa: TRY002 (the SDK raises bare Exceptions)
        received = SimpleNamespace(packets_received=self.packets)
        stat = SimpleNamespace(inbound_rtp=SimpleNamespace(received=received))
        stat.WhichOneof = lambda _name: "inbound_rtp"
        return [stat]


@dataclass
class FakeThread:
    calls: list[tuple[str, Any]] = field(default_factory=list)

    def pause(self) -> None:
        self.calls.append(("pause", None))

    def roll(self, slots: list[str], started_at: datetime) -> None:
        self.calls.append(("roll", (slots, started_at)))


@dataclass
class FakeJobStore:
    gaps: list[dict[str, str]] = field(default_factory=list)

    async def segments(self, _recording_id: str) -> list[dict[str, Any]]:
        return [{"seg_index": 1, "name": "segment-00001.mp4"}]

    async def add_gap(self, _recording_id: str, gap: dict[str, str]) -> None:
        self.gaps.append(gap)


def _session(
    store: FakeJobStore, thread: FakeThread, tracks: list[tuple[str, FakeTrack]]
) -> RoomSession:
    session = RoomSession(
        recording_id="rec-1",
        visit_id="visit-1",
        job_store=cast(Any, store),
        metrics=RecorderMetrics(),
        spans=cast(Any, None),
        log=cast(Any, lambda _level, _message, **_extra: None),
        stop=lambda _reason: True,
        stopping=lambda: False,
        media_poll=POLL,
        stall_after=STALL,
    )
    session.thread = cast(Any, thread)
    for identity, track in tracks:
        session._live[track.sid] = (identity, cast(Any, track))
    return session


async def _until(condition: Any, timeout: float = 5.0) -> None:
    """Wait for `condition()`: a loaded machine may delay a poll."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(POLL / 2)


async def _flow(tracks: list[FakeTrack], seconds: float) -> None:
    """Packets arrive on every track for `seconds`."""
    end = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < end:
        for track in tracks:
            assert track.packets is not None
            track.packets += 5
        await asyncio.sleep(POLL / 4)


async def test_media_that_stops_pauses_the_writer_and_the_gap_covers_it() -> None:
    store, thread = FakeJobStore(), FakeThread()
    audio, video = FakeTrack("TR_a"), FakeTrack("TR_v")
    session = _session(store, thread, [(OFFICER, audio), (VICTIM, video)])
    watch = asyncio.ensure_future(session._watch_media())
    try:
        await _flow([audio, video], 0.2)
        assert session.paused is None  # flowing: nothing to do
        stopped_at = datetime.now(UTC)
        await _until(lambda: session.paused is not None)  # no packet on any track
        assert session.paused is not None
        since, why = session.paused
        assert since <= stopped_at  # the gap starts before the last packet may have come
        assert (stopped_at - since).total_seconds() < 1.0  # a poll or two, on a busy machine
        assert "no media packets" in why
        assert thread.calls == [("pause", None)]  # the segment ends; nothing written now

        flowing = asyncio.ensure_future(_flow([video], 10))  # one track flows again
        await _until(lambda: session.paused is None)  # recording goes on
        flowing.cancel()
        kind, (slots, resumed_at) = thread.calls[1]
        assert kind == "roll"
        assert slots == [OFFICER, VICTIM]  # the new segment keeps both tiles
        await asyncio.sleep(0)
        (gap,) = store.gaps
        assert gap["after_segment"] == "segment-00001.mp4"
        assert parse_utc(gap["from"]) == since
        assert parse_utc(gap["to"]) == resumed_at  # where the new segment starts
        assert "resumed in a new segment" in gap["reason"]
    finally:
        watch.cancel()


async def test_no_pause_before_media_first_flowed_or_while_a_receiver_does_not_answer() -> None:
    store, thread = FakeJobStore(), FakeThread()
    audio, video = FakeTrack("TR_a"), FakeTrack("TR_v")
    session = _session(store, thread, [(OFFICER, audio), (VICTIM, video)])
    watch = asyncio.ensure_future(session._watch_media())
    try:
        await asyncio.sleep(STALL + 5 * POLL)  # joined, nothing has flowed yet: a slow start
        assert session.paused is None
        await _flow([audio, video], 0.1)
        video.packets = None  # its stats fail: no proof that media stopped
        await asyncio.sleep(STALL + 5 * POLL)
        assert session.paused is None
        assert thread.calls == []
        assert store.gaps == []
    finally:
        watch.cancel()


async def test_a_muted_track_is_no_stall_and_a_stop_while_paused_closes_the_gap() -> None:
    store, thread = FakeJobStore(), FakeThread()
    audio = FakeTrack("TR_a")
    session = _session(store, thread, [(OFFICER, audio)])
    watch = asyncio.ensure_future(session._watch_media())
    try:
        await _flow([audio], 0.1)
        audio.muted = True  # muted on purpose: silence, not a failure
        await asyncio.sleep(STALL + 5 * POLL)
        assert session.paused is None
        audio.muted = False
        await _until(lambda: session.paused is not None)  # unmuted and still nothing: stopped
    finally:
        watch.cancel()
    await session.end_pause()  # the officer stops the statement meanwhile
    (gap,) = store.gaps
    assert "until the statement was stopped" in gap["reason"]
    assert parse_utc(gap["from"]) < parse_utc(gap["to"])
    assert session.paused is None


@dataclass
class FakePublication:
    sid: str
    subscribed: bool
    asked: list[bool] = field(default_factory=list)

    def set_subscribed(self, subscribed: bool) -> None:
        self.asked.append(subscribed)


async def test_a_track_left_unsubscribed_is_asked_for_again() -> None:
    store, thread = FakeJobStore(), FakeThread()
    session = _session(store, thread, [])
    session.resubscribe_after = 0.1
    stuck = FakePublication("TR_officer_audio", subscribed=False)
    fine = FakePublication("TR_officer_video", subscribed=True)
    officer = SimpleNamespace(
        identity=OFFICER, track_publications={stuck.sid: stuck, fine.sid: fine}
    )
    session.room = cast(Any, SimpleNamespace(remote_participants={OFFICER: officer}))
    watch = asyncio.ensure_future(session._watch_media())
    try:
        await _until(lambda: stuck.asked == [True])
        assert fine.asked == []
        stuck.subscribed = True  # the SDK got it this time: no more asking
        await asyncio.sleep(0.3)
        assert stuck.asked == [True]
    finally:
        watch.cancel()
