"""Wiring of statement recording into the control plane: the service (its watch task is a
periodic job of the leading replica, see control_plane/app.py)."""

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from control_plane.keys import ENGINE, RECORDINGS, SETTINGS, SFU
from control_plane.recordings import RecordingService
from core.custody_db import DbCustodyLog
from evidence.stores import open_store

WATCH_INTERVAL = 1.0
"""Seconds between the control plane's checks that every active recording is secured."""


async def recordings_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, engine = app[SETTINGS], app[ENGINE]
    custody = DbCustodyLog(engine)
    store = await asyncio.to_thread(open_store, settings.recording, custody)
    service = RecordingService(engine, app[SFU], settings, custody, store)
    app[RECORDINGS] = service
    # Its watch is one of the periodic jobs the leading replica runs (control_plane/app.py).
    yield
