"""Middlewares: errors to JSON (the one place that does it), and per-route metrics."""

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from control_plane.errors import EvrError
from control_plane.keys import METRICS

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
        return await handler(request)
    except EvrError as exc:
        if exc.status >= 500:
            log.warning("request failed: %s", exc.message, extra={"route": route_template(request)})
        return web.json_response(exc.to_json(), status=exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # aiohttp's own 404/405/413 become the same JSON shape as ours.
        code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(
            exc.status, "http_error"
        )
        return _json_error(exc.status, code, exc.reason)
    except Exception:
        log.exception("unhandled error", extra={"route": route_template(request)})
        return _json_error(500, "internal_error", "internal error; it has been logged")


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
