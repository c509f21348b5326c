"""Time from an SFU fault to media flowing again (issue 11; goal: 10 s or less).

A real control plane and a real livekit-server in a test namespace; an officer and a victim
(Python SDK participants with synthetic camera and mic) in a started visit, each receiving the
other's video. Then `kill -9` of livekit-server, and a restart at once (what `evr up` or
systemd does). The control plane's room watch, at its production interval, re-creates the
visit's room; each participant, as the pages do, asks the control plane for a fresh token and
rejoins until it gets in. Measured: from the kill to both sides receiving video and audio
from each other again, with the restart and rejoin times on the way.

    sudo .venv/bin/python -m benchmarks.failover --rounds 5

With `--cluster`, the node-loss case instead: two livekit-server nodes sharing Redis, each in
its own namespace (tests/support/cluster.py), the control plane calling the first. Each round
starts a visit whose room LiveKit hosts on the second node, connects both participants
through the first, then `kill -9`s the second. The participants rejoin through the survivor
with fresh tokens; LiveKit gives up on the dead node once its stats are 5 s old
(selector.AvailableSeconds) and places the room on the survivor. The dead node is started
again (a new node id) between rounds.

    sudo .venv/bin/python -m benchmarks.failover --cluster --rounds 5

Needs root for the network namespaces. Prints one line per round and a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from livekit import api as lk

from control_plane.app import ROOM_WATCH_INTERVAL
from control_plane.keys import ENGINE, METRICS, SFU
from control_plane.room_watch import RoomWatch
from core.tasks import stop_task
from loadtests.check_client import CheckFailed
from loadtests.media import SyntheticParticipant
from tests.support.cluster import (
    SfuCluster,
    kill_node,
    node_hosting,
    restart_node,
    start_cluster_stack,
    stop_cluster_stack,
)
from tests.support.netns import TestNet, create_testnet, destroy_testnet
from tests.support.sfu import kill_sfu, restart_sfu
from tests.support.stack import Api, Stack, start_stack, stop_stack

OFFICER_RGB, VICTIM_RGB = (0, 0, 255), (255, 0, 0)
REJOIN_PAUSE = 0.25
"""Seconds between a participant's attempts to rejoin (the pages back off from about this)."""


@dataclass
class Round:
    restart: float
    """kill -9 to the SFU answering HTTP again."""
    rejoined: float
    """kill -9 to both participants back in the room."""
    media: float
    """kill -9 to both receiving each other's video and audio again."""


class Side:
    """One participant, rejoining with a fresh token from the control plane each time."""

    def __init__(
        self, api: Api, rgb: tuple[int, int, int], token_call: tuple[str, str, dict[str, str]]
    ):
        self.api = api
        self.rgb = rgb
        self.method, self.path, self.auth = token_call
        self.part: SyntheticParticipant | None = None

    async def join(self) -> str:
        status, body = await self.api.call(self.method, self.path, headers=self.auth, json={})
        if status != 200:
            raise RuntimeError(f"token: {status} {body}")
        part = SyntheticParticipant(rgb=self.rgb, inspect_pixels=False)
        try:
            await part.connect(body["url"], body["token"], timeout=5)
            await part.publish()
        except BaseException:
            await part.close()
            raise
        self.part = part
        return str(part.room.local_participant.identity)

    async def rejoin(self) -> str:
        """Leave what is left of the old connection, then try until a join succeeds."""
        if self.part is not None:
            await self.part.close()
            self.part = None
        while True:
            try:
                return await self.join()
            except Exception:  # the SFU or the room is not back yet
                await asyncio.sleep(REJOIN_PAUSE)

    async def close(self) -> None:
        if self.part is not None:
            await self.part.close()


async def _wait_media(side: Side, other: str, timeout: float = 60) -> None:
    """Until 3 more video and 3 more audio frames from `other` arrived than now."""
    assert side.part is not None
    received = side.part.received
    before = received.get(other)
    video0, audio0 = (before.video_frames, before.audio_frames) if before else (0, 0)
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        got = received.get(other)
        if got and got.video_frames >= video0 + 3 and got.audio_frames >= audio0 + 3:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"media from {other} did not arrive: {received.get(other)}")


async def _round(stack: Stack, net: TestNet, officer: Side, victim: Side) -> Round:
    t0 = time.perf_counter()
    kill_sfu(stack.sfu)
    await asyncio.to_thread(restart_sfu, stack.sfu, net)
    restarted = time.perf_counter() - t0
    ids = await asyncio.gather(officer.rejoin(), victim.rejoin())
    rejoined = time.perf_counter() - t0
    await asyncio.gather(_wait_media(officer, ids[1]), _wait_media(victim, ids[0]))
    return Round(restarted, rejoined, time.perf_counter() - t0)


async def main(rounds: int) -> dict[str, Any]:
    net = create_testnet("failover")
    workdir = Path(tempfile.mkdtemp(prefix="evr-failover-"))
    stack = await start_stack(
        net=net,
        database_url=f"sqlite+aiosqlite:///{workdir / 'evr.sqlite3'}",
        workdir=workdir,
        http_port=17960,
    )
    app = stack.app
    watch = RoomWatch(app[ENGINE], app[SFU], app[METRICS], stack.settings.rooms)
    watching = asyncio.create_task(watch.run(ROOM_WATCH_INTERVAL))
    results: list[Round] = []
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(session, stack)
            vid, victim_session = await api.live_ready_visit()
            await api.passed_check(victim_session)
            officer = Side(
                api, OFFICER_RGB, ("POST", f"/api/v1/visits/{vid}/token", stack.headers("alice"))
            )
            victim = Side(
                api,
                VICTIM_RGB,
                (
                    "POST",
                    "/api/v1/participant/token",
                    {"Authorization": f"Bearer {victim_session}"},
                ),
            )
            try:
                ids = (await officer.join(), await victim.join())
                await asyncio.gather(_wait_media(officer, ids[1]), _wait_media(victim, ids[0]))
                for n in range(rounds):
                    r = await _round(stack, net, officer, victim)
                    results.append(r)
                    print(
                        f"round {n + 1}: SFU back {r.restart:.2f} s, both rejoined "
                        f"{r.rejoined:.2f} s, media flowing {r.media:.2f} s",
                        flush=True,
                    )
                visit = await api.ok("GET", f"/api/v1/visits/{vid}", who="alice")
                assert visit["status"] in ("waiting", "live"), visit  # the visit survived
            finally:
                await officer.close()
                await victim.close()
    finally:
        await stop_task(watching)
        await stop_stack(stack)
        destroy_testnet(net)
    media = [r.media for r in results]
    return {
        "rounds": len(results),
        "media_flowing_s": {
            "median": round(statistics.median(media), 2),
            "max": round(max(media), 2),
            "min": round(min(media), 2),
        },
        "sfu_back_s_median": round(statistics.median(r.restart for r in results), 2),
        "rejoined_s_median": round(statistics.median(r.rejoined for r in results), 2),
        "room_watch_interval_s": ROOM_WATCH_INTERVAL,
    }


async def _cluster_round(api: Api, cluster: SfuCluster) -> Round:
    """One visit hosted on the second node, both participants through the first; kill -9 the
    second. `restart` is the kill to LiveKit placing the room on the survivor."""
    survivor, doomed = cluster.nodes
    visit = await api.eligible_visit()
    vid = visit["id"]
    link = await api.ok("POST", f"/api/v1/visits/{vid}/links", who="alice", json={}, expect=201)
    joined = await api.ok("POST", f"/api/v1/join/{link['url'].rsplit('/', 1)[1]}", expect=201)
    session = joined["session"]
    admin = lk.LiveKitAPI(
        survivor.sfu.url, cluster.api_key, cluster.api_secret, session=api.session
    )
    room = f"evr-{vid}"
    rooms = api.stack.settings.rooms  # as the control plane creates it
    await admin.room.create_room(
        lk.CreateRoomRequest(
            name=room,
            node_id=doomed.node_id,
            empty_timeout=rooms.empty_timeout,
            departure_timeout=rooms.departure_timeout,
            max_participants=rooms.max_participants,
        )
    )
    await api.ok("POST", f"/api/v1/visits/{vid}/start", who="alice")
    await _checked(api, session)
    officer = Side(
        api, OFFICER_RGB, ("POST", f"/api/v1/visits/{vid}/token", api.stack.headers("alice"))
    )
    victim = Side(
        api,
        VICTIM_RGB,
        ("POST", "/api/v1/participant/token", {"Authorization": f"Bearer {session}"}),
    )
    try:
        try:
            ids = (await officer.join(), await victim.join())
            await asyncio.gather(_wait_media(officer, ids[1]), _wait_media(victim, ids[0]))
        except Exception as exc:
            raise NotEstablishedError(f"{type(exc).__name__}: {exc}") from exc
        t0 = time.perf_counter()
        kill_node(doomed)
        moved = asyncio.create_task(_moved(cluster, room))
        ids = await asyncio.gather(officer.rejoin(), victim.rejoin())
        rejoined = time.perf_counter() - t0
        await asyncio.gather(_wait_media(officer, ids[1]), _wait_media(victim, ids[0]))
        media = time.perf_counter() - t0
        placed = await moved - t0
        status = (await api.ok("GET", f"/api/v1/visits/{vid}", who="alice"))["status"]
        assert status == "live", status  # the visit survived the node
    finally:
        await officer.close()
        await victim.close()
        await api.call("POST", f"/api/v1/visits/{vid}/end", who="alice", json={"reason": "bench"})
        if not doomed.alive:
            await asyncio.to_thread(restart_node, cluster, doomed)
    return Round(placed, rejoined, media)


class NotEstablishedError(RuntimeError):
    """Media did not flow both ways before the kill: the round measures nothing."""


async def _checked(api: Api, session: str) -> None:
    """The connection check, up to 5 tries: not what is measured here, and on this loaded
    machine it has missed its few seconds through the cluster (printed, and reported)."""
    for attempt in range(5):
        try:
            await api.passed_check(session)
        except (AssertionError, CheckFailed) as exc:
            print(f"connection check failed (try {attempt + 1}): {exc}"[:300], flush=True)
            await asyncio.sleep(1)
        else:
            return
    raise NotEstablishedError("the connection check failed 5 times")


async def _moved(cluster: SfuCluster, room: str) -> float:
    """When LiveKit placed `room` on the surviving node (perf_counter)."""
    while True:
        node = await asyncio.to_thread(node_hosting, cluster, room)
        if node is cluster.nodes[0]:
            return time.perf_counter()
        await asyncio.sleep(0.05)


async def main_cluster(rounds: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="evr-failover-cluster-"))
    stack, cluster = await start_cluster_stack(
        workdir, database_url=f"sqlite+aiosqlite:///{workdir / 'evr.sqlite3'}"
    )
    results: list[Round] = []
    not_established = 0
    try:
        async with aiohttp.ClientSession() as session:
            api = Api(session, stack)
            while len(results) < rounds and not_established < rounds:
                try:
                    r = await _cluster_round(api, cluster)
                except NotEstablishedError as exc:
                    # Reported, not hidden: a call that never got going is a finding too.
                    not_established += 1
                    print(f"media never flowed before the kill; visit dropped: {exc}", flush=True)
                    continue
                results.append(r)
                print(
                    f"round {len(results)}: room on the survivor {r.restart:.2f} s, both "
                    f"rejoined {r.rejoined:.2f} s, media flowing {r.media:.2f} s",
                    flush=True,
                )
    finally:
        await stop_cluster_stack(stack, cluster)
    media = [r.media for r in results]
    return {
        "case": "cluster node loss (kill -9 of the node hosting the room)",
        "rounds": len(results),
        "media_flowing_s": {
            "median": round(statistics.median(media), 2),
            "max": round(max(media), 2),
            "min": round(min(media), 2),
        },
        "room_on_survivor_s_median": round(statistics.median(r.restart for r in results), 2),
        "rejoined_s_median": round(statistics.median(r.rejoined for r in results), 2),
        "visits_whose_media_never_flowed_before_the_kill": not_established,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--cluster", action="store_true", help="kill -9 a cluster node instead of the one SFU"
    )
    args = parser.parse_args()
    run = main_cluster if args.cluster else main
    print(json.dumps(asyncio.run(run(args.rounds)), indent=2))
