"""Reading request input: JSON bodies into pydantic models, with messages a person can act on."""

import json
import re
from datetime import date
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from control_plane.errors import BadRequest, PayloadTooLarge, ValidationFailed

M = TypeVar("M", bound=BaseModel)
MAX_BODY = 64 * 1024
MAX_DEPTH = 32
"""Deepest JSON nesting accepted. No body this API takes nests past 4; Python's parser
would recurse to its limit (a RecursionError) on a 64 KiB body of brackets."""
JUSTIFICATION_HEADER = "X-Justification"
MAX_JUSTIFICATION = 1000

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(rb"[\[\]{}]")
_OPEN = frozenset(b"[{")


def json_depth_exceeds(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """True if `raw` nests arrays/objects deeper than `limit` (brackets inside strings do not
    count); a scan, so it cannot recurse whatever the input."""
    depth = 0
    for m in _BRACKET.finditer(_JSON_STRING.sub(b"", raw)):
        if m.group()[0] in _OPEN:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text, if it cannot: PostgreSQL refuses NUL in text,
    and a lone surrogate (JSON's \\ud800, or an undecodable header byte) is not UTF-8."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid UTF-8 text"
    return None


def _text_problems(data: object, where: str) -> list[dict[str, str]]:
    if isinstance(data, str):
        problem = text_problem(data)
        return [] if problem is None else [{"field": where or "(body)", "problem": problem}]
    out: list[dict[str, str]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            field = f"{where}.{key}" if where else str(key)
            if (problem := text_problem(key)) is not None:
                out.append({"field": f"{where or '(body)'} key", "problem": problem})
            else:
                out += _text_problems(value, field)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += _text_problems(value, f"{where}.{i}" if where else str(i))
    return out


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
    if json_depth_exceeds(raw):
        raise BadRequest(f"request body is nested deeper than {MAX_DEPTH} levels")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest("request body must be a JSON object")
    if problems := _text_problems(data, ""):
        summary = "; ".join(f"{d['field']}: {d['problem']}" for d in problems)
        raise BadRequest(f"invalid text in request body: {summary}", details=problems)
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


def parse_day(value: str, name: str = "date") -> date:
    """A `YYYY-MM-DD` query parameter naming a day the service can look through (the day
    after it must exist too: date.max would overflow)."""
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest(f"query parameter '{name}' must be YYYY-MM-DD") from exc
    if day >= date.max:
        raise BadRequest(f"query parameter '{name}' must be before {date.max.isoformat()}")
    return day


def _url_problem(request: web.Request) -> str | None:
    for text in (request.path, *request.query.keys(), *request.query.values()):
        if (problem := text_problem(text)) is not None:
            return problem
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
            return "contains a control character"
    return None


def refuse_unusable_input(request: web.Request) -> None:
    """Refuse, before any handler, what no handler can store or look up: control characters
    or invalid UTF-8 in the URL, and an X-Justification that is not plain text (it is kept in
    the audit log). Raises BadRequest."""
    if (problem := _url_problem(request)) is not None:
        raise BadRequest(f"the URL {problem}")
    justification = request.headers.get(JUSTIFICATION_HEADER)
    if justification is not None:
        problem = text_problem(justification)
        if problem is None and not justification.isprintable():
            problem = "contains a control character"
        if problem is None and len(justification) > MAX_JUSTIFICATION:
            problem = f"is longer than {MAX_JUSTIFICATION} characters"
        if problem is not None:
            raise BadRequest(f"the {JUSTIFICATION_HEADER} header {problem}")
