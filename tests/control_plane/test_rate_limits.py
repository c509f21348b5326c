"""Join-code attempts are throttled per client and overall (429 with Retry-After), and the
join page cannot write to a closed visit (issue 12, finding 10)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import aiohttp
import pytest
from aiohttp import web

from control_plane.app import create_app
from control_plane.keys import MANAGEMENT_URL
from control_plane.rate_limit import FailureWindow, TooManyRequests
from tests.support.stack import Api, bind_socket

# -- the window itself, on a hand-driven clock ---------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_client_over_its_budget_waits_until_its_oldest_failure_leaves_the_window() -> None:
    clock = Clock()
    window = FailureWindow(per_client=3, total=100, window=60.0, clock=clock)
    for _ in range(3):
        window.attempt("a")
        clock.now += 1.0

    with pytest.raises(TooManyRequests) as refused:
        window.attempt("a")
    window.attempt("b")  # someone else is not slowed

    assert (refused.value.scope, refused.value.retry_after) == ("client", 57)
    clock.now += 57.0
    window.attempt("a")


def test_an_attempt_that_worked_does_not_count() -> None:
    window = FailureWindow(per_client=1, total=100, clock=Clock())
    window.succeeded("a", window.attempt("a"))
    window.attempt("a")
    with pytest.raises(TooManyRequests):
        window.attempt("a")


def test_everyone_together_has_a_budget_too() -> None:
    clock = Clock()
    window = FailureWindow(per_client=100, total=4, window=60.0, clock=clock)
    for client in "abcd":
        window.attempt(client)

    with pytest.raises(TooManyRequests) as refused:
        window.attempt("e")

    assert refused.value.scope == "total"
    clock.now += 60.0
    window.attempt("e")


# -- over HTTP, on an app of its own (so the shared stack's budget is left alone) -------------


@asynccontextmanager
async def _throttled_app(
    api: Api, *, per_client: int, total: int
) -> AsyncIterator[tuple[str, str]]:
    """A control plane of its own with these budgets: (public address, metrics address)."""
    settings = api.stack.settings
    settings = replace(
        settings,
        join=replace(settings.join, code_failures_per_client=per_client, code_failures_total=total),
    )
    app = create_app(settings, reconcile=False)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = bind_socket("127.0.0.1")
    try:
        await web.SockSite(runner, sock).start()
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", app[MANAGEMENT_URL]
    finally:
        await runner.cleanup()
        sock.close()


def _from(address: str) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))


async def _attempt(session: aiohttp.ClientSession, base: str, code: str) -> tuple[int, str | None]:
    async with session.post(f"{base}/api/v1/join/{code}") as resp:
        await resp.read()
        return resp.status, resp.headers.get("Retry-After")


async def test_forty_wrong_codes_from_one_client_are_throttled(api: Api) -> None:
    async with (
        _throttled_app(api, per_client=5, total=1000) as (base, _),
        _from("127.0.0.2") as guesser,
        _from("127.0.0.3") as other,
    ):
        answers = await asyncio.gather(
            *(_attempt(guesser, base, f"wrong{i:03d}" + "x" * 40) for i in range(40))
        )
        statuses = sorted(status for status, _ in answers)
        assert statuses.count(429) >= 35
        assert set(statuses) <= {404, 429}
        retry_after = {after for status, after in answers if status == 429}
        assert retry_after
        assert all(after is not None and 1 <= int(after) <= 60 for after in retry_after)
        # Someone else's link still opens to them.
        assert (await _attempt(other, base, "someone-else" + "x" * 40))[0] == 404


async def test_when_everyone_has_spent_the_budget_even_a_good_code_waits(api: Api) -> None:
    visit = await api.new_visit()
    link = await api.ok(
        "POST", f"/api/v1/visits/{visit['id']}/links", who="alice", json={}, expect=201
    )
    good = link["url"].rsplit("/", 1)[1]
    async with (
        _throttled_app(api, per_client=100, total=4) as (base, _),
        _from("127.0.0.4") as a,
    ):
        for i in range(4):
            assert (await _attempt(a, base, f"bad{i}" + "x" * 40))[0] == 404
        async with _from("127.0.0.5") as victim:
            status, after = await _attempt(victim, base, good)
        assert status == 429
        assert after is not None
    # The refusal did not spend the link: it still opens once the budget allows.
    await api.ok("POST", f"/api/v1/join/{good}", expect=201)


async def test_throttling_is_counted(api: Api) -> None:
    async with (
        _throttled_app(api, per_client=1, total=1000) as (base, metrics),
        _from("127.0.0.6") as s,
    ):
        await _attempt(s, base, "nope" + "x" * 40)
        assert (await _attempt(s, base, "nope" + "x" * 40))[0] == 429
        async with s.get(f"{metrics}/metrics") as resp:
            text = await resp.text()
    assert 'evr_join_code_throttled_total{scope="client"} 1.0' in text


# -- closed visits ----------------------------------------------------------------------------


async def test_the_join_page_cannot_write_to_a_closed_visit(api: Api) -> None:
    visit = await api.new_visit()
    vid = visit["id"]
    link = await api.ok("POST", f"/api/v1/visits/{vid}/links", who="alice", json={}, expect=201)
    session = (await api.ok("POST", f"/api/v1/join/{link['url'].rsplit('/', 1)[1]}", expect=201))[
        "session"
    ]
    await api.ok("POST", f"/api/v1/visits/{vid}/cancel", who="alice", json={"reason": "test"})
    events = f"/api/v1/visits/{vid}/events"
    before = len((await api.ok("GET", events, who="alice"))["events"])

    writes = [
        ("/api/v1/participant/progress", {"step": "check", "state": "done"}),
        (
            "/api/v1/participant/quality",
            {"quality": "poor", "action": "lower_video", "video_layer": "low"},
        ),
        ("/api/v1/participant/consent", {"consented": True, "notice_version": "v1"}),
        ("/api/v1/participant/recording/consent", {"consent": True}),
        ("/api/v1/participant/choice", {"choice": "video"}),
    ]
    for path, body in writes:
        status, answer = await api.call("POST", path, bearer=session, json=body)
        assert status == 409, (path, answer)

    assert len((await api.ok("GET", events, who="alice"))["events"]) == before
