"""Handlers for statement recording (officer and participant) and for sealed evidence."""

from datetime import date
from typing import Literal

from aiohttp import web
from pydantic import Field

from control_plane.api.schemas import Strict
from control_plane.auth import Principal
from control_plane.errors import ValidationFailed
from control_plane.joining import ParticipantSession
from control_plane.keys import RECORDINGS
from evidence.retention import RetentionAction

JUSTIFICATION_HEADER = "X-Justification"


class RecordingConsent(Strict):
    """A participant's spoken consent, recorded by the officer on their behalf."""

    identity: str = Field(
        min_length=3,
        max_length=100,
        description="The participant's identity in the room, e.g. victim:<visit id>",
    )
    text_version: str | None = Field(
        default=None, max_length=40, description="Version of the recording notice read out"
    )


class ParticipantRecordingConsent(Strict):
    """The participant's own consent, given on their page after reading the notice."""

    consent: bool = Field(description="Must be true; a refusal is simply not recording")
    text_version: str | None = Field(default=None, max_length=40)


class ExportEvidence(Strict):
    justification: str = Field(min_length=3, max_length=2000, description="Why (DPA s.62)")
    recipient: str = Field(min_length=2, max_length=200, description="To whom it is disclosed")


class ReviewDate(Strict):
    review_date: date = Field(description="MoPI review date (YYYY-MM-DD)")
    category: str = Field(
        min_length=1,
        max_length=40,
        description=(
            "MoPI category, one of [recording] review_minimum_years (default mopi_group_1, "
            "mopi_group_2, mopi_group_3): the review date can be no earlier than its minimum "
            "after sealing"
        ),
    )
    reason: str = Field(min_length=3, max_length=2000)


class RetentionRequestBody(Strict):
    """Ask for a legal hold to be lifted or the evidence deleted; another person approves."""

    action: Literal["lift_hold", "delete"]
    reason: str = Field(min_length=3, max_length=2000)


class LegalHold(Strict):
    hold: bool
    reason: str = Field(min_length=3, max_length=2000)


class DeleteEvidence(Strict):
    reason: str = Field(min_length=3, max_length=2000)


def _visit_id(request: web.Request) -> str:
    return request.match_info["visit_id"]


def _evidence_id(request: web.Request) -> str:
    return request.match_info["evidence_id"]


async def recording_state(request: web.Request, p: Principal) -> web.Response:
    state = await request.app[RECORDINGS].state(
        p, _visit_id(request), justification=request.headers.get("X-Justification")
    )
    return web.json_response(state)


async def record_consent(
    request: web.Request, p: Principal, body: RecordingConsent
) -> web.Response:
    consents = await request.app[RECORDINGS].officer_consent(
        p, _visit_id(request), identity=body.identity, text_version=body.text_version
    )
    return web.json_response({"consents": consents}, status=201)


async def start_recording(request: web.Request, p: Principal) -> web.Response:
    return web.json_response(await request.app[RECORDINGS].start(p, _visit_id(request)), status=202)


async def stop_recording(request: web.Request, p: Principal) -> web.Response:
    return web.json_response(await request.app[RECORDINGS].stop(p, _visit_id(request)), status=202)


async def participant_consent(
    request: web.Request, session: ParticipantSession, body: ParticipantRecordingConsent
) -> web.Response:
    if not body.consent:
        raise ValidationFailed(
            "consent must be true; to refuse, tell the officer (nothing is recorded without it)"
        )
    consents = await request.app[RECORDINGS].participant_consent(
        session, text_version=body.text_version
    )
    return web.json_response({"consents": consents}, status=201)


async def view_evidence(request: web.Request, p: Principal) -> web.Response:
    body = await request.app[RECORDINGS].view(
        p, _evidence_id(request), request.headers.get(JUSTIFICATION_HEADER)
    )
    return web.json_response(body)


async def evidence_segment(request: web.Request, p: Principal) -> web.StreamResponse:
    path = await request.app[RECORDINGS].segment(
        p,
        _evidence_id(request),
        request.match_info["segment"],
        request.headers.get(JUSTIFICATION_HEADER),
    )
    return web.FileResponse(path, headers={"Content-Type": "video/mp4"})


async def export_evidence(request: web.Request, p: Principal, body: ExportEvidence) -> web.Response:
    done = await request.app[RECORDINGS].export(
        p, _evidence_id(request), justification=body.justification, recipient=body.recipient
    )
    return web.json_response(
        {"bundle": done.bundle.name, "files": done.files, "custody_seq": done.custody_seq},
        status=201,
    )


async def set_review_date(request: web.Request, p: Principal, body: ReviewDate) -> web.Response:
    return web.json_response(
        await request.app[RECORDINGS].set_review_date(
            p,
            _evidence_id(request),
            review_date=body.review_date,
            category=body.category,
            reason=body.reason,
        )
    )


async def set_legal_hold(request: web.Request, p: Principal, body: LegalHold) -> web.Response:
    return web.json_response(
        await request.app[RECORDINGS].set_legal_hold(
            p, _evidence_id(request), hold=body.hold, reason=body.reason
        )
    )


async def request_retention(
    request: web.Request, p: Principal, body: RetentionRequestBody
) -> web.Response:
    done = await request.app[RECORDINGS].request(
        p, _evidence_id(request), action=RetentionAction(body.action), reason=body.reason
    )
    return web.json_response(done, status=201)


async def delete_evidence(request: web.Request, p: Principal, body: DeleteEvidence) -> web.Response:
    seq = await request.app[RECORDINGS].delete(p, _evidence_id(request), reason=body.reason)
    return web.json_response({"deleted": _evidence_id(request), "custody_seq": seq})


_TS = {"type": "string", "format": "date-time"}
_TS_NULL = {"type": ["string", "null"], "format": "date-time"}
_STR_NULL = {"type": ["string", "null"]}
_CONSENT = {
    "type": "object",
    "required": ["identity", "at", "text_version", "method", "recorded_by"],
    "properties": {
        "identity": {"type": "string"},
        "at": _TS,
        "text_version": {"type": "string"},
        "method": {"enum": ["self", "verbal", "initiated"]},
        "recorded_by": {"type": "string"},
    },
}

RECORDING_SCHEMAS: dict[str, dict[str, object]] = {
    "Recording": {
        "type": "object",
        "description": (
            "The visit's statement recording. 'secured' is true only while a live recorder "
            "is writing with no problem, or once the Master is sealed; 'problem' says what is "
            "wrong (no recorder joined, recorder stopped responding, track lost, disk full, "
            "falling behind, seal failed)."
        ),
        "required": ["id", "evidence_id", "status", "secured", "problem", "requested_at"],
        "properties": {
            "id": {"type": "string"},
            "evidence_id": {"type": "string"},
            "status": {
                "enum": ["requested", "recording", "stopping", "sealing", "sealed", "failed"]
            },
            "secured": {"type": "boolean"},
            "problem": _STR_NULL,
            "requested_at": _TS,
            "requested_by": {"type": "string"},
            "started_at": _TS_NULL,
            "stop_requested_at": _TS_NULL,
            "ended_at": _TS_NULL,
            "sealed_at": _TS_NULL,
            "recorder": _STR_NULL,
            "heartbeat_at": _TS_NULL,
            "lag_seconds": {"type": ["number", "null"]},
            "segments": {"type": "integer"},
            "gaps": {"type": "array", "items": {"type": "object"}},
            "manifest_sha256": _STR_NULL,
        },
    },
    "RecordingState": {
        "type": "object",
        "required": ["recording", "consents"],
        "properties": {
            "recording": {"oneOf": [{"$ref": "#/components/schemas/Recording"}, {"type": "null"}]},
            "consents": {"type": "array", "items": _CONSENT},
        },
    },
    "ConsentList": {
        "type": "object",
        "required": ["consents"],
        "properties": {"consents": {"type": "array", "items": _CONSENT}},
    },
    "Evidence": {
        "type": "object",
        "required": ["evidence_id", "visit_id", "manifest", "retention", "custody", "exhibits"],
        "properties": {
            "evidence_id": {"type": "string"},
            "visit_id": {"type": "string"},
            "sealed_at": _TS_NULL,
            "manifest_sha256": _STR_NULL,
            "key_id": _STR_NULL,
            "manifest": {"type": "object", "description": "The signed manifest.json"},
            "retention": {
                "type": "object",
                "description": "From the custody chain; 'pending' awaits a second person",
                "properties": {
                    "review_date": {"type": ["string", "null"], "format": "date"},
                    "legal_hold": {"type": "boolean"},
                    "category": _STR_NULL,
                    "pending": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/RetentionRequested"},
                    },
                },
            },
            "custody": {
                "type": "array",
                "description": "The hash-linked chain of custody, including this view",
                "items": {"type": "object"},
            },
            "exhibits": {
                "type": "array",
                "description": "The visit's sealed statements, stills and uploads",
                "items": {"$ref": "#/components/schemas/Exhibit"},
            },
        },
    },
    "EvidenceExport": {
        "type": "object",
        "required": ["bundle", "files", "custody_seq"],
        "properties": {
            "bundle": {"type": "string", "description": "Bundle folder on the server"},
            "files": {"type": "array", "items": {"type": "string"}},
            "custody_seq": {"type": "integer"},
        },
    },
    "RetentionRequested": {
        "type": "object",
        "required": ["action", "requested_by", "custody_seq"],
        "properties": {
            "action": {"enum": ["lift_hold", "delete"]},
            "requested_by": {"type": "string"},
            "reason": {"type": "string"},
            "custody_seq": {"type": "integer"},
        },
    },
    "EvidenceDeleted": {
        "type": "object",
        "required": ["deleted", "custody_seq"],
        "properties": {"deleted": {"type": "string"}, "custody_seq": {"type": "integer"}},
    },
}
