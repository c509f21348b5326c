"""The route table enforces what it declares: every authenticated route refuses a caller
without valid credentials, and no handler resolves its caller or parses its body by hand."""

import ast
import inspect
import re
import sys
import uuid
from typing import Any

import pytest

from control_plane.routes import ROUTES, Auth, Route
from tests.support.stack import Api

AUTHENTICATED = [r for r in ROUTES if r.auth is not Auth.NONE]
SIGNED_IN = [r for r in ROUTES if r.auth in (Auth.OFFICER, Auth.PARTICIPANT)]
MANUAL = {"officer", "participant", "bearer_token", "parse_body"}
"""What the route table does for a handler: resolving the caller, reading the body."""


def _ids(route: Route) -> str:
    return f"{route.method} {route.path}"


def _concrete(path: str) -> str:
    """The path with each parameter filled by a valid-looking value (nothing it names exists)."""
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


def _json(route: Route) -> dict[str, Any] | None:
    # A body routes that take one would accept the look of; credentials are checked first.
    return {} if route.body is not None else None


def _assert_401(status: int, body: Any, what: str) -> None:
    assert status == 401, f"{what}: {status} {body}"
    assert body["error"]["code"] == "unauthenticated", what
    assert body["error"]["message"], what


def test_the_table_declares_routes_of_every_kind() -> None:
    kinds = {r.auth for r in ROUTES}
    assert kinds == set(Auth)
    assert len(AUTHENTICATED) > 40


@pytest.mark.parametrize("route", AUTHENTICATED, ids=_ids)
async def test_without_credentials_every_authenticated_route_is_401(api: Api, route: Route) -> None:
    status, body = await api.call(route.method, _concrete(route.path), json=_json(route))
    _assert_401(status, body, _ids(route))


@pytest.mark.parametrize("route", AUTHENTICATED, ids=_ids)
async def test_with_bad_credentials_every_authenticated_route_is_401(
    api: Api, route: Route
) -> None:
    path = _concrete(route.path)
    if route.auth is Auth.LIVEKIT:
        headers = {"Authorization": "not-a-signed-jwt"}
        status, body = await api.call(route.method, path, data=b"{}", headers=headers)
        _assert_401(status, body, _ids(route))
        return
    bad_credentials: list[dict[str, Any]] = [
        {"bearer": "evr_wrong"},
        {"headers": {"Authorization": "Basic abc"}},
    ]
    for bad in bad_credentials:
        status, body = await api.call(route.method, path, json=_json(route), **bad)
        _assert_401(status, body, f"{_ids(route)} with {bad}")


async def test_an_officer_token_and_a_participant_session_do_not_stand_in_for_each_other(
    api: Api,
) -> None:
    _, session = await api.live_ready_visit()
    for route in SIGNED_IN:
        path = _concrete(route.path)
        other: dict[str, Any] = (
            {"bearer": session} if route.auth is Auth.OFFICER else {"who": "alice"}
        )
        status, body = await api.call(route.method, path, json=_json(route), **other)
        _assert_401(status, body, f"{_ids(route)} with the other kind of credential")


async def test_the_app_serves_each_route_through_its_guard(api: Api) -> None:
    served = {
        (r.method, r.resource.canonical): r.handler
        for r in api.stack.app.router.routes()
        if r.resource is not None and r.method != "HEAD"
    }
    for route in ROUTES:
        assert served[(route.method, route.path)] is route.endpoint, _ids(route)
        if route.auth is Auth.NONE:
            assert route.endpoint is route.handler, _ids(route)
        else:
            assert route.endpoint is not route.handler, _ids(route)


def _called_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name):
                names.add(func.id)
            elif isinstance(func, ast.Attribute):
                names.add(func.attr)
    return names


@pytest.mark.parametrize(
    "module",
    sorted({r.handler.__module__ for r in ROUTES}),
)
def test_no_handler_module_resolves_the_caller_or_parses_the_body_by_hand(module: str) -> None:
    source = inspect.getsource(sys.modules[module])
    manual = _called_names(ast.parse(source)) & MANUAL
    assert not manual, f"{module} calls {sorted(manual)}; declare it in the route table instead"
