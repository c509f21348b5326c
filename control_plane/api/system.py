"""Health, readiness, the OpenAPI document, and the LiveKit webhook receiver. (Metrics are
on the management listener: control_plane.management.)"""

import logging

from aiohttp import web
from livekit import api
from sqlalchemy import text

from control_plane.api.endpoints import Auth, Guard
from control_plane.errors import BadRequest, EvrError
from control_plane.keys import (
    ENGINE,
    METRICS,
    OPENAPI,
    SFU,
    SFU_EVENTS,
    WEBHOOK_RECEIVER,
)
from control_plane.sfu_events import verify_webhook

log = logging.getLogger(__name__)
WEBHOOK_MAX_BODY = 1024 * 1024


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    try:
        async with request.app[ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        await request.app[SFU].ping()
        checks["sfu"] = "ok"
    except EvrError as exc:
        checks["sfu"] = exc.message
    ready = all(v == "ok" for v in checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )


async def _signed_by_sfu(request: web.Request) -> api.WebhookEvent:
    m = request.app[METRICS]
    body = await request.read()
    if len(body) > WEBHOOK_MAX_BODY:
        m.webhook_failures.labels(reason="malformed").inc()
        raise BadRequest("webhook body too large")
    try:
        return verify_webhook(
            request.app[WEBHOOK_RECEIVER], body, request.headers.get("Authorization")
        )
    except EvrError:
        m.webhook_failures.labels(reason="bad_signature").inc()
        raise


SFU_SIGNED = Guard(Auth.LIVEKIT, _signed_by_sfu)
"""A webhook event whose signature over the raw body the SFU's key verifies."""


async def livekit_webhook(request: web.Request, event: api.WebhookEvent) -> web.Response:
    m = request.app[METRICS]
    try:
        applied = await request.app[SFU_EVENTS].apply_webhook(event)
    except EvrError:
        m.webhook_failures.labels(reason="malformed").inc()
        raise
    except Exception:
        # A 5xx makes LiveKit retry, which is what we want for a transient database failure.
        m.webhook_failures.labels(reason="apply_error").inc()
        raise
    return web.json_response({"applied": applied})


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])
