"""Running checks: their in-memory measurement state, the probe room, and the stored verdict.

A check's timings live in the memory of the control-plane process that started it (they are
monotonic-clock readings), so every request of one check must reach the same process: run
one control plane, or route /api/v1/participant/check/* by session to a fixed instance.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from control_plane.bandwidth.loss import SenderReport
from control_plane.bandwidth.measure import (
    CHUNK_BYTES,
    NONCE_BYTES,
    DownloadLedger,
    RttRounds,
    UploadMeter,
)
from control_plane.bandwidth.probe import ProbeObserver, probe_room_name, publisher_token
from control_plane.bandwidth.verdict import H360, Figures, Verdict, classify
from control_plane.errors import Conflict, DependencyUnavailable, EvrError, Gone, NotFound
from control_plane.joining import ParticipantSession
from control_plane.keys import ENGINE, METRICS, SETTINGS, SFU, VISITS
from control_plane.metrics import Metrics
from control_plane.sfu import Sfu
from control_plane.visits import VisitService, append_event, load_visit
from core import audit, schema
from core.domain import TERMINAL_STATES, AuditAction, EligibilityItem, ParticipantRole
from core.settings import Settings

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system:bandwidth-check"
CHECK_PATH = "/api/v1/participant/check/{check_id}"
STARTS_PER_WINDOW = 10
"""Checks one session may start per STARTS_WINDOW: each one opens an SFU room."""
STARTS_WINDOW = 600.0
STARTS_KEPT = 10_000
"""Sessions whose recent starts are remembered before old ones are swept."""


class TooManyChecks(EvrError):
    status = 429
    code = "too_many_checks"


@dataclass
class ActiveCheck:
    id: str
    session: ParticipantSession
    started_at: datetime
    deadline: float
    rtt: RttRounds
    download: DownloadLedger
    upload: UploadMeter
    probe: ProbeObserver
    upload_started: bool = False
    finishing: bool = False
    expiry: asyncio.Task[None] | None = field(default=None, repr=False)


class BandwidthChecks:
    def __init__(
        self,
        engine: AsyncEngine,
        sfu: Sfu,
        visits: VisitService,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self._engine = engine
        self._sfu = sfu
        self._visits = visits
        self._settings = settings
        self._bw = settings.bandwidth
        self._metrics = metrics
        self._active: dict[str, ActiveCheck] = {}
        self._by_session: dict[str, str] = {}
        self._starts: dict[str, deque[float]] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self, session: ParticipantSession) -> tuple[ActiveCheck, dict[str, Any]]:
        """Open a check for this participant: a probe room, its observer, and the plan."""
        if self._closed:
            raise DependencyUnavailable("the control plane is shutting down; try again")
        async with self._engine.connect() as conn:
            visit = await load_visit(conn, session.visit_id)
        if visit is None:
            raise NotFound("visit not found")
        if visit.status in TERMINAL_STATES:
            raise Conflict(
                f"this visit is {visit.status.value.replace('_', ' ')}; no check is needed",
                details={"status": visit.status.value},
            )
        self._rate_limit(session.session_id)
        previous = self._by_session.get(session.session_id)
        if previous is not None:
            await self._void(previous, "replaced by a new check")
        check_id = str(uuid.uuid4())
        ttl = self._bw.check_ttl_seconds
        room = probe_room_name(check_id)
        await self._sfu.create_probe_room(room, empty_timeout=int(ttl) + 1)
        # The observer joins through the node that just created the room (sfu.nodes).
        probe = ProbeObserver(
            livekit=self._settings.livekit,
            nodes=self._sfu.nodes,
            check_id=check_id,
            ttl=timedelta(seconds=ttl),
        )
        check = ActiveCheck(
            id=check_id,
            session=session,
            started_at=datetime.now(UTC),
            deadline=time.monotonic() + ttl,
            rtt=RttRounds(self._bw.rtt_rounds),
            download=DownloadLedger(self._bw.download_max_bytes, self._bw.download_seconds),
            upload=UploadMeter(self._bw.upload_max_bytes, self._bw.upload_seconds),
            probe=probe,
        )
        self._active[check_id] = check
        self._by_session[session.session_id] = check_id
        check.expiry = asyncio.create_task(self._expire(check_id, ttl), name="check-expiry")
        if not await probe.join():
            await self._void(check_id, "observer could not join")
            raise DependencyUnavailable(
                "the media server did not let the check start in time; try again",
                details={"reason": probe.error or "timeout"},
            )
        return check, self._plan(check)

    def _rate_limit(self, session_id: str) -> None:
        now = time.monotonic()
        if len(self._starts) > STARTS_KEPT:
            # Forget sessions that have not started a check within the window.
            for sid in [s for s, q in self._starts.items() if not q or now - q[-1] > STARTS_WINDOW]:
                del self._starts[sid]
        starts = self._starts.setdefault(session_id, deque())
        while starts and now - starts[0] > STARTS_WINDOW:
            starts.popleft()
        if len(starts) >= STARTS_PER_WINDOW:
            raise TooManyChecks(
                f"at most {STARTS_PER_WINDOW} connection checks every "
                f"{int(STARTS_WINDOW // 60)} minutes; please wait a little"
            )
        starts.append(now)

    def _plan(self, check: ActiveCheck) -> dict[str, Any]:
        bw = self._bw
        base = CHECK_PATH.format(check_id=check.id)
        ttl = timedelta(seconds=bw.check_ttl_seconds)
        return {
            "check_id": check.id,
            "expires_in": bw.check_ttl_seconds,
            "rtt": {"path": base + "/rtt", "rounds": bw.rtt_rounds},
            "download": {
                "path": base + "/download",
                "ack_path": base + "/download/ack",
                "max_bytes": bw.download_max_bytes,
                "max_seconds": bw.download_seconds,
                "chunk_bytes": CHUNK_BYTES,
                "nonce_bytes": NONCE_BYTES,
            },
            "upload": {
                "path": base + "/upload",
                "max_bytes": bw.upload_max_bytes,
                "max_seconds": bw.upload_seconds,
            },
            "probe": {
                "url": self._settings.livekit.client_url,
                "token": publisher_token(self._settings.livekit, check.id, ttl),
                "room": probe_room_name(check.id),
                "seconds": bw.probe_seconds,
                "max_seconds": bw.probe_max_seconds,
                "status_path": base + "/probe",
                "video": {
                    "width": H360.max_width,
                    "height": H360.max_height,
                    "max_bitrate": bw.probe_max_bitrate,
                    "max_framerate": H360.max_framerate,
                },
            },
            "finish_path": base + "/finish",
        }

    def get(self, session: ParticipantSession, check_id: str) -> ActiveCheck:
        check = self._active.get(check_id)
        # Another participant's check is reported as absent, like another officer's visit.
        if check is None or check.session.session_id != session.session_id:
            raise NotFound(
                "no such connection check in progress (it may have expired); start a new one"
            )
        if time.monotonic() > check.deadline:
            raise Gone("this connection check took too long and has expired; start a new one")
        return check

    async def _expire(self, check_id: str, after: float) -> None:
        await asyncio.sleep(after)
        check = self._active.get(check_id)
        if check is not None and not check.finishing:
            await self._void(check_id, "expired")

    async def _void(self, check_id: str, why: str) -> None:
        check = self._active.pop(check_id, None)
        if check is None:
            return
        if self._by_session.get(check.session.session_id) == check_id:
            del self._by_session[check.session.session_id]
        if check.expiry is not None and check.expiry is not asyncio.current_task():
            check.expiry.cancel()
        # Off the request path: leaving may wait for the observer's join to settle.
        task = asyncio.create_task(self._close_probe(check), name="probe-close")
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        log.info("connection check voided", extra={"check_id": check_id, "reason": why})

    async def _close_probe(self, check: ActiveCheck) -> None:
        await check.probe.close()
        try:
            await self._sfu.delete_room(probe_room_name(check.id))
        except DependencyUnavailable as exc:
            # The room's own empty/departure timeouts close it on the SFU in any case.
            log.warning("probe room left to the SFU's timeouts: %s", exc)

    async def close(self) -> None:
        self._closed = True
        for check_id in list(self._active):
            await self._void(check_id, "shutdown")
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    # --- the verdict -----------------------------------------------------------------------

    async def finish(
        self,
        session: ParticipantSession,
        check_id: str,
        transport: dict[str, Any] | None,
        sender: SenderReport | None = None,
    ) -> dict[str, Any]:
        """Classify what the server measured, store it on the visit, and return the verdict.
        `sender` is the phone's own count of its probe's loss; it can only make it worse."""
        check = self.get(session, check_id)
        if check.finishing:
            raise Conflict("this check is already being finished")
        check.finishing = True
        try:
            figures = Figures(
                uplink_kbps=check.upload.kbps,
                downlink_kbps=check.download.kbps,
                rtt_ms=check.rtt.median_ms,
                probe=check.probe.figures(transport, sender),
            )
        finally:
            await self._void(check_id, "finished")
        verdict = classify(figures, self._bw)
        finished_at = datetime.now(UTC)
        measurements = self._measurements(check, figures)
        await self._store(check, verdict, figures, measurements, finished_at)
        self._observe(check, verdict, figures)
        return {
            "check_id": check.id,
            "verdict": verdict.verdict.value,
            "video_capable": verdict.verdict.video,
            "offered": verdict.offered,
            "video_preset": verdict.caps.preset if verdict.caps else None,
            "publish_caps": verdict.caps.to_json() if verdict.caps else None,
            "uplink_kbps": _round(figures.uplink_kbps),
            "downlink_kbps": _round(figures.downlink_kbps),
            "rtt_ms": _round(figures.rtt_ms),
            "measurements": measurements,
            "reasons": verdict.reasons,
            "finished_at": finished_at.isoformat(),
            "valid_until": (finished_at + self._bw.window).isoformat(),
        }

    def _measurements(self, check: ActiveCheck, figures: Figures) -> dict[str, Any]:
        acked, down_s = check.download.result or (0, 0.0)
        return {
            "uplink": {
                "kbps": _round(figures.uplink_kbps),
                "bytes": check.upload.received,
                "seconds": round(check.upload.seconds, 3),
            },
            "downlink": {
                "kbps": _round(figures.downlink_kbps),
                "bytes": acked,
                "bytes_sent": check.download.sent_bytes,
                "seconds": round(down_s, 3),
            },
            "rtt": {
                "median_ms": _round(figures.rtt_ms),
                "samples_ms": [round(s, 1) for s in check.rtt.samples_ms],
            },
            "webrtc": figures.probe.to_json(),
        }

    async def _store(
        self,
        check: ActiveCheck,
        verdict: Verdict,
        figures: Figures,
        measurements: dict[str, Any],
        finished_at: datetime,
    ) -> None:
        s = check.session
        summary = {
            "check_id": check.id,
            "role": s.role.value,
            "verdict": verdict.verdict.value,
            "video_preset": verdict.caps.preset if verdict.caps else None,
            "uplink_kbps": _round(figures.uplink_kbps),
            "downlink_kbps": _round(figures.downlink_kbps),
            "rtt_ms": _round(figures.rtt_ms),
        }
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(schema.bandwidth_checks).values(
                    id=check.id,
                    visit_id=s.visit_id,
                    session_id=s.session_id,
                    identity=s.identity,
                    role=s.role.value,
                    started_at=check.started_at,
                    finished_at=finished_at,
                    verdict=verdict.verdict.value,
                    video_preset=verdict.caps.preset if verdict.caps else None,
                    uplink_kbps=figures.uplink_kbps,
                    downlink_kbps=figures.downlink_kbps,
                    rtt_ms=figures.rtt_ms,
                    measurements=measurements | {"reasons": verdict.reasons},
                )
            )
            await append_event(conn, s.visit_id, "connection_check", SYSTEM_ACTOR, summary)
            await audit.record(
                conn,
                actor=s.actor,
                action=AuditAction.COLLECTION,
                subject="visit.connection_check",
                visit_id=s.visit_id,
                detail={"check_id": check.id, "verdict": verdict.verdict.value},
            )
            visit = await load_visit(conn, s.visit_id)
        # The network item is the victim's: it follows the victim's own device only.
        if s.role is not ParticipantRole.VICTIM or not verdict.verdict.video or visit is None:
            return
        current = {e.item: e.value for e in visit.eligibility}
        if current.get(EligibilityItem.NETWORK_ADEQUATE) is True:
            return
        with contextlib.suppress(Conflict):  # the visit closed meanwhile: nothing to attest
            await self._visits.record_eligibility(
                s.visit_id,
                items=[(EligibilityItem.NETWORK_ADEQUATE, True)],
                actor=SYSTEM_ACTOR,
                note=f"connection check {check.id}: {verdict.verdict.value}",
            )

    def _observe(self, check: ActiveCheck, verdict: Verdict, figures: Figures) -> None:
        m = self._metrics
        m.bandwidth_verdicts.labels(verdict=verdict.verdict.value).inc()
        if figures.uplink_kbps is not None:
            m.bandwidth_uplink.observe(figures.uplink_kbps)
        if figures.downlink_kbps is not None:
            m.bandwidth_downlink.observe(figures.downlink_kbps)
        if figures.rtt_ms is not None:
            m.bandwidth_rtt.observe(figures.rtt_ms)
        if check.session.role is ParticipantRole.VICTIM:
            m.join_funnel.labels(step="checked").inc()


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


CHECKS = web.AppKey("bandwidth_checks", BandwidthChecks)


async def bandwidth_context(app: web.Application) -> AsyncIterator[None]:
    """Cleanup context: checks still running at shutdown lose their probe rooms."""
    checks = BandwidthChecks(app[ENGINE], app[SFU], app[VISITS], app[SETTINGS], app[METRICS])
    app[CHECKS] = checks
    yield
    await checks.close()
