"""Two `evr serve` replicas on PostgreSQL behind HAProxy (round robin): every API flow of a
recorded visit works through the load balancer, whichever replica serves each request, the
connection check included; and after `kill -9` of a replica mid-visit the visit is intact,
media and recording go on, and only the requests in flight to it fail."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from loadtests.media import SyntheticParticipant
from tests.recorder.statement import OFFICER_RGB, VICTIM_RGB, wait_recording
from tests.support.netns import TestNet
from tests.support.postgres import RunningPostgres, create_database
from tests.support.recorder import RunningRecorder, eventually, start_recorder, stop_recorder
from tests.support.replicas import (
    ReplicaSet,
    as_stack,
    kill_replica,
    served_by,
    start_replicas,
    stop_replicas,
)
from tests.support.stack import Api

SFU_PORT = 18020


@pytest.fixture(scope="module")
async def replicas(
    testnet: TestNet, postgres: RunningPostgres, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ReplicaSet]:
    url = create_database(postgres, f"evr_replicas_{uuid.uuid4().hex[:8]}")
    rs = await start_replicas(
        net=testnet,
        database_url=url,
        workdir=tmp_path_factory.mktemp("replicas"),
        sfu_port=SFU_PORT,
    )
    try:
        yield rs
    finally:
        stop_replicas(rs)


@pytest.fixture
async def recorder(replicas: ReplicaSet, tmp_path: Path) -> AsyncIterator[RunningRecorder]:
    rec = await asyncio.to_thread(
        start_recorder, as_stack(replicas), tmp_path, name="rec-replicas", segment_seconds=3.0
    )
    try:
        yield rec
    finally:
        stop_recorder(rec, kill=True)


async def _status_loop(
    api: Api, path: str, stop: asyncio.Event, out: list[tuple[float, float, int | str]]
) -> None:
    """GET `path` back to back until `stop`; record (sent, answered, status or error)."""
    while not stop.is_set():
        sent = time.monotonic()
        try:
            status, _ = await api.call("GET", path, who="alice")
            result: int | str = status
        except aiohttp.ClientError as exc:
            result = type(exc).__name__
        out.append((sent, time.monotonic(), result))


async def test_a_recorded_visit_across_replicas_survives_kill_9_of_one(
    replicas: ReplicaSet, recorder: RunningRecorder
) -> None:
    async with aiohttp.ClientSession() as http:
        api = Api(http, as_stack(replicas))
        # Create, choose video, eligibility, link, code exchange, start: through HAProxy.
        vid, session = await api.live_ready_visit()
        # The connection check: one check's requests, from start to verdict, on one replica.
        verdict = await api.passed_check(session)
        assert verdict["verdict"] in ("hd", "sd"), verdict
        victim_tok = await api.ok("POST", "/api/v1/participant/token", bearer=session)
        officer_tok = await api.ok("POST", f"/api/v1/visits/{vid}/token", who="alice")

        officer = SyntheticParticipant(rgb=OFFICER_RGB, tone_hz=440.0)
        victim = SyntheticParticipant(rgb=VICTIM_RGB, tone_hz=660.0)
        try:
            await officer.connect(officer_tok["url"], officer_tok["token"])
            await victim.connect(victim_tok["url"], victim_tok["token"])
            await officer.publish()
            await victim.publish()
            await officer.wait_for_media(victim_tok["identity"], video=5, audio=5)

            await api.ok(
                "POST",
                "/api/v1/participant/recording/consent",
                bearer=session,
                json={"consent": True},
                expect=201,
            )
            await api.ok("POST", f"/api/v1/visits/{vid}/recording/start", who="alice", expect=202)
            await wait_recording(api, vid, status="recording", secured=True)

            # kill -9 one replica while requests are going through HAProxy.
            stop = asyncio.Event()
            results: list[tuple[float, float, int | str]] = []
            pollers = [
                asyncio.create_task(_status_loop(api, f"/api/v1/visits/{vid}", stop, results))
                for _ in range(3)
            ]
            await asyncio.sleep(1.0)
            victim_replica = replicas.replicas[0]
            killed_at = time.monotonic()
            await asyncio.to_thread(kill_replica, victim_replica)
            dead_at = time.monotonic()
            await asyncio.sleep(3.0)
            stop.set()
            await asyncio.gather(*pollers)

            # The visit is intact: still live, recording secured, media still flowing.
            visit = await api.ok("GET", f"/api/v1/visits/{vid}", who="alice")
            assert visit["status"] == "live", visit
            await wait_recording(api, vid, status="recording", secured=True)
            seen = officer.received[victim_tok["identity"]].video_frames
            await officer.wait_for_media(victim_tok["identity"], video=seen + 20, audio=5)

            # Only requests in flight at the kill failed; every one sent after it succeeded.
            before = [r for r in results if r[1] < killed_at]
            after = [r for r in results if r[0] > dead_at]
            in_flight = [r for r in results if r[0] <= dead_at and r[1] >= killed_at]
            assert before
            assert after
            assert all(r[2] == 200 for r in before), before
            assert all(r[2] == 200 for r in after), [r for r in after if r[2] != 200]
            # (the kill itself takes a moment, so several requests per poller may overlap it)
            refused = [r for r in results if r[2] != 200]
            assert all(r in in_flight for r in refused), (refused, killed_at, dead_at)

            # The survivor leads now (if it did not already): it runs the periodic jobs.
            survivor = replicas.replicas[1]
            leader = f"http://{replicas.settings.host}:{survivor.metrics_port}/metrics"

            async def leads() -> bool:
                async with http.get(leader) as resp:
                    return "evr_leader 1.0" in (await resp.text()).splitlines()

            await eventually(leads, timeout=30)

            # The rest of the flow on the surviving replica: fresh tokens, stop, seal, close.
            again = await api.ok("POST", f"/api/v1/visits/{vid}/token", who="alice")
            assert again["room"] == officer_tok["room"]
            await api.ok("POST", "/api/v1/participant/token", bearer=session)
            await asyncio.sleep(1.0)
            await api.ok("POST", f"/api/v1/visits/{vid}/recording/stop", who="alice", expect=202)
            sealed = await wait_recording(api, vid, status="sealed", secured=True, timeout=60)
            assert sealed["evidence_id"]
        finally:
            await victim.close()
            await officer.close()
        ended: dict[str, Any] = await api.ok(
            "POST", f"/api/v1/visits/{vid}/end", who="alice", json={"reason": "statement taken"}
        )
        assert ended["status"] == "ended", ended

        # Both replicas served this visit's requests before the kill.
        rows = served_by(replicas.haproxy)
        assert {r.name for r in replicas.replicas} <= {server for server, *_ in rows}, rows
        # Each check's requests, from its first to its verdict, went to one replica.
        by_check: dict[str, set[str]] = {}
        for server, _status, _method, uri in rows:
            if uri.startswith("/api/v1/participant/check/"):
                by_check.setdefault(uri.split("/")[5], set()).add(server)
        assert by_check
        assert all(len(s) == 1 for s in by_check.values()), by_check
        # HAProxy answered no 5xx but for requests in flight at the kill.
        failed = [row for row in rows if row[1] >= 500]
        assert len(failed) <= len(pollers), failed
