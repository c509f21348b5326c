"""The victim's journey through the join page: progress, consent, and in-call quality changes.

Each report is a visit event, so the officer's console and the visit's history show the same
thing. Consent is also a row of its own (who, when, which notice) with an audit entry, because
a force must be able to show it later as evidence that the call was agreed to.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from control_plane.auth import Principal
from control_plane.bandwidth import records as bandwidth_records
from control_plane.consultation import consulted_polled
from control_plane.errors import Conflict, Forbidden, NotFound
from control_plane.joining import ParticipantSession
from control_plane.metrics import Metrics
from control_plane.safeguarding import EVENT_KIND as ALERT_EVENT
from control_plane.safeguarding import AlertKind, active_alerts, raised_by
from control_plane.visibility import visible_visit, visible_visits
from control_plane.visit_records import append_event, load_visit
from core import audit, schema
from core.domain import TERMINAL_STATES, AuditAction, ParticipantRole

log = logging.getLogger(__name__)


class JourneyStep(StrEnum):
    """The join page's screens, in the order the victim meets them."""

    CHOICE = "choice"
    ELIGIBILITY = "eligibility"
    CONSENT = "consent"
    PREVIEW = "preview"
    CHECK = "check"
    JOIN = "join"
    LEFT = "left"
    """The victim left the call with the page's own button."""
    QUICK_EXIT = "quick_exit"
    """The quick-exit button: a safeguarding signal the officer must see at once."""


STEP_ORDER: tuple[JourneyStep, ...] = (
    JourneyStep.CHOICE,
    JourneyStep.ELIGIBILITY,
    JourneyStep.CONSENT,
    JourneyStep.PREVIEW,
    JourneyStep.CHECK,
    JourneyStep.JOIN,
)


class StepState(StrEnum):
    STARTED = "started"
    DONE = "done"
    FAILED = "failed"
    DECLINED = "declined"


class ConnectionQuality(StrEnum):
    """LiveKit's ConnectionQuality values as the JS client names them."""

    EXCELLENT = "excellent"
    GOOD = "good"
    POOR = "poor"
    LOST = "lost"


class QualityAction(StrEnum):
    """What the victim's client did about a quality change."""

    NONE = "none"
    LOWER_VIDEO = "lower_video"
    AUDIO_ONLY = "audio_only"
    RAISE_VIDEO = "raise_video"
    VIDEO_RESUMED = "video_resumed"


class VideoLayer(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    OFF = "off"


@dataclass(frozen=True, kw_only=True)
class QualityReport:
    quality: ConnectionQuality
    action: QualityAction
    video_layer: VideoLayer


_CONSENT_ROLES = frozenset({ParticipantRole.VICTIM, ParticipantRole.GUARDIAN})


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True, kw_only=True)
class OfficerCard:
    """Who the victim will talk to, as the first screen shows it."""

    name: str | None
    rank: str | None


class Journey:
    def __init__(self, engine: AsyncEngine, metrics: Metrics) -> None:
        self._engine = engine
        self._metrics = metrics

    async def _open_visit(
        self, conn: AsyncConnection, session: ParticipantSession, *, closed_ok: bool = False
    ) -> None:
        """The session's visit must exist and, unless `closed_ok`, still be open: nobody
        writes to a closed visit from the join page."""
        visit = await load_visit(conn, session.visit_id)
        if visit is None:
            raise NotFound("visit not found")
        if visit.status in TERMINAL_STATES and not closed_ok:
            raise Conflict(
                f"this visit is {visit.status.value.replace('_', ' ')}",
                details={"status": visit.status.value},
            )

    async def officer_card(self, officer_id: str) -> OfficerCard:
        """The officer's name (and rank, where the account has one); none for an officer known
        only from a sign-in token (OIDC) who has no account row."""
        o = schema.officers
        async with self._engine.connect() as conn:
            query = select(o.c.display_name, o.c.rank).where(o.c.id == officer_id)
            row = (await conn.execute(query)).first()
        return OfficerCard(name=row.display_name if row else None, rank=row.rank if row else None)

    async def report_step(
        self, session: ParticipantSession, step: JourneyStep, state: StepState, detail: str
    ) -> None:
        """Record that the participant reached, finished or could not finish a step."""
        event = {"step": step.value, "state": state.value, "detail": detail}
        async with self._engine.begin() as conn:
            # The quick exit is a safeguarding signal: the officer sees it even after the
            # visit closed (the victim may have asked for an in-person visit first).
            await self._open_visit(conn, session, closed_ok=step is JourneyStep.QUICK_EXIT)
            await append_event(conn, session.visit_id, "progress", session.actor, event)
            alert = await self._raise_alert(conn, session, "progress", event)
        self._alerted(session, alert)
        if session.role is ParticipantRole.VICTIM and state is StepState.DONE:
            self._metrics.join_funnel.labels(step=step.value).inc()

    async def _raise_alert(
        self,
        conn: AsyncConnection,
        session: ParticipantSession,
        kind: str,
        detail: Mapping[str, Any],
    ) -> AlertKind | None:
        """Write the alert the event just written raises, if any, in the same transaction."""
        alert = raised_by(kind, detail)
        if alert is not None:
            await append_event(
                conn, session.visit_id, ALERT_EVENT, session.actor, {"alert": alert.value}
            )
        return alert

    def _alerted(self, session: ParticipantSession, alert: AlertKind | None) -> None:
        """After the commit: count and log the alert, so a dashboard and the logs see it too."""
        if alert is None:
            return
        self._metrics.safeguarding_alerts.labels(kind=alert.value).inc()
        log.warning(
            "safeguarding alert",
            extra={"visit_id": session.visit_id, "alert": alert.value, "actor": session.actor},
        )

    async def record_declaration(
        self,
        session: ParticipantSession,
        *,
        offender_not_present: bool,
        safe_to_talk: bool | None,
    ) -> None:
        """The safety answers of the victim's own declaration: raise the alerts they call for
        (the eligibility items themselves are recorded by the visit service)."""
        if not offender_not_present:
            async with self._engine.begin() as conn:
                await self._open_visit(conn, session)
                alert = await self._raise_alert(
                    conn,
                    session,
                    "eligibility",
                    {"item": "offender_not_present", "value": False},
                )
            self._alerted(session, alert)
        if safe_to_talk is not None:
            await self.record_safe_to_talk(session, safe_to_talk)

    async def request_interpreter(self, session: ParticipantSession, language: str) -> None:
        """The victim asks for an interpreter in ``language``: an event the officer sees on the
        visit's progress, with an audit entry (the language can say something about them)."""
        async with self._engine.begin() as conn:
            await self._open_visit(conn, session)
            detail = {"language": language}
            await append_event(
                conn, session.visit_id, "interpreter_requested", session.actor, detail
            )
            await audit.record(
                conn,
                actor=session.actor,
                action=AuditAction.COLLECTION,
                subject="visit.interpreter_request",
                visit_id=session.visit_id,
                detail=detail,
            )

    async def record_safe_to_talk(self, session: ParticipantSession, value: bool) -> None:
        """'Safe to talk now' is about this moment, not the visit, so it is an event only."""
        async with self._engine.begin() as conn:
            await self._open_visit(conn, session)
            await append_event(
                conn, session.visit_id, "safe_to_talk", session.actor, {"value": value}
            )
            alert = await self._raise_alert(conn, session, "safe_to_talk", {"value": value})
            await audit.record(
                conn,
                actor=session.actor,
                action=AuditAction.COLLECTION,
                subject="visit.safe_to_talk",
                visit_id=session.visit_id,
                detail={"value": value},
            )
        self._alerted(session, alert)

    async def record_consent(
        self, session: ParticipantSession, *, consented: bool, notice_version: str
    ) -> dict[str, Any]:
        """Record consent (or its refusal) to the video call, with time and identity."""
        if session.role not in _CONSENT_ROLES:
            raise Forbidden("only the victim or their guardian can consent to the call")
        now = datetime.now(UTC)
        async with self._engine.begin() as conn:
            await self._open_visit(conn, session)
            await conn.execute(
                insert(schema.consent_records).values(
                    visit_id=session.visit_id,
                    session_id=session.session_id,
                    identity=session.identity,
                    consented=consented,
                    notice_version=notice_version,
                    recorded_at=now,
                )
            )
            detail = {"consented": consented, "notice_version": notice_version}
            await append_event(conn, session.visit_id, "consent", session.actor, detail)
            await audit.record(
                conn,
                actor=session.actor,
                action=AuditAction.COLLECTION,
                subject="visit.consent",
                visit_id=session.visit_id,
                detail=detail,
            )
        return {
            "consented": consented,
            "notice_version": notice_version,
            "identity": session.identity,
            "recorded_at": now.isoformat(),
        }

    async def record_quality(self, session: ParticipantSession, report: QualityReport) -> None:
        async with self._engine.begin() as conn:
            await self._open_visit(conn, session)
            await append_event(
                conn,
                session.visit_id,
                "quality",
                session.actor,
                {
                    "quality": report.quality.value,
                    "action": report.action.value,
                    "video_layer": report.video_layer.value,
                },
            )

    async def progress(
        self, principal: Principal, visit_id: str, *, justification: str | None = None
    ) -> dict[str, Any]:
        """The officer's view of how far the victim got through the join page; the console
        polls it, so one consultation is written per spell of viewing."""
        async with self._engine.connect() as conn:
            visit = await visible_visit(conn, principal, visit_id)
            body = await self._summary(conn, visit_id, status=visit.status.value)
            check = await bandwidth_records.latest_for_visit(conn, visit_id)
        body["status"] = visit.status.value
        await consulted_polled(
            self._engine,
            principal,
            subject="visit.progress",
            visit_id=visit_id,
            owner=visit.officer_id,
            justification=justification,
        )
        # The visit as the list shows it (status, eligibility, recording), so the console can
        # poll this one endpoint.
        body["visit"] = visit.to_json(include_contact=False)
        body["connection_check"] = bandwidth_records.check_json(check) if check else None
        return body

    async def alerts_for_day(self, principal: Principal, day: date) -> dict[str, Any]:
        """The active alerts of each visit ``principal`` sees that is scheduled on ``day``."""
        v, e = schema.visits, schema.visit_events
        start = datetime.combine(day, time.min, tzinfo=UTC)
        visible = (
            select(v.c.id, v.c.status)
            .where(visible_visits(principal))
            .where(v.c.scheduled_at >= start, v.c.scheduled_at < start + timedelta(days=1))
        )
        async with self._engine.connect() as conn:
            statuses = {r.id: r.status for r in await conn.execute(visible)}
            rows = await conn.execute(
                select(e.c.visit_id, e.c.kind, e.c.detail, e.c.at)
                .where(e.c.visit_id.in_(list(statuses)))
                .order_by(e.c.id)
            )
            events: dict[str, list[tuple[str, Mapping[str, Any], datetime]]] = {}
            for r in rows:
                events.setdefault(r.visit_id, []).append((r.kind, r.detail, r.at))
        alerts = {
            vid: [a.to_json() for a in active_alerts(evs, status=statuses[vid])]
            for vid, evs in events.items()
        }
        return {"alerts": {vid: found for vid, found in alerts.items() if found}}

    async def _summary(
        self, conn: AsyncConnection, visit_id: str, *, status: str
    ) -> dict[str, Any]:
        e = schema.visit_events
        rows = (
            (await conn.execute(select(e).where(e.c.visit_id == visit_id).order_by(e.c.id)))
            .mappings()
            .all()
        )
        latest: dict[str, dict[str, Any]] = {}
        quality: list[dict[str, Any]] = []
        opened_at: str | None = None
        safe_to_talk: bool | None = None
        quick_exit_at: str | None = None
        link_issued_at: str | None = None
        interpreter: dict[str, Any] | None = None
        for r in rows:
            kind, detail, at = r["kind"], r["detail"], _iso(r["at"])
            if kind == "link_issued" and detail.get("role") == ParticipantRole.VICTIM.value:
                link_issued_at = at
            elif kind == "link_issued" and detail.get("role") == "interpreter" and interpreter:
                interpreter["link_issued_at"] = at
            elif kind == "interpreter_requested":
                interpreter = {"language": detail.get("language"), "at": at, "link_issued_at": None}
            elif kind == "link_opened" and detail.get("role") == ParticipantRole.VICTIM.value:
                opened_at = at
            elif kind == "progress":
                step = str(detail.get("step"))
                latest[step] = {"state": detail.get("state"), "at": at, "detail": detail["detail"]}
                if step == JourneyStep.QUICK_EXIT.value:
                    quick_exit_at = at
            elif kind == "quality":
                quality.append({"at": at, **detail})
            elif kind == "safe_to_talk":
                safe_to_talk = bool(detail.get("value"))
        steps = []
        for step in STEP_ORDER:
            seen = latest.get(step.value)
            steps.append(
                {
                    "step": step.value,
                    "state": seen["state"] if seen else "pending",
                    "at": seen["at"] if seen else None,
                    "detail": seen["detail"] if seen else "",
                }
            )
        c = schema.consent_records
        consent_row = (
            (
                await conn.execute(
                    select(c).where(c.c.visit_id == visit_id).order_by(c.c.id.desc()).limit(1)
                )
            )
            .mappings()
            .first()
        )
        consent = (
            {
                "consented": consent_row["consented"],
                "notice_version": consent_row["notice_version"],
                "identity": consent_row["identity"],
                "recorded_at": _iso(consent_row["recorded_at"]),
            }
            if consent_row
            else None
        )
        if consent is not None:
            # The consent record itself is authoritative for the consent step.
            step_view = steps[STEP_ORDER.index(JourneyStep.CONSENT)]
            step_view["state"] = (
                StepState.DONE.value if consent["consented"] else StepState.DECLINED.value
            )
            step_view["at"] = consent["recorded_at"]
        current = next((s["step"] for s in steps if s["state"] != StepState.DONE.value), None)
        left = latest.get(JourneyStep.LEFT.value)
        return {
            "visit_id": visit_id,
            "link_issued_at": link_issued_at,
            "interpreter_request": interpreter,
            "link_opened_at": opened_at,
            "steps": steps,
            "current_step": current,
            "safe_to_talk": safe_to_talk,
            "consent": consent,
            "quality": {"current": quality[-1] if quality else None, "changes": quality[-50:]},
            "quick_exit_at": quick_exit_at,
            "alerts": [
                a.to_json()
                for a in active_alerts(
                    ((r["kind"], r["detail"], r["at"]) for r in rows), status=status
                )
            ],
            "left_at": left["at"] if left else None,
        }
