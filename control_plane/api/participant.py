"""Handlers for the victim's (or guardian's, interpreter's) page, opened from a join link."""

import logging
import string

from aiohttp import web

from control_plane.api.endpoints import PARTICIPANT, narrowed
from control_plane.api.officer import token_json
from control_plane.api.schemas import RecordChoice, SelfDeclaration, Strict
from control_plane.bandwidth.gating import TokenMode
from control_plane.errors import Forbidden, NotFound
from control_plane.joining import Joined, ParticipantSession
from control_plane.journey import OfficerCard
from control_plane.keys import JOIN_FAILURES, JOINING, JOURNEY, METRICS, VISITS
from control_plane.rate_limit import TooManyRequests
from control_plane.visits import Visit
from core.domain import Choice, EligibilityItem, ParticipantRole

log = logging.getLogger(__name__)

CODE_MAX = 100
_CODE_CHARS = frozenset(string.ascii_letters + string.digits + "-_")


class TokenRequest(Strict):
    """Optional body of POST /api/v1/participant/token; without it, video is asked for."""

    mode: TokenMode = TokenMode.VIDEO


async def participant_view(
    request: web.Request,
    visit: Visit,
    session: ParticipantSession,
    officer: OfficerCard | None = None,
) -> dict[str, object]:
    """What the person on the phone may see: who is calling (officer's name, rank, collar) and
    their own crime reference, so a scam-wary victim can trust the call; no contact details.
    `officer` is looked up unless the caller already has it."""
    if officer is None:
        officer = await request.app[JOURNEY].officer_card(visit.officer_id)
    return {
        "visit_id": visit.id,
        "role": session.role.value,
        "status": visit.status.value,
        "scheduled_at": visit.scheduled_at.isoformat(),
        "officer_collar": visit.officer_collar,
        "officer_name": officer.name,
        "officer_rank": officer.rank,
        "crime_reference": visit.crime_reference,
        "eligibility_missing": visit.missing_eligibility(),
    }


async def _spend(request: web.Request, code: str) -> Joined:
    if not code or len(code) > CODE_MAX or not _CODE_CHARS.issuperset(code):
        raise NotFound("this join link is not valid; check it was copied in full")
    return await request.app[JOINING].exchange(code)


async def exchange_code(request: web.Request) -> web.Response:
    # Failed attempts are throttled per client address and overall (control_plane.rate_limit).
    failures, client = request.app[JOIN_FAILURES], request.remote or "unknown"
    try:
        stamp = failures.attempt(client)
    except TooManyRequests as exc:
        request.app[METRICS].join_throttled.labels(scope=exc.scope).inc()
        log.warning("join-code attempts throttled", extra={"scope": exc.scope})
        raise
    joined = await _spend(request, request.match_info["code"])
    failures.succeeded(client, stamp)
    officer = OfficerCard(name=joined.officer_name, rank=joined.officer_rank)
    view = await participant_view(request, joined.visit, joined.session, officer)
    return web.json_response({"session": joined.secret, "visit": view}, status=201)


async def my_visit(request: web.Request, session: ParticipantSession) -> web.Response:
    visit = await request.app[JOINING].visit_for(session)
    return web.json_response(await participant_view(request, visit, session))


async def _victim_only(request: web.Request, session: ParticipantSession) -> ParticipantSession:
    if session.role is not ParticipantRole.VICTIM:
        raise Forbidden("only the victim can make this choice")
    return session


VICTIM = narrowed(PARTICIPANT, _victim_only)
"""A participant session of the victim; a guardian's or interpreter's is refused (403)."""


async def choose(
    request: web.Request, session: ParticipantSession, body: RecordChoice
) -> web.Response:
    visit = await request.app[VISITS].record_choice(
        session.visit_id, actor=session.actor, video=body.choice is Choice.VIDEO
    )
    return web.json_response(await participant_view(request, visit, session))


async def declare(
    request: web.Request, session: ParticipantSession, body: SelfDeclaration
) -> web.Response:
    visit = await request.app[VISITS].record_eligibility(
        session.visit_id,
        items=[
            (EligibilityItem.ADULT_OR_GUARDIAN, body.adult_or_guardian),
            (EligibilityItem.OFFENDER_NOT_PRESENT, body.offender_not_present),
            (EligibilityItem.SMARTPHONE_WITH_VIDEO, body.smartphone_with_video),
        ],
        actor=session.actor,
        note="self-declared by the victim",
    )
    await request.app[JOURNEY].record_declaration(
        session, offender_not_present=body.offender_not_present, safe_to_talk=body.safe_to_talk
    )
    return web.json_response(await participant_view(request, visit, session))


async def participant_token(
    request: web.Request, session: ParticipantSession, body: TokenRequest
) -> web.Response:
    issued, allowed = await request.app[JOINING].participant_token(session, body.mode)
    return web.json_response(token_json(issued) | allowed.to_json())
