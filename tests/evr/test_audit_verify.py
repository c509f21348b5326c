"""`evr audit verify` (issue 12, finding 4), on SQLite and PostgreSQL: the audit log is one
hash chain even under concurrent writers, and an edit by the database's owner - triggers
lifted, the row rewritten and every hash after it recomputed - is caught by the signed
checkpoint, as are a deleted row, a rewritten custody entry, an altered checkpoint and
checkpoints that stopped (or were deleted)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core import audit, db, schema
from core.checkpoints import write_checkpoint
from core.custody import CustodyEvent, make_entry
from core.custody_db import DbCustodyLog, entry_from_row
from core.domain import AuditAction
from evidence.keys import load_or_create_signing_key
from evr import cli
from tests.support.postgres import RunningPostgres, create_database, owner_url


@dataclass
class Platform:
    url: str
    config: Path
    key: Ed25519PrivateKey
    engine: AsyncEngine


@pytest.fixture(params=["sqlite", "postgres"])
def platform_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'evr.sqlite3'}"
    pg: RunningPostgres = request.getfixturevalue("postgres")
    return create_database(pg, f"evr_audit_{uuid.uuid4().hex[:8]}")


@pytest.fixture
async def platform(platform_url: str, tmp_path: Path) -> AsyncIterator[Platform]:
    keys = tmp_path / "livekit-keys.yaml"
    keys.write_text("key: secret-secret-secret-secret-secret\n")
    keys.chmod(0o600)
    signing_key = tmp_path / "signing-key.pem"
    config = tmp_path / "evr.toml"
    config.write_text(
        f'database_url = "{platform_url}"\n'
        "[livekit]\n"
        f'key_file = "{keys}"\n'
        "[recording]\n"
        f'signing_key = "{signing_key}"\n'
    )
    engine = db.create_engine(platform_url)
    await db.migrate(engine)
    try:
        yield Platform(platform_url, config, load_or_create_signing_key(signing_key), engine)
    finally:
        await engine.dispose()


async def _entries(engine: AsyncEngine, count: int, *, actor: str = "officer:local:1001") -> None:
    for n in range(count):
        async with engine.begin() as conn:
            await audit.record(
                conn,
                actor=actor,
                action=AuditAction.CONSULTATION,
                subject="visit",
                visit_id=f"visit-{n}",
                justification="welfare check",
                detail={"n": n, "ratio": 0.25},
            )


async def _custody(engine: AsyncEngine, evidence_id: str, count: int) -> None:
    log = DbCustodyLog(engine)
    for n in range(count):
        await log.append_async(
            evidence_id=evidence_id, event=CustodyEvent.VIEWED, actor=f"u{n}", reason="review"
        )


async def _verify(platform: Platform, capsys: pytest.CaptureFixture[str], *extra: str) -> str:
    code = await asyncio.to_thread(
        cli.main, ["audit", "verify", "--config", str(platform.config), *extra]
    )
    out = capsys.readouterr().out
    return f"exit {code}\n{out}"


async def _lift_triggers(conn: AsyncConnection, table: str, *, lift: bool) -> None:
    if conn.dialect.name == "postgresql":
        verb = "DISABLE" if lift else "ENABLE"
        await conn.execute(text(f"ALTER TABLE {table} {verb} TRIGGER {table}_append_only"))
        return
    for op in ("update", "delete"):
        if lift:
            await conn.execute(text(f"DROP TRIGGER {table}_no_{op}"))
        else:
            await conn.execute(
                text(
                    f"CREATE TRIGGER {table}_no_{op} BEFORE {op.upper()} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
            )


@contextlib.asynccontextmanager
async def _as_owner(platform: Platform, table: str) -> AsyncIterator[AsyncConnection]:
    """A transaction as the database's owner with ``table``'s append-only triggers lifted
    (on SQLite the owner is whoever can write the file)."""
    engine = db.create_engine(owner_url(platform.url))
    try:
        async with engine.begin() as conn:
            await _lift_triggers(conn, table, lift=True)
            yield conn
            await _lift_triggers(conn, table, lift=False)
    finally:
        await engine.dispose()


async def _rechain_audit(conn: AsyncConnection) -> None:
    """What a careful owner does after an edit: recompute every hash and the head."""
    a, head = schema.audit_log, schema.audit_chain_head
    rows = (await conn.execute(select(a).order_by(a.c.id))).mappings().all()
    prev = "0" * 64
    for seq, row in enumerate(rows, start=1):
        entry = audit.stored_entry(row, where="")
        linked = audit.link(
            seq=seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            visit_id=entry.visit_id,
            subject=entry.subject,
            justification=entry.justification,
            recipients=entry.recipients,
            detail=entry.detail,
            prev_hash=prev,
        )
        await conn.execute(
            update(a)
            .where(a.c.id == row["id"])
            .values(seq=seq, prev_hash=linked.prev_hash, hash=linked.hash)
        )
        prev = linked.hash
    await conn.execute(update(head).values(seq=len(rows), hash=prev))


async def _rewrite_custody(conn: AsyncConnection, evidence_id: str, seq: int) -> None:
    """Rewrite one custody entry's actor and re-link the rest of its chain."""
    c = schema.custody_log
    rows = (
        await conn.execute(select(c).where(c.c.evidence_id == evidence_id).order_by(c.c.seq))
    ).mappings()
    prev = None
    for row in list(rows):
        old = entry_from_row(row)
        entry = make_entry(
            prev,
            evidence_id=evidence_id,
            event=old.event,
            actor="someone else" if old.seq == seq else old.actor,
            at=old.at,
            reason=old.reason,
            details=old.details,
        )
        await conn.execute(
            update(c)
            .where(c.c.id == row["id"])
            .values(actor=entry.actor, prev_hash=entry.prev_hash, hash=entry.hash)
        )
        prev = entry


async def test_an_intact_log_verifies(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    await _entries(platform.engine, 3)
    await _custody(platform.engine, "item-1", 2)
    await write_checkpoint(platform.engine, platform.key)
    out = await _verify(platform, capsys)
    assert out.startswith("exit 0\n"), out
    assert "checked 3 audit entries, 1 custody chains, 1 checkpoints" in out
    assert "OK    audit and custody chains intact" in out


async def test_concurrent_writers_never_fork_the_chain(platform: Platform) -> None:
    await asyncio.gather(*(_entries(platform.engine, 3, actor=f"w{n}") for n in range(8)))
    async with platform.engine.connect() as conn:
        chain = await audit.chain(conn)
    assert [e.seq for e in chain] == list(range(1, 25))
    audit.verify_chain(chain)


async def _head(engine: AsyncEngine) -> tuple[int, str]:
    async with engine.connect() as conn:
        row = (await conn.execute(select(schema.audit_chain_head))).mappings().one()
    return int(row["seq"]), str(row["hash"])


async def test_the_head_moves_to_each_entry_and_not_to_a_row_outside_the_chain(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    """The insert moves the head's hash (a trigger, revision r14a), only to the entry whose
    seq the head handed out: a row the runtime role inserts outside the chain leaves it."""
    for n in range(1, 4):
        await _entries(platform.engine, 1)
        async with platform.engine.connect() as conn:
            last = (await audit.chain(conn))[-1]
        assert await _head(platform.engine) == (n, last.hash)
    async with platform.engine.begin() as conn:
        await conn.execute(
            insert(schema.audit_log).values(
                at=last.at,
                actor="intruder",
                action="consultation",
                subject="visit",
                detail={},
                seq=None,
                prev_hash=None,
                hash="f" * 64,
            )
        )
    assert await _head(platform.engine) == (3, last.hash)
    out = await _verify(platform, capsys)
    assert out.startswith("exit 1\n"), out
    assert "FAIL  audit row id 4: audit row id 4 is not in the chain" in out


async def test_an_owner_rewriting_and_rehashing_the_audit_log_is_caught(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    await _entries(platform.engine, 4)
    await write_checkpoint(platform.engine, platform.key)
    a = schema.audit_log
    async with _as_owner(platform, "audit_log") as conn:
        await conn.execute(update(a).where(a.c.seq == 2).values(justification="covering up"))
        await _rechain_audit(conn)
    async with platform.engine.connect() as conn:
        audit.verify_chain(await audit.chain(conn))  # the chain alone no longer shows it
    out = await _verify(platform, capsys)
    assert out.startswith("exit 1\n"), out
    assert (
        "FAIL  checkpoint 1: audit seq 4 differs from the signed head: the audit log was "
        "rewritten or cut"
    ) in out


async def test_a_deleted_audit_row_is_named(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    await _entries(platform.engine, 4)
    await write_checkpoint(platform.engine, platform.key)
    a = schema.audit_log
    async with _as_owner(platform, "audit_log") as conn:
        await conn.execute(delete(a).where(a.c.seq == 2))
    out = await _verify(platform, capsys)
    assert out.startswith("exit 1\n"), out
    failures = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert failures[0] == (
        "FAIL  audit seq 2: found seq 3 here: an entry is missing or out of order"
    )


async def test_a_rewritten_custody_chain_is_caught_by_the_checkpoint(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    await _custody(platform.engine, "item-1", 3)
    await write_checkpoint(platform.engine, platform.key)
    await _custody(platform.engine, "item-2", 1)
    second = await write_checkpoint(platform.engine, platform.key)
    assert list(second.custody) == ["item-2"]  # only heads that moved
    async with _as_owner(platform, "custody_log") as conn:
        await _rewrite_custody(conn, "item-1", 2)
    out = await _verify(platform, capsys)
    assert out.startswith("exit 1\n"), out
    assert "FAIL  checkpoint 1: custody item-1 seq 3 differs from the signed head" in out


async def test_an_altered_checkpoint_fails_its_signature(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    await _entries(platform.engine, 2)
    await write_checkpoint(platform.engine, platform.key)
    k = schema.audit_checkpoints
    async with _as_owner(platform, "audit_checkpoints") as conn:
        body = await conn.scalar(select(k.c.body))
        assert body is not None
        await conn.execute(update(k).values(body=body.replace('"seq":2', '"seq":1')))
    out = await _verify(platform, capsys)
    assert "FAIL  checkpoint 1: signature does not verify: checkpoint altered" in out


async def test_a_checkpoint_by_another_key_is_not_trusted(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    await _entries(platform.engine, 1)
    await write_checkpoint(platform.engine, Ed25519PrivateKey.generate())
    out = await _verify(platform, capsys)
    assert out.startswith("exit 1\n"), out
    assert "which is not a trusted key" in out


async def test_entries_left_without_a_checkpoint_fail_once_old(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    await _entries(platform.engine, 2)
    await write_checkpoint(platform.engine, platform.key)
    await _entries(platform.engine, 1)
    assert (await _verify(platform, capsys)).startswith("exit 0\n")
    out = await _verify(platform, capsys, "--max-age-minutes", "0")
    assert "FAIL  audit seq 3: older than 0:00:00 and under no checkpoint" in out


async def test_a_checkpoint_verifies_offline_with_openssl(
    platform: Platform, tmp_path: Path
) -> None:
    """Only the public key and openssl: the signed body is the stored text, byte for byte."""
    await _entries(platform.engine, 2)
    await write_checkpoint(platform.engine, platform.key)
    k = schema.audit_checkpoints
    async with platform.engine.connect() as conn:
        row = (await conn.execute(select(k))).mappings().one()
    (tmp_path / "public.pem").write_text(row["public_key"])
    (tmp_path / "body.json").write_text(row["body"])
    (tmp_path / "body.sig").write_bytes(bytes.fromhex(row["signature"]))
    argv = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", "public.pem", "-rawin",
            "-in", "body.json", "-sigfile", "body.sig"]  # fmt: skip
    good = await asyncio.to_thread(
        subprocess.run, argv, cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert good.returncode == 0, good.stderr
    assert "Signature Verified Successfully" in good.stdout
    (tmp_path / "body.json").write_text(row["body"].replace('"seq":2', '"seq":1'))
    bad = await asyncio.to_thread(
        subprocess.run, argv, cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert bad.returncode != 0


async def test_a_cut_tail_left_in_the_head_row_is_named(
    platform: Platform, capsys: pytest.CaptureFixture[str]
) -> None:
    await _entries(platform.engine, 3)
    a = schema.audit_log
    async with _as_owner(platform, "audit_log") as conn:
        await conn.execute(delete(a).where(a.c.seq == 3))
    out = await _verify(platform, capsys)
    assert "FAIL  audit head: audit_chain_head does not match the last entry" in out
