"""Handlers for officers' clients (the console and force systems), authenticated as officers."""

import uuid
from datetime import date

from aiohttp import web

from control_plane.api.bodies import parse_day, parse_value
from control_plane.api.schemas import (
    CloseVisit,
    CreateLink,
    CreateVisit,
    EligibilityPath,
    RecordChoice,
    RecordEligibility,
)
from control_plane.auth import Principal
from control_plane.errors import BadRequest, NotFound
from control_plane.keys import JOINING, VISITS
from core.domain import Choice, VisitState
from core.tokens import IssuedToken


def token_json(issued: IssuedToken) -> dict[str, object]:
    return {
        "url": issued.url,
        "token": issued.token,
        "identity": issued.identity,
        "room": issued.room,
        "expires_in": issued.expires_in,
    }


def _visit_id(request: web.Request) -> str:
    value = request.match_info["visit_id"]
    try:
        # Visit ids are UUIDs; anything else cannot name a visit (and never reaches SQL).
        return str(uuid.UUID(value))
    except ValueError as exc:
        raise NotFound(f"no visit {value[:64]!r}: visit ids are UUIDs") from exc


async def whoami(request: web.Request, p: Principal) -> web.Response:
    return web.json_response(
        {
            "officer_id": p.officer_id,
            "collar_number": p.collar_number,
            "display_name": p.display_name,
            "unit": p.unit,
            "role": p.role.value,
        }
    )


async def create_visit(request: web.Request, p: Principal, body: CreateVisit) -> web.Response:
    visit = await request.app[VISITS].create(
        p,
        crime_reference=body.crime_reference,
        scheduled_at=body.scheduled_at,
        contact_channel=body.contact.channel,
        contact_value=body.contact.value,
    )
    return web.json_response(visit.to_json(include_contact=True), status=201)


async def list_visits(request: web.Request, p: Principal) -> web.Response:
    day: date | None = None
    status: VisitState | None = None
    if "date" in request.query:
        day = parse_day(request.query["date"])
    if "status" in request.query:
        try:
            status = VisitState(request.query["status"])
        except ValueError as exc:
            allowed = ", ".join(s.value for s in VisitState)
            raise BadRequest(f"query parameter 'status' must be one of: {allowed}") from exc
    visits = await request.app[VISITS].list_for(
        p, day=day, status=status, justification=request.headers.get("X-Justification")
    )
    return web.json_response({"visits": [v.to_json(include_contact=False) for v in visits]})


async def get_visit(request: web.Request, p: Principal) -> web.Response:
    visit = await request.app[VISITS].get(
        p, _visit_id(request), justification=request.headers.get("X-Justification")
    )
    return web.json_response(visit.to_json(include_contact=True))


async def visit_events(request: web.Request, p: Principal) -> web.Response:
    events = await request.app[VISITS].events(
        p, _visit_id(request), justification=request.headers.get("X-Justification")
    )
    return web.json_response({"events": events})


async def visit_audit(request: web.Request, p: Principal) -> web.Response:
    entries = await request.app[VISITS].audit_trail(
        p, _visit_id(request), justification=request.headers.get("X-Justification")
    )
    return web.json_response({"entries": entries})


async def record_choice(request: web.Request, p: Principal, body: RecordChoice) -> web.Response:
    visit = await request.app[VISITS].officer_record_choice(
        p, _visit_id(request), video=body.choice is Choice.VIDEO
    )
    return web.json_response(visit.to_json(include_contact=False))


async def record_eligibility(
    request: web.Request, p: Principal, body: RecordEligibility
) -> web.Response:
    item = parse_value(EligibilityPath, item=request.match_info["item"]).item
    visit = await request.app[VISITS].officer_record_eligibility(
        p, _visit_id(request), item=item, value=body.value, note=body.note
    )
    return web.json_response(visit.to_json(include_contact=False))


async def start_visit(request: web.Request, p: Principal) -> web.Response:
    visit = await request.app[VISITS].start(p, _visit_id(request))
    return web.json_response(visit.to_json(include_contact=False))


async def end_visit(request: web.Request, p: Principal, body: CloseVisit) -> web.Response:
    visit = await request.app[VISITS].end(p, _visit_id(request), reason=body.reason)
    return web.json_response(visit.to_json(include_contact=False))


async def cancel_visit(request: web.Request, p: Principal, body: CloseVisit) -> web.Response:
    visit = await request.app[VISITS].cancel(p, _visit_id(request), reason=body.reason)
    return web.json_response(visit.to_json(include_contact=False))


async def no_show(request: web.Request, p: Principal) -> web.Response:
    visit = await request.app[VISITS].no_show(p, _visit_id(request))
    return web.json_response(visit.to_json(include_contact=False))


async def officer_token(request: web.Request, p: Principal) -> web.Response:
    issued = await request.app[VISITS].officer_token(p, _visit_id(request))
    return web.json_response(token_json(issued))


async def create_link(request: web.Request, p: Principal, body: CreateLink) -> web.Response:
    link = await request.app[JOINING].create_link(p, _visit_id(request), body.role)
    return web.json_response(
        {
            "link_id": link.link_id,
            "role": link.role.value,
            "url": link.url,
            "expires_at": link.expires_at.isoformat(),
        },
        status=201,
    )
