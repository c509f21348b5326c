"""The leader's checkpoint job: every `audit_checkpoint_interval` s, a signed checkpoint of
the audit and custody chains' heads (core.checkpoints), signed with the platform's signing
key (`recording.signing_key`, the key of evidence manifests and bundles).

A checkpoint that cannot be written is logged as an error and counted
(`evr_audit_checkpoint_failures_total`); the job carries on and tries at the next interval.
"""

from __future__ import annotations

import asyncio
import logging
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncEngine

from control_plane.metrics import Metrics
from core.checkpoints import write_checkpoint

log = logging.getLogger(__name__)


class CheckpointJob:
    """Writes one checkpoint at start, then one per interval, until cancelled."""

    def __init__(self, engine: AsyncEngine, key: Ed25519PrivateKey, metrics: Metrics) -> None:
        self._engine = engine
        self._key = key
        self._metrics = metrics

    async def run(self, interval: float) -> None:
        """Run forever (the leader cancels it when it stops leading)."""
        while True:
            try:
                checkpoint = await write_checkpoint(self._engine, self._key)
            except Exception:
                self._metrics.audit_checkpoint_failures.inc()
                log.exception("could not write the signed audit checkpoint")
            else:
                self._metrics.audit_checkpoint_time.set(time.time())
                log.info(
                    "signed audit checkpoint written",
                    extra={"checkpoint": checkpoint.seq, "audit_seq": checkpoint.audit_seq},
                )
            await asyncio.sleep(interval)
