"""LocalEvidenceStore: write-once, read-only masters, retention and logged deletion."""

from __future__ import annotations

import stat
from datetime import date
from pathlib import Path

import pytest

from core.custody import CustodyEntry, CustodyEvent, verify_chain
from core.evidence_errors import (
    AuthorisationError,
    JustificationRequiredError,
    ObjectExistsError,
    RetentionError,
)
from evidence.retention import RetentionAction
from evidence.seal import SealedStatement
from evidence.store import MASTERS_DIR, LocalEvidenceStore, is_read_only
from evidence.writer import SegmentInfo
from tests.evidence.conftest import EVIDENCE_ID

REVIEW = date(2033, 6, 1)  # MoPI group 3: at least 6 years after sealing (today)


def test_sealed_files_are_0444_and_cannot_be_replaced(
    store: LocalEvidenceStore, sealed: SealedStatement, segments: list[SegmentInfo]
) -> None:
    directory = store.directory_of(EVIDENCE_ID)
    files = [p for p in directory.rglob("*") if p.is_file()]
    assert len(files) == len(segments) + 3
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o444 for p in files)
    assert is_read_only(directory / MASTERS_DIR)
    with pytest.raises(ObjectExistsError):
        store.put_master(EVIDENCE_ID, segments[0].path, sha256=segments[0].sha256)
    with pytest.raises(ObjectExistsError):
        store.put_object(EVIDENCE_ID, "manifest.json", b"{}")


def test_put_over_an_existing_object_raises_before_sealing(
    store: LocalEvidenceStore, segments: list[SegmentInfo]
) -> None:
    store.put_master("E2", segments[0].path, sha256=segments[0].sha256)
    with pytest.raises(ObjectExistsError):
        store.put_master("E2", segments[0].path, sha256=segments[0].sha256)


def test_view_requires_justification_and_is_logged(
    store: LocalEvidenceStore, sealed: SealedStatement
) -> None:
    with pytest.raises(JustificationRequiredError):
        store.view(EVIDENCE_ID, actor="u-1", justification=" ")
    store.view(EVIDENCE_ID, actor="u-1", justification="file review for CPS")
    entries = store.custody.entries_for(EVIDENCE_ID)
    assert entries[-1].event is CustodyEvent.VIEWED
    assert entries[-1].reason == "file review for CPS"


def test_deletion_rules(store: LocalEvidenceStore, sealed: SealedStatement) -> None:
    def delete(role: str = "evidence_manager") -> CustodyEntry:
        return store.delete(
            EVIDENCE_ID, actor="u-2", role=role, reason="period ended", today=date(2034, 1, 1)
        )

    with pytest.raises(AuthorisationError):
        delete(role="officer")
    with pytest.raises(JustificationRequiredError):
        store.delete(EVIDENCE_ID, actor="u-2", role="evidence_manager", reason="")
    with pytest.raises(RetentionError, match="not set"):
        delete()

    store.set_review_date(
        EVIDENCE_ID, REVIEW, category="mopi_group_3", actor="u-2", reason="MoPI group 3"
    )
    store.set_legal_hold(EVIDENCE_ID, True, actor="u-3", reason="appeal lodged")
    with pytest.raises(RetentionError, match="legal hold"):
        delete()
    store.request(EVIDENCE_ID, RetentionAction.LIFT_HOLD, actor="u-4", role="s", reason="done")
    store.set_legal_hold(EVIDENCE_ID, False, actor="u-3", reason="appeal concluded")
    with pytest.raises(RetentionError, match="review date"):
        store.delete(
            EVIDENCE_ID, actor="u-2", role="evidence_manager", reason="r", today=date(2030, 1, 1)
        )
    store.request(
        EVIDENCE_ID, RetentionAction.DELETE, actor="u-5", role="evidence_manager", reason="due"
    )

    entry = delete()
    assert entry.event is CustodyEvent.DELETED
    assert not store.directory_of(EVIDENCE_ID).exists()
    entries = store.custody.entries_for(EVIDENCE_ID)
    verify_chain(entries, evidence_id=EVIDENCE_ID)
    assert [e.event for e in entries] == [
        CustodyEvent.CREATED,
        CustodyEvent.SEALED,
        CustodyEvent.RETENTION_CHANGED,
        CustodyEvent.LEGAL_HOLD,
        CustodyEvent.RETENTION_REQUESTED,
        CustodyEvent.LEGAL_HOLD,
        CustodyEvent.RETENTION_REQUESTED,
        CustodyEvent.DELETED,
    ]
    with pytest.raises(ObjectExistsError, match="used before"):
        store.put_object(EVIDENCE_ID, "manifest.json", b"{}")


def test_retention_changes_need_a_reason(
    store: LocalEvidenceStore, sealed: SealedStatement
) -> None:
    with pytest.raises(JustificationRequiredError):
        store.set_legal_hold(EVIDENCE_ID, True, actor="u", reason="")
    with pytest.raises(JustificationRequiredError):
        store.set_review_date(EVIDENCE_ID, REVIEW, category="mopi_group_3", actor="u", reason="")
    assert store.retention(EVIDENCE_ID).legal_hold is False


def test_capacity_reports_the_filesystem(tmp_path: Path) -> None:
    capacity = LocalEvidenceStore(tmp_path).capacity()
    assert 0 < capacity.free_bytes <= capacity.total_bytes
    assert 0.0 <= capacity.used_fraction <= 1.0
