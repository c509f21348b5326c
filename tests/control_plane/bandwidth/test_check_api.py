"""The connection check over HTTP against the real control plane and SFU, and the token
gating that follows from it. The client runs in this process, on the host (unshaped)."""

import asyncio
import os
from datetime import datetime, timedelta
from typing import Any

from livekit import api as lk
from sqlalchemy import select, update

from control_plane.keys import ENGINE
from core import schema
from loadtests.check_client import run_check
from tests.support.stack import Api


async def _victim(api: Api, *, start: bool = True) -> tuple[str, str]:
    """A visit (started, with every eligibility item met, unless `start` is False) and a
    victim session for it."""
    if start:
        return await api.live_ready_visit()
    visit = await api.new_visit()
    vid = visit["id"]
    await api.ok("POST", f"/api/v1/visits/{vid}/choice", who="alice", json={"choice": "video"})
    link = await api.ok("POST", f"/api/v1/visits/{vid}/links", who="alice", json={}, expect=201)
    joined = await api.ok("POST", f"/api/v1/join/{link['url'].rsplit('/', 1)[1]}", expect=201)
    return vid, joined["session"]


def _claims(api: Api, token: str) -> Any:
    sfu = api.stack.sfu
    return lk.TokenVerifier(sfu.api_key, sfu.api_secret).verify(token)


async def test_no_check_no_token_then_a_passing_check_gives_a_capped_video_token(
    api: Api,
) -> None:
    _, session = await _victim(api)
    status, body = await api.call("POST", "/api/v1/participant/token", bearer=session)
    assert status == 428, body
    assert body["error"]["code"] == "connection_check_required"

    verdict = await run_check(api.session, api.stack.base_url, session)

    assert verdict["verdict"] == "hd", verdict  # an unshaped veth carries 720p easily
    m = verdict["measurements"]
    assert m["webrtc"]["connected"]
    assert m["webrtc"]["video_frames"] > 0
    assert m["webrtc"]["transport"]["protocol"] == "udp"
    assert len(m["rtt"]["samples_ms"]) == 5
    assert m["uplink"]["bytes"] <= 1_000_000
    assert m["downlink"]["bytes"] <= 1_000_000
    token = await api.ok("POST", "/api/v1/participant/token", bearer=session, json={})
    assert token["mode"] == "video"
    assert token["check_id"] == verdict["check_id"]
    assert token["publish_caps"] == {
        "max_width": 1280,
        "max_height": 720,
        "max_bitrate": 1_700_000,
        "max_framerate": 30,
    }
    assert sorted(_claims(api, token["token"]).video.can_publish_sources) == [
        "camera",
        "microphone",
    ]


async def test_audio_only_token_publishes_the_microphone_only(api: Api) -> None:
    _, session = await _victim(api)
    await api.passed_check(session)
    token = await api.ok(
        "POST", "/api/v1/participant/token", bearer=session, json={"mode": "audio_only"}
    )
    assert token["mode"] == "audio_only"
    assert token["publish_caps"] is None
    assert _claims(api, token["token"]).video.can_publish_sources == ["microphone"]


async def test_a_stale_check_no_longer_opens_the_room(api: Api) -> None:
    _, session = await _victim(api)
    verdict = await api.passed_check(session)
    window = api.stack.settings.bandwidth.window
    b = schema.bandwidth_checks
    finished = datetime.fromisoformat(verdict["finished_at"])
    # Every check this session ran ages past the window (passed_check may have retried, and
    # an earlier audio-only verdict must not become the newest by the passing one aging).
    async with api.stack.app[ENGINE].begin() as conn:
        row = (
            await conn.execute(select(b.c.session_id).where(b.c.id == verdict["check_id"]))
        ).one()
        await conn.execute(
            update(b)
            .where(b.c.session_id == row.session_id)
            .values(finished_at=finished - window - timedelta(seconds=1))
        )
    status, body = await api.call("POST", "/api/v1/participant/token", bearer=session)
    assert status == 428, body
    assert body["error"]["code"] == "connection_check_required"
    assert body["error"]["details"]["last_check_at"] is not None
    assert "run it again" in body["error"]["message"]


async def test_skipping_the_webrtc_leg_is_insufficient_and_only_in_person_is_offered(
    api: Api,
) -> None:
    _, session = await _victim(api)
    verdict = await run_check(api.session, api.stack.base_url, session, probe=False)
    assert verdict["verdict"] == "insufficient"
    assert verdict["offered"] == ["in_person"]
    assert any("no media" in r for r in verdict["reasons"])
    for mode in ("video", "audio_only"):
        status, body = await api.call(
            "POST", "/api/v1/participant/token", bearer=session, json={"mode": mode}
        )
        assert status == 409, body
        assert body["error"]["code"] == "connection_insufficient"
        assert body["error"]["details"]["offered"] == ["in_person"]


async def test_the_verdict_is_stored_on_the_visit_and_shown_to_the_officer(api: Api) -> None:
    vid, session = await _victim(api, start=False)
    before = await api.ok("GET", f"/api/v1/visits/{vid}", who="alice")
    assert before["connection_check"] is None
    assert "network_adequate" in before["eligibility"]["missing"]

    verdict = await api.passed_check(session)

    visit = await api.ok("GET", f"/api/v1/visits/{vid}", who="alice")
    check = visit["connection_check"]
    assert check["check_id"] == verdict["check_id"]
    assert check["verdict"] == verdict["verdict"]
    assert check["uplink_kbps"] > 0
    assert check["downlink_kbps"] > 0
    assert check["rtt_ms"] > 0
    assert check["measurements"]["webrtc"]["connected"]
    (entry,) = [e for e in visit["eligibility"]["entries"] if e["item"] == "network_adequate"]
    assert entry["value"] is True
    assert entry["recorded_by"] == "system:bandwidth-check"
    listed = await api.ok("GET", "/api/v1/visits", who="alice")
    (row,) = [v for v in listed["visits"] if v["id"] == vid]
    assert row["connection_check"]["check_id"] == verdict["check_id"]
    events = await api.ok("GET", f"/api/v1/visits/{vid}/events", who="alice")
    # passed_check may have run more than one check: the event is the passing one's.
    (event,) = [
        e
        for e in events["events"]
        if e["kind"] == "connection_check" and e["detail"]["check_id"] == verdict["check_id"]
    ]
    assert event["actor"] == "system:bandwidth-check"
    assert event["detail"]["verdict"] == verdict["verdict"]

    metrics = await api.ok("GET", "/metrics")
    assert f'evr_bandwidth_verdicts_total{{verdict="{verdict["verdict"]}"}}' in metrics
    assert 'evr_join_funnel_total{step="checked"}' in metrics
    for name in ("uplink_kbps", "downlink_kbps", "rtt_ms"):
        assert f"evr_bandwidth_{name}_count" in metrics


async def _start(api: Api, session: str) -> dict[str, Any]:
    plan: dict[str, Any] = await api.ok(
        "POST", "/api/v1/participant/check", bearer=session, expect=201
    )
    return plan


async def test_a_nonce_that_was_never_received_is_refused(api: Api) -> None:
    _, session = await _victim(api)
    plan = await _start(api, session)
    down = plan["download"]
    early, _ = await api.call("POST", down["ack_path"], bearer=session, json={"nonce": "a" * 32})
    assert early == 409  # nothing was sent yet

    headers = {"Authorization": f"Bearer {session}"}
    async with api.session.get(api.stack.base_url + down["path"], headers=headers) as resp:
        body = await resp.read()
    assert len(body) <= down["max_bytes"]
    assert len(body) % down["chunk_bytes"] == 0
    real = body[-32:].decode()

    forged = os.urandom(16).hex()
    status, refused = await api.call(
        "POST", down["ack_path"], bearer=session, json={"nonce": forged}
    )
    assert status == 400, refused
    assert "never sent" in refused["error"]["message"]
    acked = await api.ok("POST", down["ack_path"], bearer=session, json={"nonce": real})
    assert acked["bytes"] == len(body)

    status, _ = await api.call("POST", plan["rtt"]["path"], bearer=session, json={"nonce": forged})
    assert status == 400


async def _raw_upload(api: Api, session: str, path: str, *, announce: int, send: int) -> bytes:
    """POST `send` random bytes while announcing `announce`, then go quiet; return the raw
    response, which the server sends at its time or byte cap."""
    host, port = api.stack.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {session}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {announce}\r\n\r\n"
    )
    try:
        writer.write(head.encode())
        sent = 0
        while sent < send:
            piece = os.urandom(min(64 * 1024, send - sent))
            writer.write(piece)
            await writer.drain()
            sent += len(piece)
    except ConnectionError:
        pass  # the server hung up at its cap
    try:
        return await asyncio.wait_for(reader.read(), 10)
    except ConnectionError:
        return b""
    finally:
        writer.close()


async def _upload_then_finish(
    api: Api, session: str, *, announce: int, send: int
) -> tuple[bytes, dict[str, Any]]:
    plan = await _start(api, session)
    up = plan["upload"]
    ticket = await api.ok("POST", up["path"] + "/ticket", bearer=session)
    raw = await _raw_upload(
        api, session, f"{up['path']}?ticket={ticket['ticket']}", announce=announce, send=send
    )
    verdict: dict[str, Any] = await api.ok("POST", plan["finish_path"], bearer=session)
    return raw, verdict


async def test_upload_counts_only_the_bytes_the_server_received(api: Api) -> None:
    _, session = await _victim(api)
    # Announce a megabyte but send a tenth of it: only what arrived counts.
    _, verdict = await _upload_then_finish(api, session, announce=1_000_000, send=100_000)
    assert verdict["measurements"]["uplink"]["bytes"] == 100_000


async def test_upload_stops_being_read_at_the_byte_cap(api: Api) -> None:
    _, session = await _victim(api)
    cap = api.stack.settings.bandwidth.upload_max_bytes
    raw, verdict = await _upload_then_finish(api, session, announce=3 * cap, send=3 * cap)
    assert verdict["measurements"]["uplink"]["bytes"] == cap
    if raw:  # the answer came before the hang-up
        assert raw.startswith(b"HTTP/1.1 200")
        assert b"Connection: close" in raw


async def test_a_check_belongs_to_its_session(api: Api) -> None:
    _, session = await _victim(api)
    _, other = await _victim(api)
    plan = await _start(api, session)
    status, body = await api.call("POST", plan["finish_path"], bearer=other)
    assert status == 404, body
    status, _ = await api.call("POST", plan["rtt"]["path"], json={"nonce": None})
    assert status == 401


async def test_the_protocol_is_in_the_openapi_document(api: Api) -> None:
    doc = await api.ok("GET", "/api/v1/openapi.json")
    base = "/api/v1/participant/check/{check_id}"
    assert "post" in doc["paths"]["/api/v1/participant/check"]
    for path in ("/rtt", "/download/ack", "/upload/ticket", "/upload", "/finish"):
        assert "post" in doc["paths"][base + path], path
    assert "get" in doc["paths"][base + "/download"]
    assert "get" in doc["paths"][base + "/probe"]
    token = doc["paths"]["/api/v1/participant/token"]["post"]
    assert token["requestBody"]["required"] is False
    assert "connection_check" in doc["components"]["schemas"]["Visit"]["properties"]
    assert "publish_caps" in doc["components"]["schemas"]["Token"]["properties"]


async def test_a_new_check_replaces_the_last_and_starts_are_rate_limited(api: Api) -> None:
    _, session = await _victim(api)
    first = await _start(api, session)
    second = await _start(api, session)
    # The first check was voided (its probe room closed) when the second started.
    status, _ = await api.call("GET", first["probe"]["status_path"], bearer=session)
    assert status == 404
    await api.ok("GET", second["probe"]["status_path"], bearer=session)
    for _ in range(8):
        await _start(api, session)
    status, body = await api.call("POST", "/api/v1/participant/check", bearer=session)
    assert status == 429, body
    assert body["error"]["code"] == "too_many_checks"
