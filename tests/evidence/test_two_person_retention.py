"""Issue 12, finding 3: one person cannot lift a hold, backdate the review date and delete.

Lifting a hold and deleting need a request by one authorised person and the act by another,
both in custody; review dates have a per-category minimum; the state is the custody chain,
and no file beside the evidence can change it.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from core.custody import CustodyEvent
from core.evidence_errors import AuthorisationError, RetentionError
from evidence.retention import RETENTION_NAME, RetentionAction
from evidence.seal import SealedStatement
from evidence.store import LocalEvidenceStore
from tests.evidence.conftest import EVIDENCE_ID

MANAGER_A = "officer:local:9001"
MANAGER_B = "officer:local:9002"
ROLE = "evidence_manager"
LATER = date(2099, 1, 1)


def _dated(store: LocalEvidenceStore) -> None:
    store.set_review_date(
        EVIDENCE_ID, date(2040, 1, 1), category="mopi_group_3", actor=MANAGER_A, reason="MoPI 3"
    )


def test_one_person_cannot_lift_a_legal_hold(
    store: LocalEvidenceStore, sealed: SealedStatement
) -> None:
    store.set_legal_hold(EVIDENCE_ID, True, actor=MANAGER_A, reason="appeal lodged")
    with pytest.raises(RetentionError, match="needs two people"):
        store.set_legal_hold(EVIDENCE_ID, False, actor=MANAGER_A, reason="appeal over")
    store.request(EVIDENCE_ID, RetentionAction.LIFT_HOLD, actor=MANAGER_A, role=ROLE, reason="r")
    with pytest.raises(RetentionError, match="another authorised person"):
        store.set_legal_hold(EVIDENCE_ID, False, actor=MANAGER_A, reason="appeal over")
    assert store.retention(EVIDENCE_ID).legal_hold is True

    store.set_legal_hold(EVIDENCE_ID, False, actor=MANAGER_B, reason="appeal over")
    assert store.retention(EVIDENCE_ID).legal_hold is False
    request, lifted = store.custody.entries_for(EVIDENCE_ID)[-2:]
    assert (request.event, request.actor) == (CustodyEvent.RETENTION_REQUESTED, MANAGER_A)
    assert request.details == {"action": "lift_hold"}
    assert lifted.event is CustodyEvent.LEGAL_HOLD
    assert lifted.actor == MANAGER_B
    assert lifted.details == {"hold": False, "request_seq": request.seq, "requested_by": MANAGER_A}


def test_one_person_cannot_delete(store: LocalEvidenceStore, sealed: SealedStatement) -> None:
    _dated(store)
    with pytest.raises(RetentionError, match="needs two people"):
        store.delete(EVIDENCE_ID, actor=MANAGER_A, role=ROLE, reason="due", today=LATER)
    with pytest.raises(AuthorisationError):
        store.request(EVIDENCE_ID, RetentionAction.DELETE, actor="u", role="officer", reason="r")
    store.request(EVIDENCE_ID, RetentionAction.DELETE, actor=MANAGER_A, role=ROLE, reason="due")
    with pytest.raises(RetentionError, match="another authorised person"):
        store.delete(EVIDENCE_ID, actor=MANAGER_A, role=ROLE, reason="due", today=LATER)
    assert store.directory_of(EVIDENCE_ID).exists()

    entry = store.delete(EVIDENCE_ID, actor=MANAGER_B, role=ROLE, reason="due", today=LATER)
    assert not store.directory_of(EVIDENCE_ID).exists()
    assert entry.details["requested_by"] == MANAGER_A
    assert entry.actor == MANAGER_B


def test_a_new_hold_or_review_date_voids_a_pending_deletion(
    store: LocalEvidenceStore, sealed: SealedStatement
) -> None:
    _dated(store)
    store.request(EVIDENCE_ID, RetentionAction.DELETE, actor=MANAGER_A, role=ROLE, reason="due")
    store.set_legal_hold(EVIDENCE_ID, True, actor=MANAGER_B, reason="new appeal")
    assert store.retention(EVIDENCE_ID).pending == ()
    store.request(EVIDENCE_ID, RetentionAction.LIFT_HOLD, actor=MANAGER_A, role=ROLE, reason="r")
    store.set_legal_hold(EVIDENCE_ID, False, actor=MANAGER_B, reason="appeal over")
    with pytest.raises(RetentionError, match="needs two people"):
        store.delete(EVIDENCE_ID, actor=MANAGER_B, role=ROLE, reason="due", today=LATER)


def test_the_review_date_has_a_minimum_per_category(
    sealed: SealedStatement, store: LocalEvidenceStore, tmp_path: Path
) -> None:
    today = datetime.now(UTC).date()
    with pytest.raises(RetentionError, match="on or after"):
        store.set_review_date(
            EVIDENCE_ID, today, category="mopi_group_3", actor=MANAGER_A, reason="backdated"
        )
    with pytest.raises(RetentionError, match="unknown retention category"):
        store.set_review_date(
            EVIDENCE_ID, date(2090, 1, 1), category="whatever", actor=MANAGER_A, reason="r"
        )
    seven_years = date(today.year + 7, 1, 1)
    store.set_review_date(
        EVIDENCE_ID, seven_years, category="mopi_group_3", actor=MANAGER_A, reason="r"
    )
    # The minimum is the deployment's to set.
    strict = LocalEvidenceStore(store.root, review_minimum_years={"mopi_group_3": 8})
    with pytest.raises(RetentionError, match="8 years after sealing"):
        strict.set_review_date(
            EVIDENCE_ID, seven_years, category="mopi_group_3", actor="x", reason="r"
        )


def test_no_file_decides_the_hold(store: LocalEvidenceStore, sealed: SealedStatement) -> None:
    _dated(store)
    store.set_legal_hold(EVIDENCE_ID, True, actor=MANAGER_A, reason="appeal lodged")
    directory = store.directory_of(EVIDENCE_ID)
    assert not (directory / RETENTION_NAME).exists()
    # A host user writes the file the store used to trust.
    directory.chmod(0o700)
    (directory / RETENTION_NAME).write_text(
        json.dumps({"review_date": "2000-01-01", "legal_hold": False})
    )
    assert store.retention(EVIDENCE_ID).legal_hold is True
    store.request(EVIDENCE_ID, RetentionAction.DELETE, actor=MANAGER_A, role=ROLE, reason="r")
    with pytest.raises(RetentionError, match="legal hold"):
        store.delete(EVIDENCE_ID, actor=MANAGER_B, role=ROLE, reason="due", today=LATER)
