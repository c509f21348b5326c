"""The recorder process (``evr recorder``): its resources, ``/metrics`` port and entry point."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from core import db
from core.custody_db import DbCustodyLog
from core.settings import Settings
from core.tasks import stop_task
from core.telemetry import build_tracer_provider, tracer_from
from evidence.keys import generate_signing_key, load_signing_key
from evidence.stores import open_store
from recorder import native_memory
from recorder.claim import RecorderWorker

log = logging.getLogger("evr.recorder")


def metrics_app(worker: RecorderWorker) -> web.Application:
    """``/metrics`` and ``/healthz`` of the recorder, on its own port."""

    async def metrics(request: web.Request) -> web.Response:
        m = worker.metrics
        with contextlib.suppress(Exception):
            m.exports.value = await worker.job_store.exports_count()
        capacity = getattr(worker.store, "capacity", None)
        if capacity is not None:
            with contextlib.suppress(OSError, NotImplementedError):
                cap = await asyncio.to_thread(capacity)
                m.store_free.set(cap.free_bytes)
                m.store_size.set(cap.total_bytes)
        m.lag.set(max(worker.lags(), default=0.0))
        return web.Response(
            body=generate_latest(m.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response(
            {"status": "ok", "recorder": worker.worker_id, "jobs": len(worker.jobs)}
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The recorder's signing key; created (0600) on first start if it does not exist."""
    if path.exists():
        return load_signing_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    log.warning("created a new recorder signing key; publish its key id", extra={"path": str(path)})
    return generate_signing_key(path)


async def trim_native_memory(every: float = native_memory.TRIM_EVERY) -> None:
    """Every ``every`` s, hand the malloc memory freed since back to the system."""
    while True:
        await asyncio.sleep(every)
        released = await asyncio.to_thread(native_memory.trim)
        if released is not None and released >= 16 << 20:
            log.info("returned free native memory to the system", extra={"mib": released >> 20})


@contextlib.asynccontextmanager
async def running_worker(
    settings: Settings, on_started: Callable[[], None] | None = None
) -> AsyncIterator[RecorderWorker]:
    """Engine, store, key and metrics server around a worker; cleaned up in reverse.
    `on_started` is called once the metrics port is listening."""
    # Before LiveKit's and the encoder's threads exist: see recorder/native_memory.py.
    if not native_memory.limit_arenas():
        log.warning("could not cap malloc arenas (not glibc?): native memory may grow")
    trimmer = asyncio.create_task(trim_native_memory())
    engine = db.create_engine(settings.database_url)
    # Exports only if the OTEL_* variables ask for it (core.tracing_settings).
    provider = build_tracer_provider(settings.tracing, service_name="evr-recorder")
    try:
        await db.migrate(engine)
        key = await asyncio.to_thread(load_or_create_key, settings.recording.signing_key)
        custody = DbCustodyLog(engine)
        store = await asyncio.to_thread(open_store, settings.recording, custody)
        worker = RecorderWorker(settings, engine, store, key, tracer=tracer_from(provider))
        runner = web.AppRunner(metrics_app(worker))
        await runner.setup()
        try:
            rs = settings.recording
            await web.TCPSite(runner, rs.metrics_host, rs.metrics_port).start()
            if on_started is not None:
                on_started()
            yield worker
        finally:
            await runner.cleanup()
    finally:
        await stop_task(trimmer)
        await engine.dispose()
        await asyncio.to_thread(provider.shutdown)  # flushes spans queued for OTLP


async def run_recorder(
    settings: Settings,
    stop: asyncio.Event | None = None,
    *,
    on_started: Callable[[], None] | None = None,
) -> None:
    """Run a recorder until ``stop`` (or SIGTERM/SIGINT when run from the CLI)."""
    async with running_worker(settings, on_started) as worker:
        if stop is not None:
            waiter = asyncio.create_task(stop.wait())
            waiter.add_done_callback(lambda _t: worker.stopping.set())
        await worker.run()
