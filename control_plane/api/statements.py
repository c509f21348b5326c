"""Handlers for written statements, stills and uploads (issue 15; control_plane.exhibits)."""

import base64
import binascii
import contextlib
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from pydantic import Field

from control_plane.api.schemas import Strict
from control_plane.auth import Principal
from control_plane.errors import ValidationFailed
from control_plane.exhibits.app import EXHIBIT_ACCESS, MEDIA, STATEMENTS
from control_plane.exhibits.media import BodyTooLarge
from control_plane.joining import ParticipantSession

JUSTIFICATION_HEADER = "X-Justification"
FILE_NAME_HEADER = "X-File-Name"
CAPTURE_SHA256_HEADER = "X-Capture-SHA256"
CAPTURED_AT_HEADER = "X-Captured-At"


class CreateStatement(Strict):
    language: str = Field(
        default="en",
        pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$",
        description="BCP 47 language the statement is taken in (it stays in it), e.g. en, cy, pl",
    )
    supersedes: str | None = Field(
        default=None, max_length=36, description="A signed statement this one corrects"
    )


class SaveStatement(Strict):
    text: str = Field(max_length=20_000, description="The whole text, in the witness's words")
    revision: int = Field(ge=0, le=10_000_000, description="The revision this text was based on")
    share: bool = Field(default=False, description="Also show it to the witness on their phone")


class RequestCorrection(Strict):
    revision: int = Field(ge=0, le=10_000_000, description="The revision the witness read")
    request: str = Field(min_length=1, max_length=4000, description="What should change")


class SignStatement(Strict):
    revision: int = Field(
        ge=0, le=10_000_000, description="The revision the witness read and is signing"
    )
    declaration: bool = Field(description="Must be true: the witness makes the MG11 declaration")
    name: str = Field(min_length=2, max_length=200, description="The witness's typed name")
    over_18: bool
    age: int | None = Field(default=None, ge=1, le=17, description="Required when under 18")
    signature_png: str = Field(
        max_length=1_000_000, description="The drawn signature, PNG, base64 (no data: prefix)"
    )


class ExportVisit(Strict):
    justification: str = Field(min_length=3, max_length=2000, description="Why (DPA s.62)")
    recipient: str = Field(min_length=2, max_length=200, description="To whom it is disclosed")


def _statement_id(request: web.Request) -> str:
    return request.match_info["statement_id"]


# -- the officer -------------------------------------------------------------------------------


async def create_statement(
    request: web.Request, p: Principal, body: CreateStatement
) -> web.Response:
    made = await request.app[STATEMENTS].create(
        p, request.match_info["visit_id"], language=body.language, supersedes=body.supersedes
    )
    return web.json_response(made, status=201)


async def list_statements(request: web.Request, p: Principal) -> web.Response:
    found = await request.app[STATEMENTS].list(p, request.match_info["visit_id"])
    return web.json_response({"statements": found})


async def save_statement(request: web.Request, p: Principal, body: SaveStatement) -> web.Response:
    saved = await request.app[STATEMENTS].save(
        p,
        request.match_info["visit_id"],
        _statement_id(request),
        text=body.text,
        revision=body.revision,
        share=body.share,
    )
    return web.json_response(saved)


async def _refusing_rest(request: web.Request, exc: BodyTooLarge) -> web.StreamResponse:
    # Past the limit the rest of the body is not drained (it could be anything up to the
    # client's patience): answer with the error now, then hang up, as the connection check's
    # upload does. The body is the error middleware's own JSON.
    response = web.json_response(exc.to_json(), status=exc.status)
    response.force_close()
    with contextlib.suppress(ConnectionError):
        await response.prepare(request)
        await response.write_eof()
    request.protocol.force_close()
    return response


async def capture_still(request: web.Request, p: Principal) -> web.StreamResponse:
    try:
        still = await request.app[MEDIA].capture_still(
            p,
            request.match_info["visit_id"],
            request.content,
            request.content_length,
            caption=request.query.get("caption", ""),
            subject=request.query.get("subject", "victim"),
            track=request.query.get("track"),
            capture_sha256=request.headers.get(CAPTURE_SHA256_HEADER),
            captured_at=request.headers.get(CAPTURED_AT_HEADER),
        )
    except BodyTooLarge as exc:
        return await _refusing_rest(request, exc)
    return web.json_response(still, status=201)


async def list_exhibits(request: web.Request, p: Principal) -> web.Response:
    found = await request.app[MEDIA].for_visit(p, request.match_info["visit_id"])
    return web.json_response({"exhibits": found})


async def view_exhibit(request: web.Request, p: Principal) -> web.Response:
    body = await request.app[EXHIBIT_ACCESS].view(
        p, request.match_info["evidence_id"], request.headers.get(JUSTIFICATION_HEADER)
    )
    return web.json_response(body)


async def exhibit_file(request: web.Request, p: Principal) -> web.StreamResponse:
    path, media_type = await request.app[EXHIBIT_ACCESS].file(
        p, request.match_info["evidence_id"], request.headers.get(JUSTIFICATION_HEADER)
    )
    return web.FileResponse(path, headers={"Content-Type": media_type})


async def export_visit(request: web.Request, p: Principal, body: ExportVisit) -> web.Response:
    done = await request.app[EXHIBIT_ACCESS].export_visit(
        p,
        request.match_info["visit_id"],
        justification=body.justification,
        recipient=body.recipient,
    )
    return web.json_response(done, status=201)


# -- the witness on the phone ------------------------------------------------------------------


async def my_statement(request: web.Request, session: ParticipantSession) -> web.Response:
    return web.json_response({"statement": await request.app[STATEMENTS].for_witness(session)})


async def request_correction(
    request: web.Request, session: ParticipantSession, body: RequestCorrection
) -> web.Response:
    done = await request.app[STATEMENTS].request_correction(
        session, _statement_id(request), request=body.request, revision=body.revision
    )
    return web.json_response(done, status=201)


async def sign_statement(
    request: web.Request, session: ParticipantSession, body: SignStatement
) -> web.Response:
    if not body.declaration:
        raise ValidationFailed("the declaration must be made to sign the statement")
    try:
        png = base64.b64decode(body.signature_png, validate=True)
    except binascii.Error as exc:
        raise ValidationFailed("signature_png is not valid base64") from exc
    signed = await request.app[STATEMENTS].sign(
        session,
        _statement_id(request),
        revision=body.revision,
        name=body.name,
        over_18=body.over_18,
        age=body.age,
        signature_png=png,
    )
    return web.json_response(signed, status=201)


async def my_exhibits(request: web.Request, session: ParticipantSession) -> web.Response:
    return web.json_response(await request.app[MEDIA].for_participant(session))


async def upload_evidence(request: web.Request, session: ParticipantSession) -> web.StreamResponse:
    try:
        done = await request.app[MEDIA].upload(
            session,
            request.content,
            request.content_length,
            file_name=unquote(request.headers.get(FILE_NAME_HEADER, "")),
        )
    except BodyTooLarge as exc:
        return await _refusing_rest(request, exc)
    return web.json_response(done, status=201)


_TS = {"type": "string", "format": "date-time"}
_TS_NULL = {"type": ["string", "null"], "format": "date-time"}
_STR_NULL = {"type": ["string", "null"]}

_EXHIBIT: dict[str, Any] = {
    "type": "object",
    "required": ["evidence_id", "visit_id", "kind", "sha256", "bytes", "manifest_sha256"],
    "properties": {
        "evidence_id": {"type": "string"},
        "visit_id": {"type": "string"},
        "kind": {"enum": ["statement", "still", "upload"]},
        "created_by": {"type": "string"},
        "created_at": _TS,
        "caption": _STR_NULL,
        "media_type": {"type": "string"},
        "file_name": {"type": "string"},
        "sha256": {"type": "string"},
        "bytes": {"type": "integer"},
        "manifest_sha256": {"type": "string"},
        "key_id": {"type": "string"},
    },
}

_STATEMENT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "number", "language", "text", "revision", "status", "declaration"],
    "properties": {
        "id": {"type": "string"},
        "visit_id": {"type": "string"},
        "number": {"type": "integer"},
        "supersedes": _STR_NULL,
        "language": {"type": "string"},
        "text": {"type": "string"},
        "revision": {"type": "integer"},
        "status": {"enum": ["draft", "signing", "signed"]},
        "shared": {"type": "boolean"},
        "updated_at": _TS,
        "signed_at": _TS_NULL,
        "signed_name": _STR_NULL,
        "text_sha256": _STR_NULL,
        "evidence_id": _STR_NULL,
        "declaration": {"type": "string", "description": "The MG11 declaration the witness makes"},
        "corrections": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["identity", "at", "revision", "request"],
                "properties": {
                    "identity": {"type": "string"},
                    "at": _TS,
                    "revision": {"type": "integer"},
                    "request": {"type": "string"},
                },
            },
        },
    },
}

EXHIBIT_SCHEMAS: dict[str, dict[str, Any]] = {
    "Statement": _STATEMENT,
    "StatementList": {
        "type": "object",
        "required": ["statements"],
        "properties": {
            "statements": {"type": "array", "items": {"$ref": "#/components/schemas/Statement"}}
        },
    },
    "WitnessStatement": {
        "type": "object",
        "required": ["statement"],
        "properties": {
            "statement": {"oneOf": [{"$ref": "#/components/schemas/Statement"}, {"type": "null"}]}
        },
    },
    "Exhibit": _EXHIBIT,
    "ExhibitList": {
        "type": "object",
        "required": ["exhibits"],
        "properties": {
            "exhibits": {"type": "array", "items": {"$ref": "#/components/schemas/Exhibit"}}
        },
    },
    "ExhibitView": {
        "type": "object",
        "required": ["exhibit", "manifest", "description", "custody"],
        "properties": {
            "exhibit": {"$ref": "#/components/schemas/Exhibit"},
            "manifest": {"type": "object"},
            "description": {"type": "object"},
            "custody": {"type": "array", "items": {"type": "object"}},
        },
    },
    "VisitBundle": {
        "type": "object",
        "required": ["bundle", "items"],
        "properties": {
            "bundle": {"type": "string", "description": "Where the bundle was written"},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["evidence_id", "kind"],
                    "properties": {
                        "evidence_id": {"type": "string"},
                        "kind": {"enum": ["recording", "statement", "still", "upload"]},
                    },
                },
            },
        },
    },
    "WitnessExhibits": {
        "type": "object",
        "required": ["stills", "uploads"],
        "properties": {
            "stills": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["evidence_id", "taken_at"],
                    "properties": {"evidence_id": {"type": "string"}, "taken_at": _TS},
                },
            },
            "uploads": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["evidence_id", "received_at", "media_type", "bytes", "sha256"],
                    "properties": {
                        "evidence_id": {"type": "string"},
                        "received_at": _TS,
                        "file_name": _STR_NULL,
                        "media_type": {"type": "string"},
                        "bytes": {"type": "integer"},
                        "sha256": {"type": "string"},
                    },
                },
            },
        },
    },
}
