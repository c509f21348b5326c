"""What goes into a statement's signed manifest, read from the job, and the seal itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core import __version__
from core.utc import parse_utc
from evidence.manifest import ConsentRecord, Gap, Officer, Participant
from evidence.seal import StatementDetails, seal_statement
from evidence.store import EvidenceStore
from evidence.writer import SegmentInfo
from recorder.job_store import JobStore
from recorder.states import SegmentState

RECORDER_VERSION = f"evr-recorder {__version__}"

# The segments a manifest lists; lost ones appear only as gaps.
SEALABLE = frozenset({SegmentState.CLOSED, SegmentState.RECOVERED})


async def statement_details(jobs: JobStore, recording_id: str, visit_id: str) -> StatementDetails:
    """Visit, participants, consents and every gap (recorded, or a segment lost in a crash)."""
    visit = await jobs.visit(visit_id)
    assert visit is not None
    current = await jobs.recording_row(recording_id)
    gaps = [
        Gap(g["after_segment"], parse_utc(g["from"]), parse_utc(g["to"]), g["reason"])
        for g in current["gaps"] or []
    ]
    for lost in [r for r in await jobs.segments(recording_id) if r["state"] == SegmentState.LOST]:
        gaps.append(
            Gap(
                lost["name"],
                lost["start"],
                lost["start"],
                f"{lost['name']} was lost with recorder host {lost['host']}",
            )
        )
    consents = [
        ConsentRecord(c["identity"], c["at"], c["text_version"])
        for c in await jobs.consents(visit_id)
    ]
    return StatementDetails(
        evidence_id=recording_id,
        visit_id=visit_id,
        crime_reference=visit["crime_reference"],
        officer=Officer(visit["officer_id"], visit["officer_collar"]),
        participants=[
            Participant(
                p["identity"],
                p["role"],
                p["device"],
                parse_utc(p["recorded_from"]) if p.get("recorded_from") else None,
            )
            for p in (current["participants"] or [])
        ],
        consents=consents,
        gaps=gaps,
    )


def seal_segments(
    spool: Path,
    rows: list[dict[str, Any]],
    details: StatementDetails,
    *,
    store: EvidenceStore,
    signing_key: Ed25519PrivateKey,
    worker_id: str,
    host: str,
) -> tuple[str, str]:
    """Seal the segment ``rows`` from ``spool`` (blocking); (manifest sha256, key id)."""
    segments = [
        SegmentInfo(
            index=r["seg_index"],
            path=spool / r["name"],
            sha256=r["sha256"],
            bytes=r["bytes"],
            start=r["start"],
            end=r["end"],
            hashed="recovery" if r["state"] == SegmentState.RECOVERED else "capture",
        )
        for r in rows
    ]
    sealed = seal_statement(
        store,
        details=details,
        segments=segments,
        signing_key=signing_key,
        actor=f"recorder:{worker_id}",
        recorder_version=RECORDER_VERSION,
        host=host,
    )
    return sealed.manifest_sha256, sealed.key_id
