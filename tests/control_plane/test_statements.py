"""The written statement against the real stack: draft with autosave, the witness's copy and
correction request, signing a given revision, and what is sealed (PDF/A, text and hash,
signature, who/when/session), verified and tamper-evident; who may see it."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from sqlalchemy import func, select

from control_plane.auth import add_officer, create_api_token
from control_plane.exhibits.app import STATEMENTS
from control_plane.keys import ENGINE, RECORDINGS
from core import schema
from core.domain import OfficerRole
from evidence.store import MASTERS_DIR
from evidence.verify import verify_store_entry
from evidence.visit_bundle import verify_visit_bundle
from tests.evidence.test_exhibit import FailingSigner
from tests.recorder.statement import master_dir, trusted_of
from tests.support.stack import Api

TEXT = "On 28 November at about 21:00 I heard glass break.\nZażółć gęślą jaźń — I saw a man."
WHY = {"X-Justification": "statement review for the case file"}


def signature_png() -> str:
    image = Image.new("RGBA", (300, 100), (255, 255, 255, 0))
    ImageDraw.Draw(image).line([(10, 80), (90, 20), (170, 70), (290, 30)], fill="black", width=4)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode("ascii")


def sign_body(revision: int, **overrides: Any) -> dict[str, Any]:
    body = {
        "revision": revision,
        "declaration": True,
        "name": "Jane Witness",
        "over_18": True,
        "signature_png": signature_png(),
    }
    return {**body, **overrides}


async def signed_statement(api: Api) -> tuple[str, str, dict[str, Any]]:
    """(visit id, victim session, the signed statement) for a short statement."""
    vid, session = await api.live_ready_visit()
    made = await api.ok("POST", f"/api/v1/visits/{vid}/statements", who="alice", expect=201)
    saved = await api.ok(
        "PUT",
        f"/api/v1/visits/{vid}/statements/{made['id']}",
        who="alice",
        json={"text": TEXT, "revision": 0, "share": True},
    )
    signed = await api.ok(
        "POST",
        f"/api/v1/participant/statement/{made['id']}/sign",
        bearer=session,
        json=sign_body(saved["revision"]),
        expect=201,
    )
    return vid, session, signed


async def test_draft_correction_and_signing_of_the_revision_read(api: Api) -> None:
    vid, session = await api.live_ready_visit()
    base = f"/api/v1/visits/{vid}/statements"
    made = await api.ok("POST", base, who="alice", json={"language": "en"}, expect=201)
    assert (made["status"], made["revision"], made["text"]) == ("draft", 0, "")
    sid = made["id"]

    # Not shared yet: the phone sees nothing.
    mine = await api.ok("GET", "/api/v1/participant/statement", bearer=session)
    assert mine["statement"] is None

    first = await api.ok(
        "PUT", f"{base}/{sid}", who="alice", json={"text": "draft one", "revision": 0}
    )
    assert first["revision"] == 1
    # A stale autosave (another tab, an old revision) is refused, not silently merged.
    status, body = await api.call(
        "PUT", f"{base}/{sid}", who="alice", json={"text": "stale", "revision": 0}
    )
    assert status == 409
    assert body["error"]["details"]["revision"] == 1

    shared = await api.ok(
        "PUT", f"{base}/{sid}", who="alice", json={"text": TEXT, "revision": 1, "share": True}
    )
    mine = (await api.ok("GET", "/api/v1/participant/statement", bearer=session))["statement"]
    assert mine["text"] == TEXT
    assert mine["revision"] == shared["revision"] == 2
    assert "wilfully stated anything which I know to be false" in mine["declaration"]

    await api.ok(
        "POST",
        f"/api/v1/participant/statement/{sid}/corrections",
        bearer=session,
        json={"revision": 2, "request": "It was 21:30, not 21:00"},
        expect=201,
    )
    listed = (await api.ok("GET", base, who="alice"))["statements"]
    assert listed[0]["corrections"][0]["request"] == "It was 21:30, not 21:00"
    assert listed[0]["corrections"][0]["revision"] == 2

    corrected = TEXT.replace("21:00", "21:30")
    fixed = await api.ok(
        "PUT", f"{base}/{sid}", who="alice", json={"text": corrected, "revision": 2}
    )
    # Signing what was read before the correction is refused: the text changed since.
    status, body = await api.call(
        "POST",
        f"/api/v1/participant/statement/{sid}/sign",
        bearer=session,
        json=sign_body(2),
    )
    assert status == 409
    assert "changed since you read it" in body["error"]["message"]

    signed = await api.ok(
        "POST",
        f"/api/v1/participant/statement/{sid}/sign",
        bearer=session,
        json=sign_body(fixed["revision"]),
        expect=201,
    )
    assert signed["status"] == "signed"
    assert signed["signed_name"] == "Jane Witness"
    assert signed["evidence_id"]
    assert signed["text_sha256"]

    # Once signed, nothing changes it; a correction is a further statement.
    status, body = await api.call(
        "PUT", f"{base}/{sid}", who="alice", json={"text": "changed", "revision": 3}
    )
    assert status == 409
    assert "further statement" in body["error"]["message"]
    status, _ = await api.call(
        "POST", f"/api/v1/participant/statement/{sid}/sign", bearer=session, json=sign_body(3)
    )
    assert status == 409
    further = await api.ok("POST", base, who="alice", json={"supersedes": sid}, expect=201)
    assert (further["number"], further["supersedes"], further["text"]) == (2, sid, corrected)


async def test_bad_signatures_get_clear_refusals(api: Api) -> None:
    vid, session = await api.live_ready_visit()
    made = await api.ok("POST", f"/api/v1/visits/{vid}/statements", who="alice", expect=201)
    sid = made["id"]
    await api.ok(
        "PUT",
        f"/api/v1/visits/{vid}/statements/{sid}",
        who="alice",
        json={"text": TEXT, "revision": 0, "share": True},
    )
    path = f"/api/v1/participant/statement/{sid}/sign"
    cases = [
        (sign_body(1, declaration=False), "declaration"),
        (sign_body(1, signature_png="not base64!"), "base64"),
        (sign_body(1, signature_png=base64.b64encode(b"GIF89a....").decode()), "signature"),
        (sign_body(1, over_18=False), "age"),
    ]
    for body, word in cases:
        status, answer = await api.call("POST", path, bearer=session, json=body)
        assert status == 422, (word, answer)
        assert word in answer["error"]["message"], answer
    # None of them signed it: the statement is still a draft at the same revision.
    mine = (await api.ok("GET", "/api/v1/participant/statement", bearer=session))["statement"]
    assert (mine["status"], mine["revision"]) == ("draft", 1)


async def _count(api: Api, table: Any) -> int:
    async with api.stack.app[ENGINE].connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(table)) or 0)


async def test_a_failed_signing_leaves_nothing_and_the_witness_can_sign_again(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The platform's signer fails at the signing step (as an HSM that stops answering would):
    the witness gets a 503, and the store, the custody log, the exhibit index and the spool
    hold nothing of it; the statement is a draft again, and signs once the signer answers."""
    vid, session = await api.live_ready_visit()
    made = await api.ok("POST", f"/api/v1/visits/{vid}/statements", who="alice", expect=201)
    saved = await api.ok(
        "PUT",
        f"/api/v1/visits/{vid}/statements/{made['id']}",
        who="alice",
        json={"text": TEXT, "revision": 0, "share": True},
    )
    sealer = api.stack.app[STATEMENTS]._sealer  # the injection point: its signing key
    monkeypatch.setattr(sealer, "_key", FailingSigner(sealer._key))
    store = api.stack.settings.recording.store_dir / "evidence"
    items, custody = set(store.iterdir()), await _count(api, schema.custody_log)
    status, body = await api.call(
        "POST",
        f"/api/v1/participant/statement/{made['id']}/sign",
        bearer=session,
        json=sign_body(saved["revision"]),
    )
    assert status == 503, body
    assert "could not be sealed" in body["error"]["message"]
    assert set(store.iterdir()) == items
    assert await _count(api, schema.custody_log) == custody
    exhibits = await api.ok("GET", f"/api/v1/visits/{vid}/exhibits", who="alice")
    assert exhibits["exhibits"] == []
    assert not any((api.stack.settings.recording.spool_dir / "exhibits").iterdir())
    mine = await api.ok("GET", "/api/v1/participant/statement", bearer=session)
    assert mine["statement"]["status"] == "draft"

    monkeypatch.undo()
    signed = await api.ok(
        "POST",
        f"/api/v1/participant/statement/{made['id']}/sign",
        bearer=session,
        json=sign_body(saved["revision"]),
        expect=201,
    )
    report = await asyncio.to_thread(
        verify_store_entry,
        api.stack.app[RECORDINGS].store,
        signed["evidence_id"],
        trusted_key_ids=trusted_of(api),
    )
    assert report.ok, report.failures


def _poppler(*argv: str) -> str:
    """Output of a poppler-utils tool (pdfinfo, pdffonts, pdftotext)."""
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout


async def test_what_is_sealed_for_a_signed_statement(api: Api) -> None:
    vid, _session, signed = await signed_statement(api)
    evidence_id = signed["evidence_id"]
    directory = master_dir(api, evidence_id)
    masters = directory / MASTERS_DIR
    assert sorted(p.name for p in masters.iterdir()) == [
        "exhibit.json",
        "signature.png",
        "statement.pdf",
        "statement.txt",
    ]
    assert (masters / "statement.txt").read_text("utf-8") == TEXT
    described = json.loads((masters / "exhibit.json").read_bytes())
    assert described["kind"] == "statement"
    assert described["text_sha256"] == signed["text_sha256"]
    assert described["witness"] == {"name": "Jane Witness", "over_18": True, "age": None}
    assert described["signed_by"] == f"victim:{vid}"
    assert described["signing_session"]
    assert described["recording"] is None  # no recording was made on this visit
    assert described["signed_at"] == signed["signed_at"]

    # A real PDF/A-2b: identification in XMP, every font embedded.
    pdf = masters / "statement.pdf"
    assert 'pdfaid:part="2"' in _poppler("pdfinfo", "-meta", str(pdf))
    assert 'pdfaid:conformance="B"' in _poppler("pdfinfo", "-meta", str(pdf))
    fonts = _poppler("pdffonts", str(pdf)).splitlines()[2:]
    assert fonts
    assert all(" yes yes " in line for line in fonts), fonts
    text = _poppler("pdftotext", str(pdf), "-")
    assert "Zażółć gęślą jaźń" in text
    assert signed["text_sha256"] in "".join(text.split())

    report = await asyncio.to_thread(
        verify_store_entry,
        api.stack.app[RECORDINGS].store,
        evidence_id,
        trusted_key_ids=trusted_of(api),
    )
    assert report.ok, report.failures

    exhibits = (await api.ok("GET", f"/api/v1/visits/{vid}/exhibits", who="alice"))["exhibits"]
    (listed,) = [e for e in exhibits if e["evidence_id"] == evidence_id]
    assert listed["kind"] == "statement"
    assert listed["media_type"] == "application/pdf"
    view = await api.ok("GET", f"/api/v1/exhibits/{evidence_id}", who="alice", headers=WHY)
    assert [c["event"] for c in view["custody"]][:2] == ["created", "sealed"]
    assert view["custody"][-1]["event"] == "viewed"


async def test_tampering_with_a_sealed_statement_names_the_file(api: Api) -> None:
    _, _, signed = await signed_statement(api)
    evidence_id = signed["evidence_id"]
    masters = master_dir(api, evidence_id) / MASTERS_DIR
    store = api.stack.app[RECORDINGS].store
    for name in ("statement.txt", "exhibit.json"):
        target = masters / name
        masters.chmod(0o755)
        target.chmod(0o644)
        original = target.read_bytes()
        target.write_bytes(original.replace(b"glass", b"GLASS").replace(b"Jane", b"John"))
        try:
            report = await asyncio.to_thread(
                verify_store_entry, store, evidence_id, trusted_key_ids=trusted_of(api)
            )
            assert not report.ok
            assert [f.where for f in report.failures] == [f"segment {name}"]
        finally:
            target.write_bytes(original)
            target.chmod(0o444)
            masters.chmod(0o555)
    final = await asyncio.to_thread(
        verify_store_entry, store, evidence_id, trusted_key_ids=trusted_of(api)
    )
    assert final.ok


async def test_only_the_officer_their_supervisor_and_evidence_managers_see_it(api: Api) -> None:
    vid, _, signed = await signed_statement(api)
    evidence_id = signed["evidence_id"]
    engine = api.stack.app[ENGINE]
    await add_officer(
        engine,
        collar_number="9015",
        display_name="DEU 9015",
        unit="DEU",
        role=OfficerRole.EVIDENCE_MANAGER,
    )
    manager = await create_api_token(engine, collar_number="9015", label="test")
    for who, bearer, expected in (
        ("alice", None, 200),
        ("sarge", None, 200),
        (None, manager, 200),
        ("bob", None, 404),
        ("carol", None, 404),
    ):
        status, _ = await api.call("GET", f"/api/v1/visits/{vid}/exhibits", who=who, bearer=bearer)
        assert status == expected, (who, status)
        headers = {**WHY, "Authorization": f"Bearer {bearer or api.stack.tokens[str(who)]}"}
        async with api.session.get(
            f"{api.stack.base_url}/api/v1/exhibits/{evidence_id}/file", headers=headers
        ) as resp:
            assert resp.status == expected, (who, resp.status)
            if expected == 200:
                assert resp.content_type == "application/pdf"
                assert (await resp.read()).startswith(b"%PDF-")
    # Viewing needs a reason, which goes into the custody chain.
    status, body = await api.call("GET", f"/api/v1/exhibits/{evidence_id}/file", who="alice")
    assert status == 400
    assert "justification" in body["error"]["message"]


async def test_one_bundle_holds_the_visits_exhibits_and_verifies_offline(api: Api) -> None:
    vid, session, signed = await signed_statement(api)
    await api.ok(
        "POST",
        "/api/v1/participant/uploads",
        bearer=session,
        data=base64.b64decode(signature_png()),
        headers={"X-File-Name": "door.png"},
        expect=201,
    )
    body = {"justification": "file for the CPS", "recipient": "CPS Wessex"}
    status, _ = await api.call(
        "POST", f"/api/v1/visits/{vid}/evidence-bundle", who="bob", json=body
    )
    assert status == 404
    done = await api.ok(
        "POST", f"/api/v1/visits/{vid}/evidence-bundle", who="alice", json=body, expect=201
    )
    assert sorted(i["kind"] for i in done["items"]) == ["statement", "upload"]
    bundle = Path(done["bundle"])
    trusted = trusted_of(api)
    report = await asyncio.to_thread(verify_visit_bundle, bundle, trusted_key_ids=trusted)
    assert report.ok, report.failures
    target = bundle / signed["evidence_id"] / MASTERS_DIR / "statement.txt"
    target.chmod(0o644)
    target.write_bytes(b"a different statement")
    report = await asyncio.to_thread(verify_visit_bundle, bundle, trusted_key_ids=trusted)
    assert f"item {signed['evidence_id']} (statement): segment statement.txt" in [
        f.where for f in report.failures
    ]


async def test_the_signed_statement_names_the_visits_recording(api: Api) -> None:
    vid, session = await api.consented_live_visit()
    started = await api.ok("POST", f"/api/v1/visits/{vid}/recording/start", who="alice", expect=202)
    made = await api.ok("POST", f"/api/v1/visits/{vid}/statements", who="alice", expect=201)
    saved = await api.ok(
        "PUT",
        f"/api/v1/visits/{vid}/statements/{made['id']}",
        who="alice",
        json={"text": TEXT, "revision": 0, "share": True},
    )
    signed = await api.ok(
        "POST",
        f"/api/v1/participant/statement/{made['id']}/sign",
        bearer=session,
        json=sign_body(saved["revision"]),
        expect=201,
    )
    masters = master_dir(api, signed["evidence_id"]) / MASTERS_DIR
    described = json.loads((masters / "exhibit.json").read_bytes())
    # The link names the recording and its status when the statement was signed.
    assert described["recording"]["evidence_id"] == started["recording"]["evidence_id"]
    assert described["recording"]["status"] in ("requested", "recording")
    # End the visit: a recording left requested on an open visit would wait for the suite's
    # next recorder and hold one of its slots.
    await api.ok("POST", f"/api/v1/visits/{vid}/end", who="alice", json={"reason": "test"})
