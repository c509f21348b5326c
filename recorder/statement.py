"""One claimed statement, from recovery to seal (the steps are in the package docstring).

Everything here runs on the event loop except the writer thread's segment callbacks, which
block that thread until the database knows the segment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from opentelemetry.trace import Tracer

from core.domain import TERMINAL_STATES, TokenRole, VisitState
from core.evidence_errors import EvidenceError, StoreUnavailableError
from core.livekit_nodes import NodeList
from core.recording_status import RecordingStatus
from core.settings import Settings
from core.telemetry import RecordingSpans
from core.tokens import mint, recorder_identity
from core.utc import utc_iso
from evidence.hashing import private_directory
from evidence.seal import StatementDetails
from evidence.store import EvidenceStore
from evidence.writer import SegmentInfo, WriterConfig
from recorder.job_store import Claim, ClaimLostError, JobStore
from recorder.metrics import RecorderMetrics
from recorder.recovery import record_gap, recover_segments
from recorder.room import RoomSession
from recorder.sealing import SEALABLE, seal_segments, statement_details
from recorder.states import ProblemReason, SegmentState, StopReason, is_disk_full
from recorder.writer_thread import WriterThread


class Worker(Protocol):
    """What a job needs from the worker that claimed it (``recorder.claim.RecorderWorker``).

    A protocol, so that the claim loop imports the job and not the other way round.
    """

    settings: Settings
    sfu_nodes: NodeList
    tracer: Tracer
    store: EvidenceStore
    signing_key: Ed25519PrivateKey
    host: str
    worker_id: str
    job_store: JobStore
    metrics: RecorderMetrics
    unsecured: set[str]
    stopping: asyncio.Event


log = logging.getLogger("evr.recorder")

_JOIN_TIMEOUT = 10.0
"""Seconds a join may take through one LiveKit node before the next is tried."""


def _now() -> datetime:
    return datetime.now(UTC)


def private_spool(spool: Path) -> None:
    """Make a recording's spool folder and the spool root above it the recorder user's alone
    (0700, tightening an existing root): segments are victims' statements, as personal as the
    evidence store."""
    private_directory(spool.parent)
    private_directory(spool)


@dataclass
class StatementJob:
    """One claimed recording, from recovery to seal (see the package docstring)."""

    worker: Worker
    claim: Claim
    spool: Path = field(init=False)
    next_index: int = 1
    stop_reason: StopReason | None = None
    run_started_at: datetime | None = None
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.get_running_loop)
    _bytes_reported: int = 0
    _fenced: bool = False
    spans: RecordingSpans = field(init=False)
    room: RoomSession = field(init=False)

    def __post_init__(self) -> None:
        self.spool = self.worker.settings.recording.spool_dir / self.recording_id
        # Lifecycle spans in the trace of the request that asked for this recording.
        self.spans = RecordingSpans(
            self.worker.tracer,
            recording_id=self.recording_id,
            visit_id=self.visit_id,
            traceparent=self.claim.row.get("traceparent"),
        )
        self.room = RoomSession(
            recording_id=self.recording_id,
            visit_id=self.visit_id,
            job_store=self.worker.job_store,
            metrics=self.worker.metrics,
            spans=self.spans,
            log=self._log,
            stop=self._stop,
            stopping=lambda: self.stop_reason is not None,
            participants={
                p["identity"]: dict(p) for p in (self.claim.row.get("participants") or [])
            },
        )

    @property
    def recording_id(self) -> str:
        return str(self.claim.row["id"])

    @property
    def visit_id(self) -> str:
        return str(self.claim.row["visit_id"])

    @property
    def thread(self) -> WriterThread | None:
        return self.room.thread

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
        except ClaimLostError:
            self._fence("a write about the statement")
        except Exception as exc:
            self._log(logging.ERROR, "recording job crashed", error=repr(exc))
            metrics.failed.labels(reason=ProblemReason.CRASHED).inc()
            await self._set_problem(f"recorder error: {exc}", ProblemReason.CRASHED)
            self.worker.unsecured.add(self.recording_id)
        finally:
            metrics.active.dec()
            await self.room.leave()

    async def _run(self) -> None:
        if self.claim.crashed:
            self.worker.metrics.failed.labels(reason=ProblemReason.CRASHED).inc()
            self.worker.unsecured.add(self.recording_id)
            self._log(
                logging.ERROR,
                "taking over a statement whose recorder stopped responding",
                previous_recorder=self.claim.previous_holder,
            )
        recovered = await self.recover()
        status = RecordingStatus(self.claim.row["status"])
        visit = await self.worker.job_store.visit(self.visit_id)
        visit_over = visit is None or VisitState(visit["status"]) in TERMINAL_STATES
        if status is RecordingStatus.REQUESTED and visit_over:
            await self._fail("the visit ended before a recorder joined", ProblemReason.START_FAILED)
            return
        if status in (RecordingStatus.REQUESTED, RecordingStatus.RECORDING) and not visit_over:
            try:
                with self.spans.start():
                    await self.start(recovered)
            except ClaimLostError:
                raise
            except Exception as exc:
                await self.fail_start(exc)
                return
            await self.record()
            if self.thread is not None and self.thread.fenced.is_set():
                self._fence("a segment write")
                return
            if self.thread is not None and self.thread.fatal is not None:
                await self._writer_failed(*self.thread.fatal)
                return
            if self.stop_reason is StopReason.LOST_CLAIM:
                return
        await self.seal()

    async def recover(self) -> list[str]:
        """Hash and check segments a crashed run left open; return their names."""
        found = await recover_segments(
            self.worker.job_store, self.recording_id, self.spool, self._log
        )
        self.next_index = found.next_index
        return found.names

    async def start(self, recovered: list[str]) -> None:
        """Join the room hidden, subscribe to everyone, start the writer thread."""
        worker = self.worker
        visit = await worker.job_store.visit(self.visit_id)
        if visit is None or not visit["room_name"]:
            raise RuntimeError("the visit has no room")
        await asyncio.to_thread(private_spool, self.spool)
        issued = mint(
            worker.settings.livekit,
            role=TokenRole.RECORDER,
            room=visit["room_name"],
            identity=recorder_identity(worker.worker_id, self.recording_id),
            display_name="Evidential recorder",
            ttl=timedelta(minutes=5),
        )
        await self.room.join(worker.sfu_nodes, issued.token, timeout=_JOIN_TIMEOUT)
        self.run_started_at = _now()
        await record_gap(
            worker.job_store,
            self.recording_id,
            resumed_at=self.run_started_at,
            resumed_by=worker.worker_id,
            previous_holder=self.claim.previous_holder,
            recovered=recovered,
            log=self._log,
        )
        thread = WriterThread(
            self.recording_id,
            spool=self.spool,
            config=self.writer_config,
            first_index=self.next_index,
            on_segment_open=self.on_segment_open,
            on_segment_closed=self.on_segment_closed,
        )
        identities = self.room.start_writer(thread)
        first_run = self.claim.row["started_at"] is None
        await worker.job_store.mark_recording(self.recording_id, first_run=first_run)
        if first_run:
            worker.metrics.started.inc()
        worker.unsecured.discard(self.recording_id)
        self._log(logging.INFO, "recorder joined the room", participants=identities)

    def _stop(self, reason: StopReason) -> bool:
        """Stop at the room's word (officer or disconnection) unless already stopping."""
        if self.stop_reason is not None:
            return False
        self.stop_reason = reason
        self._stopped.set()
        return True

    # Called on the writer thread: block it until the database has the segment, so a crash
    # can never leave a segment file the database does not know about.
    def on_segment_open(self, index: int, name: str, start: datetime) -> None:
        asyncio.run_coroutine_threadsafe(
            self.worker.job_store.open_segment(self.recording_id, index, name, start), self._loop
        ).result(30)

    def on_segment_closed(self, info: SegmentInfo) -> None:
        values = {
            "state": SegmentState.CLOSED.value,
            "sha256": info.sha256,
            "bytes": info.bytes,
            "end": info.end,
        }
        asyncio.run_coroutine_threadsafe(
            self.worker.job_store.update_segment(self.recording_id, info.index, values), self._loop
        ).result(30)
        self.spans.segment(info.index, opened_at=info.start, sha256=info.sha256, size=info.bytes)
        log.info(
            "segment closed",
            extra={"recording_id": self.recording_id, "segment": info.name, "sha256": info.sha256},
        )

    # -- while recording --------------------------------------------------------------------

    async def record(self) -> None:
        """Heartbeat until the statement is stopped, the visit ends, or something fails."""
        worker = self.worker
        settings = worker.settings.recording
        assert self.thread is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), settings.heartbeat_interval)
            thread = self.thread
            thread.tick()
            written = thread.bytes_written
            worker.metrics.bytes_written.inc(max(0, written - self._bytes_reported))
            self._bytes_reported = max(written, self._bytes_reported)
            if thread.fatal is not None or not thread.is_alive():
                return
            lag = thread.current_lag()
            problem, reason = self._problem(lag, settings.lag_alarm)
            beat = await worker.job_store.heartbeat(self.recording_id, lag, problem, reason)
            if beat is None:
                self._fence("the heartbeat")
                await asyncio.to_thread(thread.join)
                return
            status, visit_status = beat
            if problem:
                worker.unsecured.add(self.recording_id)
            else:
                worker.unsecured.discard(self.recording_id)
            if status == RecordingStatus.STOPPING.value:
                self.stop_reason = StopReason.OFFICER
            elif visit_status is None or VisitState(visit_status) in TERMINAL_STATES:
                self.stop_reason = StopReason.VISIT_ENDED
            elif worker.stopping.is_set():
                self.stop_reason = StopReason.SHUTTING_DOWN
            elif self.stop_reason is StopReason.DISCONNECTED:
                # The room is still there but we dropped out: hand the statement back so it
                # resumes in a new segment, with the gap recorded, instead of sealing it early
                # while everyone is still told that recording is on.
                self.stop_reason = StopReason.REJOIN
            if self.stop_reason is not None:
                self._log(logging.INFO, "statement stopping", reason=self.stop_reason)
                thread.finish()
                await asyncio.to_thread(thread.join)
                return

    def _problem(self, lag: float, alarm: float) -> tuple[str | None, ProblemReason | None]:
        if self.room.paused is not None:
            since, why = self.room.paused
            return f"nothing recorded since {utc_iso(since)}: {why}", ProblemReason.TRACK_LOST
        if self.room.lost_tracks:
            lost = ", ".join(f"{kind} of {who}" for who, kind in sorted(self.room.lost_tracks))
            return f"recorder lost a track: {lost}", ProblemReason.TRACK_LOST
        if lag > alarm:
            return f"recorder is {lag:.0f} s behind real time", ProblemReason.LAG
        return None, None

    # -- failures -----------------------------------------------------------------------------

    def _fence(self, where: str) -> None:
        """Another recorder holds the statement now (this one was stopped or starved past
        the stale limit): stop writing at once, leave the statement to it, and say so."""
        self.stop_reason = StopReason.LOST_CLAIM
        if self.thread is not None:
            self.thread.fence()
        self.worker.unsecured.discard(self.recording_id)  # the new holder answers for it
        if self._fenced:
            return
        self._fenced = True
        self.worker.metrics.fenced.inc()
        self._log(
            logging.ERROR,
            "fenced: another recorder took over this statement; stopped writing",
            generation=self.claim.generation,
            noticed_at=where,
        )

    async def fail_start(self, exc: BaseException) -> None:
        """The recorder could not join or write: release the job for a retry, loudly."""
        worker = self.worker
        full = is_disk_full(exc)
        reason = ProblemReason.DISK_FULL if full else ProblemReason.START_FAILED
        cause = "evidence disk is full: " if full else ""
        message = f"{cause}recorder could not start: {type(exc).__name__}: {exc}"
        worker.metrics.failed.labels(reason=reason).inc()
        self.spans.failed(reason.value, exc)
        worker.unsecured.add(self.recording_id)
        # Loud at once: the main loop's periodic refresh may be seconds away.
        worker.metrics.not_secured.set(len(worker.unsecured))
        self._log(
            logging.ERROR, "recorder could not start the statement", reason=reason, error=message
        )
        await worker.job_store.release(self.recording_id, problem=message, reason=reason)

    async def _writer_failed(self, reason: ProblemReason, message: str) -> None:
        text = (
            "evidence disk is full: recording stopped"
            if reason is ProblemReason.DISK_FULL
            else "recorder writer failed: recording stopped"
        )
        await self._fail(f"{text} ({message})", reason)

    async def _fail(self, problem: str, reason: ProblemReason) -> None:
        worker = self.worker
        landed = await worker.job_store.finish(
            self.recording_id, status=RecordingStatus.FAILED, problem=problem, reason=reason
        )
        if not landed:  # not ours to fail any more: the new holder records it
            self._fence("recording a failure")
            return
        worker.metrics.failed.labels(reason=reason).inc()
        self.spans.failed(reason.value)
        worker.unsecured.add(self.recording_id)
        worker.metrics.not_secured.set(len(worker.unsecured))
        self._log(logging.ERROR, "statement recording failed", reason=reason, problem=problem)

    async def _set_problem(self, problem: str, reason: ProblemReason) -> None:
        with contextlib.suppress(Exception):
            await self.worker.job_store.heartbeat(self.recording_id, 0.0, problem, reason)

    # -- the end ------------------------------------------------------------------------------

    async def _seal_until_stored(
        self, rows: list[dict[str, Any]], details: StatementDetails
    ) -> tuple[str, str] | None:
        """Seal, retrying while the evidence store is unreachable (an S3 restart): the job
        keeps its claim and heartbeat, and the visit shows the statement as not secured with
        the reason, until the seal lands. None if the claim was lost or the recorder is
        stopping (the statement was handed back; the spool is kept for whoever resumes)."""
        worker = self.worker
        jobs = worker.job_store
        settings = worker.settings.recording
        problem: list[str] = []  # set while the store is unreachable; the heartbeat sends it
        lost = asyncio.Event()

        async def beat() -> None:
            while True:
                with contextlib.suppress(Exception):
                    reason = ProblemReason.SEAL_FAILED if problem else None
                    got = await jobs.heartbeat(
                        self.recording_id, 0.0, problem[0] if problem else None, reason
                    )
                    if got is None:
                        lost.set()
                        return
                await asyncio.sleep(settings.heartbeat_interval)

        heartbeat = asyncio.create_task(beat())
        delay = settings.retry_backoff
        try:
            while True:
                try:
                    return await asyncio.to_thread(
                        seal_segments,
                        self.spool,
                        rows,
                        details,
                        store=worker.store,
                        signing_key=worker.signing_key,
                        worker_id=worker.worker_id,
                        host=worker.host,
                    )
                except StoreUnavailableError as exc:
                    if not problem:
                        worker.metrics.failed.labels(reason=ProblemReason.SEAL_FAILED).inc()
                        problem.append("")
                    problem[0] = (
                        f"the evidence store is unreachable ({exc}): the statement is "
                        "not secured until it is sealed; retrying"
                    )
                    worker.unsecured.add(self.recording_id)
                    worker.metrics.not_secured.set(len(worker.unsecured))
                    self._log(logging.ERROR, "sealing will be retried", error=str(exc))
                    with contextlib.suppress(Exception):  # the heartbeat task retries it
                        await jobs.heartbeat(
                            self.recording_id, 0.0, problem[0], ProblemReason.SEAL_FAILED
                        )
                if lost.is_set():
                    self._fence("sealing")
                    return None
                if worker.stopping.is_set():
                    await jobs.release(
                        self.recording_id, problem=problem[0], reason=ProblemReason.SEAL_FAILED
                    )
                    self._log(logging.INFO, "released the unsealed statement for another recorder")
                    return None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def seal(self) -> None:
        """Sign the manifest, store the Masters read-only, log custody; then drop the spool."""
        worker = self.worker
        jobs = worker.job_store
        if self.stop_reason is StopReason.SHUTTING_DOWN:
            await jobs.release(self.recording_id, problem=None, reason=None)
            self._log(logging.INFO, "released the statement for another recorder to resume")
            return
        if self.stop_reason is StopReason.REJOIN:
            worker.metrics.failed.labels(reason=ProblemReason.TRACK_LOST).inc()
            problem = "recorder lost its connection to the room; rejoining"
            await jobs.release(self.recording_id, problem=problem, reason=ProblemReason.TRACK_LOST)
            self._log(logging.ERROR, "lost the room while recording; statement handed back")
            return
        if self.room.participants:
            await self.room.save_participants()
        if self.stop_reason is StopReason.OFFICER:
            # Stopped while nothing could be recorded: the gap runs to the stop. (A visit
            # that ended took its participants out first; that is no gap.)
            await self.room.end_pause()
        await self.room.leave()
        await jobs.set_status(self.recording_id, RecordingStatus.SEALING)
        rows = [r for r in await jobs.segments(self.recording_id) if r["state"] in SEALABLE]
        if not rows:
            never_started = self.claim.row["started_at"] is None
            await self._fail(
                "stopped before a recorder joined: nothing was recorded"
                if never_started
                else "nothing was recorded: no segment to seal",
                ProblemReason.START_FAILED if never_started else ProblemReason.SEAL_FAILED,
            )
            return
        try:
            with self.spans.seal():
                # Read once: every attempt signs the same manifest, so a retry finds the
                # objects an earlier attempt stored identical to its own.
                details = await statement_details(jobs, self.recording_id, self.visit_id)
                sealed = await self._seal_until_stored(rows, details)
        except (EvidenceError, OSError, ValueError) as exc:
            await self._fail(
                f"sealing failed: {type(exc).__name__}: {exc}", ProblemReason.SEAL_FAILED
            )
            return
        if sealed is None:
            return
        landed = await jobs.finish(
            self.recording_id,
            status=RecordingStatus.SEALED,
            problem=None,
            reason=None,
            manifest_sha256=sealed[0],
            key_id=sealed[1],
            ended_at=max(r["end"] for r in rows),
        )
        if not landed:
            self._fence("recording the seal")
            return
        worker.metrics.sealed.inc()
        worker.unsecured.discard(self.recording_id)
        self._log(logging.INFO, "statement sealed", manifest_sha256=sealed[0], segments=len(rows))
        with contextlib.suppress(OSError):
            await asyncio.to_thread(shutil.rmtree, self.spool)
