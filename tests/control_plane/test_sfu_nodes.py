"""The control plane's LiveKit client across several nodes, and its node probe, against
hand-written loopback servers (the real cluster: test_sfu_node_loss.py).

A fake node answers ListRooms as LiveKit's Twirp API does (protobuf in, protobuf out); a
hung node accepts connections and never answers; a dead node refuses them.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from livekit import api

from control_plane.errors import DependencyUnavailable
from control_plane.metrics import Metrics
from control_plane.sfu import Sfu, SfuNode
from control_plane.sfu_nodes import DOWN_AFTER, NodeProbe

KEY, SECRET = "APIfake", "s" * 40


@dataclass
class FakeNode:
    url: str
    status: int = 200
    calls: list[str] = field(default_factory=list)
    runner: web.AppRunner | None = None


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


@pytest.fixture
async def fake_nodes() -> AsyncIterator[list[FakeNode]]:
    """Two fake LiveKit nodes, each listing one room named after itself."""
    nodes: list[FakeNode] = []
    for name in ("a", "b"):
        node = FakeNode("")

        async def list_rooms(
            request: web.Request, node: FakeNode = node, name: str = name
        ) -> web.Response:
            node.calls.append("ListRooms")
            if node.status != 200:
                body = {"code": "unauthenticated", "msg": ""}
                return web.json_response(body, status=node.status)
            resp = api.ListRoomsResponse(rooms=[api.Room(name=f"room-{name}")])
            return web.Response(body=resp.SerializeToString(), content_type="application/protobuf")

        async def health(request: web.Request, node: FakeNode = node) -> web.Response:
            return web.Response(text="OK", status=node.status)

        app = web.Application()
        app.router.add_post("/twirp/livekit.RoomService/ListRooms", list_rooms)
        app.router.add_get("/", health)
        node.runner, node.url = await _serve(app)
        nodes.append(node)
    yield nodes
    for node in nodes:
        assert node.runner is not None
        await node.runner.cleanup()


def _refusing_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
async def hung_url() -> AsyncIterator[str]:
    """Accepts connections, never answers: a wedged node."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def _sfu(session: aiohttp.ClientSession, urls: list[str], metrics: Metrics) -> Sfu:
    nodes = [
        SfuNode(u, api.LiveKitAPI(u, KEY, SECRET, session=session, failover=False)) for u in urls
    ]
    return Sfu(nodes, metrics, call_timeout=0.5)  # the hung node costs half a second


def _failures(metrics: Metrics, url: str) -> float | None:
    return metrics.registry.get_sample_value("evr_sfu_node_failures_total", {"node": url})


async def test_a_call_moves_past_dead_and_hung_nodes_and_stays_on_the_one_that_answered(
    session: aiohttp.ClientSession, fake_nodes: list[FakeNode], hung_url: str
) -> None:
    metrics = Metrics()
    dead = _refusing_url()
    live = fake_nodes[0]
    sfu = _sfu(session, [dead, hung_url, live.url], metrics)

    assert await sfu.room_names() == {"room-a"}
    assert sfu.current_url == live.url
    assert _failures(metrics, dead) == 1
    assert _failures(metrics, hung_url) == 1
    assert metrics.registry.get_sample_value("evr_sfu_reachable") == 1

    # The next call starts at the node that answered: no new failures.
    assert await sfu.room_names() == {"room-a"}
    assert live.calls == ["ListRooms", "ListRooms"]
    assert _failures(metrics, dead) == 1
    assert _failures(metrics, hung_url) == 1


async def test_when_the_current_node_is_lost_the_next_one_takes_over(
    session: aiohttp.ClientSession, fake_nodes: list[FakeNode]
) -> None:
    metrics = Metrics()
    a, b = fake_nodes
    sfu = _sfu(session, [a.url, b.url], metrics)
    assert await sfu.room_names() == {"room-a"}
    assert a.runner is not None
    await a.runner.cleanup()  # node a goes away (its kept-alive connection too)
    assert await sfu.room_names() == {"room-b"}
    assert sfu.current_url == b.url
    assert _failures(metrics, a.url) == 1
    assert _failures(metrics, b.url) is None


async def test_an_error_answer_is_not_retried_on_another_node(
    session: aiohttp.ClientSession, fake_nodes: list[FakeNode]
) -> None:
    metrics = Metrics()
    a, b = fake_nodes
    sfu = _sfu(session, [a.url, b.url], metrics)
    a.status = 503  # the node answered: only an unreachable node is failed over
    with pytest.raises(DependencyUnavailable, match="SFU refused list_rooms"):
        await sfu.room_names()
    assert b.calls == []
    assert sfu.current_url == a.url


async def test_a_refusal_is_an_answer_not_a_reason_to_try_another_node(
    session: aiohttp.ClientSession, fake_nodes: list[FakeNode]
) -> None:
    metrics = Metrics()
    a, b = fake_nodes
    a.status = 401
    sfu = _sfu(session, [a.url, b.url], metrics)
    with pytest.raises(DependencyUnavailable, match="SFU refused list_rooms: HTTP 401"):
        await sfu.room_names()
    assert b.calls == []
    assert _failures(metrics, a.url) is None


async def test_every_node_unreachable_is_dependency_unavailable(
    session: aiohttp.ClientSession, hung_url: str
) -> None:
    metrics = Metrics()
    dead = _refusing_url()
    sfu = _sfu(session, [dead, hung_url], metrics)
    with pytest.raises(DependencyUnavailable, match="SFU unreachable during list_rooms"):
        await sfu.room_names()
    assert metrics.registry.get_sample_value("evr_sfu_reachable") == 0
    assert _failures(metrics, dead) == 1
    assert _failures(metrics, hung_url) == 1
    assert sfu.current_url == dead  # nothing answered: where it starts next is unchanged


def _probe_values(metrics: Metrics, url: str) -> tuple[float | None, float | None]:
    return (
        metrics.registry.get_sample_value("evr_sfu_node_up", {"node": url}),
        metrics.registry.get_sample_value("evr_sfu_node_losses_total", {"node": url}),
    )


async def test_the_probe_counts_a_loss_after_consecutive_misses_only(
    session: aiohttp.ClientSession, fake_nodes: list[FakeNode]
) -> None:
    metrics = Metrics()
    a, b = fake_nodes
    dead = _refusing_url()
    probe = NodeProbe(session, [a.url, b.url, dead], metrics, timeout=0.5)

    assert await probe.check_once() == {a.url: True, b.url: True, dead: False}
    # A node never seen up is down from the first probe, but it was not lost.
    assert _probe_values(metrics, dead) == (0, 0)
    assert _probe_values(metrics, a.url) == (1, 0)

    a.status = 503
    for _ in range(DOWN_AFTER - 1):  # one slow or failed answer is not a lost node
        assert (await probe.check_once())[a.url] is True
    assert _probe_values(metrics, a.url) == (1, 0)
    assert (await probe.check_once())[a.url] is False
    assert _probe_values(metrics, a.url) == (0, 1)
    await probe.check_once()
    assert _probe_values(metrics, a.url) == (0, 1)  # one loss, however long it lasts

    a.status = 200
    assert (await probe.check_once())[a.url] is True
    assert _probe_values(metrics, a.url) == (1, 1)
    assert _probe_values(metrics, b.url) == (1, 0)
