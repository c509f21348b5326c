"""The leader's signed checkpoints (issue 12, finding 4): the running control plane writes
them with the platform's signing key, the job writes one per interval, each linked to the
one before, and a checkpoint that cannot be written is counted and logged, not fatal."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from control_plane.audit_checkpoints import CheckpointJob
from control_plane.keys import ENGINE
from control_plane.metrics import Metrics
from core import db, schema
from core.checkpoints import verify
from core.fingerprint import key_id
from core.tasks import stop_task
from evidence.keys import load_signing_key
from tests.support.stack import Stack


async def test_the_leader_signs_a_checkpoint_with_the_platform_key(
    stack: Stack, http: aiohttp.ClientSession
) -> None:
    """Leading starts with a checkpoint, signed by `recording.signing_key`."""
    key = load_signing_key(stack.settings.recording.signing_key)
    k = schema.audit_checkpoints
    async with stack.app[ENGINE].connect() as conn:
        signers = set((await conn.execute(select(k.c.key_id))).scalars())
    assert key_id(key.public_key()) in signers
    async with http.get(f"{stack.metrics_url}/metrics") as response:
        scraped = await response.text()
    line = next(
        line
        for line in scraped.splitlines()
        if line.startswith("evr_audit_checkpoint_timestamp_seconds ")
    )
    assert float(line.split()[1]) > 0


async def test_the_job_writes_linked_checkpoints_each_interval(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'evr.sqlite3'}")
    key = Ed25519PrivateKey.generate()
    metrics = Metrics()
    try:
        await db.migrate(engine)
        task = asyncio.create_task(CheckpointJob(engine, key, metrics).run(0.05))
        async with asyncio.timeout(20):
            while True:
                async with engine.connect() as conn:
                    seqs = (await conn.execute(select(schema.audit_checkpoints.c.seq))).all()
                if len(seqs) >= 3:
                    break
                await asyncio.sleep(0.05)
        await stop_task(task)
        async with engine.connect() as conn:
            report = await verify(
                conn, trusted=frozenset({key_id(key.public_key())}), max_age=timedelta(hours=1)
            )
        assert report.ok, report.failures
        assert report.checkpoints >= 3
        assert metrics.registry.get_sample_value("evr_audit_checkpoint_timestamp_seconds")
    finally:
        await engine.dispose()


async def test_a_failed_checkpoint_is_counted_and_the_job_carries_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Never migrated: there is no checkpoint table to write to.
    engine = db.create_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}")
    metrics = Metrics()
    try:
        task = asyncio.create_task(
            CheckpointJob(engine, Ed25519PrivateKey.generate(), metrics).run(0.05)
        )
        failures = "evr_audit_checkpoint_failures_total"
        async with asyncio.timeout(20):
            # Polls the counter: the job has no event to wait on, by design.
            while (metrics.registry.get_sample_value(failures) or 0) < 2:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert not task.done()
        await stop_task(task)
        assert "could not write the signed audit checkpoint" in caplog.text
    finally:
        await engine.dispose()
