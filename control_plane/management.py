"""The management listener: /metrics on its own address, never on the public one.

The metrics show the join funnel (quick exits included), visit counts by state and the
programme's outcomes: not for the internet, and no credentials guard them. So they are served
by a second, tiny application on `metrics_host:metrics_port` (loopback by default), started
and stopped with the control plane's own cleanup contexts, as the recorder already does on
its own port. Prometheus scrapes this address (monitoring/prometheus.yml).
"""

from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from control_plane.keys import MANAGEMENT_URL, METRICS, PROGRAMME, SETTINGS, VISITS
from core.domain import VisitState


async def render_metrics(app: web.Application) -> bytes:
    """The control plane's metrics, with the figures read from the database at scrape time
    (visit counts and programme outcomes), so they survive restarts."""
    m = app[METRICS]
    counts = await app[VISITS].count_by_state()
    for state in VisitState:
        m.visits.labels(state=state.value).set(counts.get(state.value, 0))
    await app[PROGRAMME].refresh_metrics()
    return generate_latest(m.registry)


def management_app(main: web.Application) -> web.Application:
    """GET /metrics of `main`, and nothing else."""

    async def metrics(request: web.Request) -> web.Response:
        body = await render_metrics(main)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    return app


async def management_ctx(app: web.Application) -> AsyncIterator[None]:
    """Serve the management listener while the control plane runs."""
    settings = app[SETTINGS]
    runner = web.AppRunner(management_app(app), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.metrics_host, settings.metrics_port)
        await site.start()
        host, port = runner.addresses[0][:2]
        app[MANAGEMENT_URL] = f"http://{host}:{port}"
        yield
    finally:
        await runner.cleanup()
