"""One visit's evidence together, with a real recording: the recorder process records a call
on the real SFU, then the officer takes a still and the witness signs a statement (which names
the sealed recording) and sends a photo; the visit's bundle holds the recording and the three
exhibits, and
`evr evidence verify` (the command line, as a third party runs it) passes on it and names
the recording's segment once one is changed. The recording's evidence view lists the
visit's exhibits."""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from evidence.exhibit import EXHIBIT_NAME
from evidence.store import MASTERS_DIR
from tests.control_plane.test_exhibit_uploads import captured
from tests.control_plane.test_statements import TEXT, sign_body
from tests.recorder.statement import consent_and_start, open_call, trusted_of, wait_recording
from tests.support.recorder import RunningRecorder, start_recorder, stop_recorder
from tests.support.stack import Api, Stack

WHY = {"X-Justification": "preparing the file for the CPS"}


@pytest.fixture(scope="module")
def recorder(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRecorder]:
    rec = start_recorder(stack, tmp_path_factory.mktemp("recorder"), name="rec-bundle")
    try:
        yield rec
    finally:
        stop_recorder(rec)


def jpeg(rgb: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), rgb).save(out, format="JPEG")
    return out.getvalue()


def evr_verify(bundle: Path, fingerprints: frozenset[str]) -> subprocess.CompletedProcess[str]:
    keys = [arg for fpr in sorted(fingerprints) for arg in ("--trusted-key", fpr)]
    return subprocess.run(
        [sys.executable, "-m", "evr.cli", "evidence", "verify", str(bundle), *keys],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_a_visit_bundle_with_its_recording_verifies(
    api: Api, recorder: RunningRecorder
) -> None:
    call = await open_call(api)
    vid = call.visit_id
    try:
        started = await consent_and_start(api, call)
        recording_id = started["recording"]["evidence_id"]
        await wait_recording(api, vid, status="recording", secured=True)
        await asyncio.sleep(1.5)
        await api.ok("POST", f"/api/v1/visits/{vid}/recording/stop", who="alice", expect=202)
        await wait_recording(api, vid, status="sealed", timeout=90)
    finally:
        await call.close()
    try:
        # The exhibits are taken once the synthetic participants (in this process) have left:
        # rendering the PDF holds the interpreter, which a loaded machine turns into a media
        # stall; the statement, still and upload themselves are the same either way.
        still_jpeg = jpeg((90, 90, 90))
        still = await api.ok(
            "POST",
            f"/api/v1/visits/{vid}/stills?caption=Broken+window&subject=victim",
            who="alice",
            data=still_jpeg,
            headers=captured(still_jpeg),
            expect=201,
        )
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
            bearer=call.session,
            json=sign_body(saved["revision"]),
            expect=201,
        )
        upload = await api.ok(
            "POST",
            "/api/v1/participant/uploads",
            bearer=call.session,
            data=jpeg((10, 120, 200)),
            headers={"X-File-Name": "doorbell.jpg"},
            expect=201,
        )
    finally:
        await api.ok("POST", f"/api/v1/visits/{vid}/end", who="alice", json={"reason": "test"})

    # The recording's evidence view lists the visit's exhibits, to those who may see it.
    view = await api.ok("GET", f"/api/v1/evidence/{recording_id}", who="sarge", headers=WHY)
    exhibits = {e["evidence_id"]: e["kind"] for e in view["exhibits"]}
    assert exhibits == {
        still["evidence_id"]: "still",
        signed["evidence_id"]: "statement",
        upload["evidence_id"]: "upload",
    }
    status, _ = await api.call("GET", f"/api/v1/evidence/{recording_id}", who="bob", headers=WHY)
    assert status == 404

    body = {"justification": "file for the CPS", "recipient": "CPS Wessex"}
    done = await api.ok(
        "POST", f"/api/v1/visits/{vid}/evidence-bundle", who="alice", json=body, expect=201
    )
    assert sorted((i["evidence_id"], i["kind"]) for i in done["items"]) == sorted(
        [(recording_id, "recording"), *exhibits.items()]
    )
    bundle = Path(done["bundle"])
    # The statement, signed after the recording was sealed, names it.
    described = json.loads(
        (bundle / signed["evidence_id"] / MASTERS_DIR / EXHIBIT_NAME).read_bytes()
    )
    assert described["recording"] == {"evidence_id": recording_id, "status": "sealed"}
    trusted = trusted_of(api)
    verified = await asyncio.to_thread(evr_verify, bundle, trusted)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.splitlines()[-1] == "VERIFIED"

    segment = sorted((bundle / recording_id / MASTERS_DIR).glob("segment-*.mp4"))[0]
    segment.chmod(0o644)
    data = bytearray(segment.read_bytes())
    data[len(data) // 2] ^= 0x01
    segment.write_bytes(bytes(data))
    tampered = await asyncio.to_thread(evr_verify, bundle, trusted)
    assert tampered.returncode == 1, tampered.stdout
    assert f"FAIL  item {recording_id} (recording): segment {segment.name}" in tampered.stdout
