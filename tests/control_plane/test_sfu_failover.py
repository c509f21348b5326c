"""An SFU that dies never ends a visit: its room is created again on the restarted server,
the visit stays open, and the event is recorded and counted (control_plane/room_watch.py)."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from livekit import api as lk
from sqlalchemy import select

from control_plane.keys import ENGINE, METRICS, SFU, SFU_EVENTS
from control_plane.room_watch import ROOM_RECREATED, RoomWatch, abandoned
from core import schema
from tests.conftest import BACKENDS
from tests.support.netns import TestNet
from tests.support.postgres import RunningPostgres, create_database
from tests.support.sfu import kill_sfu, restart_sfu
from tests.support.stack import Api, Stack, start_stack, stop_stack


@pytest.fixture(params=BACKENDS)
async def own_stack(
    request: pytest.FixtureRequest, testnet: TestNet, tmp_path: Path
) -> AsyncIterator[Stack]:
    """A stack with its own SFU and database: this test kills the SFU."""
    if request.param == "sqlite":
        url, port = f"sqlite+aiosqlite:///{tmp_path / 'evr.sqlite3'}", 17920
    else:
        pg: RunningPostgres = request.getfixturevalue("postgres")
        url, port = create_database(pg, f"evr_failover_{uuid.uuid4().hex[:8]}"), 17930
    stack = await start_stack(
        net=testnet, database_url=url, workdir=tmp_path / "sfu", http_port=port
    )
    try:
        yield stack
    finally:
        await stop_stack(stack)


async def _rooms(api: Api) -> dict[str, lk.Room]:
    sfu = api.stack.sfu
    client = lk.LiveKitAPI(sfu.url, sfu.api_key, sfu.api_secret, session=api.session)
    resp = await client.room.list_rooms(lk.ListRoomsRequest())
    return {r.name: r for r in resp.rooms}


async def _events(stack: Stack, visit_id: str) -> list[str]:
    e = schema.visit_events
    async with stack.app[ENGINE].connect() as conn:
        rows = await conn.execute(select(e.c.kind).where(e.c.visit_id == visit_id).order_by(e.c.id))
        return list(rows.scalars())


async def test_a_restarted_sfu_gets_the_open_visits_room_back(
    own_stack: Stack, testnet: TestNet, http: aiohttp.ClientSession
) -> None:
    stack, api = own_stack, Api(http, own_stack)
    visit = await api.eligible_visit()
    vid = visit["id"]
    started = await api.ok("POST", f"/api/v1/visits/{vid}/start", who="alice")
    room = started["room_name"]
    watch = RoomWatch(stack.app[ENGINE], stack.app[SFU], stack.app[METRICS], stack.settings.rooms)
    assert await watch.check_once() == []  # nothing lost yet

    kill_sfu(stack.sfu)
    restart_sfu(stack.sfu, testnet)
    assert room not in await _rooms(api)  # a restarted SFU remembers no rooms

    assert await watch.check_once() == [vid]
    rooms = await _rooms(api)
    assert rooms[room].metadata == f'{{"visit_id": "{vid}"}}'
    assert rooms[room].empty_timeout == stack.settings.rooms.empty_timeout
    got = await api.ok("GET", f"/api/v1/visits/{vid}", who="alice")
    assert got["status"] == "waiting"  # still open: the officer need not start again
    assert (await _events(stack, vid)).count(ROOM_RECREATED) == 1
    metrics = await api.ok("GET", "/metrics")
    assert "evr_sfu_rooms_recreated_total 1.0" in metrics
    assert await watch.check_once() == []  # once back, left alone


async def test_the_reconciler_recreates_a_lost_room_instead_of_ending_the_visit(
    own_stack: Stack, testnet: TestNet, http: aiohttp.ClientSession
) -> None:
    stack, api = own_stack, Api(http, own_stack)
    visit = await api.eligible_visit()
    vid = visit["id"]
    started = await api.ok("POST", f"/api/v1/visits/{vid}/start", who="alice")

    kill_sfu(stack.sfu)
    restart_sfu(stack.sfu, testnet)
    await stack.app[SFU_EVENTS].reconcile_visit(vid)

    got = await api.ok("GET", f"/api/v1/visits/{vid}", who="alice")
    assert got["status"] == "waiting"
    assert got.get("end_reason") is None
    assert started["room_name"] in await _rooms(api)
    assert ROOM_RECREATED in await _events(stack, vid)


T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_room_lost_for_the_first_time_is_never_abandoned() -> None:
    events = [("status", _at(0), {"to": "waiting"}), ("participant_joined", _at(5), {})]
    assert not abandoned(events, _at(10_000), timeout=300)


def test_a_recreated_room_is_abandoned_only_once_empty_for_the_whole_timeout() -> None:
    events = [("status", _at(0), {"to": "waiting"}), (ROOM_RECREATED, _at(100), {})]
    assert not abandoned(events, _at(399), timeout=300)  # a second fault, moments later
    assert abandoned(events, _at(400), timeout=300)


def test_a_recreated_room_someone_joined_is_not_abandoned() -> None:
    for joined in (("participant_joined", _at(110), {}), ("status", _at(110), {"to": "live"})):
        events = [(ROOM_RECREATED, _at(100), {}), joined]
        assert not abandoned(events, _at(1000), timeout=300)
    # ...until it is re-created again and stays empty.
    events = [(ROOM_RECREATED, _at(100), {}), ("participant_joined", _at(110), {})]
    events.append((ROOM_RECREATED, _at(500), {}))
    assert abandoned(events, _at(800), timeout=300)
