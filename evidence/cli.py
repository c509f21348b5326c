"""Command line for examiners: ``verify`` a bundle or store entry, ``export`` a bundle.

    python -m evidence.cli verify --trusted-key FINGERPRINT BUNDLE_DIR
    python -m evidence.cli verify --trusted-key FINGERPRINT STORE_ROOT/evidence/EVIDENCE_ID
    python -m evidence.cli verify --trusted-key FINGERPRINT --store STORE_ROOT EVIDENCE_ID
    python -m evidence.cli export --store STORE_ROOT EVIDENCE_ID --out DIR \\
        --signing-key KEY.pem --actor ID --justification TEXT --recipient NAME

Verification needs the fingerprint of a key the force publishes (``--trusted-key``, once per
key): a bundle signed by any other key fails, however consistent it is with itself.

Exit status: 0 verified/exported, 1 verification failed or refused, 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from core.evidence_errors import EvidenceError
from core.recording_settings import normalise_fingerprint
from evidence.export import export_bundle
from evidence.keys import key_id, load_signing_key
from evidence.progress import on_terminal
from evidence.store import LocalEvidenceStore
from evidence.verify import CUSTODY_NAME, VerificationReport, verify_bundle, verify_store_entry
from evidence.visit_bundle import is_visit_bundle, verify_visit_bundle


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evr-recording", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser("verify", help="verify signature, segment hashes and custody chain")
    verify.add_argument("target", help="bundle directory, store entry directory, or evidence id")
    verify.add_argument("--store", type=Path, help="store root (then TARGET is an evidence id)")
    trusted_key_option(verify)
    export = sub.add_parser("export", help="write a disclosure bundle (logged in custody)")
    export.add_argument("evidence_id")
    export.add_argument("--store", type=Path, required=True)
    export.add_argument("--out", type=Path, required=True, help="new bundle directory")
    export.add_argument("--actor", required=True, help="who is exporting (user id)")
    export.add_argument("--justification", required=True, help="why (recorded in custody)")
    export.add_argument("--recipient", required=True, help="to whom it is disclosed")
    export.add_argument(
        "--signing-key", type=Path, required=True, help="the platform's key (signs the bundle)"
    )
    trusted_key_option(export, " (default: the signing key's)")
    return parser


def trusted_key_option(parser: argparse.ArgumentParser, default: str = "") -> None:
    parser.add_argument(
        "--trusted-key",
        "--trusted-key-id",
        dest="trusted_key",
        action="append",
        type=normalise_fingerprint,
        default=[],
        metavar="FINGERPRINT",
        help=f"SHA-256 fingerprint of a key the force publishes{default}",
    )


NO_TRUSTED_KEY = (
    "a trusted key fingerprint is required (--trusted-key, from the force's published list): "
    "without one, a bundle's own key proves nothing"
)


def print_report(report: VerificationReport, out: TextIO) -> int:
    for line in report.passed:
        print(f"ok    {line}", file=out)
    for failure in report.failures:
        print(f"FAIL  {failure.where}: {failure.message}", file=out)
    print("VERIFIED" if report.ok else f"NOT VERIFIED ({len(report.failures)} failures)", file=out)
    return 0 if report.ok else 1


def _verify(args: argparse.Namespace, out: TextIO) -> int:
    trusted = frozenset(args.trusted_key)
    if not trusted:
        print(f"evr: {NO_TRUSTED_KEY}", file=sys.stderr)
        return 2
    if args.store is not None:
        report = verify_store_entry(
            LocalEvidenceStore(args.store), args.target, trusted_key_ids=trusted
        )
        return print_report(report, out)
    target = Path(args.target)
    if is_visit_bundle(target):
        return print_report(verify_visit_bundle(target, trusted_key_ids=trusted), out)
    if (target / CUSTODY_NAME).is_file():
        return print_report(verify_bundle(target, trusted_key_ids=trusted), out)
    if target.parent.name == "evidence" and (target.parent.parent / "custody").is_dir():
        store = LocalEvidenceStore(target.parent.parent)
        return print_report(verify_store_entry(store, target.name, trusted_key_ids=trusted), out)
    print(f"{target}: neither a bundle nor a store entry", file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Run the CLI; returns the exit status instead of exiting."""
    stream = out or sys.stdout
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and usage errors
        return exc.code if isinstance(exc.code, int) else 2
    try:
        # Progress goes to stderr, and only when it is a terminal: piped output is unchanged.
        if args.command == "verify":
            with on_terminal(sys.stderr, "verifying"):
                return _verify(args, stream)
        key = load_signing_key(args.signing_key)
        with on_terminal(sys.stderr, "exporting"):
            path = export_bundle(
                LocalEvidenceStore(args.store),
                args.evidence_id,
                args.out,
                actor=args.actor,
                justification=args.justification,
                recipient=args.recipient,
                signing_key=key,
                trusted_key_ids=frozenset(args.trusted_key) or {key_id(key.public_key())},
            )
    except (EvidenceError, OSError) as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    print(f"exported {args.evidence_id} to {path}", file=stream)
    return 0


if __name__ == "__main__":
    sys.exit(main())
