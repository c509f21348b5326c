"""`evr audit verify` and `evr audit checkpoint`: is the record of who did what intact?

`verify` walks the audit chain, every custody chain and every signed checkpoint
(core.checkpoints) and exits 0 when all hold, 1 naming each break (the first one first), and
2 when it cannot run. Checkpoints count only when signed by a key the force trusts:
`--trusted-key FINGERPRINT`, else `[recording] trusted_key_fingerprints`, else the platform's
own signing key. Audit entries older than `--max-age-minutes` (default: three checkpoint
intervals) must lie under a checkpoint, so deleting the newest checkpoints is caught too.
It reads only, so the runtime role's URL is enough.

`checkpoint` writes one signed checkpoint now (the leader writes them on a schedule), e.g.
before a backup is taken or after an upgrade.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core import db
from core.checkpoints import Checkpoint, Report, verify, write_checkpoint
from core.evidence_errors import EvidenceError
from core.settings import Settings, load_settings
from evidence import cli as examiner_cli
from evidence.keys import load_or_create_signing_key, trusted_fingerprints

WithConfig = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], with_config: WithConfig
) -> None:
    """Add `audit verify` and `audit checkpoint` to the `evr` parser."""
    group = sub.add_parser("audit", help="verify the audit and custody chains and checkpoints")
    actions = group.add_subparsers(dest="audit_command", required=True)
    check = with_config(
        actions.add_parser("verify", help="walk both chains and the signed checkpoints")
    )
    examiner_cli.trusted_key_option(check, " (default: [recording] trusted_key_fingerprints)")
    check.add_argument(
        "--max-age-minutes",
        type=float,
        help="audit entries older than this must be under a checkpoint "
        "(default: three checkpoint intervals)",
    )
    check.set_defaults(func=_verify)
    write = with_config(actions.add_parser("checkpoint", help="write a signed checkpoint now"))
    write.set_defaults(func=_checkpoint)


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(Path(args.config) if args.config else None)


def _verify(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.trusted_key:
        trusted = frozenset(args.trusted_key)
    else:
        rs = settings.recording
        trusted = trusted_fingerprints(rs.trusted_key_fingerprints, rs.signing_key)
    minutes = args.max_age_minutes
    max_age = (
        timedelta(minutes=minutes)
        if minutes is not None
        else timedelta(seconds=3 * settings.audit_checkpoint_interval)
    )
    report = asyncio.run(_run_verify(settings, trusted, max_age))
    return print_report(report)


async def _run_verify(settings: Settings, trusted: frozenset[str], max_age: timedelta) -> Report:
    engine = db.create_engine(settings.database_url)
    try:
        async with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # One snapshot for every table read, so appends meanwhile are not breaks.
                await conn.execution_options(isolation_level="REPEATABLE READ")
            return await verify(conn, trusted=trusted, max_age=max_age)
    finally:
        await engine.dispose()


def print_report(report: Report) -> int:
    """Print what was checked and every failure; the exit status (0 intact, 1 broken)."""
    last = report.last_checkpoint.isoformat() if report.last_checkpoint else "none"
    print(
        f"checked {report.audit_entries} audit entries, {report.custody_items} custody "
        f"chains, {report.checkpoints} checkpoints (latest {last})"
    )
    for where, message in report.failures:
        print(f"FAIL  {where}: {message}")
    if report.ok:
        print("OK    audit and custody chains intact and under signed checkpoints")
        return 0
    return 1


def _checkpoint(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        key = load_or_create_signing_key(settings.recording.signing_key)
    except EvidenceError as exc:
        print(f"evr: {exc}", file=sys.stderr)
        return 2
    checkpoint = asyncio.run(_write(settings, key))
    print(
        f"checkpoint {checkpoint.seq}: audit seq {checkpoint.audit_seq}, "
        f"{len(checkpoint.custody)} custody heads moved, key {checkpoint.key_id}"
    )
    return 0


async def _write(settings: Settings, key: Ed25519PrivateKey) -> Checkpoint:
    engine = db.create_engine(settings.database_url)
    try:
        return await write_checkpoint(engine, key)
    finally:
        await engine.dispose()
