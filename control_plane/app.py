"""The app factory: settings in, a fully wired `web.Application` out.

Every long-lived resource lives in a cleanup context, so on shutdown only what started is
closed, in reverse order.
"""

import asyncio
from collections.abc import AsyncIterator, Callable

import aiohttp
from aiohttp import web
from livekit import api
from opentelemetry.sdk.trace.export import SpanExporter

from control_plane.audit_checkpoints import CheckpointJob
from control_plane.auth import LocalAuthenticator, OidcAuthenticator
from control_plane.bandwidth.service import bandwidth_context
from control_plane.exhibits.app import exhibits_ctx
from control_plane.joining import Joining
from control_plane.journey import Journey
from control_plane.keys import (
    AUTHENTICATOR,
    ENGINE,
    HTTP,
    JOIN_FAILURES,
    JOINING,
    JOURNEY,
    METRICS,
    OPENAPI,
    PROGRAMME,
    SETTINGS,
    SFU,
    SFU_EVENTS,
    TRACER,
    VISITS,
    WEBHOOK_RECEIVER,
)
from control_plane.leader import Leadership
from control_plane.management import management_ctx
from control_plane.metrics import Metrics
from control_plane.middleware import error_middleware, metrics_middleware, tracing_middleware
from control_plane.openapi import build_document
from control_plane.programme import Programme
from control_plane.rate_limit import FailureWindow
from control_plane.recording_app import WATCH_INTERVAL, recordings_ctx
from control_plane.recording_watch import RecordingWatch
from control_plane.room_watch import RoomWatch
from control_plane.routes import ROUTES, add_routes
from control_plane.sfu import Sfu, make_sfu_nodes
from control_plane.sfu_events import SfuEvents
from control_plane.sfu_nodes import node_probe_ctx
from control_plane.visits import VisitService
from core import db
from core.settings import Settings
from core.tasks import stop_task
from core.telemetry import build_tracer_provider, tracer_from
from evidence.keys import load_or_create_signing_key

SERVICE_NAME = "evr-control-plane"
# Seconds between checks for rooms the SFU lost: well inside the 10 s failover goal.
ROOM_WATCH_INTERVAL = 1.0
"""The `service.name` of the control plane's spans, unless OTEL_SERVICE_NAME says otherwise."""


def _tracing(
    exporter: SpanExporter | None,
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def tracing(app: web.Application) -> AsyncIterator[None]:
        provider = build_tracer_provider(
            app[SETTINGS].tracing, service_name=SERVICE_NAME, exporter=exporter
        )
        app[TRACER] = tracer_from(provider)
        yield
        # Flushes spans still queued for OTLP: blocking I/O, so off the event loop.
        await asyncio.to_thread(provider.shutdown)

    return tracing


async def _database(app: web.Application) -> AsyncIterator[None]:
    engine = db.create_engine(app[SETTINGS].database_url)
    await db.migrate(engine)
    app[ENGINE] = engine
    yield
    await engine.dispose()


async def _http(app: web.Application) -> AsyncIterator[None]:
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
    app[HTTP] = session
    yield
    await session.close()


async def _services(app: web.Application) -> AsyncIterator[None]:
    settings, metrics, engine = app[SETTINGS], app[METRICS], app[ENGINE]
    nodes = make_sfu_nodes(settings.livekit, app[HTTP])
    sfu = Sfu(nodes, metrics, tracer=app[TRACER])
    app[SFU] = sfu
    app[VISITS] = VisitService(engine, sfu, settings, metrics)
    app[JOINING] = Joining(engine, app[VISITS], settings, metrics, sfu=sfu)
    app[JOURNEY] = Journey(engine, metrics)
    app[PROGRAMME] = Programme(engine, metrics)
    app[SFU_EVENTS] = SfuEvents(engine, sfu, metrics, settings.rooms)
    app[WEBHOOK_RECEIVER] = api.WebhookReceiver(
        api.TokenVerifier(settings.livekit.api_key, settings.livekit.api_secret)
    )
    if settings.oidc is not None:
        app[AUTHENTICATOR] = OidcAuthenticator(settings.oidc, app[HTTP])
    else:
        app[AUTHENTICATOR] = LocalAuthenticator(engine)
    yield
    for node in nodes:
        await node.client.aclose()


def _periodic_jobs(reconcile: bool) -> Callable[[web.Application], AsyncIterator[None]]:
    """The periodic jobs, run by whichever replica leads (control_plane/leader.py)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        engine, settings, metrics = app[ENGINE], app[SETTINGS], app[METRICS]
        leadership = Leadership(engine, metrics)
        leadership.add("recording-watch", lambda: RecordingWatch(engine).run(WATCH_INTERVAL))
        key = await asyncio.to_thread(load_or_create_signing_key, settings.recording.signing_key)
        checkpoints = CheckpointJob(engine, key, metrics)
        leadership.add(
            "audit-checkpoints", lambda: checkpoints.run(settings.audit_checkpoint_interval)
        )
        if reconcile:
            events = app[SFU_EVENTS]
            leadership.add("reconciler", lambda: events.run_reconciler(settings.reconcile_interval))
            watch = RoomWatch(engine, app[SFU], metrics, settings.rooms)
            leadership.add("room-watch", lambda: watch.run(ROOM_WATCH_INTERVAL))
        task = asyncio.create_task(leadership.run(), name="leadership")
        yield
        await stop_task(task)

    return ctx


def create_app(
    settings: Settings, *, reconcile: bool = True, span_exporter: SpanExporter | None = None
) -> web.Application:
    """Build the control plane. `reconcile=False` lets tests drive reconciliation by hand;
    `span_exporter` receives every span as it ends (tests pass an in-memory one)."""
    app = web.Application(
        middlewares=[tracing_middleware, metrics_middleware, error_middleware],
        client_max_size=1024 * 1024,
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[OPENAPI] = build_document(ROUTES)
    app[JOIN_FAILURES] = FailureWindow(
        per_client=settings.join.code_failures_per_client,
        total=settings.join.code_failures_total,
    )
    # First in, last out: spans of everything else's start-up and shutdown are kept.
    app.cleanup_ctx.append(_tracing(span_exporter))
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_http)
    app.cleanup_ctx.append(_services)
    app.cleanup_ctx.append(node_probe_ctx())
    app.cleanup_ctx.append(management_ctx)
    app.cleanup_ctx.append(bandwidth_context)
    app.cleanup_ctx.append(recordings_ctx)
    app.cleanup_ctx.append(exhibits_ctx)
    app.cleanup_ctx.append(_periodic_jobs(reconcile))
    add_routes(app)
    return app
