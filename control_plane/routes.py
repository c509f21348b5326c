"""Every route, declared once. The app and the OpenAPI document are both built from this table."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web
from pydantic import BaseModel

from control_plane.api import officer, participant, schemas, system

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Auth(StrEnum):
    NONE = "none"
    OFFICER = "officer"
    PARTICIPANT = "participant"
    LIVEKIT = "livekit"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    auth: Auth
    body: type[BaseModel] | None = None
    response: str | None = None
    """Name of the response schema in the OpenAPI components."""
    status: int = 200
    tags: tuple[str, ...] = field(default=())


V = "/api/v1/visits/{visit_id}"
P = "/api/v1/participant"

ROUTES: tuple[Route, ...] = (
    Route(
        "GET",
        "/healthz",
        system.healthz,
        "Liveness: the process is up",
        Auth.NONE,
        tags=("system",),
    ),
    Route(
        "GET",
        "/readyz",
        system.readyz,
        "Readiness: the database and the SFU answer",
        Auth.NONE,
        response="Readiness",
        tags=("system",),
    ),
    Route("GET", "/metrics", system.metrics, "Prometheus metrics", Auth.NONE, tags=("system",)),
    Route(
        "GET", "/api/v1/openapi.json", system.openapi, "This document", Auth.NONE, tags=("system",)
    ),
    Route(
        "POST",
        "/api/v1/livekit/webhook",
        system.livekit_webhook,
        "LiveKit webhook receiver (signed by the SFU)",
        Auth.LIVEKIT,
        tags=("sfu",),
    ),
    Route(
        "GET",
        "/api/v1/me",
        officer.whoami,
        "The authenticated officer",
        Auth.OFFICER,
        response="Officer",
        tags=("officer",),
    ),
    Route(
        "POST",
        "/api/v1/visits",
        officer.create_visit,
        "Offer a video visit",
        Auth.OFFICER,
        body=schemas.CreateVisit,
        response="Visit",
        status=201,
        tags=("officer",),
    ),
    Route(
        "GET",
        "/api/v1/visits",
        officer.list_visits,
        "Visits the officer may see (own; a supervisor's unit)",
        Auth.OFFICER,
        response="VisitList",
        tags=("officer",),
    ),
    Route(
        "GET", V, officer.get_visit, "One visit", Auth.OFFICER, response="Visit", tags=("officer",)
    ),
    Route(
        "GET",
        V + "/events",
        officer.visit_events,
        "The visit's history",
        Auth.OFFICER,
        response="EventList",
        tags=("officer",),
    ),
    Route(
        "GET",
        V + "/audit",
        officer.visit_audit,
        "DPA s.62 audit entries for the visit",
        Auth.OFFICER,
        response="AuditList",
        tags=("officer",),
    ),
    Route(
        "POST",
        V + "/choice",
        officer.record_choice,
        "Record the victim's choice (video or in person)",
        Auth.OFFICER,
        body=schemas.RecordChoice,
        response="Visit",
        tags=("officer",),
    ),
    Route(
        "PUT",
        V + "/eligibility/{item}",
        officer.record_eligibility,
        "Record one eligibility item",
        Auth.OFFICER,
        body=schemas.RecordEligibility,
        response="Visit",
        tags=("officer",),
    ),
    Route(
        "POST",
        V + "/links",
        officer.create_link,
        "Issue a one-time join link (victim, guardian or interpreter)",
        Auth.OFFICER,
        body=schemas.CreateLink,
        response="Link",
        status=201,
        tags=("officer",),
    ),
    Route(
        "POST",
        V + "/start",
        officer.start_visit,
        "Open the LiveKit room",
        Auth.OFFICER,
        response="Visit",
        tags=("officer",),
    ),
    Route(
        "POST",
        V + "/token",
        officer.officer_token,
        "The officer's LiveKit token",
        Auth.OFFICER,
        response="Token",
        tags=("officer",),
    ),
    Route(
        "POST",
        V + "/end",
        officer.end_visit,
        "End the call and close the room",
        Auth.OFFICER,
        body=schemas.CloseVisit,
        response="Visit",
        tags=("officer",),
    ),
    Route(
        "POST",
        V + "/cancel",
        officer.cancel_visit,
        "Cancel the visit",
        Auth.OFFICER,
        body=schemas.CloseVisit,
        response="Visit",
        tags=("officer",),
    ),
    Route(
        "POST",
        V + "/no-show",
        officer.no_show,
        "Record that the victim did not join",
        Auth.OFFICER,
        response="Visit",
        tags=("officer",),
    ),
    Route(
        "POST",
        "/api/v1/join/{code}",
        participant.exchange_code,
        "Spend a one-time join code for a participant session",
        Auth.NONE,
        response="ParticipantSession",
        status=201,
        tags=("participant",),
    ),
    Route(
        "GET",
        P + "/visit",
        participant.my_visit,
        "The participant's view of the visit",
        Auth.PARTICIPANT,
        response="ParticipantVisit",
        tags=("participant",),
    ),
    Route(
        "POST",
        P + "/choice",
        participant.choose,
        "The victim chooses video or in person",
        Auth.PARTICIPANT,
        body=schemas.RecordChoice,
        response="ParticipantVisit",
        tags=("participant",),
    ),
    Route(
        "POST",
        P + "/eligibility",
        participant.declare,
        "The victim's self-declaration",
        Auth.PARTICIPANT,
        body=schemas.SelfDeclaration,
        response="ParticipantVisit",
        tags=("participant",),
    ),
    Route(
        "POST",
        P + "/token",
        participant.participant_token,
        "A LiveKit token for camera and mic in this visit's room",
        Auth.PARTICIPANT,
        response="Token",
        tags=("participant",),
    ),
)


def add_routes(app: web.Application) -> None:
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)
