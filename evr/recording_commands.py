"""`evr recorder` and `evr evidence verify|export`: the recorder process and examiners' tools.

`evr evidence verify` takes a disclosure bundle folder (checked with nothing but the files
in it, as a third party would), or an evidence id / store entry folder, which is checked
against the custody chain in the platform database. Either way only keys the force trusts
are accepted: `--trusted-key FINGERPRINT`, else `[recording] trusted_key_fingerprints`, else
(with a configuration) the platform's own signing key. `evr evidence export` writes a bundle,
logged in that chain and in the DPA s.62 audit log as a disclosure.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from core import audit, db, logs, schema
from core.custody_db import DbCustodyLog
from core.domain import AuditAction
from core.evidence_errors import EvidenceError
from core.settings import Settings, load_settings
from evidence import cli as examiner_cli
from evidence.export import export_bundle
from evidence.keys import load_or_create_signing_key, trusted_fingerprints
from evidence.progress import on_terminal
from evidence.stores import open_store
from evidence.verify import CUSTODY_NAME, verify_store_entry
from evidence.visit_bundle import is_visit_bundle
from evr import lifecycle
from recorder.process import run_recorder

WithConfig = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(Path(args.config) if args.config else None)


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], with_config: WithConfig
) -> None:
    """Add the `recorder` and `evidence` commands to the `evr` parser."""
    recorder = with_config(
        sub.add_parser("recorder", help="run the evidential recorder worker (metrics on :9465)")
    )
    recorder.set_defaults(func=_recorder)
    evidence = sub.add_parser("evidence", help="verify or export sealed evidence")
    actions = evidence.add_subparsers(dest="evidence_command", required=True)
    verify = with_config(
        actions.add_parser("verify", help="check signature, segment hashes and custody chain")
    )
    verify.add_argument("target", help="bundle folder, store entry folder, or evidence id")
    examiner_cli.trusted_key_option(verify, " (default: [recording] trusted_key_fingerprints)")
    verify.set_defaults(func=_verify)
    export = with_config(actions.add_parser("export", help="write a disclosure bundle (logged)"))
    export.add_argument("evidence_id")
    export.add_argument("--out", type=Path, required=True, help="new bundle folder")
    export.add_argument("--actor", required=True, help="who exports (e.g. officer:local:1001)")
    export.add_argument("--justification", required=True, help="why (custody and audit log)")
    export.add_argument("--recipient", required=True, help="to whom it is disclosed")
    examiner_cli.trusted_key_option(export, " (default: [recording] trusted_key_fingerprints)")
    export.set_defaults(func=_export)


def _recorder(args: argparse.Namespace) -> int:
    settings = _settings(args)
    logs.configure(settings.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        rs = settings.recording
        listen = f"{rs.metrics_host}:{rs.metrics_port}"

        def announce() -> None:
            lifecycle.started("recorder", settings, listen=listen)

        await run_recorder(settings, stop, on_started=announce)

    asyncio.run(main())
    lifecycle.stopped("recorder")
    return 0


def _trusted(args: argparse.Namespace, settings: Settings) -> frozenset[str]:
    """The fingerprints given on the command line, else the deployment's (see module doc)."""
    if args.trusted_key:
        return frozenset(args.trusted_key)
    rs = settings.recording
    return trusted_fingerprints(rs.trusted_key_fingerprints, rs.signing_key)


def _verify(args: argparse.Namespace) -> int:
    target = Path(args.target)
    if (target / CUSTODY_NAME).is_file() or is_visit_bundle(target):
        # A bundle carries its own custody extract: no database, no platform needed, but a
        # key the force publishes is: from the command line, or the configuration if given.
        trusted = list(args.trusted_key)
        if not trusted and args.config:
            trusted = sorted(_trusted(args, _settings(args)))
        argv = ["verify", str(target)]
        for kid in trusted:
            argv += ["--trusted-key", kid]
        return examiner_cli.main(argv)
    evidence_id = target.name if target.is_dir() else args.target
    settings = _settings(args)
    return asyncio.run(_verify_entry(settings, evidence_id, _trusted(args, settings)))


async def _verify_entry(settings: Settings, evidence_id: str, trusted: frozenset[str]) -> int:
    engine = db.create_engine(settings.database_url)
    try:
        store = await asyncio.to_thread(open_store, settings.recording, DbCustodyLog(engine))
        try:
            with on_terminal(sys.stderr, "verifying"):
                report = await asyncio.to_thread(
                    verify_store_entry, store, evidence_id, trusted_key_ids=trusted
                )
        except EvidenceError as exc:
            print(f"evr: {exc}", file=sys.stderr)
            return 2
        return examiner_cli.print_report(report, sys.stdout)
    finally:
        await engine.dispose()


def _export(args: argparse.Namespace) -> int:
    return asyncio.run(_export_entry(_settings(args), args))


async def _export_entry(settings: Settings, args: argparse.Namespace) -> int:
    engine = db.create_engine(settings.database_url)
    try:
        r = schema.recordings
        async with engine.connect() as conn:
            visit_id = await conn.scalar(select(r.c.visit_id).where(r.c.id == args.evidence_id))
        if visit_id is None:
            print(f"evr: no evidence {args.evidence_id}", file=sys.stderr)
            return 1
        store = await asyncio.to_thread(open_store, settings.recording, DbCustodyLog(engine))
        key = await asyncio.to_thread(load_or_create_signing_key, settings.recording.signing_key)
        trusted = await asyncio.to_thread(_trusted, args, settings)
        try:
            # Progress on stderr only when it is a terminal (evidence.progress).
            with on_terminal(sys.stderr, "exporting"):
                bundle = await asyncio.to_thread(
                    export_bundle,
                    store,
                    args.evidence_id,
                    args.out,
                    actor=args.actor,
                    justification=args.justification,
                    recipient=args.recipient,
                    signing_key=key,
                    trusted_key_ids=trusted,
                )
        except (EvidenceError, OSError) as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 1
        async with engine.begin() as conn:
            await audit.record(
                conn,
                actor=args.actor,
                action=AuditAction.DISCLOSURE,
                subject="evidence",
                visit_id=visit_id,
                justification=args.justification,
                recipients=args.recipient,
                detail={"evidence_id": args.evidence_id, "bundle": bundle.name, "via": "cli"},
            )
        print(f"exported {args.evidence_id} to {bundle}")
        return 0
    finally:
        await engine.dispose()
