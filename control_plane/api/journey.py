"""Handlers for the join page's progress, consent and quality reports, and the officer's view."""

from typing import Any

from aiohttp import web
from pydantic import Field

from control_plane.api.bodies import parse_day
from control_plane.api.officer import _visit_id
from control_plane.api.schemas import Strict
from control_plane.auth import Principal
from control_plane.joining import ParticipantSession
from control_plane.journey import (
    STEP_ORDER,
    ConnectionQuality,
    JourneyStep,
    QualityAction,
    QualityReport,
    StepState,
    VideoLayer,
)
from control_plane.keys import JOURNEY
from control_plane.safeguarding import AlertKind


class ReportProgress(Strict):
    step: JourneyStep
    state: StepState
    detail: str = Field(
        default="",
        max_length=200,
        description="A short machine-made note, e.g. 'camera permission denied'",
    )


class GiveConsent(Strict):
    consented: bool
    notice_version: str = Field(
        min_length=1,
        max_length=40,
        pattern=r"^[a-z0-9.\-]+$",
        description="Which wording of the consent notice was shown",
    )


class InterpreterRequest(Strict):
    language: str = Field(
        min_length=1,
        max_length=60,
        description="The language the victim asks an interpreter for, in their own words",
    )


class ReportQuality(Strict):
    quality: ConnectionQuality
    action: QualityAction
    video_layer: VideoLayer = Field(description="The highest video layer now being sent")


async def report_progress(
    request: web.Request, session: ParticipantSession, body: ReportProgress
) -> web.Response:
    await request.app[JOURNEY].report_step(session, body.step, body.state, body.detail)
    return web.json_response({"recorded": True})


async def give_consent(
    request: web.Request, session: ParticipantSession, body: GiveConsent
) -> web.Response:
    record = await request.app[JOURNEY].record_consent(
        session, consented=body.consented, notice_version=body.notice_version
    )
    return web.json_response(record, status=201)


async def report_quality(
    request: web.Request, session: ParticipantSession, body: ReportQuality
) -> web.Response:
    await request.app[JOURNEY].record_quality(
        session,
        QualityReport(quality=body.quality, action=body.action, video_layer=body.video_layer),
    )
    return web.json_response({"recorded": True})


async def request_interpreter(
    request: web.Request, session: ParticipantSession, body: InterpreterRequest
) -> web.Response:
    await request.app[JOURNEY].request_interpreter(session, body.language.strip())
    return web.json_response({"recorded": True})


async def visit_progress(request: web.Request, p: Principal) -> web.Response:
    body = await request.app[JOURNEY].progress(
        p, _visit_id(request), justification=request.headers.get("X-Justification")
    )
    return web.json_response(body)


async def visit_alerts(request: web.Request, p: Principal) -> web.Response:
    """Active safeguarding alerts of the caller's visits on one day, for the visit list."""
    day = parse_day(request.query.get("date", ""))
    return web.json_response(await request.app[JOURNEY].alerts_for_day(p, day))


_TS_NULL = {"type": ["string", "null"], "format": "date-time"}
_CONSENT = {
    "type": "object",
    "required": ["consented", "notice_version", "identity", "recorded_at"],
    "properties": {
        "consented": {"type": "boolean"},
        "notice_version": {"type": "string"},
        "identity": {"type": "string"},
        "recorded_at": {"type": "string", "format": "date-time"},
    },
}

_ALERT = {
    "type": "object",
    "required": ["kind", "at", "message"],
    "properties": {
        "kind": {"enum": [k.value for k in AlertKind]},
        "at": {"type": "string", "format": "date-time"},
        "message": {"type": "string", "description": "What the officer reads, in plain words"},
    },
}

JOURNEY_SCHEMAS: dict[str, dict[str, Any]] = {
    "SafeguardingAlert": _ALERT,
    "VisitAlerts": {
        "type": "object",
        "required": ["alerts"],
        "properties": {
            "alerts": {
                "type": "object",
                "description": "Active alerts by visit id; visits without any are left out",
                "additionalProperties": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/SafeguardingAlert"},
                },
            }
        },
    },
    "Recorded": {
        "type": "object",
        "required": ["recorded"],
        "properties": {"recorded": {"const": True}},
    },
    "Consent": _CONSENT,
    "Progress": {
        "type": "object",
        "required": [
            "visit_id",
            "status",
            "steps",
            "current_step",
            "consent",
            "quality",
            "alerts",
            "visit",
            "connection_check",
        ],
        "properties": {
            "visit_id": {"type": "string"},
            "status": {"type": "string"},
            "link_opened_at": _TS_NULL,
            "steps": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["step", "state", "at", "detail"],
                    "properties": {
                        "step": {"enum": [s.value for s in STEP_ORDER]},
                        "state": {"enum": ["pending", *(s.value for s in StepState)]},
                        "at": _TS_NULL,
                        "detail": {"type": "string"},
                    },
                },
            },
            "current_step": {"type": ["string", "null"]},
            "safe_to_talk": {"type": ["boolean", "null"]},
            "consent": {"oneOf": [_CONSENT, {"type": "null"}]},
            "quality": {
                "type": "object",
                "required": ["current", "changes"],
                "properties": {
                    "current": {"type": ["object", "null"]},
                    "changes": {"type": "array", "items": {"type": "object"}},
                },
            },
            "quick_exit_at": _TS_NULL,
            "link_issued_at": _TS_NULL,
            "interpreter_request": {
                "type": ["object", "null"],
                "description": "The victim's latest request for an interpreter",
                "required": ["language", "at", "link_issued_at"],
                "properties": {
                    "language": {"type": "string"},
                    "at": {"type": "string", "format": "date-time"},
                    "link_issued_at": _TS_NULL,
                },
            },
            "alerts": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/SafeguardingAlert"},
                "description": "Active safeguarding alerts, most serious first",
            },
            "left_at": _TS_NULL,
            "visit": {"$ref": "#/components/schemas/Visit"},
            "connection_check": {
                "type": ["object", "null"],
                "description": "The victim's latest connection check and its verdict",
            },
        },
    },
}
