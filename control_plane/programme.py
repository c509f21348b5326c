"""Programme outcomes: the figures a force reports publicly about video response.

- After the call, the victim may say whether they would recommend it and how satisfied
  they were (1-5), with a short optional comment: once per visit, only once it has ended.
- Officers record what followed each visit: an arrest or formal suspect interview, a
  charge or caution, the victim withdrawing support. Outcomes may be corrected later (a
  charge comes weeks after the call); every change is audited with its before and after.
- Travel avoided: each visit completed by video is an officer journey not driven.

The metrics are recomputed from these tables at every scrape (`refresh_metrics`), so they
survive restarts and every replica reports the same figures.
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from control_plane.auth import Principal
from control_plane.consultation import consulted_polled
from control_plane.errors import Conflict, Forbidden, NotFound
from control_plane.joining import ParticipantSession
from control_plane.metrics import Metrics
from control_plane.visibility import visible_visit
from control_plane.visit_records import Visit, append_event, load_visit
from core import audit, schema
from core.domain import TERMINAL_STATES, AuditAction, ParticipantRole, VisitState

OUTCOMES = ("arrest_or_interview", "charge_or_caution", "victim_withdrew")
MODES = ("video", "in_person")


@dataclass(frozen=True, kw_only=True)
class Feedback:
    recommend: bool
    satisfaction: int
    comment: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "recommend": self.recommend,
            "satisfaction": self.satisfaction,
            "comment": self.comment,
        }


@dataclass(frozen=True, kw_only=True)
class Outcomes:
    arrest_or_interview: bool
    charge_or_caution: bool
    victim_withdrew: bool

    def to_json(self) -> dict[str, bool]:
        return {name: bool(getattr(self, name)) for name in OUTCOMES}


@dataclass(frozen=True, kw_only=True)
class ProgrammeTotals:
    visits: dict[str, int]
    outcomes: dict[str, int]
    recommend: dict[str, int]
    satisfaction_sum: int
    satisfaction_count: int

    @property
    def travel_avoided(self) -> int:
        return self.visits["video"]


def _completed_by_video() -> Any:
    v = schema.visits
    return and_(v.c.status == VisitState.ENDED.value, v.c.victim_joined_at.is_not(None))


class Programme:
    def __init__(self, engine: AsyncEngine, metrics: Metrics) -> None:
        self._engine = engine
        self._metrics = metrics

    # -- the victim's feedback ----------------------------------------------------------------

    @staticmethod
    def _feedback_state(visit: Visit, given: bool) -> str:
        if given:
            return "given"
        return "open" if visit.status is VisitState.ENDED else "not_open"

    async def _feedback_row(self, conn: AsyncConnection, visit_id: str) -> Any:
        f = schema.visit_feedback
        return (await conn.execute(select(f).where(f.c.visit_id == visit_id))).mappings().first()

    @staticmethod
    def _victim_only(session: ParticipantSession) -> None:
        if session.role is not ParticipantRole.VICTIM:
            raise Forbidden("only the victim is asked for feedback")

    async def feedback_status(self, session: ParticipantSession) -> dict[str, Any]:
        """Whether the victim's page should ask: not_open (call not over), open, or given."""
        self._victim_only(session)
        async with self._engine.connect() as conn:
            visit = await load_visit(conn, session.visit_id)
            if visit is None:
                raise NotFound("visit not found")
            row = await self._feedback_row(conn, visit.id)
        return {
            "state": self._feedback_state(visit, row is not None),
            "feedback": _feedback(row).to_json() if row is not None else None,
        }

    async def give_feedback(
        self, session: ParticipantSession, feedback: Feedback
    ) -> dict[str, Any]:
        """Record the victim's feedback: once per visit, and only after the call ended."""
        self._victim_only(session)
        try:
            async with self._engine.begin() as conn:
                visit = await load_visit(conn, session.visit_id)
                if visit is None:
                    raise NotFound("visit not found")
                if visit.status is not VisitState.ENDED:
                    raise Conflict(
                        "feedback opens once the call has ended",
                        details={"status": visit.status.value},
                    )
                if await self._feedback_row(conn, visit.id) is not None:
                    raise Conflict("feedback was already given for this visit; thank you")
                await conn.execute(
                    insert(schema.visit_feedback).values(
                        visit_id=visit.id,
                        identity=session.identity,
                        recommend=feedback.recommend,
                        satisfaction=feedback.satisfaction,
                        comment=feedback.comment,
                        given_at=datetime.now(UTC),
                    )
                )
                await append_event(conn, visit.id, "feedback_given", session.actor, {})
                # The comment is the victim's own words: collected, so audited (not copied).
                await audit.record(
                    conn,
                    actor=session.actor,
                    action=AuditAction.COLLECTION,
                    subject="visit.feedback",
                    visit_id=visit.id,
                    detail={"has_comment": feedback.comment is not None},
                )
        except IntegrityError as exc:
            # Another submission won the race for the primary key.
            raise Conflict("feedback was already given for this visit; thank you") from exc
        return {"state": "given", "feedback": feedback.to_json()}

    # -- the officer's outcomes ----------------------------------------------------------------

    async def outcomes(
        self, principal: Principal, visit_id: str, *, justification: str | None = None
    ) -> dict[str, Any]:
        o = schema.visit_outcomes
        async with self._engine.connect() as conn:
            visit = await visible_visit(conn, principal, visit_id)
            row = (await conn.execute(select(o).where(o.c.visit_id == visit_id))).mappings().first()
        await consulted_polled(
            self._engine,
            principal,
            subject="visit.outcomes.read",
            visit_id=visit_id,
            owner=visit.officer_id,
            justification=justification,
        )
        return _outcomes_json(visit_id, row)

    async def record_outcomes(
        self, principal: Principal, visit_id: str, outcomes: Outcomes
    ) -> dict[str, Any]:
        """Set the visit's outcomes (replacing earlier ones); allowed once the visit is closed."""
        o = schema.visit_outcomes
        now = datetime.now(UTC)
        values = {**outcomes.to_json(), "recorded_by": principal.actor, "recorded_at": now}
        try:
            async with self._engine.begin() as conn:
                visit = await visible_visit(conn, principal, visit_id)
                if visit.status not in TERMINAL_STATES:
                    raise Conflict(
                        f"visit is {visit.status.value}; record outcomes once it is closed",
                        details={"status": visit.status.value},
                    )
                old = (
                    (await conn.execute(select(o).where(o.c.visit_id == visit_id)))
                    .mappings()
                    .first()
                )
                if old is None:
                    await conn.execute(insert(o).values(visit_id=visit_id, **values))
                else:
                    await conn.execute(update(o).where(o.c.visit_id == visit_id).values(**values))
                before = _outcomes(old).to_json() if old is not None else None
                await append_event(conn, visit_id, "outcomes", principal.actor, outcomes.to_json())
                await audit.record(
                    conn,
                    actor=principal.actor,
                    action=AuditAction.ALTERATION,
                    subject="visit.outcomes",
                    visit_id=visit_id,
                    detail={"from": before, "to": outcomes.to_json()},
                )
                row = (
                    (await conn.execute(select(o).where(o.c.visit_id == visit_id)))
                    .mappings()
                    .first()
                )
        except IntegrityError as exc:
            raise Conflict("the outcomes changed while recording them; retry") from exc
        return _outcomes_json(visit_id, row)

    # -- the figures ---------------------------------------------------------------------------

    async def totals(self) -> ProgrammeTotals:
        """Programme totals over every visit, straight from the database."""
        v, o, f = schema.visits, schema.visit_outcomes, schema.visit_feedback

        def count_if(condition: Any) -> Any:
            return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

        async with self._engine.connect() as conn:
            video, in_person = (
                await conn.execute(
                    select(
                        count_if(_completed_by_video()),
                        count_if(v.c.status == VisitState.CHOSE_IN_PERSON.value),
                    )
                )
            ).one()
            outcome_counts = (
                await conn.execute(select(*(count_if(o.c[name]) for name in OUTCOMES)))
            ).one()
            yes, no, total, count = (
                await conn.execute(
                    select(
                        count_if(f.c.recommend),
                        count_if(~f.c.recommend),
                        func.coalesce(func.sum(f.c.satisfaction), 0),
                        func.count(f.c.visit_id),
                    )
                )
            ).one()
        return ProgrammeTotals(
            visits={"video": int(video), "in_person": int(in_person)},
            outcomes={name: int(n) for name, n in zip(OUTCOMES, outcome_counts, strict=True)},
            recommend={"yes": int(yes), "no": int(no)},
            satisfaction_sum=int(total),
            satisfaction_count=int(count),
        )

    async def refresh_metrics(self) -> ProgrammeTotals:
        """Set the programme gauges from the database; called by the /metrics handler."""
        totals = await self.totals()
        m = self._metrics
        for mode, n in totals.visits.items():
            m.programme_visits.labels(mode=mode).set(n)
        for outcome, n in totals.outcomes.items():
            m.programme_outcomes.labels(outcome=outcome).set(n)
        for answer, n in totals.recommend.items():
            m.programme_feedback.labels(recommend=answer).set(n)
        m.programme_satisfaction_sum.set(totals.satisfaction_sum)
        m.programme_satisfaction_count.set(totals.satisfaction_count)
        m.programme_travel_avoided.set(totals.travel_avoided)
        return totals


def _feedback(row: Any) -> Feedback:
    return Feedback(
        recommend=bool(row["recommend"]),
        satisfaction=int(row["satisfaction"]),
        comment=row["comment"],
    )


def _outcomes(row: Any) -> Outcomes:
    return Outcomes(**{name: bool(row[name]) for name in OUTCOMES})


def _outcomes_json(visit_id: str, row: Any) -> dict[str, Any]:
    if row is None:
        return {"visit_id": visit_id, "outcomes": None, "recorded_by": None, "recorded_at": None}
    return {
        "visit_id": visit_id,
        "outcomes": _outcomes(row).to_json(),
        "recorded_by": row["recorded_by"],
        "recorded_at": row["recorded_at"].isoformat(),
    }
