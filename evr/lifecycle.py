"""The one log line a long-running `evr` process writes when it starts and when it stops.

Operators and the Ansible plays' readiness checks read them (journalctl -u evr-serve): the
start line names the version, where it listens, the database kind (never the URL, which may
carry a password), the SFU it talks to and the event loop it runs on.
"""

from __future__ import annotations

import asyncio
import logging
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from core.settings import Settings

log = logging.getLogger("evr")


def evr_version() -> str:
    """The installed distribution's version, or "unknown" when run from a bare checkout."""
    try:
        return version("evr")
    except PackageNotFoundError:
        return "unknown"


def database_kind(url: str) -> str:
    """`postgresql+asyncpg://u:p@h/db` -> `postgresql`: the dialect, never the credentials."""
    return url.split(":", 1)[0].split("+", 1)[0]


def event_loop_kind() -> str:
    """The running event loop's package: "uvloop" (`evr serve`), "asyncio", or "none"."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return "none"
    return type(loop).__module__.partition(".")[0]


def started(process: str, settings: Settings, *, listen: str) -> None:
    """Log that `process` is up, with what an operator needs to tell replicas apart."""
    fields: dict[str, Any] = {
        "event": f"{process}.started",
        "version": evr_version(),
        "listen": listen,
        "database": database_kind(settings.database_url),
        "sfu_url": settings.livekit.api_url,
        "event_loop": event_loop_kind(),
    }
    log.info("evr %s started", process, extra=fields)


def stopped(process: str) -> None:
    """Log that `process` has finished its clean shutdown."""
    log.info("evr %s stopped", process, extra={"event": f"{process}.stopped"})
