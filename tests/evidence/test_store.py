"""LocalEvidenceStore: write-once, read-only masters, retention and logged deletion."""

from __future__ import annotations

import errno
import stat
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.custody import CustodyEntry, CustodyEvent, verify_chain
from core.evidence_errors import (
    AuthorisationError,
    JustificationRequiredError,
    ObjectExistsError,
    RetentionError,
)
from evidence.hashing import HashingFileWriter
from evidence.keys import key_id
from evidence.retention import RetentionAction
from evidence.seal import SealedStatement, StatementDetails, seal_statement
from evidence.store import MASTERS_DIR, SIGNATURE_NAME, LocalEvidenceStore, is_read_only
from evidence.verify import verify_store_entry
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


@pytest.mark.parametrize("failing", ["segment-00002.mp4", SIGNATURE_NAME])
def test_a_disk_full_mid_copy_leaves_nothing_half_stored(  # noqa: PLR0917 (fixtures)
    store: LocalEvidenceStore,
    segments: list[SegmentInfo],
    signing_key: Ed25519PrivateKey,
    details: StatementDetails,
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    """Signing succeeded; then the disk fills half way through writing ``failing``."""
    assert failing in {s.path.name for s in segments} | {SIGNATURE_NAME}
    real_write = HashingFileWriter.write

    def write_until_full(self: HashingFileWriter, data: bytes | bytearray | memoryview) -> int:
        if self.path.name != failing:
            return real_write(self, data)
        real_write(self, memoryview(data)[: max(1, len(data) // 2)])
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path))

    def seal() -> SealedStatement:
        return seal_statement(
            store,
            details=details,
            segments=segments,
            signing_key=signing_key,
            actor="recorder@evr-rec-1",
            recorder_version="0.1.0",
        )

    monkeypatch.setattr(HashingFileWriter, "write", write_until_full)
    with pytest.raises(OSError, match="No space left") as raised:
        seal()
    assert raised.value.errno == errno.ENOSPC
    assert list((store.root / "evidence").iterdir()) == []  # no item, no partial folder
    assert store.custody.entries_for(details.evidence_id) == []

    # Once there is room again the same recording seals whole and verifies.
    monkeypatch.setattr(HashingFileWriter, "write", real_write)
    seal()
    assert [p.name for p in (store.root / "evidence").iterdir()] == [details.evidence_id]
    trusted = frozenset({key_id(signing_key.public_key())})
    assert verify_store_entry(store, details.evidence_id, trusted_key_ids=trusted).ok


def test_an_item_is_assembled_aside_and_appears_only_when_sealed(
    store: LocalEvidenceStore, segments: list[SegmentInfo]
) -> None:
    store.put_master("E3", segments[0].path, sha256=segments[0].sha256)
    assert not store.directory_of("E3").exists()
    assert (store.partial_directory_of("E3") / MASTERS_DIR / segments[0].path.name).is_file()
