"""The OpenAPI 3.1 document, built from the route table and the request models."""

from collections.abc import Iterable
from typing import Any

from control_plane.api.journey import JOURNEY_SCHEMAS
from control_plane.api.programme import PROGRAMME_SCHEMAS
from control_plane.api.recording import RECORDING_SCHEMAS
from control_plane.api.schemas import schema_of
from control_plane.api.statements import EXHIBIT_SCHEMAS
from control_plane.bandwidth.schemas import CHECK_SCHEMAS
from control_plane.routes import Auth, Route
from core import __version__
from core.domain import EligibilityItem, VisitState

_TS = {"type": "string", "format": "date-time"}
_TS_NULL = {"type": ["string", "null"], "format": "date-time"}
_STR_NULL = {"type": ["string", "null"]}

RESPONSE_SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "details": {},
                },
            }
        },
    },
    "Readiness": {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {"enum": ["ready", "not ready"]},
            "checks": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    },
    "Officer": {
        "type": "object",
        "required": ["officer_id", "collar_number", "display_name", "unit", "role"],
        "properties": {
            "officer_id": {"type": "string"},
            "collar_number": {"type": "string"},
            "display_name": {"type": "string"},
            "unit": {"type": "string"},
            "role": {"enum": ["officer", "supervisor", "evidence_manager"]},
        },
    },
    "Eligibility": {
        "type": "object",
        "required": ["item", "value", "recorded_by", "recorded_at", "note"],
        "properties": {
            "item": {"enum": [i.value for i in EligibilityItem]},
            "value": {"type": "boolean"},
            "recorded_by": {"type": "string"},
            "recorded_at": _TS,
            "note": {"type": "string"},
        },
    },
    "Visit": {
        "type": "object",
        "required": [
            "id",
            "crime_reference",
            "officer_id",
            "officer_collar",
            "unit",
            "scheduled_at",
            "status",
            "room_name",
            "created_at",
            "updated_at",
            "eligibility",
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "crime_reference": {"type": "string"},
            "officer_id": {"type": "string"},
            "officer_collar": {"type": "string"},
            "unit": {"type": "string"},
            "scheduled_at": _TS,
            "status": {"enum": [s.value for s in VisitState]},
            "room_name": _STR_NULL,
            "created_at": _TS,
            "updated_at": _TS,
            "started_at": _TS_NULL,
            "victim_joined_at": _TS_NULL,
            "ended_at": _TS_NULL,
            "end_reason": _STR_NULL,
            "recording": {
                "oneOf": [{"$ref": "#/components/schemas/Recording"}, {"type": "null"}],
                "description": "The latest statement recording, or null if none was started",
            },
            "connection_check": {
                "oneOf": [{"$ref": "#/components/schemas/ConnectionCheck"}, {"type": "null"}],
                "description": "The victim's latest connection-check verdict, or null if none",
            },
            "eligibility": {
                "type": "object",
                "required": ["entries", "missing"],
                "properties": {
                    "entries": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Eligibility"},
                    },
                    "missing": {"type": "array", "items": {"type": "string"}},
                },
            },
            "contact": {
                "type": "object",
                "description": "Only in responses about a single visit",
                "properties": {"channel": {"type": "string"}, "value": {"type": "string"}},
            },
        },
    },
    "VisitList": {
        "type": "object",
        "required": ["visits"],
        "properties": {
            "visits": {"type": "array", "items": {"$ref": "#/components/schemas/Visit"}}
        },
    },
    "EventList": {
        "type": "object",
        "required": ["events"],
        "properties": {
            "events": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["at", "kind", "actor", "detail"],
                    "properties": {
                        "at": _TS,
                        "kind": {"type": "string"},
                        "actor": {"type": "string"},
                        "detail": {"type": "object"},
                    },
                },
            }
        },
    },
    "AuditList": {
        "type": "object",
        "required": ["entries"],
        "properties": {
            "entries": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "at", "actor", "action", "subject"],
                    "properties": {
                        "id": {"type": "integer"},
                        "at": _TS,
                        "actor": {"type": "string"},
                        "action": {"type": "string"},
                        "subject": {"type": "string"},
                        "justification": _STR_NULL,
                        "recipients": _STR_NULL,
                        "detail": {"type": "object"},
                    },
                },
            }
        },
    },
    "Link": {
        "type": "object",
        "required": ["link_id", "role", "url", "expires_at"],
        "properties": {
            "link_id": {"type": "string"},
            "role": {"enum": ["victim", "guardian", "interpreter"]},
            "url": {"type": "string", "description": "Send this to the participant; shown once"},
            "expires_at": _TS,
        },
    },
    "Token": {
        "type": "object",
        "required": ["url", "token", "identity", "room", "expires_in"],
        "properties": {
            "url": {"type": "string", "description": "LiveKit WebSocket URL"},
            "token": {"type": "string"},
            "identity": {"type": "string"},
            "room": {"type": "string"},
            "expires_in": {"type": "integer"},
            "mode": {
                "enum": ["video", "audio_only"],
                "description": "Participant tokens only: what the token lets the phone publish",
            },
            "verdict": {"enum": ["hd", "sd", "audio_only"], "description": "Participants only"},
            "check_id": {"type": "string", "description": "The check the token follows from"},
            "publish_caps": {
                "oneOf": [{"$ref": "#/components/schemas/PublishCaps"}, {"type": "null"}],
                "description": "Participant tokens: the most the client may publish; null for "
                "audio-only",
            },
        },
    },
    "ParticipantVisit": {
        "type": "object",
        "required": [
            "visit_id",
            "role",
            "status",
            "scheduled_at",
            "officer_collar",
            "officer_name",
            "officer_rank",
            "crime_reference",
        ],
        "properties": {
            "visit_id": {"type": "string"},
            "role": {"type": "string"},
            "status": {"enum": [s.value for s in VisitState]},
            "scheduled_at": _TS,
            "officer_collar": {"type": "string"},
            "officer_name": {
                "type": ["string", "null"],
                "description": "The officer's name as their account gives it",
            },
            "officer_rank": {"type": ["string", "null"]},
            "crime_reference": {
                "type": "string",
                "description": "The victim's own crime reference, shown so they can trust the call",
            },
            "eligibility_missing": {"type": "array", "items": {"type": "string"}},
        },
    },
    "ParticipantSession": {
        "type": "object",
        "required": ["session", "visit"],
        "properties": {
            "session": {"type": "string", "description": "Bearer secret for /api/v1/participant/*"},
            "visit": {"$ref": "#/components/schemas/ParticipantVisit"},
        },
    },
    **JOURNEY_SCHEMAS,
    **CHECK_SCHEMAS,
    **RECORDING_SCHEMAS,
    **PROGRAMME_SCHEMAS,
    **EXHIBIT_SCHEMAS,
}

_SECURITY: dict[Auth, list[dict[str, list[str]]]] = {
    Auth.OFFICER: [{"officerToken": []}],
    Auth.PARTICIPANT: [{"participantSession": []}],
    Auth.LIVEKIT: [{"livekitWebhook": []}],
}


def _parameters(path: str) -> list[dict[str, Any]]:
    params = []
    for part in path.split("/"):
        if part.startswith("{") and part.endswith("}"):
            params.append(
                {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
            )
    return params


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _operation(route: Route, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": route.summary,
        "operationId": route.handler.__name__,
        "tags": list(route.tags),
        "parameters": _parameters(route.path),
    }
    ok: dict[str, Any] = {"description": "OK"}
    if route.response:
        ok["content"] = {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{route.response}"}}
        }
    responses: dict[str, Any] = {str(route.status): ok}
    if route.body is not None:
        schema = schema_of(route.body)
        for name, sub in schema.pop("$defs", {}).items():
            components[name] = sub
        components[route.body.__name__] = schema
        op["requestBody"] = {
            "required": route.body_required,
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{route.body.__name__}"}
                }
            },
        }
        responses["400"] = _error("The body is not a JSON object")
        responses["422"] = _error("The body does not match the schema; details say where")
    if route.auth in _SECURITY:
        op["security"] = _SECURITY[route.auth]
        responses["401"] = _error("Missing or invalid credentials")
    if route.auth in (Auth.OFFICER, Auth.PARTICIPANT):
        responses["404"] = _error("No such resource visible to the caller")
        responses["409"] = _error("The resource's state does not allow this")
    if route.throttled:
        responses["429"] = {
            **_error("Too many failed attempts from this client or from everyone; wait"),
            "headers": {
                "Retry-After": {
                    "description": "Seconds until attempts are accepted again",
                    "schema": {"type": "integer", "minimum": 1},
                }
            },
        }
    op["responses"] = responses
    return op


def build_document(routes: Iterable[Route]) -> dict[str, Any]:
    components: dict[str, Any] = dict(RESPONSE_SCHEMAS)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not route.in_openapi:
            continue
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, components)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "EVR control plane",
            "version": __version__,
            "description": (
                "Visits, LiveKit rooms and least-privilege tokens for police video response."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "officerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A local API token (evr_...) or an OIDC access token",
                },
                "participantSession": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The session returned by POST /api/v1/join/{code}",
                },
                "livekitWebhook": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "LiveKit's signed JWT, without a Bearer prefix",
                },
            },
        },
    }
