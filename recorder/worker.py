"""The recorder worker: takes statement jobs from the database, records, seals.

One process (``evr recorder``) runs :class:`RecorderWorker`. It claims ``recordings`` rows
with a conditional UPDATE (under ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
several recorder hosts share the work), keeps each claim alive with a heartbeat, and for
each job runs a :class:`StatementJob`:

1. :meth:`StatementJob.recover` - segments a crashed recorder left open are hashed now
   (marked "recovery", not "capture") and checked to decode; the interval until this run
   starts is recorded as a gap;
2. :meth:`StatementJob.start` - joins the room as the hidden ``evr-recorder`` and
   subscribes to every participant's audio (48 kHz) and video;
3. :meth:`StatementJob.on_first_frame`, :meth:`StatementJob.on_segment_open` /
   :meth:`StatementJob.on_segment_closed` - media flows through one writer thread into
   :class:`evidence.writer.StatementWriter`; each segment is registered in the database
   before its file exists, and its capture hash once it is closed;
4. :meth:`StatementJob.seal` - on stop (or when the visit ends): signed manifest, Masters
   copied read-only into the evidence store, custody ``created`` and ``sealed``.

Failures are loud, within a heartbeat: ``evr_recordings_failed_total{reason}`` (a
recorder-owned registry served on its own ``/metrics`` port), a JSON log line, and a
``problem`` on the job that the visit shows as "not secured".
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import json
import logging
import os
import platform
import queue
import shutil
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from livekit import rtc
from opentelemetry import trace
from opentelemetry.trace import Tracer
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, true, update
from sqlalchemy.ext.asyncio import AsyncEngine

from core import __version__, db, schema
from core.custody import CustodyEvent
from core.custody_db import DbCustodyLog
from core.domain import TERMINAL_STATES, TokenRole, VisitState
from core.evidence_errors import EvidenceError
from core.recording_status import ACTIVE_STATUSES, RecordingStatus
from core.settings import Settings
from core.telemetry import RecordingSpans, build_tracer_provider, tracer_from
from core.tokens import RECORDER_IDENTITY, mint, role_of_identity
from core.utc import parse_utc, utc_iso
from evidence.hashing import hash_file
from evidence.keys import generate_signing_key, load_signing_key
from evidence.manifest import ConsentRecord, Gap, Officer, Participant
from evidence.seal import StatementDetails, seal_statement
from evidence.store import EvidenceStore
from evidence.stores import open_store
from evidence.writer import Pixels, SegmentInfo, StatementWriter, WriterConfig

log = logging.getLogger("evr.recorder")

RECORDER_VERSION = f"evr-recorder {__version__}"
FAILURE_REASONS = ("start_failed", "track_lost", "disk_full", "crashed", "seal_failed")
_DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_MAX_PARTICIPANTS = 4
_JOIN_TIMEOUT = 10.0
_DISCONNECTED = "disconnected from the room"
_REJOIN = "rejoin"
_MAX_CLOCK_SKEW = 2.0  # a frame timestamp further than this from now is not trusted
# Audio this much later than its sample count says is late, and late for this long means
# the stream really paused (the receiver conceals losses, so this is rare): re-anchor then.
_AUDIO_STALL = 1.0
_AUDIO_PAUSE = 5.0


def _now() -> datetime:
    return datetime.now(UTC)


def _signal_url(api_url: str) -> str:
    """The SFU's signalling URL on the internal network (the API URL, as ws/wss)."""
    return api_url.replace("http", "ws", 1)


class _ExportsCollector(Collector):
    """``evr_evidence_exports_total`` from the custody chain, read at scrape time.

    Exports happen in whichever process serves the API or the CLI; the chain in the database
    is the one count all of them share, and it only grows.
    """

    def __init__(self) -> None:
        self.value = 0

    def collect(self) -> Any:
        yield CounterMetricFamily(
            "evr_evidence_exports",
            "Evidence disclosure bundles exported (custody 'exported' entries)",
            value=self.value,
        )


class RecorderMetrics:
    """The recorder's own registry (served on its ``/metrics`` port, default 9465)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.active = Gauge("evr_recordings_active", "Statements being recorded here", registry=r)
        self.started = Counter(
            "evr_recordings_started", "Statements this recorder started recording", registry=r
        )
        self.sealed = Counter("evr_recordings_sealed", "Statements sealed", registry=r)
        self.failed = Counter(
            "evr_recordings_failed", "Recording failures by reason", ["reason"], registry=r
        )
        for reason in FAILURE_REASONS:
            self.failed.labels(reason=reason)
        self.not_secured = Gauge(
            "evr_recordings_not_secured",
            "Statements this recorder knows are not secured (problem, failure, unsealed)",
            registry=r,
        )
        self.lag = Gauge(
            "evr_recorder_lag_seconds", "How far the slowest writer is behind real time", registry=r
        )
        self.bytes_written = Counter(
            "evr_recorder_bytes_written", "Bytes of Master segments written", registry=r
        )
        self.exports = _ExportsCollector()
        r.register(self.exports)
        self.store_free = Gauge(
            "evr_evidence_store_free_bytes", "Free bytes where the store keeps Masters", registry=r
        )
        self.store_size = Gauge(
            "evr_evidence_store_size_bytes", "Size of the filesystem holding the store", registry=r
        )


def is_disk_full(exc: BaseException) -> bool:
    """True if ``exc`` (or what caused it) is a full disk or an exceeded quota/file limit."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _DISK_FULL_ERRNOS:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


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


# -- the writer thread ------------------------------------------------------------------------


@dataclass
class _Item:
    kind: str  # video | audio | roll | tick
    at: float  # time.monotonic() of capture
    identity: str = ""
    data: Any = None


class WriterThread(threading.Thread):
    """Owns the StatementWriter of one job: every push happens here, in arrival order.

    ``lag`` is how far behind real time the item being written was captured. A fatal error
    (full disk) stops the thread and is kept in ``fatal`` for the job to report.
    """

    def __init__(self, job: StatementJob) -> None:
        super().__init__(name=f"writer-{job.recording_id[:8]}", daemon=True)
        self.job = job
        self.items: queue.Queue[_Item | None] = queue.Queue()
        self.lag = 0.0
        self.fatal: tuple[str, str] | None = None
        self.bytes_before = 0
        self._writer: StatementWriter | None = None
        self._t0 = 0.0
        self._busy_since: float | None = None

    def current_lag(self) -> float:
        """Seconds between now and the capture of the oldest item not yet written."""
        with self.items.mutex:
            head = self.items.queue[0] if self.items.queue else None
        oldest = head.at if head is not None else self._busy_since
        return 0.0 if oldest is None else max(0.0, time.monotonic() - oldest)

    @property
    def bytes_written(self) -> int:
        writer = self._writer
        return self.bytes_before + (writer.bytes_written if writer is not None else 0)

    def run(self) -> None:
        try:
            while (item := self.items.get()) is not None:
                self._busy_since = item.at
                self._handle(item)
                self._busy_since = None
            self._close_writer()
        except Exception as exc:
            reason = "disk_full" if is_disk_full(exc) else "crashed"
            self.fatal = (reason, f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(Exception):
                self._abandon_writer()

    def _handle(self, item: _Item) -> None:
        if item.kind == "roll":
            self._close_writer()
            participants, started_at = item.data
            self._t0 = item.at
            self._writer = StatementWriter(
                self.job.spool,
                participants=participants,
                started_at=started_at,
                title=f"EVR statement {self.job.recording_id}",
                config=self.job.writer_config,
                first_index=self.job.next_index,
                on_segment_open=self.job.on_segment_open,
                on_segment_closed=self.job.on_segment_closed,
            )
            return
        writer = self._writer
        if writer is None:
            return
        ts = item.at - self._t0
        if ts < 0:
            return  # captured before this writer began (a participant just joined)
        if item.kind == "video":
            writer.push_video(item.identity, item.data, ts)
        elif item.kind == "audio":
            pcm, rate = item.data
            writer.push_audio(item.identity, pcm, rate, ts)
        else:
            writer.advance_to(ts)
        self.lag = max(0.0, time.monotonic() - item.at)

    def _close_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            self.bytes_before += writer.bytes_written

    def _abandon_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            self.bytes_before += writer.bytes_written


# -- one statement ----------------------------------------------------------------------------


@dataclass
class _Claim:
    row: dict[str, Any]
    crashed: bool
    previous_holder: str | None


@dataclass
class StatementJob:
    """One claimed recording, from recovery to seal (see module docstring)."""

    worker: RecorderWorker
    claim: _Claim
    spool: Path = field(init=False)
    next_index: int = 1
    room: rtc.Room | None = None
    thread: WriterThread | None = None
    participants: dict[str, dict[str, str]] = field(default_factory=dict)
    lost_tracks: set[tuple[str, str]] = field(default_factory=set)
    stop_reason: str | None = None
    first_frame_at: datetime | None = None
    run_started_at: datetime | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)
    _bytes_reported: int = 0
    _slots: list[str] = field(default_factory=list)
    _participants_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    spans: RecordingSpans = field(init=False)

    def __post_init__(self) -> None:
        self.spool = self.worker.settings.recording.spool_dir / self.recording_id
        # Lifecycle spans in the trace of the request that asked for this recording.
        self.spans = RecordingSpans(
            self.worker.tracer,
            recording_id=self.recording_id,
            visit_id=self.visit_id,
            traceparent=self.claim.row.get("traceparent"),
        )
        self.participants = {
            p["identity"]: dict(p) for p in (self.claim.row.get("participants") or [])
        }

    @property
    def recording_id(self) -> str:
        return str(self.claim.row["id"])

    @property
    def visit_id(self) -> str:
        return str(self.claim.row["visit_id"])

    @property
    def writer_config(self) -> WriterConfig:
        seconds = self.worker.settings.recording.segment_seconds
        return WriterConfig(segment_seconds=seconds, keyframe_seconds=min(1.0, seconds))

    def _log(self, level: int, message: str, **extra: Any) -> None:
        log.log(
            level,
            message,
            extra={
                "recording_id": self.recording_id,
                "visit_id": self.visit_id,
                "recorder": self.worker.worker_id,
                **extra,
            },
        )

    # -- lifecycle ---------------------------------------------------------------------------

    async def run(self) -> None:
        metrics = self.worker.metrics
        metrics.active.inc()
        try:
            await self._run()
        except Exception as exc:
            self._log(logging.ERROR, "recording job crashed", error=repr(exc))
            metrics.failed.labels(reason="crashed").inc()
            await self._set_problem(f"recorder error: {exc}", "crashed")
            self.worker.unsecured.add(self.recording_id)
        finally:
            metrics.active.dec()
            await self._leave_room()

    async def _run(self) -> None:
        if self.claim.crashed:
            self.worker.metrics.failed.labels(reason="crashed").inc()
            self.worker.unsecured.add(self.recording_id)
            self._log(
                logging.ERROR,
                "taking over a statement whose recorder stopped responding",
                previous_recorder=self.claim.previous_holder,
            )
        recovered = await self.recover()
        status = RecordingStatus(self.claim.row["status"])
        visit = await self.worker.visit(self.visit_id)
        visit_over = visit is None or VisitState(visit["status"]) in TERMINAL_STATES
        if status is RecordingStatus.REQUESTED and visit_over:
            await self._fail("the visit ended before a recorder joined", "start_failed")
            return
        if status in (RecordingStatus.REQUESTED, RecordingStatus.RECORDING) and not visit_over:
            try:
                with self.spans.start():
                    await self.start(recovered)
            except Exception as exc:
                await self.fail_start(exc)
                return
            await self.record()
            if self.thread is not None and self.thread.fatal is not None:
                await self._writer_failed(*self.thread.fatal)
                return
            if self.stop_reason == "lost claim":
                return
        await self.seal()

    async def recover(self) -> list[str]:
        """Hash and check segments a crashed run left open; return their names."""
        rows = await self.worker.segments(self.recording_id)
        self.next_index = max((r["seg_index"] for r in rows), default=0) + 1
        recovered: list[str] = []
        for row in rows:
            if row["state"] != "open":
                continue
            path = self.spool / row["name"]
            if path.is_file():
                digest = await asyncio.to_thread(hash_file, path)
                seconds = await asyncio.to_thread(decoded_seconds, path)
                values = {
                    "state": "recovered",
                    "sha256": digest.sha256,
                    "bytes": digest.size,
                    "end": row["start"] + timedelta(seconds=seconds),
                }
                recovered.append(row["name"])
                self._log(
                    logging.WARNING,
                    "recovered a segment left open by a crashed recorder",
                    segment=row["name"],
                    decoded_seconds=round(seconds, 3),
                    sha256=digest.sha256,
                )
            else:
                values = {"state": "lost", "end": row["start"]}
                self._log(
                    logging.ERROR, "segment of a crashed recorder is missing", segment=row["name"]
                )
            await self.worker.update_segment(self.recording_id, row["seg_index"], values)
        return recovered

    async def start(self, recovered: list[str]) -> None:
        """Join the room hidden, subscribe to everyone, start the writer thread."""
        settings = self.worker.settings
        visit = await self.worker.visit(self.visit_id)
        if visit is None or not visit["room_name"]:
            raise RuntimeError("the visit has no room")
        await asyncio.to_thread(self.spool.mkdir, parents=True, exist_ok=True)
        issued = mint(
            settings.livekit,
            role=TokenRole.RECORDER,
            room=visit["room_name"],
            identity=RECORDER_IDENTITY,
            display_name="Evidential recorder",
            ttl=timedelta(minutes=5),
        )
        room = rtc.Room()
        self.room = room
        room.on("track_subscribed", self._on_track_subscribed)
        room.on("track_unsubscribed", self._on_track_unsubscribed)
        room.on("disconnected", self._on_disconnected)
        room.on("room_metadata_changed", self._on_room_metadata)
        await asyncio.wait_for(
            room.connect(_signal_url(settings.livekit.api_url), issued.token, rtc.RoomOptions()),
            _JOIN_TIMEOUT,
        )
        self.run_started_at = _now()
        await self._record_gap(recovered)
        self.thread = WriterThread(self)
        self.thread.start()
        identities = sorted(p.identity for p in room.remote_participants.values())
        for identity in identities:
            self._note_participant(identity)
        self._roll(identities or [])
        first_run = self.claim.row["started_at"] is None
        await self.worker.mark_recording(self.recording_id, first_run=first_run)
        if first_run:
            self.worker.metrics.started.inc()
        self.worker.unsecured.discard(self.recording_id)
        self._log(logging.INFO, "recorder joined the room", participants=identities)

    async def _record_gap(self, recovered: list[str]) -> None:
        rows = await self.worker.segments(self.recording_id)
        if not rows or self.run_started_at is None:
            return
        last = max(rows, key=lambda r: r["seg_index"])
        end = max(r["end"] or r["start"] for r in rows)
        holder = self.claim.previous_holder
        cause = (
            f"recorder {holder} stopped (crash)"
            if holder
            else "recording was interrupted (recorder restart or lost connection)"
        )
        reason = f"{cause}; statement resumed by {self.worker.worker_id} in a new segment"
        if recovered:
            reason += f"; {', '.join(recovered)} hashed at recovery, not at capture"
        gap = {
            "after_segment": last["name"],
            "from": utc_iso(end),
            "to": utc_iso(self.run_started_at),
            "reason": reason,
        }
        await self.worker.add_gap(self.recording_id, gap)
        self._log(logging.WARNING, "gap recorded", gap=gap)

    def _roll(self, identities: list[str]) -> None:
        """Start a new writer (and so a new segment) for this set of participants."""
        if self.thread is None:
            return
        slots = identities[:_MAX_PARTICIPANTS] or ["(nobody yet)"]
        self.thread.items.put(_Item("roll", time.monotonic(), data=(slots, _now())))
        self._slots = slots

    def _note_participant(self, identity: str) -> None:
        if identity in self.participants:
            return
        role = role_of_identity(identity)
        self.participants[identity] = {
            "identity": identity,
            "role": role.value if role else "unknown",
            "device": "not reported by the SFU",
        }
        self._spawn(self._save_participants())

    async def _save_participants(self) -> None:
        # Serialised, and always the current list: a slower earlier save must not win.
        async with self._participants_lock:
            await self.worker.save_participants(self.recording_id, list(self.participants.values()))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_track_subscribed(
        self, track: rtc.Track, _pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        identity = participant.identity
        self._note_participant(identity)
        if identity not in self._slots:
            self._roll(sorted({*self._slots, identity} - {"(nobody yet)"}))
        kind = "video" if track.kind == rtc.TrackKind.KIND_VIDEO else "audio"
        if (identity, kind) in self.lost_tracks:
            self.lost_tracks.discard((identity, kind))
            self._log(logging.INFO, "track is back", identity=identity, kind=kind)
        reader = self._read_video if kind == "video" else self._read_audio
        self._spawn(reader(track, identity))

    def _on_track_unsubscribed(
        self, track: rtc.Track, _pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        if self.stop_reason is not None:
            return
        kind = "video" if track.kind == rtc.TrackKind.KIND_VIDEO else "audio"
        self.lost_tracks.add((participant.identity, kind))
        self.worker.metrics.failed.labels(reason="track_lost").inc()
        self._log(
            logging.ERROR, "lost a track while recording", identity=participant.identity, kind=kind
        )

    def _on_room_metadata(self, _old: str, new: str) -> None:
        # The officer's stop reaches every participant as "recording": false in the room
        # metadata; the recording ends at that same instant, not a heartbeat later.
        try:
            recording = json.loads(new).get("recording")
        except (ValueError, AttributeError):
            return
        if recording is False and self.stop_reason is None:
            self.stop_reason = "stopped by the officer"
            if self.thread is not None:
                self.thread.items.put(None)
            self._stopped.set()

    def _on_disconnected(self, reason: Any) -> None:
        if self.stop_reason is None:
            self.stop_reason = f"{_DISCONNECTED} ({reason})"
            self._stopped.set()

    async def _read_video(self, track: rtc.Track, identity: str) -> None:
        stream = rtc.VideoStream(track, format=rtc.VideoBufferType.I420)
        try:
            async for event in stream:
                # libwebrtc stamps each frame with its render time on the monotonic clock,
                # already delayed to match the same participant's audio: use it, so a busy
                # event loop delivering frames late does not shift them in the recording.
                at = time.monotonic()
                if abs(event.timestamp_us / 1e6 - at) < _MAX_CLOCK_SKEW:
                    at = event.timestamp_us / 1e6
                frame = event.frame
                w, h = frame.width, frame.height
                pixels: Pixels
                if w % 2 or h % 2:
                    rgb = frame.convert(rtc.VideoBufferType.RGB24)
                    pixels = np.frombuffer(rgb.data, np.uint8).reshape(h, w, 3).copy()
                else:
                    flat = np.frombuffer(frame.data, np.uint8)[: w * h * 3 // 2]
                    pixels = flat.reshape(h * 3 // 2, w).copy()
                self.on_first_frame()
                if self.thread is not None:
                    self.thread.items.put(_Item("video", at, identity, pixels))
        finally:
            await stream.aclose()

    async def _read_audio(self, track: rtc.Track, identity: str) -> None:
        stream = rtc.AudioStream(track, sample_rate=48_000, num_channels=1, frame_size_ms=20)
        # The SFU's audio is continuous (the receiver conceals losses), so samples are
        # placed by count from an anchor; arrival times only move the anchor: earlier when a
        # chunk arrives sooner than the count predicts (the first ones were delivered late),
        # later only when every chunk for a while has been late (the stream really paused).
        # A busy event loop delivering a burst late then cannot shift or smear the audio.
        anchor: float | None = None
        late: tuple[float, float] | None = None  # (since, earliest estimate) while late
        counted = 0
        try:
            async for event in stream:
                frame = event.frame
                rate = frame.sample_rate
                now = time.monotonic()
                estimate = now - (counted + frame.samples_per_channel) / rate
                if anchor is None or estimate <= anchor:
                    anchor, late = estimate, None
                elif estimate > anchor + _AUDIO_STALL:
                    late = (now, estimate) if late is None else (late[0], min(late[1], estimate))
                    if now - late[0] > _AUDIO_PAUSE:
                        anchor, late = late[1], None
                else:
                    late = None
                at = anchor + counted / rate
                counted += frame.samples_per_channel
                pcm = np.frombuffer(frame.data, np.int16).copy()
                if self.thread is not None:
                    self.thread.items.put(_Item("audio", at, identity, (pcm, rate)))
        finally:
            await stream.aclose()

    def on_first_frame(self) -> None:
        """The first video frame reached the writer: the statement is really being captured."""
        if self.first_frame_at is None:
            self.first_frame_at = _now()
            self.spans.first_frame("video")
            self._log(logging.INFO, "first frame recorded")

    # Called on the writer thread: block it until the database has the segment, so a crash
    # can never leave a segment file the database does not know about.
    def on_segment_open(self, index: int, name: str, start: datetime) -> None:
        asyncio.run_coroutine_threadsafe(
            self.worker.open_segment(self.recording_id, index, name, start), self._loop
        ).result(30)

    def on_segment_closed(self, info: SegmentInfo) -> None:
        values = {
            "state": "closed",
            "sha256": info.sha256,
            "bytes": info.bytes,
            "end": info.end,
        }
        asyncio.run_coroutine_threadsafe(
            self.worker.update_segment(self.recording_id, info.index, values), self._loop
        ).result(30)
        self.spans.segment(info.index, opened_at=info.start, sha256=info.sha256, size=info.bytes)
        log.info(
            "segment closed",
            extra={"recording_id": self.recording_id, "segment": info.name, "sha256": info.sha256},
        )

    async def record(self) -> None:
        """Heartbeat until the statement is stopped, the visit ends, or something fails."""
        settings = self.worker.settings.recording
        assert self.thread is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), settings.heartbeat_interval)
            thread = self.thread
            thread.items.put(_Item("tick", time.monotonic()))
            written = thread.bytes_written
            self.worker.metrics.bytes_written.inc(max(0, written - self._bytes_reported))
            self._bytes_reported = max(written, self._bytes_reported)
            if thread.fatal is not None or not thread.is_alive():
                return
            lag = thread.current_lag()
            problem, reason = self._problem(lag, settings.lag_alarm)
            beat = await self.worker.heartbeat(self.recording_id, lag, problem, reason)
            if beat is None:
                self.stop_reason = "lost claim"
                self._log(logging.ERROR, "another recorder took over this statement; stopping")
                thread.items.put(None)
                await asyncio.to_thread(thread.join)
                return
            status, visit_status = beat
            if problem:
                self.worker.unsecured.add(self.recording_id)
            else:
                self.worker.unsecured.discard(self.recording_id)
            if status == RecordingStatus.STOPPING.value:
                self.stop_reason = "stopped by the officer"
            elif visit_status is None or VisitState(visit_status) in TERMINAL_STATES:
                self.stop_reason = "the visit ended"
            elif self.worker.stopping.is_set():
                self.stop_reason = "recorder shutting down"
            elif self.stop_reason is not None and self.stop_reason.startswith(_DISCONNECTED):
                # The room is still there but we dropped out: hand the statement back so it
                # resumes in a new segment, with the gap recorded, instead of sealing it early
                # while everyone is still told that recording is on.
                self.stop_reason = _REJOIN
            if self.stop_reason is not None:
                self._log(logging.INFO, "statement stopping", reason=self.stop_reason)
                thread.items.put(None)
                await asyncio.to_thread(thread.join)
                return

    def _problem(self, lag: float, alarm: float) -> tuple[str | None, str | None]:
        if self.lost_tracks:
            lost = ", ".join(f"{kind} of {who}" for who, kind in sorted(self.lost_tracks))
            return f"recorder lost a track: {lost}", "track_lost"
        if lag > alarm:
            return f"recorder is {lag:.0f} s behind real time", "lag"
        return None, None

    async def fail_start(self, exc: BaseException) -> None:
        """The recorder could not join or write: release the job for a retry, loudly."""
        reason = "disk_full" if is_disk_full(exc) else "start_failed"
        cause = "evidence disk is full: " if reason == "disk_full" else ""
        message = f"{cause}recorder could not start: {type(exc).__name__}: {exc}"
        self.worker.metrics.failed.labels(reason=reason).inc()
        self.spans.failed(reason, exc)
        self.worker.unsecured.add(self.recording_id)
        # Loud at once: the main loop's periodic refresh may be seconds away.
        self.worker.metrics.not_secured.set(len(self.worker.unsecured))
        self._log(
            logging.ERROR, "recorder could not start the statement", reason=reason, error=message
        )
        await self.worker.release(self.recording_id, problem=message, reason=reason)

    async def _writer_failed(self, reason: str, message: str) -> None:
        text = (
            "evidence disk is full: recording stopped"
            if reason == "disk_full"
            else "recorder writer failed: recording stopped"
        )
        await self._fail(f"{text} ({message})", reason)

    async def _fail(self, problem: str, reason: str) -> None:
        self.worker.metrics.failed.labels(reason=reason).inc()
        self.spans.failed(reason)
        self.worker.unsecured.add(self.recording_id)
        self.worker.metrics.not_secured.set(len(self.worker.unsecured))
        self._log(logging.ERROR, "statement recording failed", reason=reason, problem=problem)
        await self.worker.finish(
            self.recording_id, status=RecordingStatus.FAILED, problem=problem, reason=reason
        )

    async def _set_problem(self, problem: str, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self.worker.heartbeat(self.recording_id, 0.0, problem, reason)

    async def _leave_room(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self.thread is not None and self.thread.is_alive():
            self.thread.items.put(None)
            await asyncio.to_thread(self.thread.join, 30)
        if self.room is not None:
            with contextlib.suppress(Exception):
                await self.room.disconnect()
            self.room = None

    async def seal(self) -> None:
        """Sign the manifest, store the Masters read-only, log custody; then drop the spool."""
        if self.stop_reason == "recorder shutting down":
            await self.worker.release(self.recording_id, problem=None, reason=None)
            self._log(logging.INFO, "released the statement for another recorder to resume")
            return
        if self.stop_reason == _REJOIN:
            self.worker.metrics.failed.labels(reason="track_lost").inc()
            problem = "recorder lost its connection to the room; rejoining"
            await self.worker.release(self.recording_id, problem=problem, reason="track_lost")
            self._log(logging.ERROR, "lost the room while recording; statement handed back")
            return
        if self.participants:
            await self._save_participants()
        await self._leave_room()
        worker = self.worker
        await worker.set_status(self.recording_id, RecordingStatus.SEALING)
        rows = [
            r
            for r in await worker.segments(self.recording_id)
            if r["state"] in ("closed", "recovered")
        ]
        if not rows:
            never_started = self.claim.row["started_at"] is None
            await self._fail(
                "stopped before a recorder joined: nothing was recorded"
                if never_started
                else "nothing was recorded: no segment to seal",
                "start_failed" if never_started else "seal_failed",
            )
            return
        try:
            with self.spans.seal():
                sealed = await asyncio.to_thread(self._seal_sync, rows, await self._details(rows))
        except (EvidenceError, OSError, ValueError) as exc:
            await self._fail(f"sealing failed: {type(exc).__name__}: {exc}", "seal_failed")
            return
        await worker.finish(
            self.recording_id,
            status=RecordingStatus.SEALED,
            problem=None,
            reason=None,
            manifest_sha256=sealed[0],
            key_id=sealed[1],
            ended_at=max(r["end"] for r in rows),
        )
        worker.metrics.sealed.inc()
        worker.unsecured.discard(self.recording_id)
        self._log(logging.INFO, "statement sealed", manifest_sha256=sealed[0], segments=len(rows))
        with contextlib.suppress(OSError):
            await asyncio.to_thread(shutil.rmtree, self.spool)

    async def _details(self, rows: list[dict[str, Any]]) -> StatementDetails:
        worker = self.worker
        visit = await worker.visit(self.visit_id)
        assert visit is not None
        current = await worker.recording_row(self.recording_id)
        gaps = [
            Gap(g["after_segment"], parse_utc(g["from"]), parse_utc(g["to"]), g["reason"])
            for g in current["gaps"] or []
        ]
        for lost in [r for r in await worker.segments(self.recording_id) if r["state"] == "lost"]:
            gaps.append(
                Gap(
                    lost["name"],
                    lost["start"],
                    lost["start"],
                    f"{lost['name']} was lost with recorder host {lost['host']}",
                )
            )
        consents = [
            ConsentRecord(c["identity"], c["at"], c["text_version"])
            for c in await worker.consents(self.visit_id)
        ]
        return StatementDetails(
            evidence_id=self.recording_id,
            visit_id=self.visit_id,
            crime_reference=visit["crime_reference"],
            officer=Officer(visit["officer_id"], visit["officer_collar"]),
            participants=[
                Participant(p["identity"], p["role"], p["device"])
                for p in (current["participants"] or [])
            ],
            consents=consents,
            gaps=gaps,
        )

    def _seal_sync(self, rows: list[dict[str, Any]], details: StatementDetails) -> tuple[str, str]:
        segments = [
            SegmentInfo(
                index=r["seg_index"],
                path=self.spool / r["name"],
                sha256=r["sha256"],
                bytes=r["bytes"],
                start=r["start"],
                end=r["end"],
                hashed="recovery" if r["state"] == "recovered" else "capture",
            )
            for r in rows
        ]
        sealed = seal_statement(
            self.worker.store,
            details=details,
            segments=segments,
            signing_key=self.worker.signing_key,
            actor=f"recorder:{self.worker.worker_id}",
            recorder_version=RECORDER_VERSION,
            host=self.worker.host,
        )
        return sealed.manifest_sha256, sealed.key_id


# -- the worker process ---------------------------------------------------------------------


class RecorderWorker:
    """Claims jobs, runs them, serves ``/metrics``; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        store: EvidenceStore,
        signing_key: Ed25519PrivateKey,
        *,
        worker_id: str | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.tracer = tracer or trace.NoOpTracer()
        self.store = store
        self.signing_key = signing_key
        self.host = platform.node()
        self.worker_id = worker_id or settings.recording.worker_id or f"{self.host}:{os.getpid()}"
        self.metrics = RecorderMetrics()
        self.jobs: dict[str, asyncio.Task[None]] = {}
        self.running: dict[str, StatementJob] = {}
        self.unsecured: set[str] = set()
        self.stopping = asyncio.Event()

    # -- database access (each one short transaction) -------------------------------------------

    async def visit(self, visit_id: str) -> dict[str, Any] | None:
        v = schema.visits
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(v).where(v.c.id == visit_id))).mappings().first()
        return dict(row) if row is not None else None

    async def recording_row(self, recording_id: str) -> dict[str, Any]:
        r = schema.recordings
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(r).where(r.c.id == recording_id))).mappings().one()
        return dict(row)

    async def segments(self, recording_id: str) -> list[dict[str, Any]]:
        s = schema.recording_segments
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(s).where(s.c.recording_id == recording_id).order_by(s.c.seg_index)
            )
            return [dict(r) for r in rows.mappings()]

    async def consents(self, visit_id: str) -> list[dict[str, Any]]:
        c = schema.recording_consents
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(c).where(c.c.visit_id == visit_id).order_by(c.c.id))
            return [dict(r) for r in rows.mappings()]

    async def open_segment(self, recording_id: str, index: int, name: str, start: datetime) -> None:
        async with self.engine.begin() as conn:
            await conn.execute(
                schema.recording_segments.insert().values(
                    recording_id=recording_id,
                    seg_index=index,
                    name=name,
                    host=self.worker_id,
                    state="open",
                    start=start,
                )
            )

    async def update_segment(self, recording_id: str, index: int, values: dict[str, Any]) -> None:
        s = schema.recording_segments
        async with self.engine.begin() as conn:
            await conn.execute(
                update(s)
                .where(s.c.recording_id == recording_id, s.c.seg_index == index)
                .values(**values)
            )

    async def save_participants(
        self, recording_id: str, participants: list[dict[str, str]]
    ) -> None:
        r = schema.recordings
        async with self.engine.begin() as conn:
            await conn.execute(
                update(r).where(r.c.id == recording_id).values(participants=participants)
            )

    async def add_gap(self, recording_id: str, gap: dict[str, str]) -> None:
        r = schema.recordings
        async with self.engine.begin() as conn:
            gaps = (await conn.execute(select(r.c.gaps).where(r.c.id == recording_id))).scalar_one()
            await conn.execute(
                update(r).where(r.c.id == recording_id).values(gaps=[*(gaps or []), gap])
            )

    def _mine(self) -> Any:
        r = schema.recordings
        return r.c.claimed_by == self.worker_id

    async def mark_recording(self, recording_id: str, *, first_run: bool) -> None:
        r = schema.recordings
        now = _now()
        values: dict[str, Any] = {"heartbeat_at": now, "problem": None, "problem_reason": None}
        if first_run:
            values["started_at"] = now
        async with self.engine.begin() as conn:
            await conn.execute(
                update(r)
                .where(r.c.id == recording_id, self._mine(), r.c.status == "requested")
                .values(status=RecordingStatus.RECORDING.value)
            )
            await conn.execute(
                update(r).where(r.c.id == recording_id, self._mine()).values(**values)
            )

    async def heartbeat(
        self, recording_id: str, lag: float, problem: str | None, reason: str | None
    ) -> tuple[str, str | None] | None:
        """Refresh the claim; None if another recorder holds it now. Else (status, visit status)."""
        r, v = schema.recordings, schema.visits
        async with self.engine.begin() as conn:
            done = await conn.execute(
                update(r)
                .where(r.c.id == recording_id, self._mine())
                .values(
                    heartbeat_at=_now(),
                    lag_seconds=round(lag, 3),
                    problem=problem,
                    problem_reason=reason,
                )
            )
            if done.rowcount != 1:
                return None
            row = (
                await conn.execute(
                    select(r.c.status, v.c.status.label("visit_status"))
                    .select_from(r.join(v, v.c.id == r.c.visit_id))
                    .where(r.c.id == recording_id)
                )
            ).one()
        return str(row.status), row.visit_status

    async def set_status(self, recording_id: str, status: RecordingStatus) -> None:
        r = schema.recordings
        async with self.engine.begin() as conn:
            await conn.execute(
                update(r)
                .where(r.c.id == recording_id, self._mine())
                .values(status=status.value, heartbeat_at=_now())
            )

    async def release(self, recording_id: str, *, problem: str | None, reason: str | None) -> None:
        """Give the job back (after a failed start, or at shutdown) to be retried."""
        r = schema.recordings
        retry = _now() + timedelta(seconds=self.settings.recording.retry_backoff if problem else 0)
        async with self.engine.begin() as conn:
            await conn.execute(
                update(r)
                .where(r.c.id == recording_id, self._mine())
                .values(
                    claimed_by=None,
                    heartbeat_at=None,
                    retry_at=retry,
                    problem=problem,
                    problem_reason=reason,
                )
            )

    async def finish(
        self,
        recording_id: str,
        *,
        status: RecordingStatus,
        problem: str | None,
        reason: str | None,
        **values: Any,
    ) -> None:
        r = schema.recordings
        now = _now()
        extra = {"sealed_at": now} if status is RecordingStatus.SEALED else {}
        async with self.engine.begin() as conn:
            await conn.execute(
                update(r)
                .where(r.c.id == recording_id)
                .values(
                    status=status.value,
                    problem=problem,
                    problem_reason=reason,
                    heartbeat_at=now,
                    **extra,
                    **values,
                )
            )

    async def claim(self) -> _Claim | None:
        """Claim one job: new, released for retry, or held by a recorder gone silent."""
        r = schema.recordings
        now = _now()
        stale_before = now - timedelta(seconds=self.settings.recording.stale_after)
        claimable = (r.c.claimed_by.is_(None)) | (r.c.heartbeat_at < stale_before)
        async with self.engine.begin() as conn:
            query = (
                select(r)
                .where(
                    r.c.status.in_([s.value for s in ACTIVE_STATUSES]),
                    (r.c.retry_at.is_(None)) | (r.c.retry_at <= now),
                    claimable,
                    r.c.id.not_in(list(self.jobs)) if self.jobs else true(),
                )
                .order_by(r.c.requested_at)
                .limit(5)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            for row in (await conn.execute(query)).mappings().all():
                done = await conn.execute(
                    update(r)
                    .where(r.c.id == row["id"], claimable)
                    .values(
                        claimed_by=self.worker_id,
                        claimed_at=now,
                        heartbeat_at=now,
                        retry_at=None,
                        attempts=r.c.attempts + 1,
                    )
                )
                if done.rowcount == 1:
                    crashed = row["claimed_by"] is not None
                    return _Claim(dict(row), crashed, row["claimed_by"])
        return None

    async def exports_count(self) -> int:
        c = schema.custody_log
        async with self.engine.connect() as conn:
            count = await conn.scalar(
                select(func.count()).where(c.c.event == CustodyEvent.EXPORTED.value)
            )
        return int(count or 0)

    async def refresh_unsecured(self) -> None:
        """Forget failures that were since resolved (sealed, or recording fine elsewhere)."""
        if not self.unsecured:
            self.metrics.not_secured.set(0)
            return
        r = schema.recordings
        ids = [i for i in self.unsecured if i not in self.jobs]
        if ids:
            async with self.engine.connect() as conn:
                rows = await conn.execute(
                    select(r.c.id, r.c.status, r.c.problem).where(r.c.id.in_(ids))
                )
                for rid, status, problem in rows.all():
                    if status == RecordingStatus.SEALED.value or (
                        status == RecordingStatus.RECORDING.value and problem is None
                    ):
                        self.unsecured.discard(rid)
        self.metrics.not_secured.set(len(self.unsecured))

    # -- main loop ------------------------------------------------------------------------------

    def _forget(self, recording_id: str, _task: object = None) -> None:
        self.jobs.pop(recording_id, None)
        self.running.pop(recording_id, None)

    def lags(self) -> list[float]:
        """Current lag of every job that has a writer."""
        return [
            job.thread.current_lag()
            for job in self.running.values()
            if job.thread is not None and job.thread.is_alive()
        ]

    async def run(self) -> None:
        """Claim and run jobs until :attr:`stopping` is set; then let jobs release or seal."""
        rs = self.settings.recording
        log.info(
            "recorder started", extra={"recorder": self.worker_id, "version": RECORDER_VERSION}
        )
        while not self.stopping.is_set():
            try:
                while len(self.jobs) < rs.max_concurrent and not self.stopping.is_set():
                    claim = await self.claim()
                    if claim is None:
                        break
                    job = StatementJob(self, claim)
                    task = asyncio.create_task(job.run(), name=f"job-{job.recording_id}")
                    self.jobs[job.recording_id] = task
                    self.running[job.recording_id] = job
                    task.add_done_callback(functools.partial(self._forget, job.recording_id))
                self.metrics.lag.set(max(self.lags(), default=0.0))
                await self.refresh_unsecured()
            except Exception:
                log.exception("recorder poll failed", extra={"recorder": self.worker_id})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), rs.poll_interval)
        if self.jobs:
            await asyncio.gather(*self.jobs.values(), return_exceptions=True)
        log.info("recorder stopped", extra={"recorder": self.worker_id})


# -- metrics endpoint and process entry --------------------------------------------------------


def metrics_app(worker: RecorderWorker) -> web.Application:
    """``/metrics`` and ``/healthz`` of the recorder, on its own port."""

    async def metrics(request: web.Request) -> web.Response:
        m = worker.metrics
        with contextlib.suppress(Exception):
            m.exports.value = await worker.exports_count()
        capacity = getattr(worker.store, "capacity", None)
        if capacity is not None:
            with contextlib.suppress(OSError, NotImplementedError):
                cap = await asyncio.to_thread(capacity)
                m.store_free.set(cap.free_bytes)
                m.store_size.set(cap.total_bytes)
        m.lag.set(max(worker.lags(), default=0.0))
        return web.Response(
            body=generate_latest(m.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response(
            {"status": "ok", "recorder": worker.worker_id, "jobs": len(worker.jobs)}
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The recorder's signing key; created (0600) on first start if it does not exist."""
    if path.exists():
        return load_signing_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    log.warning("created a new recorder signing key; publish its key id", extra={"path": str(path)})
    return generate_signing_key(path)


@contextlib.asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[RecorderWorker]:
    """Engine, store, key and metrics server around a worker; cleaned up in reverse."""
    engine = db.create_engine(settings.database_url)
    # Exports only if the OTEL_* variables ask for it (core.tracing_settings).
    provider = build_tracer_provider(settings.tracing, service_name="evr-recorder")
    try:
        await db.migrate(engine)
        key = await asyncio.to_thread(load_or_create_key, settings.recording.signing_key)
        custody = DbCustodyLog(engine)
        store = await asyncio.to_thread(open_store, settings.recording, custody)
        worker = RecorderWorker(settings, engine, store, key, tracer=tracer_from(provider))
        runner = web.AppRunner(metrics_app(worker))
        await runner.setup()
        try:
            rs = settings.recording
            await web.TCPSite(runner, rs.metrics_host, rs.metrics_port).start()
            yield worker
        finally:
            await runner.cleanup()
    finally:
        await engine.dispose()
        await asyncio.to_thread(provider.shutdown)  # flushes spans queued for OTLP


async def run_recorder(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run a recorder until ``stop`` (or SIGTERM/SIGINT when run from the CLI)."""
    async with running_worker(settings) as worker:
        if stop is not None:
            waiter = asyncio.create_task(stop.wait())
            waiter.add_done_callback(lambda _t: worker.stopping.set())
        await worker.run()
