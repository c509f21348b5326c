"""Malformed input anywhere in the API gets a 4xx JSON error saying what is wrong, never a 500."""

from typing import Any

import pytest

from control_plane.routes import ROUTES
from tests.support.stack import Api

BODY_ROUTES = [r for r in ROUTES if r.body is not None]

MALFORMED_BODIES: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("not json", b"{not json"),
    ("json array", b"[1, 2]"),
    ("json string", b'"hello"'),
    ("bad utf8", b'{"a": "\xff\xfe"}'),
    ("null", b"null"),
    (
        "wrong types",
        b'{"crime_reference": 5, "choice": 7, "value": "maybe", "role": [], "reason": {}}',
    ),
    ("unknown field", b'{"surprise": true}'),
    ("huge", b'{"reason": "' + b"x" * 200_000 + b'"}'),
]


def _assert_clear_4xx(status: int, body: Any, what: str) -> None:
    assert 400 <= status < 500, f"{what}: {status} {body}"
    assert isinstance(body, dict), f"{what}: not JSON: {body!r}"
    assert body["error"]["message"], what
    assert body["error"]["code"], what


async def _path_for(api: Api, path: str) -> str:
    visit = await api.new_visit()
    return path.replace("{visit_id}", visit["id"]).replace("{item}", "risk_assessment_clear")


@pytest.mark.parametrize("route", BODY_ROUTES, ids=lambda r: f"{r.method} {r.path}")
async def test_malformed_bodies_get_a_clear_4xx(api: Api, route: Any) -> None:
    if route.auth.value == "participant":
        _, session = await api.live_ready_visit()
        auth: dict[str, Any] = {"bearer": session}
    else:
        auth = {"who": "alice"}
    path = await _path_for(api, route.path)
    for name, raw in MALFORMED_BODIES:
        status, body = await api.call(
            route.method, path, data=raw, headers={"Content-Type": "application/json"}, **auth
        )
        _assert_clear_4xx(status, body, f"{route.method} {route.path} with {name}")


async def test_validation_errors_name_the_field(api: Api) -> None:
    status, body = await api.call(
        "POST",
        "/api/v1/visits",
        who="alice",
        json={
            "crime_reference": "CR 1; DROP TABLE",
            "scheduled_at": "2026-11-28T14:00:00",
            "contact": {"channel": "pigeon", "value": "x"},
        },
    )
    assert status == 422
    fields = {d["field"] for d in body["error"]["details"]}
    assert fields == {"crime_reference", "scheduled_at", "contact.channel", "contact.value"}
    assert "timezone" in body["error"]["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/visits/not-a-visit"),
        ("GET", "/api/v1/visits/" + "x" * 5000),
        ("GET", "/api/v1/visits/%00%01"),
        ("GET", "/api/v1/visits/caf%C3%A9"),
        ("POST", "/api/v1/visits/not-a-visit/start"),
        ("POST", "/api/v1/visits/not-a-visit/token"),
        ("POST", "/api/v1/visits/not-a-visit/no-show"),
        ("GET", "/api/v1/visits?date=yesterday"),
        ("GET", "/api/v1/visits?status=maybe"),
        ("GET", "/api/v1/nowhere"),
        ("DELETE", "/api/v1/visits"),
        ("POST", "/api/v1/join/" + "a" * 500),
    ],
)
async def test_bad_paths_and_parameters_get_a_clear_4xx(api: Api, method: str, path: str) -> None:
    status, body = await api.call(method, path, who="alice")
    _assert_clear_4xx(status, body, f"{method} {path}")


async def test_an_unknown_eligibility_item_is_400(api: Api) -> None:
    visit = await api.new_visit()
    status, body = await api.call(
        "PUT",
        f"/api/v1/visits/{visit['id']}/eligibility/feels_fine",
        who="alice",
        json={"value": True},
    )
    assert status == 400
    assert "item" in body["error"]["message"]


async def test_acting_out_of_order_is_a_409_that_says_why(api: Api) -> None:
    visit = await api.new_visit()
    vid = visit["id"]
    status, body = await api.call("POST", f"/api/v1/visits/{vid}/token", who="alice")
    assert status == 409
    assert "start it" in body["error"]["message"]
    await api.ok(
        "POST", f"/api/v1/visits/{vid}/cancel", who="alice", json={"reason": "victim unwell"}
    )
    status, body = await api.call(
        "POST", f"/api/v1/visits/{vid}/choice", who="alice", json={"choice": "video"}
    )
    assert status == 409
    assert body["error"]["details"]["status"] == "cancelled"
