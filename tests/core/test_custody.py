"""Custody chain: hash links, tamper localisation, justification, JSON-lines log."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.custody import (
    GENESIS_HASH,
    CustodyEntry,
    CustodyEvent,
    JsonlCustodyLog,
    make_entry,
    parse_jsonl,
    to_jsonl,
    verify_chain,
)
from core.evidence_errors import IntegrityError, JustificationRequiredError

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def chain(length: int = 4) -> list[CustodyEntry]:
    entries: list[CustodyEntry] = []
    events = [CustodyEvent.CREATED, CustodyEvent.SEALED, CustodyEvent.VIEWED]
    for i in range(length):
        event = events[min(i, 2)]
        entries.append(
            make_entry(
                entries[-1] if entries else None,
                evidence_id="E1",
                event=event,
                actor=f"user-{i}",
                at=T0 + timedelta(minutes=i),
                reason="case review" if event is CustodyEvent.VIEWED else "",
                details={"n": i, "names": ["a", "é"]},
            )
        )
    return entries


def where(entries: list[CustodyEntry]) -> str:
    with pytest.raises(IntegrityError) as info:
        verify_chain(entries)
    return info.value.where


def test_chain_links_and_verifies() -> None:
    entries = chain()
    assert entries[0].prev_hash == GENESIS_HASH
    assert [e.seq for e in entries] == [1, 2, 3, 4]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    verify_chain(entries, evidence_id="E1")


def test_altered_field_is_located() -> None:
    entries = chain()
    entries[2] = dataclasses.replace(entries[2], actor="someone-else")
    assert where(entries) == "custody seq 3"


def test_rehashed_alteration_breaks_the_next_link() -> None:
    entries = chain()
    forged = dataclasses.replace(entries[1], reason="forged")
    entries[1] = make_entry(
        entries[0],
        evidence_id="E1",
        event=forged.event,
        actor=forged.actor,
        at=forged.at,
        reason="forged",
        details=forged.details,
    )
    assert where(entries) == "custody seq 3"


def test_missing_and_reordered_entries_are_located() -> None:
    entries = chain()
    assert where(entries[:1] + entries[2:]) == "custody seq 2"
    assert where([entries[0], entries[2], entries[1], entries[3]]) == "custody seq 2"
    assert where(entries[1:]) == "custody seq 1"


@pytest.mark.parametrize("event", [CustodyEvent.VIEWED, CustodyEvent.EXPORTED])
def test_view_and_export_need_a_justification(event: CustodyEvent) -> None:
    with pytest.raises(JustificationRequiredError):
        make_entry(
            None,
            evidence_id="E1",
            event=event,
            actor="u",
            at=T0,
            reason="  ",
            details={"recipient": "CPS"},
        )


def test_export_must_name_a_recipient() -> None:
    with pytest.raises(JustificationRequiredError, match="recipient"):
        make_entry(
            None,
            evidence_id="E1",
            event=CustodyEvent.EXPORTED,
            actor="u",
            at=T0,
            reason="charging decision",
        )


def test_jsonl_log_appends_and_reads_back(tmp_path: Path) -> None:
    log = JsonlCustodyLog(tmp_path)
    log.append(evidence_id="E1", event=CustodyEvent.CREATED, actor="recorder", at=T0)
    log.append(evidence_id="E2", event=CustodyEvent.CREATED, actor="recorder", at=T0)
    log.append(evidence_id="E1", event=CustodyEvent.VIEWED, actor="u", reason="review", at=T0)
    entries = log.entries_for("E1")
    assert [(e.seq, e.event) for e in entries] == [
        (1, CustodyEvent.CREATED),
        (2, CustodyEvent.VIEWED),
    ]
    verify_chain(entries, evidence_id="E1")
    assert log.entries_for("nobody") == []
    assert parse_jsonl(to_jsonl(entries).splitlines()) == entries


def test_tampered_log_line_is_located(tmp_path: Path) -> None:
    log = JsonlCustodyLog(tmp_path)
    for i in range(3):
        log.append(evidence_id="E1", event=CustodyEvent.VIEWED, actor="u", reason=f"r{i}", at=T0)
    path = log.path_for("E1")
    lines = path.read_text().splitlines()
    record = json.loads(lines[1])
    record["reason"] = "innocent"
    lines[1] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n")
    assert where(log.entries_for("E1")) == "custody seq 2"


def test_jq_recomputes_the_same_hashes() -> None:
    entries = chain()
    for entry in entries:
        line = to_jsonl([entry])
        got = subprocess.run(
            ["jq", "-cSj", "del(.hash)"], input=line, capture_output=True, check=True
        ).stdout
        assert hashlib.sha256(got).hexdigest() == entry.hash
