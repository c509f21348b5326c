"""The claim loop: take statement jobs up to the recorder's capacity and run each one.

Claims are polled, not pushed, so a recorder that starts late or restarts finds waiting and
abandoned jobs by itself. The loop also keeps the not-secured gauge honest: it forgets
failures that were since resolved, here or by another recorder.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import platform

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from opentelemetry import trace
from opentelemetry.trace import Tracer
from sqlalchemy.ext.asyncio import AsyncEngine

from core.livekit_nodes import NodeList
from core.settings import Settings
from evidence.store import EvidenceStore
from recorder.job_store import JobStore
from recorder.metrics import RecorderMetrics
from recorder.sealing import RECORDER_VERSION
from recorder.statement import StatementJob

log = logging.getLogger("evr.recorder")


class RecorderWorker:
    """Claims jobs and runs them; what every job shares (settings, store, key, metrics)."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        store: EvidenceStore,
        signing_key: Ed25519PrivateKey,
        *,
        worker_id: str | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.settings = settings
        # One place per process: a lost node costs the first join after it, not every join.
        self.sfu_nodes = NodeList(settings.livekit.node_urls)
        self.tracer = tracer or trace.NoOpTracer()
        self.store = store
        self.signing_key = signing_key
        self.host = platform.node()
        self.worker_id = worker_id or settings.recording.worker_id or f"{self.host}:{os.getpid()}"
        self.job_store = JobStore(
            engine,
            worker_id=self.worker_id,
            stale_after=settings.recording.stale_after,
            retry_backoff=settings.recording.retry_backoff,
        )
        self.metrics = RecorderMetrics()
        self.jobs: dict[str, asyncio.Task[None]] = {}
        self.running: dict[str, StatementJob] = {}
        self.unsecured: set[str] = set()
        self.stopping = asyncio.Event()

    async def refresh_unsecured(self) -> None:
        """Forget failures that were since resolved (sealed, or recording fine elsewhere)."""
        if not self.unsecured:
            self.metrics.not_secured.set(0)
            return
        ids = [i for i in self.unsecured if i not in self.jobs]
        if ids:
            self.unsecured -= await self.job_store.resolved(ids)
        self.metrics.not_secured.set(len(self.unsecured))

    def _forget(self, recording_id: str, _task: object = None) -> None:
        self.jobs.pop(recording_id, None)
        self.running.pop(recording_id, None)

    def lags(self) -> list[float]:
        """Current lag of every job that has a writer."""
        return [
            job.thread.current_lag()
            for job in self.running.values()
            if job.thread is not None and job.thread.is_alive()
        ]

    async def run(self) -> None:
        """Claim and run jobs until :attr:`stopping` is set; then let jobs release or seal."""
        rs = self.settings.recording
        log.info(
            "recorder started", extra={"recorder": self.worker_id, "version": RECORDER_VERSION}
        )
        while not self.stopping.is_set():
            try:
                while len(self.jobs) < rs.max_concurrent and not self.stopping.is_set():
                    claim = await self.job_store.claim(exclude=self.jobs.keys())
                    if claim is None:
                        break
                    job = StatementJob(self, claim)
                    task = asyncio.create_task(job.run(), name=f"job-{job.recording_id}")
                    self.jobs[job.recording_id] = task
                    self.running[job.recording_id] = job
                    task.add_done_callback(functools.partial(self._forget, job.recording_id))
                self.metrics.lag.set(max(self.lags(), default=0.0))
                await self.refresh_unsecured()
            except Exception:
                log.exception("recorder poll failed", extra={"recorder": self.worker_id})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), rs.poll_interval)
        if self.jobs:
            await asyncio.gather(*self.jobs.values(), return_exceptions=True)
        log.info("recorder stopped", extra={"recorder": self.worker_id})
