"""Middlewares: a server span per request, per-route metrics, and errors to JSON (the one
place that does it)."""

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web
from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy.exc import OperationalError

from control_plane.api.bodies import refuse_unusable_input
from control_plane.errors import EvrError
from control_plane.keys import METRICS, TRACER
from control_plane.rate_limit import TooManyRequests
from core.telemetry import context_from_headers

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_template(request: web.Request) -> str:
    """The route's template (never the raw path, which carries ids) for labels and spans."""
    info = request.match_info.route.resource
    return info.canonical if info is not None else "unmatched"


def _json_error(status: int, code: str, message: str, details: object = None) -> web.Response:
    body: dict[str, object] = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"] = {"code": code, "message": message, "details": details}
    return web.json_response(body, status=status)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        # Input no handler could store (NUL, invalid UTF-8) is refused here, before routing
        # hands it to a database query that would fail with a 500.
        refuse_unusable_input(request)
        return await handler(request)
    except EvrError as exc:
        if exc.status >= 500:
            log.warning("request failed: %s", exc.message, extra={"route": route_template(request)})
        response = web.json_response(exc.to_json(), status=exc.status)
        if isinstance(exc, TooManyRequests):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # aiohttp's own 404/405/413 become the same JSON shape as ours.
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status, "http_error"
        )
        return _json_error(exc.status, code, exc.reason)
    except OperationalError as exc:
        if "database is locked" not in str(exc.orig):
            log.exception("unhandled error", extra={"route": route_template(request)})
            return _json_error(500, "internal_error", "internal error; it has been logged")
        # SQLite's write lock held past core.db's busy timeout: another process is stuck
        # writing. Nothing was written; the caller may retry.
        log.exception("database write lock not granted", extra={"route": route_template(request)})
        response = _json_error(503, "database_busy", "the database is busy; try again")
        response.headers["Retry-After"] = "1"
        return response
    except Exception:
        log.exception("unhandled error", extra={"route": route_template(request)})
        return _json_error(500, "internal_error", "internal error; it has been logged")


@web.middleware
async def tracing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A server span per request, named `"{method} {route template}"`, continuing the
    caller's trace if it sent a `traceparent`. The raw path is never recorded: join links
    carry their secret code in it."""
    route = route_template(request)
    name = request.method if route == "unmatched" else f"{request.method} {route}"
    with request.app[TRACER].start_as_current_span(
        name,
        context=context_from_headers(request.headers),
        kind=SpanKind.SERVER,
        attributes={
            "http.request.method": request.method,
            "http.route": route,
            "url.scheme": request.scheme,
        },
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        status = 500
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            status = exc.status
            raise
        else:
            status = response.status
            return response
        finally:
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    metrics = request.app[METRICS]
    route = route_template(request)
    start = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        status = exc.status
        raise
    else:
        status = response.status
        return response
    finally:
        metrics.http_requests.labels(method=request.method, route=route, status=str(status)).inc()
        metrics.http_duration.labels(method=request.method, route=route).observe(
            time.perf_counter() - start
        )
