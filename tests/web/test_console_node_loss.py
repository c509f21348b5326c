"""The officer's console and the victim's page on a LiveKit cluster when the node hosting the
call dies (issue 11).

Real Chromium runs the page; the control plane knows both nodes (`livekit.api_urls`). The
visit's room is placed on node1 while browsers connect through node0 (its `client_url`),
which relays their signalling to node1. `kill -9` of node1: the console's call status says
"Connection lost, reconnecting…", then "Reconnected." once it is in the room again, now on
node0, and the visit is still live; the victim's page does the same by itself (no new link,
no tap) and shows the officer's video again. Each test has its own cluster and browser;
SQLite.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from livekit import api as lk
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.support.browser import PHONE, launch_chromium
from tests.support.cluster import (
    SfuCluster,
    kill_node,
    node_hosting,
    start_cluster_stack,
    stop_cluster_stack,
)
from tests.support.stack import Api, Stack
from tests.web.test_in_call import _officer_console, _phone_in_call
from tests.web.test_statement_flow import ELIGIBILITY
from tests.web.test_victim_rejoin import CATALOGUE, _checked, _officer_rejoins

BACK_WITHIN = 45.0
"""Seconds from the kill to "Reconnected." that the test tolerates on a loaded machine."""


@pytest.fixture
async def cluster_stack(tmp_path: Path) -> AsyncIterator[tuple[Stack, SfuCluster]]:
    stack, cluster = await start_cluster_stack(
        tmp_path / "cluster",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'evr.sqlite3'}",
        all_nodes=True,
    )
    try:
        yield stack, cluster
    finally:
        await stop_cluster_stack(stack, cluster)


@pytest.fixture
async def cluster_browser(
    cluster_stack: tuple[Stack, SfuCluster],
    built_pages: None,
    camera_clip: Path,
    tmp_path: Path,
) -> AsyncIterator[Browser]:
    stack, cluster = cluster_stack
    async with async_playwright() as pw:
        chromium = await launch_chromium(
            pw,
            origin=stack.base_url,
            video=camera_clip,
            home=tmp_path / "chromium-home",
            hosts=[urlsplit(stack.base_url).hostname or ""]
            + [n.sfu.node_ip for n in cluster.nodes],
        )
        try:
            yield chromium
        finally:
            await chromium.close()


async def _started_on(api: Api, cluster: SfuCluster, node_index: int) -> str:
    """A started visit scheduled now, its room placed on `cluster.nodes[node_index]`."""
    vid, _ = await _started_with_victim_on(api, cluster, node_index, link=False)
    return vid


async def _started_with_victim_on(
    api: Api, cluster: SfuCluster, node_index: int, *, link: bool = True
) -> tuple[str, str]:
    """As `_started_on`; with `link`, the victim's link is also issued and opened: returns
    the visit and the victim's session ("" without)."""
    visit = await api.ok(
        "POST",
        "/api/v1/visits",
        who="alice",
        expect=201,
        json={
            "crime_reference": "CR/2026/1111",
            "scheduled_at": datetime.now(UTC).isoformat(),
            "contact": {"channel": "sms", "value": "+447700900123"},
        },
    )
    vid: str = visit["id"]
    await api.ok("POST", f"/api/v1/visits/{vid}/choice", who="alice", json={"choice": "video"})
    for item in ELIGIBILITY:
        await api.ok(
            "PUT", f"/api/v1/visits/{vid}/eligibility/{item}", who="alice", json={"value": True}
        )
    session = ""
    if link:
        issued = await api.ok(
            "POST", f"/api/v1/visits/{vid}/links", who="alice", json={}, expect=201
        )
        code = issued["url"].rsplit("/", 1)[1]
        session = (await api.ok("POST", "/api/v1/join/" + code, expect=201))["session"]
    node = cluster.nodes[node_index]
    # The control plane's own CreateRoom keeps a room where it already is.
    admin = lk.LiveKitAPI(
        cluster.nodes[0].sfu.url, cluster.api_key, cluster.api_secret, session=api.session
    )
    rooms = api.stack.settings.rooms
    await admin.room.create_room(
        lk.CreateRoomRequest(
            name=f"evr-{vid}",
            node_id=node.node_id,
            empty_timeout=rooms.empty_timeout,
            departure_timeout=rooms.departure_timeout,
            max_participants=rooms.max_participants,
        )
    )
    await api.ok("POST", f"/api/v1/visits/{vid}/start", who="alice")
    assert node_hosting(cluster, f"evr-{vid}") is node
    return vid, session


async def _record_statuses(page: Page, selector: str) -> None:
    """Keep every text the status line at `selector` shows, however briefly, in
    `window.seenStatus`."""
    await page.evaluate(
        """(selector) => {
            const el = document.querySelector(selector);
            window.seenStatus = [];
            new MutationObserver(() => window.seenStatus.push(el.textContent))
                .observe(el, {childList: true, characterData: true, subtree: true});
        }""",
        selector,
    )


async def test_the_console_says_reconnecting_then_reconnected_when_the_hosting_node_dies(
    http: aiohttp.ClientSession,
    cluster_stack: tuple[Stack, SfuCluster],
    cluster_browser: Browser,
) -> None:
    stack, cluster = cluster_stack
    api = Api(http, stack)
    vid = await _started_on(api, cluster, 1)
    officer = await _officer_console(cluster_browser, api, vid)
    status = officer.get_by_test_id("call-status")
    await expect(status).to_contain_text("In the call", timeout=30_000)

    await _record_statuses(officer, "[data-testid=call-status]")
    kill_node(cluster.nodes[1])
    t0 = time.monotonic()
    await expect(status).to_have_text("Reconnected.", timeout=BACK_WITHIN * 1000)
    took = time.monotonic() - t0
    seen = await officer.evaluate("() => window.seenStatus")
    assert "Connection lost, reconnecting…" in seen, seen
    assert seen.index("Connection lost, reconnecting…") < seen.index("Reconnected."), seen
    assert node_hosting(cluster, f"evr-{vid}") is cluster.nodes[0]  # the room moved
    visit = await api.ok("GET", f"/api/v1/visits/{vid}", who="alice")
    assert visit["status"] in ("waiting", "live"), visit  # never ended by the fault
    assert took < BACK_WITHIN
    await api.call("POST", f"/api/v1/visits/{vid}/end", who="alice", json={"reason": "test"})


async def test_the_victims_page_reconnects_by_itself_when_the_hosting_node_dies(
    http: aiohttp.ClientSession,
    cluster_stack: tuple[Stack, SfuCluster],
    cluster_browser: Browser,
) -> None:
    stack, cluster = cluster_stack
    api = Api(http, stack)
    cat = json.loads((CATALOGUE / "en.json").read_text(encoding="utf-8"))
    vid, session = await _started_with_victim_on(api, cluster, 1)
    await _checked(api, session)
    # The officer joins as after the fault: with the console's own token, until it is in.
    officer = await _officer_rejoins(api, vid)
    context = await cluster_browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = await _phone_in_call(context, api, vid, session, "en")
        await _record_statuses(page, ".call-connection")

        kill_node(cluster.nodes[1])
        await officer.close()
        t0 = time.monotonic()
        status = page.locator(".call-connection")
        await expect(status).to_have_text(cat["call.reconnected"], timeout=BACK_WITHIN * 1000)
        took = time.monotonic() - t0
        seen = await page.evaluate("() => window.seenStatus")
        reconnecting, reconnected = cat["call.reconnecting"], cat["call.reconnected"]
        assert reconnecting in seen, seen
        assert seen.index(reconnecting) < seen.index(reconnected), seen
        assert took < BACK_WITHIN
        # Still the call screen, never "ended"; the room moved to the survivor, with the
        # victim in it; the officer comes back with a fresh token and is seen again.
        await expect(page.locator("#main h1")).to_have_text(cat["call.title"])
        assert node_hosting(cluster, f"evr-{vid}") is cluster.nodes[0]
        officer = await _officer_rejoins(api, vid)
        await page.wait_for_function(
            "() => document.querySelector('.officer-video video')?.videoWidth > 0",
            timeout=30_000,
        )
        admin = lk.LiveKitAPI(
            cluster.nodes[0].sfu.url, cluster.api_key, cluster.api_secret, session=http
        )
        resp = await admin.room.list_participants(lk.ListParticipantsRequest(room=f"evr-{vid}"))
        assert f"victim:{vid}" in {p.identity for p in resp.participants}
        visit = await api.ok("GET", f"/api/v1/visits/{vid}", who="alice")
        assert visit["status"] == "live", visit
    finally:
        await context.close()
        await officer.close()
