"""Handlers for programme outcomes: the victim's feedback after the call, the officer's outcomes.

For the victim's page (participant session):

- `GET  /api/v1/participant/feedback` says whether to ask: `state` is `not_open` while the
  call is not over, `open` once it has ended, `given` after an answer (then `feedback` holds
  it).
- `POST /api/v1/participant/feedback` with `{"recommend": true, "satisfaction": 4,
  "comment": "optional, up to 500 characters"}` records it once (201); a second answer, or
  one before the call ended, is a 409; another role than the victim gets a 403.

For officers: `GET`/`PUT /api/v1/visits/{visit_id}/outcomes`, with all three booleans.
"""

from typing import Any

from aiohttp import web
from pydantic import Field

from control_plane.api.officer import _visit_id
from control_plane.api.schemas import Strict
from control_plane.auth import Principal
from control_plane.joining import ParticipantSession
from control_plane.keys import PROGRAMME
from control_plane.programme import Feedback, Outcomes

COMMENT_MAX = 500


class GiveFeedback(Strict):
    recommend: bool = Field(description="Would you recommend a video visit to others?")
    satisfaction: int = Field(ge=1, le=5, description="How satisfied were you? 1 (not) to 5")
    comment: str | None = Field(
        default=None,
        max_length=COMMENT_MAX,
        description="Optional, short; leave it out (or empty) for none",
    )


class RecordOutcomes(Strict):
    arrest_or_interview: bool = Field(description="An arrest or a formal suspect interview")
    charge_or_caution: bool = Field(description="A charge or a caution")
    victim_withdrew: bool = Field(description="The victim withdrew their support")


_FEEDBACK = {
    "type": "object",
    "required": ["recommend", "satisfaction", "comment"],
    "properties": {
        "recommend": {"type": "boolean"},
        "satisfaction": {"type": "integer", "minimum": 1, "maximum": 5},
        "comment": {"type": ["string", "null"]},
    },
}

PROGRAMME_SCHEMAS: dict[str, dict[str, Any]] = {
    "FeedbackStatus": {
        "type": "object",
        "required": ["state", "feedback"],
        "properties": {
            "state": {
                "enum": ["not_open", "open", "given"],
                "description": "not_open until the call has ended; given once answered",
            },
            "feedback": {"oneOf": [_FEEDBACK, {"type": "null"}]},
        },
    },
    "VisitOutcomes": {
        "type": "object",
        "required": ["visit_id", "outcomes", "recorded_by", "recorded_at"],
        "properties": {
            "visit_id": {"type": "string"},
            "outcomes": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["arrest_or_interview", "charge_or_caution", "victim_withdrew"],
                        "properties": {
                            "arrest_or_interview": {"type": "boolean"},
                            "charge_or_caution": {"type": "boolean"},
                            "victim_withdrew": {"type": "boolean"},
                        },
                    },
                    {"type": "null"},
                ],
                "description": "null until an officer records them",
            },
            "recorded_by": {"type": ["string", "null"]},
            "recorded_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
}


async def feedback_status(request: web.Request, session: ParticipantSession) -> web.Response:
    return web.json_response(await request.app[PROGRAMME].feedback_status(session))


async def give_feedback(
    request: web.Request, session: ParticipantSession, body: GiveFeedback
) -> web.Response:
    feedback = Feedback(
        recommend=body.recommend, satisfaction=body.satisfaction, comment=body.comment or None
    )
    result = await request.app[PROGRAMME].give_feedback(session, feedback)
    return web.json_response(result, status=201)


async def visit_outcomes(request: web.Request, p: Principal) -> web.Response:
    outcomes = await request.app[PROGRAMME].outcomes(
        p, _visit_id(request), justification=request.headers.get("X-Justification")
    )
    return web.json_response(outcomes)


async def record_outcomes(request: web.Request, p: Principal, body: RecordOutcomes) -> web.Response:
    outcomes = Outcomes(
        arrest_or_interview=body.arrest_or_interview,
        charge_or_caution=body.charge_or_caution,
        victim_withdrew=body.victim_withdrew,
    )
    result = await request.app[PROGRAMME].record_outcomes(p, _visit_id(request), outcomes)
    return web.json_response(result)
