"""Sealed evidence: who may view and export it, the custody chain in the database, the CLI,
and tampering (a Master byte, a manifest field, a deleted chain entry) found and located."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import delete, text

from control_plane.auth import add_officer, create_api_token
from control_plane.keys import ENGINE, RECORDINGS
from core import db, schema
from core.canonical import canonical_json
from core.domain import OfficerRole
from evidence.verify import verify_store_entry
from tests.recorder.statement import (
    consent_and_start,
    manifest_of,
    master_dir,
    open_call,
    trusted_of,
    wait_recording,
)
from tests.support.postgres import owner_url
from tests.support.recorder import (
    RunningRecorder,
    metric,
    scrape,
    start_recorder,
    stop_recorder,
)
from tests.support.stack import Api, Stack

REPO = Path(__file__).resolve().parents[2]
WHY = {"X-Justification": "CPS file review, case CR/2026/0001"}


@pytest.fixture(scope="module")
def recorder(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRecorder]:
    rec = start_recorder(stack, tmp_path_factory.mktemp("recorder"), name="rec-access")
    try:
        yield rec
    finally:
        stop_recorder(rec)


@pytest.fixture(scope="module")
async def evidence(
    stack: Stack, http: aiohttp.ClientSession, recorder: RunningRecorder
) -> tuple[str, str]:
    """(visit id, evidence id) of a short sealed statement taken by alice."""
    api = Api(http, stack)
    call = await open_call(api)
    try:
        await consent_and_start(api, call)
        await wait_recording(api, call.visit_id, status="recording", secured=True)
        await asyncio.sleep(1.5)
        await api.ok(
            "POST", f"/api/v1/visits/{call.visit_id}/recording/stop", who="alice", expect=202
        )
        sealed = await wait_recording(api, call.visit_id, status="sealed", timeout=60)
    finally:
        await call.close()
    return call.visit_id, sealed["evidence_id"]


@pytest.fixture(scope="module")
async def manager(stack: Stack) -> str:
    """A token for a digital evidence unit officer (another unit, role evidence_manager)."""
    engine = stack.app[ENGINE]
    await add_officer(
        engine,
        collar_number="9001",
        display_name="DEU",
        unit="DIGITAL-EVIDENCE",
        role=OfficerRole.EVIDENCE_MANAGER,
    )
    return await create_api_token(engine, collar_number="9001", label="test")


def _cli(recorder: RunningRecorder, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evr.cli", "evidence", *argv],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_only_rights_holders_view_or_export_and_each_is_in_the_chain(
    api: Api, evidence: tuple[str, str], manager: str
) -> None:
    vid, eid = evidence
    path = f"/api/v1/evidence/{eid}"
    export = {"justification": "disclosure to the CPS", "recipient": "CPS Wessex"}
    # Another officer of the same unit, and one of another unit: neither sees it.
    for who in ("bob", "carol"):
        status, _ = await api.call("GET", path, who=who, headers=WHY)
        assert status == 404
        status, _ = await api.call("POST", path + "/export", who=who, json=export)
        assert status == 404
    # The visit's officer must say why.
    status, body = await api.call("GET", path, who="alice")
    assert status == 400
    assert "justification" in body["error"]["message"]
    viewed = await api.ok("GET", path, who="alice", headers=WHY)
    assert viewed["manifest"]["evidence_id"] == eid
    assert viewed["custody"][-1]["event"] == "viewed"
    assert viewed["custody"][-1]["reason"] == WHY["X-Justification"]
    assert viewed["custody"][-1]["actor"] == "officer:local:1001"
    # Playback of a Master segment is a view too, logged with the segment's name.
    name = viewed["manifest"]["segments"][0]["name"]
    async with api.session.get(
        api.stack.base_url + f"{path}/segments/{name}",
        headers={**WHY, **api.stack.headers("alice")},
    ) as resp:
        assert resp.status == 200
        assert resp.content_type == "video/mp4"
        data = await resp.read()
    assert hashlib.sha256(data).hexdigest() == viewed["manifest"]["segments"][0]["sha256"]
    # Disclosure is a role (issue 12, finding 13): the case officer may view, not export.
    status, body = await api.call("POST", path + "/export", who="alice", json=export)
    assert status == 403
    assert "evidence_manager" in body["error"]["message"]
    # The unit's supervisor exports; the evidence manager of another unit may view.
    done = await api.ok("POST", path + "/export", who="sarge", json=export, expect=201)
    # The response names the bundle, never a server path (issue 12, finding 12).
    assert "/" not in done["bundle"]
    assert str(api.stack.settings.recording.export_dir) not in json.dumps(done)
    bundle = api.stack.settings.recording.export_dir / done["bundle"]
    assert (bundle / "VERIFY.txt").is_file()
    assert oct((bundle.parent.stat().st_mode) & 0o777) == oct(0o700)
    assert "masters/" + name in done["files"]
    status, _ = await api.call(
        "GET", path, bearer=manager, headers={"X-Justification": "DEU quality audit"}
    )
    assert status == 200
    chain = (await api.ok("GET", path, who="alice", headers=WHY))["custody"]
    events = [(e["event"], e["actor"]) for e in chain]
    assert events[:2] == [("created", "recorder:rec-access"), ("sealed", "recorder:rec-access")]
    assert ("viewed", "officer:local:1001") in events
    assert ("exported", "officer:local:2001") in events
    assert ("viewed", "officer:local:9001") in events
    segment_views = [e for e in chain if e["details"].get("segment") == name]
    assert segment_views
    assert [e["seq"] for e in chain] == list(range(1, len(chain) + 1))
    assert not [e for e in chain if e["actor"] in ("officer:local:1002", "officer:local:1003")]
    # DPA s.62: consultation with its justification, disclosure with its recipient.
    audit = (await api.ok("GET", f"/api/v1/visits/{vid}/audit", who="alice"))["entries"]
    consultations = [
        a for a in audit if a["action"] == "consultation" and a["subject"] == "evidence"
    ]
    disclosures = [a for a in audit if a["action"] == "disclosure"]
    assert any(a["justification"] == WHY["X-Justification"] for a in consultations)
    assert disclosures
    assert disclosures[-1]["recipients"] == "CPS Wessex"
    assert disclosures[-1]["actor"] == "officer:local:2001"


async def test_cli_exports_and_verifies_bundles_and_store_entries(
    api: Api, evidence: tuple[str, str], recorder: RunningRecorder, tmp_path: Path
) -> None:
    _, eid = evidence
    config = str(recorder.config_path)
    bundle = tmp_path / "bundle"
    out = await asyncio.to_thread(
        _cli,
        recorder,
        "export",
        eid,
        "--config",
        config,
        "--out",
        str(bundle),
        "--actor",
        "officer:local:2001",
        "--justification",
        "disclosure to defence",
        "--recipient",
        "Defence solicitors",
    )
    assert out.returncode == 0, out.stderr
    # A bundle verifies with nothing but its own files and a fingerprint the force publishes
    # (issue 12, finding 2): none given is a usage error, a wrong one fails and says so.
    out = await asyncio.to_thread(_cli, recorder, "verify", str(bundle))
    assert out.returncode == 2, out.stdout + out.stderr
    assert "trusted key fingerprint is required" in out.stderr
    out = await asyncio.to_thread(_cli, recorder, "verify", str(bundle), "--trusted-key", "ab" * 32)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "not a trusted key" in out.stdout
    [fingerprint] = trusted_of(api)
    out = await asyncio.to_thread(
        _cli, recorder, "verify", str(bundle), "--trusted-key", fingerprint
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.rstrip().endswith("VERIFIED")
    out = await asyncio.to_thread(_cli, recorder, "verify", str(bundle), "--config", config)
    assert out.returncode == 0, out.stdout + out.stderr
    custody = [json.loads(line) for line in (bundle / "custody.jsonl").read_text().splitlines()]
    assert custody[-1]["event"] == "exported"
    assert custody[-1]["details"]["recipient"] == "Defence solicitors"
    # Exports by the API and by the CLI both count on the recorder's metric (from the chain).
    exports = metric(await scrape(api.session, recorder), "evr_evidence_exports_total")
    assert exports is not None
    assert exports >= 2
    # The store entry verifies against the chain in the database.
    out = await asyncio.to_thread(_cli, recorder, "verify", eid, "--config", config)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "custody:" in out.stdout


async def test_retention_decisions_need_the_role_and_a_reason_and_are_logged(
    api: Api, evidence: tuple[str, str], manager: str
) -> None:
    vid, eid = evidence
    path = f"/api/v1/evidence/{eid}"
    review = {
        "review_date": "2037-06-30",
        "category": "mopi_group_2",
        "reason": "MoPI group 2: serious offence",
    }
    status, _ = await api.call("PUT", path + "/review-date", who="alice", json=review)
    assert status == 403  # the officer in the case may view, not decide retention
    # Issue 12, finding 3: no backdating below the category's minimum, no unknown category.
    status, body = await api.call(
        "PUT", path + "/review-date", who="sarge", json={**review, "review_date": "2027-01-01"}
    )
    assert status == 409
    assert "on or after" in body["error"]["message"]
    status, _ = await api.call(
        "PUT", path + "/review-date", who="sarge", json={**review, "category": "none"}
    )
    assert status == 422
    done = await api.ok("PUT", path + "/review-date", who="sarge", json=review)
    assert done["retention"]["review_date"] == "2037-06-30"
    assert done["retention"]["category"] == "mopi_group_2"
    held = await api.ok(
        "PUT", path + "/legal-hold", bearer=manager, json={"hold": True, "reason": "appeal lodged"}
    )
    assert held["retention"]["legal_hold"] is True
    status, body = await api.call(
        "POST", path + "/delete", bearer=manager, json={"reason": "period over"}
    )
    assert status == 409
    assert "legal hold" in body["error"]["message"]
    status, body = await api.call("POST", path + "/delete", who="sarge", json={"reason": "tidy"})
    assert status == 403  # only the evidence manager role may delete
    # Lifting the hold takes two people: one requests, another approves.
    lift = {"hold": False, "reason": "appeal over"}
    status, body = await api.call("PUT", path + "/legal-hold", bearer=manager, json=lift)
    assert status == 409
    assert "two people" in body["error"]["message"]
    requested = await api.ok(
        "POST",
        path + "/retention-requests",
        bearer=manager,
        json={"action": "lift_hold", "reason": "appeal dismissed"},
        expect=201,
    )
    assert requested["requested_by"] == "officer:local:9001"
    status, body = await api.call("PUT", path + "/legal-hold", bearer=manager, json=lift)
    assert status == 409
    assert "another authorised person" in body["error"]["message"]
    lifted = await api.ok("PUT", path + "/legal-hold", who="sarge", json=lift)
    assert lifted["retention"]["legal_hold"] is False
    assert lifted["retention"]["pending"] == []
    status, body = await api.call(
        "POST", path + "/delete", bearer=manager, json={"reason": "period over"}
    )
    assert status == 409
    assert "review date" in body["error"]["message"]
    chain = (await api.ok("GET", path, who="alice", headers=WHY))["custody"]
    decisions = [(e["event"], e["reason"]) for e in chain if e["event"] != "viewed"]
    assert ("retention_changed", review["reason"]) in decisions
    assert ("legal_hold", "appeal lodged") in decisions
    assert ("retention_requested", "appeal dismissed") in decisions
    assert ("legal_hold", "appeal over") in decisions
    approval = next(e for e in chain if e["event"] == "legal_hold" and e["reason"] == "appeal over")
    assert approval["actor"] == "officer:local:2001"
    assert approval["details"]["requested_by"] == "officer:local:9001"
    assert not [e for e in chain if e["event"] == "deleted"]
    audit = (await api.ok("GET", f"/api/v1/visits/{vid}/audit", who="alice"))["entries"]
    assert any(a["subject"] == "evidence.retention" for a in audit)


async def test_tampering_is_found_and_located(
    api: Api, evidence: tuple[str, str], recorder: RunningRecorder
) -> None:
    """Runs last in this module: it breaks the item on purpose."""
    _, eid = evidence
    service = api.stack.app[RECORDINGS]

    async def failures() -> list[str]:
        report = await asyncio.to_thread(
            verify_store_entry, service.store, eid, trusted_key_ids=trusted_of(api)
        )
        return [f.where for f in report.failures]

    assert await failures() == []
    # 1. Delete an entry from the chain in the database (an attacker with DBA rights must
    #    first switch off the append-only trigger).
    #    The services' own role may not even do that on PostgreSQL: this is the owner.
    engine = db.create_engine(owner_url(api.stack.settings.database_url))
    c = schema.custody_log
    try:
        async with engine.begin() as conn:
            for statement in _triggers(conn.dialect.name, enable=False):
                await conn.execute(text(statement))
            await conn.execute(delete(c).where(c.c.evidence_id == eid, c.c.seq == 3))
            for statement in _triggers(conn.dialect.name, enable=True):
                await conn.execute(text(statement))
    finally:
        await engine.dispose()
    assert await failures() == ["custody seq 3"]
    out = await asyncio.to_thread(
        _cli, recorder, "verify", eid, "--config", str(recorder.config_path)
    )
    assert out.returncode == 1
    assert "FAIL  custody seq 3" in out.stdout
    # 2. Flip one byte of a Master.
    directory = master_dir(api, eid)
    segment = directory / "masters" / manifest_of(api, eid).segments[0].name
    _rewrite(segment, _flipped(segment.read_bytes()))
    assert set(await failures()) == {"custody seq 3", f"segment {segment.name}"}
    # 3. Change a field of the manifest.
    manifest_path = directory / "manifest.json"
    manifest = json.loads(manifest_path.read_bytes())
    manifest["crime_reference"] = "CR/2026/9999"
    _rewrite(manifest_path, canonical_json(manifest))
    found = await failures()
    assert "manifest.sig" in found
    assert "manifest field 'crime_reference'" in found


def _triggers(dialect: str, *, enable: bool) -> list[str]:
    if dialect == "postgresql":
        verb = "ENABLE" if enable else "DISABLE"
        return [f"ALTER TABLE custody_log {verb} TRIGGER custody_log_append_only"]
    if enable:
        return [
            "CREATE TRIGGER custody_log_no_delete BEFORE DELETE ON custody_log "
            "BEGIN SELECT RAISE(ABORT, 'custody_log is append-only'); END"
        ]
    return ["DROP TRIGGER custody_log_no_delete"]


def _flipped(data: bytes) -> bytes:
    changed = bytearray(data)
    changed[len(changed) // 2] ^= 0x01
    return bytes(changed)


def _rewrite(path: Path, data: bytes) -> None:
    path.parent.chmod(0o755)
    path.chmod(0o644)
    path.write_bytes(data)
    path.chmod(0o444)
