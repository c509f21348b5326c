"""A LiveKit cluster (issue 11): two livekit-server nodes sharing Redis, each in its own
namespace, the control plane pointed at the cluster.

* Both participants of a visit meet, whichever node each reaches: real audio and video cross
  from one node to the other.
* `kill -9` of the node hosting a live visit: the visit stays open, the participants rejoin
  with fresh tokens from the control plane through the surviving node, LiveKit places the
  room on that node, and media flows again.

One cluster for the module (SQLite: the database is not what is tested here); the node-loss
test kills a node, so it runs last.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from livekit import api as lk

from control_plane.keys import ENGINE, METRICS, SFU
from control_plane.room_watch import RoomWatch
from loadtests.media import SyntheticParticipant
from tests.support.cluster import (
    SfuCluster,
    kill_node,
    node_hosting,
    redis_command,
    start_cluster_stack,
    stop_cluster_stack,
)
from tests.support.stack import Api, Stack

OFFICER_RGB, VICTIM_RGB = (200, 40, 40), (40, 40, 200)
BACK_WITHIN = 30.0
"""Seconds from the kill to media flowing again that the test tolerates on a loaded machine
(benchmarks/failover.py --cluster measures it; the goal is 10 s)."""


@pytest.fixture(scope="module")
async def cluster_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[Stack, SfuCluster]]:
    workdir = tmp_path_factory.mktemp("cluster")
    stack, cluster = await start_cluster_stack(
        workdir, database_url=f"sqlite+aiosqlite:///{workdir / 'evr.sqlite3'}"
    )
    try:
        yield stack, cluster
    finally:
        await stop_cluster_stack(stack, cluster)


@pytest.fixture
def api(http: aiohttp.ClientSession, cluster_stack: tuple[Stack, SfuCluster]) -> Api:
    return Api(http, cluster_stack[0])


async def _ready_visit(api: Api) -> tuple[str, str]:
    """An eligible visit with a victim session that passed the check, not yet started."""
    visit = await api.eligible_visit()
    vid = visit["id"]
    link = await api.ok("POST", f"/api/v1/visits/{vid}/links", who="alice", json={}, expect=201)
    joined = await api.ok("POST", f"/api/v1/join/{link['url'].rsplit('/', 1)[1]}", expect=201)
    return vid, joined["session"]


async def _checked(api: Api, session: str) -> None:
    """The connection check, up to 3 tries: it is tested on its own (tests/control_plane/
    bandwidth); on this loaded machine its few-second WebRTC leg is sometimes missed."""
    for attempt in range(3):
        try:
            await api.passed_check(session)
        except AssertionError:
            if attempt == 2:
                raise
        else:
            return


async def _tokens(api: Api, vid: str, session: str) -> tuple[dict[str, str], dict[str, str]]:
    officer = await api.ok("POST", f"/api/v1/visits/{vid}/token", who="alice")
    victim = await api.ok("POST", "/api/v1/participant/token", bearer=session)
    return officer, victim


async def _media_both_ways(
    officer: SyntheticParticipant,
    victim: SyntheticParticipant,
    officer_id: str,
    victim_id: str,
    timeout: float,
) -> None:
    from_victim, from_officer = await asyncio.gather(
        officer.wait_for_media(victim_id, video=10, audio=20, timeout=timeout),
        victim.wait_for_media(officer_id, video=10, audio=20, timeout=timeout),
    )
    assert from_victim.video_frames >= 10
    assert from_victim.audio_frames >= 20
    assert from_officer.video_frames >= 10
    assert from_officer.audio_frames >= 20


async def test_participants_on_different_nodes_meet_with_real_media(
    api: Api, cluster_stack: tuple[Stack, SfuCluster]
) -> None:
    cluster = cluster_stack[1]
    nodes = {k.decode() for k in redis_command(cluster.redis_address, "HKEYS", "nodes")}  # type: ignore[union-attr]
    assert nodes == {n.node_id for n in cluster.nodes}  # both registered in the one Redis

    vid, session = await _ready_visit(api)
    await api.ok("POST", f"/api/v1/visits/{vid}/start", who="alice")
    await _checked(api, session)
    officer_tok, victim_tok = await _tokens(api, vid, session)
    host = node_hosting(cluster, f"evr-{vid}")
    assert host is not None  # the control plane's CreateRoom placed the room on a node

    officer, victim = SyntheticParticipant(rgb=OFFICER_RGB), SyntheticParticipant(rgb=VICTIM_RGB)
    try:
        # Each reaches a different node; whichever does not host the room relays to it.
        await officer.connect(cluster.nodes[0].sfu.ws_url, officer_tok["token"])
        await victim.connect(cluster.nodes[1].sfu.ws_url, victim_tok["token"])
        await officer.publish()
        await victim.publish()
        await _media_both_ways(
            officer, victim, officer_tok["identity"], victim_tok["identity"], timeout=30
        )
        assert node_hosting(cluster, f"evr-{vid}") is host  # one room, on one node
        visit = await api.ok("GET", f"/api/v1/visits/{vid}", who="alice")
        assert visit["status"] == "live"  # the victim's join reached the control plane
    finally:
        await victim.close()
        await officer.close()
        await api.call("POST", f"/api/v1/visits/{vid}/end", who="alice", json={"reason": "test"})


async def _rejoin(
    api: Api, url: str, token_call: tuple[str, str, str | None, str | None], rgb: tuple[int, ...]
) -> tuple[SyntheticParticipant, str]:
    """As the pages do after losing the SFU: a fresh token from the control plane each try,
    until a join succeeds."""
    method, path, who, bearer = token_call
    while True:
        tok = await api.ok(method, path, who=who, bearer=bearer)
        part = SyntheticParticipant(rgb=rgb)  # type: ignore[arg-type]
        try:
            await part.connect(url, tok["token"], timeout=5)
            await part.publish()
        except Exception:  # the room's old node is not yet given up on: try again
            await part.close()
            await asyncio.sleep(0.25)
            continue
        return part, tok["identity"]


async def test_killing_the_node_hosting_a_visit_keeps_the_visit_and_moves_its_room(
    api: Api, cluster_stack: tuple[Stack, SfuCluster]
) -> None:
    stack, cluster = cluster_stack
    survivor, victim_node = cluster.nodes
    vid, session = await _ready_visit(api)
    room = f"evr-{vid}"
    # Place the room on the node about to die (the control plane's own CreateRoom keeps a
    # room where it is); the control plane's API calls go through the survivor.
    admin = lk.LiveKitAPI(
        survivor.sfu.url, cluster.api_key, cluster.api_secret, session=api.session
    )
    rooms = stack.settings.rooms  # as the control plane creates it
    await admin.room.create_room(
        lk.CreateRoomRequest(
            name=room,
            node_id=victim_node.node_id,
            empty_timeout=rooms.empty_timeout,
            departure_timeout=rooms.departure_timeout,
            max_participants=rooms.max_participants,
        )
    )
    await api.ok("POST", f"/api/v1/visits/{vid}/start", who="alice")
    assert node_hosting(cluster, room) is victim_node
    await _checked(api, session)
    officer_tok, victim_tok = await _tokens(api, vid, session)

    officer, victim = SyntheticParticipant(rgb=OFFICER_RGB), SyntheticParticipant(rgb=VICTIM_RGB)
    try:
        await officer.connect(survivor.sfu.ws_url, officer_tok["token"])
        await victim.connect(survivor.sfu.ws_url, victim_tok["token"])
        await officer.publish()
        await victim.publish()
        await _media_both_ways(
            officer, victim, officer_tok["identity"], victim_tok["identity"], timeout=30
        )

        t0 = time.perf_counter()
        kill_node(victim_node)
        # The lost node's rooms stay listed (LiveKit keeps them in Redis): the room watch
        # has nothing to re-create; LiveKit moves the room when the participants rejoin.
        app = stack.app
        watch = RoomWatch(app[ENGINE], app[SFU], app[METRICS], stack.settings.rooms)
        assert vid not in await watch.check_once()
        await asyncio.gather(officer.close(), victim.close())
        (officer, officer_id), (victim, victim_id) = await asyncio.wait_for(
            asyncio.gather(
                _rejoin(
                    api,
                    survivor.sfu.ws_url,
                    ("POST", f"/api/v1/visits/{vid}/token", "alice", None),
                    OFFICER_RGB,
                ),
                _rejoin(
                    api,
                    survivor.sfu.ws_url,
                    ("POST", "/api/v1/participant/token", None, session),
                    VICTIM_RGB,
                ),
            ),
            timeout=BACK_WITHIN,
        )
        await _media_both_ways(officer, victim, officer_id, victim_id, timeout=BACK_WITHIN)
        took = time.perf_counter() - t0
        assert node_hosting(cluster, room) is survivor  # LiveKit moved the room
        visit = await api.ok("GET", f"/api/v1/visits/{vid}", who="alice")
        assert visit["status"] == "live", visit  # never ended by the fault
        assert took < BACK_WITHIN
    finally:
        await victim.close()
        await officer.close()
        await api.call("POST", f"/api/v1/visits/{vid}/end", who="alice", json={"reason": "test"})
