"""Wiring of statements, stills and uploads into the control plane (after recordings_ctx,
whose evidence store and custody log they share)."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from control_plane.exhibits.access import ExhibitAccess
from control_plane.exhibits.media import Media
from control_plane.exhibits.sealing import ExhibitSealer
from control_plane.exhibits.statements import Statements
from control_plane.keys import ENGINE, RECORDINGS, SETTINGS
from core.evidence_errors import KeyFileError
from evidence.keys import generate_signing_key, load_signing_key

STATEMENTS = web.AppKey("statements", Statements)
MEDIA = web.AppKey("media", Media)
EXHIBIT_ACCESS = web.AppKey("exhibit_access", ExhibitAccess)


def signing_key(path: Path) -> Ed25519PrivateKey:
    """The platform's signing key (the recorder's), created 0600 if neither process has yet."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(KeyFileError):  # the recorder won the race: load its key
            return generate_signing_key(path)
    return load_signing_key(path)


async def exhibits_ctx(app: web.Application) -> AsyncIterator[None]:
    settings, engine, recordings = app[SETTINGS], app[ENGINE], app[RECORDINGS]
    key = await asyncio.to_thread(signing_key, settings.recording.signing_key)
    sealer = ExhibitSealer(recordings.store, settings.recording.spool_dir, key)
    app[STATEMENTS] = Statements(engine, settings.exhibits, sealer)
    app[MEDIA] = Media(engine, settings.exhibits, sealer)
    app[EXHIBIT_ACCESS] = ExhibitAccess(engine, recordings.custody, recordings.store)
    yield
