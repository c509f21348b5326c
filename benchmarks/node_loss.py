"""What the control plane sees when the LiveKit node it calls dies (issue 11).

Two livekit-server nodes sharing Redis (tests/support/cluster.py), the control plane
configured with both (`livekit.api_urls`). Each round `kill -9`s the node the control plane
is calling (`Sfu.current_url`) and measures, from the kill:

* `api_s`: to the first successful API call (ListRooms) through the survivor, calls made
  back to back; and that call's own latency beside a call before the kill (`call_ms_before`,
  `call_ms_failover`: the failover's cost, a refused connection then the next node);
* `probe_s`: to `evr_sfu_node_up{node}` reading 0 on /metrics (polled every 50 ms);
* `create_s`: to a CreateRoom for a new room succeeding (LiveKit keeps placing new rooms on
  the dead node until its stats are 5 s old).

The dead node is started again (a new node id) between rounds.

    sudo .venv/bin/python -m benchmarks.node_loss --rounds 5

Needs root for the network namespaces. Prints one line per round and a JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from control_plane.errors import DependencyUnavailable
from control_plane.keys import SFU
from tests.support.cluster import (
    SfuCluster,
    kill_node,
    restart_node,
    start_cluster_stack,
    stop_cluster_stack,
)
from tests.support.recorder import metric
from tests.support.stack import Stack

POLL = 0.05
DEADLINE = 60.0


async def _node_up(http: aiohttp.ClientSession, stack: Stack, url: str) -> float | None:
    async with http.get(stack.metrics_url + "/metrics") as resp:
        return metric(await resp.text(), "evr_sfu_node_up", node=url)


async def _until(check: Any, t0: float) -> float:
    while time.monotonic() - t0 < DEADLINE:
        if await check():
            return time.monotonic() - t0
        await asyncio.sleep(POLL)
    raise TimeoutError(f"not within {DEADLINE:.0f} s")


async def _round(http: aiohttp.ClientSession, stack: Stack, cluster: SfuCluster) -> dict[str, Any]:
    sfu = stack.app[SFU]
    for node in cluster.nodes:  # both answering the probe before the fault

        async def up(url: str = node.sfu.url) -> bool:
            return await _node_up(http, stack, url) == 1

        await _until(up, time.monotonic())
    t = time.perf_counter()
    await sfu.room_names()
    before_ms = (time.perf_counter() - t) * 1000
    victim = next(n for n in cluster.nodes if n.sfu.url == sfu.current_url)

    kill_node(victim)
    t0 = time.monotonic()
    failover_ms = None
    while True:
        t = time.perf_counter()
        try:
            await sfu.room_names()
        except DependencyUnavailable:
            if time.monotonic() - t0 > DEADLINE:
                raise
            continue
        failover_ms = (time.perf_counter() - t) * 1000
        break
    api_s = time.monotonic() - t0
    assert sfu.current_url != victim.sfu.url

    async def lost() -> bool:
        return await _node_up(http, stack, victim.sfu.url) == 0

    async def created() -> bool:
        try:
            await sfu.create_probe_room(f"bench-{uuid.uuid4().hex[:8]}", empty_timeout=5)
        except DependencyUnavailable:
            return False
        return True

    probe_s, create_s = await asyncio.gather(_until(lost, t0), _until(created, t0))
    await asyncio.to_thread(restart_node, cluster, victim)
    return {
        "api_s": round(api_s, 3),
        "call_ms_before": round(before_ms, 1),
        "call_ms_failover": round(failover_ms, 1),
        "probe_s": round(probe_s, 2),
        "create_s": round(create_s, 2),
    }


async def main(rounds: int) -> dict[str, Any]:
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="node-loss-") as tmp:
        workdir = Path(tmp)
        stack, cluster = await start_cluster_stack(
            workdir,
            database_url=f"sqlite+aiosqlite:///{workdir / 'evr.sqlite3'}",
            all_nodes=True,
        )
        try:
            async with aiohttp.ClientSession() as http:
                for i in range(rounds):
                    row = await _round(http, stack, cluster)
                    print(f"round {i + 1}: {json.dumps(row)}", flush=True)
                    results.append(row)
        finally:
            await stop_cluster_stack(stack, cluster)
    summary: dict[str, Any] = {"rounds": rounds}
    for key in results[0]:
        values = [r[key] for r in results]
        summary[key] = {"median": statistics.median(values), "max": max(values)}
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.rounds)), indent=2))
