"""The victim's own evidence and the officer's stills against the real stack: accepted files
are sealed byte for byte with their hash on arrival; wrong types, damaged files and files over
the limit are refused plainly and leave nothing behind; the phone sees that a still was taken."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from PIL import Image
from sqlalchemy import func, select, update

from control_plane.keys import ENGINE
from core import schema
from evidence.exhibit import EXHIBIT_NAME
from evidence.store import MASTERS_DIR
from tests.recorder.statement import master_dir
from tests.support.stack import Api


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (30, 120, 200)).save(out, format="JPEG")
    return out.getvalue()


async def _exhibit_count(api: Api, vid: str) -> int:
    e = schema.exhibits
    async with api.stack.app[ENGINE].connect() as conn:
        return int(
            await conn.scalar(select(func.count()).select_from(e).where(e.c.visit_id == vid)) or 0
        )


def _spool(api: Api) -> Path:
    return api.stack.settings.recording.spool_dir / "exhibits"


async def _upload(api: Api, session: str, data: bytes, name: str) -> tuple[int, Any]:
    return await api.call(
        "POST",
        "/api/v1/participant/uploads",
        bearer=session,
        data=data,
        headers={"Content-Type": "application/octet-stream", "X-File-Name": name},
    )


async def test_a_photo_is_sealed_byte_for_byte_with_its_hash(api: Api) -> None:
    vid, session = await api.live_ready_visit()
    data = jpeg()
    status, body = await _upload(api, session, data, "window.jpg")
    assert status == 201, body
    assert body["kind"] == "upload"
    assert body["media_type"] == "image/jpeg"
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["bytes"] == len(data)
    stored = master_dir(api, body["evidence_id"]) / MASTERS_DIR / "upload.jpg"
    assert stored.read_bytes() == data

    mine = await api.ok("GET", "/api/v1/participant/exhibits", bearer=session)
    assert [u["sha256"] for u in mine["uploads"]] == [body["sha256"]]
    listed = (await api.ok("GET", f"/api/v1/visits/{vid}/exhibits", who="alice"))["exhibits"]
    assert [(e["kind"], e["sha256"]) for e in listed] == [("upload", body["sha256"])]


async def test_bad_files_are_refused_and_leave_nothing(api: Api) -> None:
    vid, session = await api.live_ready_visit()
    good = jpeg()
    cases = [
        (b"%PDF-1.7 not a photo", "window.jpg", 422, "type"),
        (good[: len(good) // 2], "cut.jpg", 422, "incomplete"),
        (b"", "empty.jpg", 422, "empty"),
    ]
    for data, name, expected, reason in cases:
        status, body = await _upload(api, session, data, name)
        assert status == expected, body
        assert body["error"]["details"]["reason"] == reason
    assert await _exhibit_count(api, vid) == 0
    assert not any(_spool(api).iterdir())


async def test_a_file_over_the_limit_is_refused_before_it_is_sent(api: Api) -> None:
    vid, session = await api.live_ready_visit()
    limit = api.stack.settings.exhibits.max_upload_bytes
    url = urlsplit(api.stack.base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(
            (
                "POST /api/v1/participant/uploads HTTP/1.1\r\n"
                f"Host: {url.netloc}\r\nAuthorization: Bearer {session}\r\n"
                f"Content-Type: video/mp4\r\nContent-Length: {limit + 1}\r\n\r\n"
            ).encode()
            + b"\x00" * 1024
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.read(4096), timeout=30)
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert b"too large" in head
    assert await _exhibit_count(api, vid) == 0


CAPTURED_AT = "2026-03-02T14:05:09.123Z"


def captured(data: bytes) -> dict[str, str]:
    """The headers the console sends with a still: its SHA-256 and time at capture."""
    return {
        "Content-Type": "image/jpeg",
        "X-Capture-SHA256": hashlib.sha256(data).hexdigest(),
        "X-Captured-At": CAPTURED_AT,
    }


async def test_a_still_is_sealed_and_the_phone_is_told(api: Api) -> None:
    vid, session = await api.live_ready_visit()
    data = jpeg()
    status, body = await api.call(
        "POST",
        f"/api/v1/visits/{vid}/stills?caption=Bruise+on+left+forearm&subject=victim",
        who="alice",
        data=data,
        headers=captured(data),
    )
    assert status == 201, body
    described = json.loads(
        (master_dir(api, body["evidence_id"]) / MASTERS_DIR / EXHIBIT_NAME).read_bytes()
    )
    # Hashed at capture: the console's hash and time are kept as given, and match the bytes.
    assert described["capture_sha256"] == hashlib.sha256(data).hexdigest()
    assert described["captured_at"] == CAPTURED_AT
    assert described["files"][0]["hashed"] == "capture"
    assert (body["kind"], body["caption"], body["created_by"]) == (
        "still",
        "Bruise on left forearm",
        "officer:local:1001",
    )
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    mine = await api.ok("GET", "/api/v1/participant/exhibits", bearer=session)
    assert [s["evidence_id"] for s in mine["stills"]] == [body["evidence_id"]]
    # Another officer cannot add stills to alice's visit; a video is not a still.
    status, _ = await api.call(
        "POST",
        f"/api/v1/visits/{vid}/stills?caption=x",
        who="bob",
        data=data,
        headers=captured(data),
    )
    assert status == 404
    video = b"\x1a\x45\xdf\xa3"
    status, refused = await api.call(
        "POST",
        f"/api/v1/visits/{vid}/stills?caption=x",
        who="alice",
        data=video,
        headers=captured(video),
    )
    assert status == 422, refused


async def test_a_still_that_changed_after_capture_is_refused(api: Api) -> None:
    vid, _ = await api.live_ready_visit()
    taken = jpeg()
    changed = bytearray(taken)
    changed[len(changed) // 2] ^= 0x01  # one bit differs on the way; still a whole JPEG
    sent = bytes(changed)
    before = sorted(_spool(api).rglob("*"))
    status, refused = await api.call(
        "POST",
        f"/api/v1/visits/{vid}/stills?caption=Bruise&subject=victim",
        who="alice",
        data=sent,
        headers=captured(taken),
    )
    assert status == 422, refused
    assert refused["error"]["details"]["reason"] == "capture_hash"
    assert "changed between capture and arrival" in refused["error"]["message"]
    assert refused["error"]["details"]["received_sha256"] == hashlib.sha256(sent).hexdigest()
    assert await _exhibit_count(api, vid) == 0
    assert sorted(_spool(api).rglob("*")) == before  # nothing kept
    # Without the capture hash (or with no time zone on the time) it is refused too.
    for headers in (
        {"Content-Type": "image/jpeg"},
        {**captured(taken), "X-Captured-At": "2026-03-02T14:05:09"},
    ):
        status, refused = await api.call(
            "POST",
            f"/api/v1/visits/{vid}/stills?caption=x",
            who="alice",
            data=taken,
            headers=headers,
        )
        assert status == 422, refused
        assert "X-Capture" in refused["error"]["message"]
    assert await _exhibit_count(api, vid) == 0


async def test_the_victim_can_still_send_files_for_a_while_after_the_call(api: Api) -> None:
    """Under the session kept when the visit closes, uploads go on for
    [exhibits] upload_minutes_after_close; then 410 (the page says it has expired)."""
    vid, session = await api.live_ready_visit()
    await api.ok("POST", f"/api/v1/visits/{vid}/end", who="alice", json={"reason": "done"})
    data = jpeg()
    status, body = await _upload(api, session, data, "doorbell.jpg")
    assert status == 201, body
    described = json.loads(
        (master_dir(api, body["evidence_id"]) / MASTERS_DIR / EXHIBIT_NAME).read_bytes()
    )
    assert described["visit_status"] == "ended"
    listed = (await api.ok("GET", f"/api/v1/visits/{vid}/exhibits", who="alice"))["exhibits"]
    assert [e["sha256"] for e in listed] == [hashlib.sha256(data).hexdigest()]
    mine = await api.ok("GET", "/api/v1/participant/exhibits", bearer=session)
    assert [u["evidence_id"] for u in mine["uploads"]] == [body["evidence_id"]]

    # The window is counted from when the visit closed: move that back past it.
    window = api.stack.settings.exhibits.upload_minutes_after_close
    closed = datetime.now(UTC) - timedelta(minutes=window, seconds=1)
    v = schema.visits
    async with api.stack.app[ENGINE].begin() as conn:
        await conn.execute(update(v).where(v.c.id == vid).values(ended_at=closed))
    status, late = await _upload(api, session, data, "later.jpg")
    assert status == 410, late
    assert late["error"]["details"]["reason"] == "closed"
    assert await _exhibit_count(api, vid) == 1
    assert not any(_spool(api).iterdir())
