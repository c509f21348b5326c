"""The officer's console on a LiveKit cluster when the node hosting the call dies (issue 11).

Real Chromium runs the console; the control plane knows both nodes (`livekit.api_urls`). The
visit's room is placed on node1 while the console connects through node0 (its
`client_url`), which relays its signalling to node1. `kill -9` of node1: the console's call
status says "Connection lost, reconnecting…", then "Reconnected." once it is in the room
again, now on node0, and the visit is still live. Its own cluster and browser; SQLite.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from livekit import api as lk
from playwright.async_api import Browser, async_playwright, expect

from tests.support.browser import launch_chromium
from tests.support.cluster import (
    SfuCluster,
    kill_node,
    node_hosting,
    start_cluster_stack,
    stop_cluster_stack,
)
from tests.support.stack import Api, Stack
from tests.web.test_in_call import _officer_console
from tests.web.test_statement_flow import ELIGIBILITY

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
    return vid


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

    # Every status the line shows, however briefly.
    await officer.evaluate(
        """() => {
            const el = document.querySelector('[data-testid=call-status]');
            window.seenStatus = [];
            new MutationObserver(() => window.seenStatus.push(el.textContent))
                .observe(el, {childList: true, characterData: true, subtree: true});
        }"""
    )
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
