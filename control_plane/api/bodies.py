"""Reading request input: JSON bodies into pydantic models, with messages a person can act on."""

import json
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from control_plane.errors import BadRequest, PayloadTooLarge, ValidationFailed

M = TypeVar("M", bound=BaseModel)
MAX_BODY = 64 * 1024


def validation_details(exc: ValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]) or "(body)", "problem": err["msg"]}
        for err in exc.errors()
    ]


async def parse_body(request: web.Request, model: type[M]) -> M:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise PayloadTooLarge(f"request body over {MAX_BODY} bytes")
    raw = await request.read()
    if len(raw) > MAX_BODY:
        raise PayloadTooLarge(f"request body over {MAX_BODY} bytes")
    if not raw:
        raise BadRequest("request body is empty; expected a JSON object")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = validation_details(exc)
        summary = "; ".join(f"{d['field']}: {d['problem']}" for d in details)
        raise ValidationFailed(f"invalid request body: {summary}", details=details) from exc


def parse_value(model: type[M], **values: str) -> M:
    """Validate path or query parameters through a model, reporting them as such."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        details = validation_details(exc)
        summary = "; ".join(f"{d['field']}: {d['problem']}" for d in details)
        raise BadRequest(f"invalid parameter: {summary}", details=details) from exc
