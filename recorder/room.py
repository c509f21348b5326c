"""The recorder inside one room: who is there, which tracks flow, media into the writer thread.

Room events arrive on the event loop at any time, even while the join is still under way
(before the writer thread exists); media that arrives with no writer yet is not recorded.
A new participant starts a new segment with one more slot.

Nobody is recorded without consent (issue 12): officers consent by taking part (the one who
starts records it), everyone else needs a consent record for the visit. The tracks of someone
who joins after recording started are held back, not read, until their consent is recorded;
the consents are re-read every ``consent_poll`` seconds while anyone is waiting. Each
participant's ``recorded_from`` says from when they are in the recording.

When no media reaches the recording any more, the writer is paused: its segment ends there,
and once media flows again recording goes on in a new segment and the interval is written
down as a gap, from the last instant packets were seen arriving. Media stops when the
recorder's own connection to the room fails (the SDK says it is reconnecting), when every
recorded track is lost, or when no RTP packet reaches any recorded, unmuted track for
``stall_after`` seconds: the receivers' counters are read every ``media_poll`` seconds,
because decoded audio never stops (the receiver conceals losses with generated sound) and
because the SDK noticed the loss of the node hosting the room only 9 s after it here, then got
back in by itself. Without this a lost node left placeholder frames where the statement had
been and no gap in the manifest.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from livekit import rtc

from core.domain import TokenRole
from core.livekit_nodes import NodeList, signalling_url
from core.tasks import stop_task
from core.telemetry import RecordingSpans
from core.tokens import role_of_identity
from core.utc import utc_iso
from evidence.writer import Pcm, Pixels
from recorder.job_store import ClaimLostError, JobStore
from recorder.media import read_audio, read_video, request_tile_layer
from recorder.metrics import RecorderMetrics
from recorder.recovery import JobLog
from recorder.states import ProblemReason, StopReason
from recorder.writer_thread import WriterThread

_MAX_PARTICIPANTS = 4
DROP_LOG_EVERY = 10.0  # seconds between "dropped video frames" log lines of one statement
_NOBODY = "(nobody yet)"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(kw_only=True)
class RoomSession:
    """Joins one room hidden and feeds what everyone publishes to the statement's writer.

    ``stop(reason)`` asks the statement to stop (True if it was not stopping already);
    ``stopping()`` says whether it is.
    """

    recording_id: str
    visit_id: str
    job_store: JobStore
    metrics: RecorderMetrics
    spans: RecordingSpans
    log: JobLog
    stop: Callable[[StopReason], bool]
    stopping: Callable[[], bool]
    participants: dict[str, dict[str, str]] = field(default_factory=dict)
    room: rtc.Room | None = None
    thread: WriterThread | None = None
    lost_tracks: set[tuple[str, str]] = field(default_factory=set)
    first_frame_at: datetime | None = None
    consent_poll: float = 1.0
    consented: set[str] = field(default_factory=set)
    held: dict[str, list[rtc.Track]] = field(default_factory=dict)
    """Tracks of participants not (yet) recorded, for want of consent."""
    paused: tuple[datetime, str] | None = None
    """Since when, and why, no media reaches the recording (a gap, written once it flows)."""
    media_poll: float = 0.5
    stall_after: float = 2.0
    _live: dict[str, tuple[str, rtc.Track]] = field(default_factory=dict)
    """Track sid -> (identity, track) of every track being recorded now."""
    _flowed_at: datetime | None = None
    """Packets arrived after this instant (the poll before the last one that saw them move);
    a gap starts here, so it covers the outage even if media stopped right after it."""
    _media_watch: asyncio.Task[None] | None = None
    resubscribe_after: float = 3.0
    _unsubscribed_since: dict[str, float] = field(default_factory=dict)
    """Publication sid -> when it was first seen published but not subscribed (loop time)."""
    _consent_watch: asyncio.Task[None] | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _gap_writes: set[asyncio.Task[None]] = field(default_factory=set)
    _slots: list[str] = field(default_factory=list)
    _participants_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    video_dropped: int = 0
    """Video frames dropped because the recorder was behind (the SDK's queue or the writer's)."""
    _drops_unlogged: int = 0
    _drops_logged_at: float | None = None  # loop time of the last "dropped" line

    async def join(self, nodes: NodeList, token: str, *, timeout: float) -> None:
        """Connect as the recorder; every participant's tracks are subscribed from then on
        (and recorded once they have consented). Through the node that last let a recorder
        in, then each other node while one cannot be reached (core.livekit_nodes), at most
        `timeout` seconds each."""
        await self.refresh_consents()
        room = rtc.Room()
        self.room = room
        room.on("track_subscribed", self._on_track_subscribed)
        room.on("track_unsubscribed", self._on_track_unsubscribed)
        room.on("disconnected", self._on_disconnected)
        room.on("reconnecting", self._on_reconnecting)
        room.on("reconnected", self._on_reconnected)
        room.on("room_metadata_changed", self._on_room_metadata)
        # The SDK's own timeout, never a cancellation: its FFI side panics if a connect
        # completes after the Python side gave up on it.
        options = rtc.RoomOptions(connect_timeout=timeout)

        async def connect(url: str) -> None:
            # A failed connect leaves the Room as it was before: the next node reuses it.
            await room.connect(signalling_url(url), token, options)

        def unreachable(url: str, exc: BaseException, last: bool) -> None:
            self.log(
                logging.WARNING,
                "could not join the room through this LiveKit node"
                + ("" if last else "; trying the next node"),
                node=url,
                error=str(exc),
            )

        await nodes.first_answer(
            connect, unreachable=(rtc.ConnectError,), on_unreachable=unreachable
        )

    def start_writer(self, thread: WriterThread) -> list[str]:
        """Start ``thread`` with a first segment for whoever is in the room; their identities."""
        assert self.room is not None
        self.thread = thread
        thread.start()
        present = (p.identity for p in self.room.remote_participants.values())
        identities = sorted(i for i in present if self.may_record(i))
        for identity in identities:
            self._note_participant(identity)
        self._roll(identities or [])
        self._media_watch = asyncio.ensure_future(self._watch_media())
        return identities

    def may_record(self, identity: str) -> bool:
        """Officers take part knowingly; anyone else only with a consent record."""
        return role_of_identity(identity) is TokenRole.OFFICER or identity in self.consented

    async def refresh_consents(self) -> None:
        """Re-read who has consented to recording on this visit."""
        rows = await self.job_store.consents(self.visit_id)
        self.consented = {str(r["identity"]) for r in rows}

    async def _watch_consents(self) -> None:
        # Only while someone waits: their tracks go into the recording once they consent.
        while self.held:
            await asyncio.sleep(self.consent_poll)
            try:
                await self.refresh_consents()
            except Exception:  # a failed poll is retried; held media stays out meanwhile
                self.log(logging.WARNING, "could not re-read recording consents")
                continue
            for identity in [i for i in self.held if self.may_record(i)]:
                tracks = self.held.pop(identity)
                self.log(logging.INFO, "participant consented: now recorded", identity=identity)
                for track in tracks:
                    self._record_track(track, identity)

    async def save_participants(self) -> None:
        # Serialised, and always the current list: a slower earlier save must not win.
        async with self._participants_lock:
            await self.job_store.save_participants(
                self.recording_id, list(self.participants.values())
            )

    async def leave(self) -> None:
        """Stop reading tracks, let the writer finish its segment, disconnect."""
        # Gaps are evidence: waited for, never cancelled.
        if self._gap_writes:
            await asyncio.gather(*list(self._gap_writes), return_exceptions=True)
        # Track readers and participant saves; one that failed must not stop the others.
        self.held.clear()
        if self._consent_watch is not None:
            await stop_task(self._consent_watch)
        if self._media_watch is not None:
            await stop_task(self._media_watch)
        await asyncio.gather(*(stop_task(t) for t in list(self._tasks)), return_exceptions=True)
        if self.thread is not None and self.thread.is_alive():
            self.thread.finish()
            await asyncio.to_thread(self.thread.join, 30)
        if self._drops_unlogged:
            self.log(
                logging.WARNING,
                "video frames dropped since the last line (audio kept, picture held)",
                dropped=self._drops_unlogged,
                dropped_total=self.video_dropped,
            )
            self._drops_unlogged = 0
        if self.room is not None:
            with contextlib.suppress(Exception):
                await self.room.disconnect()
            self.room = None

    def _roll(self, identities: list[str]) -> None:
        """Start a new writer (and so a new segment) for this set of participants; after a
        pause, write the gap down first, up to the instant the new segment starts."""
        if self.thread is None:
            return
        now = _now()
        self._resume(now)
        slots = identities[:_MAX_PARTICIPANTS] or [_NOBODY]
        self.thread.roll(slots, now)
        self._slots = slots

    # -- pauses: no media reaches the recording -------------------------------------------------

    def _pause(self, why: str) -> None:
        """End the current segment here: nothing can be recorded until media flows again. The
        gap starts when packets were last seen arriving, if that is earlier."""
        if self.paused is not None or self.thread is None or self.stopping():
            return
        now = _now()
        seen = self._flowed_at
        self.paused = (min(now, seen) if seen is not None else now, why)
        self._slots = []  # the next recorded track starts a new segment
        self.thread.pause()
        self.metrics.failed.labels(reason=ProblemReason.TRACK_LOST).inc()
        self.log(logging.ERROR, "nothing is being recorded: " + why)

    def _resume(self, now: datetime) -> None:
        if self.paused is None:
            return
        since, why = self.paused
        self.paused = None
        self.log(logging.WARNING, "media flows again: recording goes on in a new segment")
        gap = self._write_gap(since, now, f"nothing recorded: {why}; resumed in a new segment")
        task = asyncio.ensure_future(gap)
        self._gap_writes.add(task)
        task.add_done_callback(self._gap_writes.discard)

    async def _packets(self, track: rtc.Track) -> int | None:
        """RTP packets the receiver of `track` has counted (None if it cannot say)."""
        try:
            stats = await asyncio.wait_for(track.get_stats(), 2.0)
        except Exception:  # the SDK raises bare Exceptions, e.g. once the track ended
            return None
        return sum(
            s.inbound_rtp.received.packets_received
            for s in stats
            if s.WhichOneof("stats") == "inbound_rtp"
        )

    async def _watch_media(self) -> None:
        """Pause when no packet reached any recorded, unmuted track for `stall_after`
        seconds; go on in a new segment once packets arrive again (not before: a track
        subscribed again can stay without packets while the connection is rebuilt)."""
        counts: dict[str, int] = {}
        polled = _now()
        while True:
            await asyncio.sleep(self.media_poll)
            self._nudge_subscriptions()
            live = list(self._live.items())
            watched = [(sid, track) for sid, (_who, track) in live if not track.muted]
            packets = await asyncio.gather(*(self._packets(track) for _, track in watched))
            now = _now()
            now_counts = {sid: n for (sid, _), n in zip(watched, packets, strict=True)}
            moved = any(n is not None and n > counts.get(sid, 0) for sid, n in now_counts.items())
            # A receiver that did not answer (a starved process, a track ending) is no proof
            # that media stopped: no pause on a poll with an unanswered one.
            known = all(n is not None for n in now_counts.values())
            counts = {sid: n for sid, n in now_counts.items() if n is not None}
            if moved:
                self._flowed_at = polled
                if self.paused is not None and not self.stopping():
                    self._roll(sorted({identity for identity, _ in self._live.values()}))
            elif (
                watched
                and known
                and self._flowed_at is not None  # not before media first flowed
                and now - self._flowed_at >= timedelta(seconds=self.stall_after)
            ):
                self._pause(
                    f"no media packets from anyone for {self.stall_after:g} s "
                    "(a LiveKit node or the network)"
                )
            polled = now

    def _nudge_subscriptions(self) -> None:
        """Ask again for every track published but still not subscribed after
        `resubscribe_after` seconds (then every as many seconds): after the SDK reconnected
        under load the fault suite saw the recorder left without an officer's audio, the
        statement not secured for want of it."""
        if self.room is None:
            return
        now = asyncio.get_running_loop().time()
        waiting: set[str] = set()
        for participant in list(self.room.remote_participants.values()):
            for pub in list(participant.track_publications.values()):
                if pub.subscribed:
                    continue
                waiting.add(pub.sid)
                since = self._unsubscribed_since.setdefault(pub.sid, now)
                if now - since >= self.resubscribe_after:
                    self._unsubscribed_since[pub.sid] = now
                    self.log(
                        logging.WARNING,
                        "a published track is still not subscribed: asking again",
                        identity=participant.identity,
                        track=pub.sid,
                    )
                    with contextlib.suppress(Exception):  # a publication gone meanwhile
                        pub.set_subscribed(True)
        for sid in set(self._unsubscribed_since) - waiting:
            del self._unsubscribed_since[sid]

    async def end_pause(self) -> None:
        """The statement is being sealed while paused: the gap runs until now."""
        if self.paused is None:
            return
        since, why = self.paused
        self.paused = None
        await self._write_gap(
            since, _now(), f"nothing recorded: {why}; nor until the statement was stopped"
        )

    async def _write_gap(self, since: datetime, until: datetime, reason: str) -> None:
        rows = await self.job_store.segments(self.recording_id)
        if not rows:
            return  # nothing recorded before it: the statement simply starts later
        last = max(rows, key=lambda r: r["seg_index"])
        gap = {
            "after_segment": last["name"],
            "from": utc_iso(since),
            "to": utc_iso(until),
            "reason": reason,
        }
        try:
            await self.job_store.add_gap(self.recording_id, gap)
        except ClaimLostError:
            # Another recorder holds the statement now; its own run records the interval.
            self.log(logging.WARNING, "gap not written: the statement is held elsewhere now")
            return
        self.log(logging.WARNING, "gap recorded", gap=gap)

    def _note_participant(self, identity: str) -> None:
        if identity in self.participants:
            return
        role = role_of_identity(identity)
        self.participants[identity] = {
            "identity": identity,
            "role": role.value if role else "unknown",
            "device": "not reported by the SFU",
            "recorded_from": utc_iso(_now()),
        }
        self._spawn(self.save_participants())

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- room events --------------------------------------------------------------------------

    def _on_track_subscribed(
        self, track: rtc.Track, pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        request_tile_layer(pub)  # the layer the composite shows, not the top one (issue 14)
        identity = participant.identity
        if not self.may_record(identity):
            first = identity not in self.held
            self.held.setdefault(identity, []).append(track)
            if first:
                self.log(
                    logging.WARNING,
                    "participant has not consented: not recorded until they do",
                    identity=identity,
                )
            if self._consent_watch is None or self._consent_watch.done():
                self._consent_watch = asyncio.ensure_future(self._watch_consents())
            return
        self._record_track(track, identity)

    def _record_track(self, track: rtc.Track, identity: str) -> None:
        """Read ``track`` into the recording (a new participant gets a slot first)."""
        self._note_participant(identity)
        self._live[track.sid] = (identity, track)
        # While paused, the media watch starts the next segment once packets arrive.
        if self.paused is None and identity not in self._slots:
            self._roll(sorted({*self._slots, identity} - {_NOBODY}))
        kind = "video" if track.kind == rtc.TrackKind.KIND_VIDEO else "audio"
        if (identity, kind) in self.lost_tracks:
            self.lost_tracks.discard((identity, kind))
            self.log(logging.INFO, "track is back", identity=identity, kind=kind)
        if kind == "video":
            self._spawn(read_video(track, identity, self._deliver_video, self._video_dropped))
        else:
            self._spawn(read_audio(track, identity, self._deliver_audio))

    def _on_track_unsubscribed(
        self, track: rtc.Track, _pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        held = self.held.get(participant.identity)
        if held is not None:
            # Never recorded, so not lost either.
            self.held[participant.identity] = [t for t in held if t.sid != track.sid]
            if not self.held[participant.identity]:
                del self.held[participant.identity]
            return
        recorded = self._live.pop(track.sid, None) is not None
        if self.stopping():
            return
        kind = "video" if track.kind == rtc.TrackKind.KIND_VIDEO else "audio"
        self.lost_tracks.add((participant.identity, kind))
        self.metrics.failed.labels(reason=ProblemReason.TRACK_LOST).inc()
        self.log(
            logging.ERROR, "lost a track while recording", identity=participant.identity, kind=kind
        )
        if recorded and not self._live:
            self._pause("every recorded track was lost (participants left or were cut off)")

    def _on_room_metadata(self, _old: str, new: str) -> None:
        # The officer's stop reaches every participant as "recording": false in the room
        # metadata; the recording ends at that same instant, not a heartbeat later.
        try:
            recording = json.loads(new).get("recording")
        except (ValueError, AttributeError):
            return
        if recording is False and self.stop(StopReason.OFFICER) and self.thread is not None:
            self.thread.finish()

    def _on_disconnected(self, _reason: Any) -> None:
        self.stop(StopReason.DISCONNECTED)

    def _on_reconnecting(self) -> None:
        # The recorder's own connection failed (its node, or the node hosting the room, died;
        # or the network): whatever the SDK manages next, media stopped now.
        self.log(logging.WARNING, "connection to the room lost; the SDK is reconnecting")
        self._pause("the recorder lost its connection to the room (a LiveKit node or the network)")

    def _on_reconnected(self) -> None:
        # Recording goes on once packets arrive (the media watch), or tracks come back.
        self.log(logging.WARNING, "reconnected to the room")

    # -- media --------------------------------------------------------------------------------

    def _deliver_video(self, identity: str, at: float, pixels: Pixels) -> None:
        self._on_first_frame()
        if self.thread is not None and not self.thread.push_video(identity, at, pixels):
            self._video_dropped(1)

    def _video_dropped(self, frames: int) -> None:
        """Count frames dropped for want of time; say so at most every DROP_LOG_EVERY s.

        The recording stays whole (the composite holds the last picture, audio is never
        dropped) but shows less movement, so this must be seen: a metric and a log line.
        """
        self.video_dropped += frames
        self._drops_unlogged += frames
        self.metrics.video_dropped.inc(frames)
        now = asyncio.get_running_loop().time()
        last = self._drops_logged_at
        if last is not None and now - last < DROP_LOG_EVERY:
            return
        self.log(
            logging.WARNING,
            "recorder behind real time: video frames dropped (audio kept, picture held)",
            dropped=self._drops_unlogged,
            seconds=None if last is None else round(now - last, 1),
            dropped_total=self.video_dropped,
        )
        self._drops_logged_at, self._drops_unlogged = now, 0

    def _deliver_audio(self, identity: str, at: float, pcm: Pcm, rate: int) -> None:
        if self.thread is not None:
            self.thread.push_audio(identity, at, pcm, rate)

    def _on_first_frame(self) -> None:
        """The first video frame reached the writer: the statement is really being captured."""
        if self.first_frame_at is None:
            self.first_frame_at = _now()
            self.spans.first_frame("video")
            self.log(logging.INFO, "first frame recorded")
