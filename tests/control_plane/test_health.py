"""Liveness answers while the process is up; readiness needs the database and the SFU."""

from dataclasses import replace

import aiohttp
from aiohttp import web

from control_plane.app import create_app
from core.settings import LiveKitSettings
from tests.support.stack import Api, bind_socket


async def test_healthz_and_readyz(api: Api) -> None:
    assert await api.ok("GET", "/healthz") == {"status": "ok"}
    assert await api.ok("GET", "/readyz") == {
        "status": "ready",
        "checks": {"database": "ok", "sfu": "ok"},
    }


async def test_readyz_is_503_when_the_sfu_is_unreachable(
    api: Api, http: aiohttp.ClientSession
) -> None:
    # A port on the SFU's namespace address where nothing listens: refused at once.
    dead = api.stack.sfu.url.rsplit(":", 1)[0] + ":9"
    lk: LiveKitSettings = replace(api.stack.settings.livekit, api_url=dead)
    settings = replace(api.stack.settings, livekit=lk)
    runner = web.AppRunner(create_app(settings, reconcile=False))
    await runner.setup()
    sock = bind_socket(settings.host)
    port = sock.getsockname()[1]
    await web.SockSite(runner, sock).start()
    try:
        async with http.get(f"http://{settings.host}:{port}/readyz") as resp:
            body = await resp.json()
            assert resp.status == 503
        async with http.get(f"http://{settings.host}:{port}/healthz") as resp:
            assert resp.status == 200
    finally:
        await runner.cleanup()
    assert body["checks"]["database"] == "ok"
    assert "unreachable" in body["checks"]["sfu"]
