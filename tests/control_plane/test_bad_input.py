"""Hostile input answers 4xx with a message, never 500 (issue 12, finding 9).

Each case was a 500 before: an encoding error deep in the database driver, a recursion limit
in the JSON parser, a date overflow, or PostgreSQL refusing what SQLite stores.
"""

import asyncio
from typing import Any

from control_plane.api.bodies import MAX_BODY
from tests.support.stack import Api

DEEP = 30_000
"""Far past Python's recursion limit, yet under the 64 KiB body cap: the parser must refuse
it before recursing."""


async def _raw(api: Api, request: bytes) -> tuple[int, bytes]:
    """Send bytes aiohttp's client would refuse to (non-ASCII header bytes); return the status
    and body of the answer."""
    host, port = api.stack.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(request)
        data = await asyncio.wait_for(reader.read(), 30)  # Connection: close ends it
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _get(path: str, headers: dict[str, bytes]) -> bytes:
    lines = [f"GET {path} HTTP/1.1".encode(), b"Host: evr", b"Connection: close"]
    lines += [name.encode() + b": " + value for name, value in headers.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _error(status: int, body: Any) -> tuple[int, str]:
    assert isinstance(body, dict), body
    return status, str(body["error"]["code"])


async def test_a_non_ascii_byte_in_the_bearer_token_is_401(api: Api) -> None:
    for header in (b"Bearer \xff\xfe", b"Bearer caf\xc3\xa9", b"Bearer a\tb"):
        status, body = await _raw(api, _get("/api/v1/visits", {"Authorization": header}))
        assert status == 401, (header, body)
        assert b"unauthenticated" in body, body
    # A participant route resolves its caller the same way.
    status, body = await _raw(
        api, _get("/api/v1/participant/visit", {"Authorization": b"Bearer \xff"})
    )
    assert status == 401, body


async def test_a_non_ascii_byte_in_the_justification_is_400(api: Api) -> None:
    visit = await api.new_visit()
    auth = api.stack.headers("alice")["Authorization"].encode()
    status, body = await _raw(
        api,
        _get(
            f"/api/v1/visits/{visit['id']}",
            {"Authorization": auth, "X-Justification": b"safeguarding \xff\xfe review"},
        ),
    )
    assert status == 400, body
    assert b"X-Justification" in body, body


async def test_a_deeply_nested_json_body_is_refused_before_parsing(api: Api) -> None:
    deep = "[" * DEEP + "]" * DEEP
    status, body = await api.call("POST", "/api/v1/visits", who="alice", data=deep)
    assert _error(status, body) == (400, "bad_request"), body
    assert "nested" in body["error"]["message"], body
    nested: Any = {}
    for _ in range(100):
        nested = {"a": nested}
    status, body = await api.call("POST", "/api/v1/visits", who="alice", json=nested)
    assert _error(status, body) == (400, "bad_request"), body
    # Without credentials the guard answers first.
    status, body = await api.call("POST", "/api/v1/visits", data=deep)
    assert status == 401, body


async def test_a_body_over_the_cap_is_413(api: Api) -> None:
    status, body = await api.call("POST", "/api/v1/visits", who="alice", data="[" * (MAX_BODY + 1))
    assert _error(status, body) == (413, "payload_too_large"), body


async def test_a_date_at_the_end_of_the_calendar_is_400(api: Api) -> None:
    for path in ("/api/v1/visits?date=9999-12-31", "/api/v1/alerts?date=9999-12-31"):
        status, body = await api.call("GET", path, who="alice")
        assert _error(status, body) == (400, "bad_request"), (path, body)
        assert "date" in body["error"]["message"], body
    assert (await api.call("GET", "/api/v1/visits?date=2026-11-28", who="alice"))[0] == 200


async def test_scheduled_at_at_the_calendar_extremes_is_422(api: Api) -> None:
    for when in (
        "0001-01-01T00:00:00+05:00",
        "0001-01-01T00:00:00-05:00",
        "9999-12-31T23:59:59-05:00",
        "9999-12-31T23:59:59+05:00",
    ):
        status, body = await api.call(
            "POST",
            "/api/v1/visits",
            who="alice",
            json={
                "crime_reference": "CR/2026/0001",
                "scheduled_at": when,
                "contact": {"channel": "sms", "value": "+447700900123"},
            },
        )
        assert _error(status, body) == (422, "validation_failed"), (when, body)
        assert body["error"]["details"][0]["field"] == "scheduled_at", body


async def test_a_close_reason_longer_than_its_column_is_422(api: Api) -> None:
    visit = await api.new_visit()
    for length in (201, 500):
        status, body = await api.call(
            "POST",
            f"/api/v1/visits/{visit['id']}/cancel",
            who="alice",
            json={"reason": "x" * length},
        )
        assert _error(status, body) == (422, "validation_failed"), (length, body)
        assert body["error"]["details"][0]["field"] == "reason", body
    ok = await api.ok(
        "POST", f"/api/v1/visits/{visit['id']}/cancel", who="alice", json={"reason": "x" * 200}
    )
    assert ok["end_reason"] == "x" * 200


async def test_a_nul_character_in_text_is_400_and_names_the_field(api: Api) -> None:
    visit = await api.eligible_visit()
    vid = visit["id"]
    status, body = await api.call(
        "POST", f"/api/v1/visits/{vid}/cancel", who="alice", json={"reason": "done\x00"}
    )
    assert _error(status, body) == (400, "bad_request"), body
    assert "reason" in body["error"]["message"], body
    status, body = await api.call(
        "PUT",
        f"/api/v1/visits/{vid}/eligibility/network_adequate",
        who="alice",
        json={"value": True, "note": "a\x00b"},
    )
    assert _error(status, body) == (400, "bad_request"), body
    assert "note" in body["error"]["message"], body
    # Nothing was half-written: the visit is still open.
    assert (await api.ok("GET", f"/api/v1/visits/{vid}", who="alice"))["status"] == "accepted_video"


async def test_a_nul_or_lone_surrogate_in_the_url_is_400(api: Api) -> None:
    for path in ("/api/v1/visits/%00", "/api/v1/visits?status=%00", "/api/v1/visits/%ED%A0%80"):
        status, body = await api.call("GET", path, who="alice")
        assert 400 <= status < 500, (path, status, body)
