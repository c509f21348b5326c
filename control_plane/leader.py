"""One leader per cluster for the periodic jobs (reconciler, room watch, recording watch).

Replicas of the control plane share one PostgreSQL database. Each tries to take a session
advisory lock on a dedicated connection; the one that holds it runs the jobs, the others
retry every `retry` seconds. PostgreSQL releases the lock when the holder's session ends, so
a leader that dies (kill -9, a lost host: its TCP connection closes, or the server's keepalive
notices) is replaced within a retry or so, with no lease to expire and no clock to trust. A
leader whose connection fails stops its jobs at once rather than run beside a new leader.

SQLite is one process's database (`evr up`): that process always leads.

The connection is in autocommit: holding an open transaction for hours would pin the oldest
snapshot and stop vacuum.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from control_plane.metrics import Metrics
from core.tasks import stop_task

log = logging.getLogger(__name__)

# pg advisory lock keys are one bigint namespace per database; this one is EVR's jobs' own.
LOCK_KEY = 0x4556_525F_4A4F_4253  # "EVR_JOBS"
RETRY_SECONDS = 2.0

Job = Callable[[], Coroutine[Any, Any, None]]


class Leadership:
    """Runs its jobs while, and only while, this replica holds the cluster's lock."""

    def __init__(self, engine: AsyncEngine, metrics: Metrics, *, retry: float = RETRY_SECONDS):
        self._engine = engine
        self._metrics = metrics
        self._retry = retry
        self._jobs: dict[str, Job] = {}
        self.replica = f"{socket.gethostname()}:{os.getpid()}"
        self.leading = asyncio.Event()
        """Set while this replica leads (tests and /metrics read it)."""

    def add(self, name: str, job: Job) -> None:
        """Register a job, a coroutine function that runs until cancelled."""
        self._jobs[name] = job

    async def run(self) -> None:
        """Contend for leadership forever; run the jobs while leading."""
        if self._engine.dialect.name != "postgresql":
            await self._lead(None)
            return
        while True:
            try:
                async with self._engine.connect() as raw:
                    conn = await raw.execution_options(isolation_level="AUTOCOMMIT")
                    if await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY}):
                        await self._lead(conn)
            except Exception as exc:  # a lost database: contend again once it is back
                log.warning("leader election: %s", exc)
            await asyncio.sleep(self._retry)

    async def _lead(self, conn: AsyncConnection | None) -> None:
        log.info("leading the periodic jobs", extra={"replica": self.replica})
        tasks = [asyncio.create_task(job(), name=name) for name, job in self._jobs.items()]
        self.leading.set()
        self._metrics.leader.set(1)
        try:
            while True:
                await asyncio.sleep(self._retry)
                if conn is not None:
                    # Raises once the session is gone, and with it the lock; a database that
                    # does not answer in time may already have given the lock to another.
                    # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow the
                    # cancellation that stops the app, and this loop would never end.
                    async with asyncio.timeout(self._retry):
                        await conn.execute(text("SELECT 1"))
                for task in tasks:
                    if task.done():
                        raise RuntimeError(f"periodic job {task.get_name()} stopped")
        finally:
            self.leading.clear()
            self._metrics.leader.set(0)
            for task in tasks:
                await stop_task(task)
            log.warning("no longer leading the periodic jobs", extra={"replica": self.replica})
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
