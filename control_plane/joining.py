"""One-time join links and the participant sessions they are exchanged for.

A link code is 256 bits from `secrets`, stored only as its SHA-256, expires, and is
single-use: the exchange is one conditional UPDATE, so two phones racing for the same link
cannot both win. The exchange yields a participant session (another random secret) that
lets the victim's page move through its steps and fetch a LiveKit token for that room only.

A new link for a role replaces that participant: earlier unused links of the role are
revoked, and so is every session opened from an earlier link (it answers 401 from then on;
whoever is in the room under it is removed from the room). The visit closing revokes
sessions too (`control_plane.visit_records.revoke_sessions`). The connection check that
gates the LiveKit token, and recording consent, belong to the session that made them, so a
replaced session's check or consent does not carry over to the identity's next session.
"""

import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from control_plane.auth import Principal, hash_secret
from control_plane.bandwidth.gating import TokenMode, TokenPermit, permit
from control_plane.errors import (
    Conflict,
    DependencyUnavailable,
    Gone,
    NotFound,
    Unauthenticated,
)
from control_plane.metrics import Metrics
from control_plane.sfu import Sfu
from control_plane.visit_records import (
    ELIGIBILITY_COLUMNS,
    add_event,
    latest_eligibility,
    revoke_sessions,
)
from control_plane.visits import Visit, VisitService, append_event, load_visit
from core import audit, db, schema
from core.domain import ROOM_STATES, TERMINAL_STATES, AuditAction, ParticipantRole, TokenRole
from core.driver_sql import DriverStatement
from core.settings import Settings
from core.tokens import IssuedToken, identity_for, mint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewLink:
    link_id: str
    role: ParticipantRole
    url: str
    code: str
    expires_at: datetime


@dataclass(frozen=True)
class ParticipantSession:
    session_id: str
    visit_id: str
    role: ParticipantRole
    identity: str

    @property
    def actor(self) -> str:
        return f"participant:{self.identity}"


@dataclass(frozen=True)
class Joined:
    """A spent join code: the session secret (shown once), the session, and what the page
    shows first. `visit` carries its eligibility but not its recording or connection check,
    which the participant's view does not show."""

    secret: str
    session: ParticipantSession
    visit: Visit
    officer_name: str | None
    officer_rank: str | None


_links = schema.join_links
# Built once and run on the driver's cursor (core.driver_sql): the exchange is every victim's
# first tap, and SQLAlchemy's per-statement execution was a third of its CPU (issue 14).
_SPEND = DriverStatement(
    update(_links)
    .where(
        _links.c.code_hash == bindparam("spent_hash"),
        _links.c.used_at.is_(None),
        _links.c.revoked_at.is_(None),
        _links.c.expires_at > bindparam("now"),
    )
    .values(used_at=bindparam("spent_at"))
    .returning(_links.c.id, _links.c.visit_id, _links.c.role)
)
_VISIT_OFFICER_AND_ELIGIBILITY = DriverStatement(
    select(
        schema.visits,
        schema.officers.c.display_name.label("officer_name"),
        schema.officers.c.rank.label("officer_rank"),
        *ELIGIBILITY_COLUMNS,
    )
    .select_from(
        schema.visits.outerjoin(
            schema.officers, schema.officers.c.id == schema.visits.c.officer_id
        ).outerjoin(
            schema.eligibility_records,
            schema.eligibility_records.c.visit_id == schema.visits.c.id,
        )
    )
    .where(schema.visits.c.id == bindparam("visit_id"))
    .order_by(schema.eligibility_records.c.id)
)
_sessions = schema.participant_sessions
_SESSION = DriverStatement(
    select(_sessions).where(_sessions.c.secret_hash == bindparam("secret_hash")),
    point_read=True,
)
"""Every request of the victim's page looks its session up."""
_SESSION_FIELDS = (
    "id",
    "visit_id",
    "link_id",
    "role",
    "identity",
    "secret_hash",
    "created_at",
    "expires_at",
)
_NEW_SESSION = DriverStatement(
    insert(_sessions).values({name: bindparam(name) for name in _SESSION_FIELDS})
)


def _participant_view(conn: Connection, session: ParticipantSession, visit_id: str) -> None:
    """The audit entry of a participant viewing their own visit."""
    audit.append(
        conn,
        actor=session.actor,
        action=AuditAction.CONSULTATION,
        subject="visit.participant_view",
        visit_id=visit_id,
        justification="participant viewing their own visit",
    )


def _spend(conn: Connection, code: str, *, now: datetime, session_ttl: timedelta) -> "Joined":
    """The exchange's transaction, on the caller's connection (run by `run_sync`)."""
    # The single-use write: one conditional UPDATE, so two phones racing for the same link
    # cannot both win; RETURNING saves a read on the usual path.
    spent = _SPEND.rows(conn, {"spent_hash": hash_secret(code), "now": now, "spent_at": now})
    if not spent:
        _refuse(conn, code)
    ((link_id, visit_id, link_role),) = spent
    found = _VISIT_OFFICER_AND_ELIGIBILITY.mappings(conn, {"visit_id": visit_id})
    row = found[0]
    visit = Visit.from_row(row, latest_eligibility(found))
    if visit.status in TERMINAL_STATES:
        raise Gone(f"this visit is {visit.status.value.replace('_', ' ')}")
    role = ParticipantRole(link_role)
    subject = visit.id if role is ParticipantRole.VICTIM else link_id
    identity = identity_for(TokenRole(role.value), subject)
    secret = secrets.token_urlsafe(32)
    session = ParticipantSession(
        session_id=str(uuid.uuid4()), visit_id=visit.id, role=role, identity=identity
    )
    _NEW_SESSION.run(
        conn,
        {
            "id": session.session_id,
            "visit_id": visit.id,
            "link_id": link_id,
            "role": role.value,
            "identity": identity,
            "secret_hash": hash_secret(secret),
            "created_at": now,
            "expires_at": now + session_ttl,
        },
    )
    add_event(conn, visit.id, "link_opened", identity, {"role": role.value})
    _participant_view(conn, session, visit.id)
    return Joined(
        secret=secret,
        session=session,
        visit=visit,
        officer_name=row["officer_name"],
        officer_rank=row["officer_rank"],
    )


def _refuse(conn: Connection, code: str) -> NoReturn:
    """Say why a code could not be spent (the unusual path, so it may read again)."""
    links = schema.join_links
    query = select(links).where(links.c.code_hash == hash_secret(code))
    link = conn.execute(query).mappings().first()
    if link is None:
        raise NotFound("this join link is not valid; check it was copied in full")
    if link["used_at"] is not None:
        raise Gone("this join link has already been used; ask the officer for a new one")
    if link["revoked_at"] is not None:
        raise Gone("this join link was replaced by a newer one; use the latest message")
    raise Gone("this join link has expired; ask the officer for a new one")


class Joining:
    def __init__(
        self,
        engine: AsyncEngine,
        visits: VisitService,
        settings: Settings,
        metrics: Metrics,
        *,
        sfu: Sfu,
    ) -> None:
        self._engine = engine
        self._visits = visits
        self._settings = settings
        self._metrics = metrics
        self._sfu = sfu

    async def create_link(
        self, principal: Principal, visit_id: str, role: ParticipantRole
    ) -> NewLink:
        """Create a join link. It replaces the role's participant: earlier unused links of the
        role are revoked, and so are the sessions opened from them (removed from the room)."""
        visit = await self._visits.get(principal, visit_id, justification="issue join link")
        if visit.status.value in ("chose_in_person", "ended", "cancelled", "no_show"):
            raise Conflict(f"visit is {visit.status.value}; no new links can be issued")
        code = secrets.token_urlsafe(32)
        link_id = str(uuid.uuid4())
        now = datetime.now(UTC)
        expires_at = now + self._settings.join.link_ttl
        links = schema.join_links
        async with self._engine.begin() as conn:
            # Resending replaces the old link, so a stale SMS cannot be used later.
            await conn.execute(
                update(links)
                .where(
                    links.c.visit_id == visit_id,
                    links.c.role == role.value,
                    links.c.used_at.is_(None),
                    links.c.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )
            revoked = await revoke_sessions(
                conn, visit_id, actor=principal.actor, reason="a new link was issued", role=role
            )
            await conn.execute(
                insert(links).values(
                    id=link_id,
                    visit_id=visit_id,
                    role=role.value,
                    code_hash=hash_secret(code),
                    created_by=principal.actor,
                    created_at=now,
                    expires_at=expires_at,
                )
            )
            await append_event(
                conn,
                visit_id,
                "link_issued",
                principal.actor,
                {"role": role.value, "link_id": link_id},
            )
        if revoked and visit.room_name is not None:
            await self._remove_from_room(visit.room_name, revoked)
        if role is ParticipantRole.VICTIM:
            self._metrics.join_funnel.labels(step="link_sent").inc()
        base = self._settings.join.public_base_url.rstrip("/")
        return NewLink(
            link_id=link_id, role=role, url=f"{base}/join/{code}", code=code, expires_at=expires_at
        )

    async def _remove_from_room(self, room: str, identities: set[str]) -> None:
        """Disconnect whoever is in the room under a revoked session. A failure is loud but
        does not undo the new link: the webhook check removes them when they next join."""
        for identity in sorted(identities):
            try:
                await self._sfu.remove_participant(room, identity)
            except DependencyUnavailable as exc:
                log.warning("could not remove a revoked participant: %s", exc.message)

    async def exchange(self, code: str) -> "Joined":
        """Spend a join code; return the session secret, the session it opens and what the
        page shows first. One write transaction does it all, the page's first (audited) view
        included: one commit, one lock on SQLite, instead of one per step."""
        async with self._engine.begin() as conn:
            # The transaction's statements in one greenlet instead of one each (issue 14:
            # the exchange is every victim's first tap; BENCHMARKS.md, control-plane overhead).
            joined = await conn.run_sync(
                _spend, code, now=datetime.now(UTC), session_ttl=self._settings.join.session_ttl
            )
        if joined.session.role is ParticipantRole.VICTIM:
            self._metrics.join_funnel.labels(step="link_opened").inc()
        return joined

    async def session(self, secret: str) -> ParticipantSession:
        async with db.one_read(self._engine) as conn:
            row = await conn.run_sync(_SESSION.first, {"secret_hash": hash_secret(secret)})
        if row is None:
            raise Unauthenticated("unknown participant session; open your join link again")
        if row["revoked_at"] is not None:
            raise Unauthenticated(
                "this session was replaced by a newer link or the visit has closed"
            )
        if row["expires_at"] <= datetime.now(UTC):
            raise Unauthenticated("this session has expired; ask the officer for a new link")
        return ParticipantSession(
            session_id=row["id"],
            visit_id=row["visit_id"],
            role=ParticipantRole(row["role"]),
            identity=row["identity"],
        )

    async def visit_for(self, session: ParticipantSession) -> Visit:
        async with self._engine.begin() as conn:
            visit = await load_visit(conn, session.visit_id)
            if visit is None:
                raise NotFound("visit not found")
            await conn.run_sync(_participant_view, session, visit.id)
        return visit

    async def participant_token(
        self, session: ParticipantSession, mode: TokenMode = TokenMode.VIDEO
    ) -> tuple[IssuedToken, TokenPermit]:
        """A LiveKit token for this visit's room only, publishing only what the participant's
        latest connection check allows (control_plane.bandwidth.gating)."""
        visit = await self.visit_for(session)
        if visit.status not in ROOM_STATES or visit.room_name is None:
            raise Conflict(
                "the officer has not opened the call yet; please wait on this page",
                details={"status": visit.status.value},
            )
        async with self._engine.connect() as conn:
            allowed = await permit(
                conn,
                session_id=session.session_id,
                mode=mode,
                settings=self._settings.bandwidth,
            )
        role = TokenRole(session.role.value)
        issued = mint(
            self._settings.livekit,
            role=role,
            room=visit.room_name,
            identity=session.identity,
            display_name=session.role.value.capitalize(),
            ttl=self._settings.join.token_ttl,
            sources=allowed.sources,
            session_id=session.session_id,
        )
        self._metrics.tokens_issued.labels(role=role.value).inc()
        return issued, allowed
