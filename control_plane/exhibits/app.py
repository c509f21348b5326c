"""Wiring of statements, stills and uploads into the control plane (after recordings_ctx,
whose evidence store and custody log they share)."""

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from control_plane.exhibits.access import ExhibitAccess
from control_plane.exhibits.media import Media
from control_plane.exhibits.sealing import ExhibitSealer
from control_plane.exhibits.statements import Statements
from control_plane.keys import ENGINE, RECORDINGS, SETTINGS
from evidence.keys import load_or_create_signing_key, trusted_fingerprints

STATEMENTS = web.AppKey("statements", Statements)
MEDIA = web.AppKey("media", Media)
EXHIBIT_ACCESS = web.AppKey("exhibit_access", ExhibitAccess)


async def exhibits_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, engine, recordings = app[SETTINGS], app[ENGINE], app[RECORDINGS]
    rs = settings.recording
    key = await asyncio.to_thread(load_or_create_signing_key, rs.signing_key)
    trusted = await asyncio.to_thread(
        trusted_fingerprints, rs.trusted_key_fingerprints, rs.signing_key
    )
    sealer = ExhibitSealer(recordings.store, settings.recording.spool_dir, key)
    app[STATEMENTS] = Statements(engine, settings.exhibits, sealer)
    app[MEDIA] = Media(engine, settings.exhibits, sealer)
    app[EXHIBIT_ACCESS] = ExhibitAccess(
        engine,
        recordings.custody,
        recordings.store,
        export_dir=rs.export_dir,
        signing_key=key,
        trusted_key_ids=trusted,
    )
    yield
