"""Issue 11: the control plane talks to a LiveKit cluster, not one node, and sees a node lost.

Two livekit-server nodes sharing Redis (tests/support/cluster.py), the control plane
configured with both (`livekit.api_urls`, node0 first), and a real Prometheus scraping the
control plane with the shipped EVRSFUNodeDown rule. `kill -9` of node0, the node the control
plane was calling:

* its API calls move to node1: the readiness check, room listing, visit start (CreateRoom)
  and tokens keep working, and `evr_sfu_node_failures_total{node=node0}` counts the failure;
* its probe marks node0 down (`evr_sfu_node_up` 0, `evr_sfu_node_losses_total` 1) while node1
  stays up, and Prometheus fires EVRSFUNodeDown for node0.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from control_plane.keys import SFU
from monitoring import alerts_gen
from tests.support.cluster import (
    SfuCluster,
    kill_node,
    node_hosting,
    start_cluster_stack,
    stop_cluster_stack,
)
from tests.support.prometheus import start_prometheus, stop_prometheus, write_config
from tests.support.recorder import eventually, metric
from tests.support.stack import Api, Stack

RULES = Path(__file__).resolve().parents[2] / "monitoring/alerts/evr-sfu.rules.yml"
ALERT = "EVRSFUNodeDown"
PLACEMENT_WINDOW = 20.0
"""LiveKit keeps placing new rooms on a dead node until its stats are 5 s old
(`selector.AvailableSeconds`); CreateRoom in that window fails (and the control plane answers
503). Seconds the test allows, on a loaded machine, for a visit start to succeed after it."""


def _node_down_rule(directory: Path) -> Path:
    """The shipped EVRSFUNodeDown rule, expression and labels as committed, with its `for`
    cut to 2 s so that a real evaluation fits in a test (promtool tests the 1m window)."""
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    (rule,) = [r for g in doc["groups"] for r in g["rules"] if r.get("alert") == ALERT]
    rule["for"] = "2s"
    path = directory / "node-down.rules.yml"
    path.write_text(
        yaml.safe_dump({"groups": [{"name": "node-down", "rules": [rule]}]}), encoding="utf-8"
    )
    return path


@pytest.fixture(scope="module")
async def cluster_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[Stack, SfuCluster]]:
    workdir = tmp_path_factory.mktemp("nodes")
    stack, cluster = await start_cluster_stack(
        workdir,
        database_url=f"sqlite+aiosqlite:///{workdir / 'evr.sqlite3'}",
        all_nodes=True,
    )
    try:
        yield stack, cluster
    finally:
        await stop_cluster_stack(stack, cluster)


async def _metrics(api: Api) -> str:
    status, body = await api.call("GET", "/metrics")
    assert status == 200
    assert isinstance(body, str)
    return body


def _firing(alerts: list[dict[str, Any]], node: str) -> bool:
    return any(
        a["labels"].get("alertname") == ALERT
        and a["labels"].get("node") == node
        and a["state"] == "firing"
        for a in alerts
    )


async def test_losing_the_node_the_control_plane_calls_moves_it_to_the_survivor_and_alerts(
    http: aiohttp.ClientSession,
    cluster_stack: tuple[Stack, SfuCluster],
    tmp_path: Path,
) -> None:
    stack, cluster = cluster_stack
    api = Api(http, stack)
    first, survivor = cluster.nodes
    assert stack.settings.livekit.node_urls == (first.sfu.url, survivor.sfu.url)
    sfu = stack.app[SFU]

    async def both_up() -> bool:
        text = await _metrics(api)
        return all(metric(text, "evr_sfu_node_up", node=n.sfu.url) == 1 for n in cluster.nodes)

    await eventually(both_up, timeout=15)
    # A visit started before the fault: its room is made through node0.
    before = await api.eligible_visit()
    await api.ok("POST", f"/api/v1/visits/{before['id']}/start", who="alice")
    assert sfu.current_url == first.sfu.url

    config = tmp_path / "prometheus.yml"
    management = stack.metrics_url.removeprefix("http://").rstrip("/")
    write_config(
        config,
        jobs={alerts_gen.CONTROL_PLANE_JOB: [management]},
        rule_files=[_node_down_rule(tmp_path)],
    )
    prom = await asyncio.to_thread(start_prometheus, config, tmp_path)
    try:
        kill_node(first)
        t0 = time.monotonic()

        # The control plane's next calls reach LiveKit through node1.
        status, ready = await api.call("GET", "/readyz")
        assert (status, ready["checks"]["sfu"]) == (200, "ok"), ready
        assert sfu.current_url == survivor.sfu.url
        assert f"evr-{before['id']}" in await sfu.room_names()
        text = await _metrics(api)
        failures = metric(text, "evr_sfu_node_failures_total", node=first.sfu.url)
        assert failures is not None
        assert failures >= 1
        assert metric(text, "evr_sfu_node_failures_total", node=survivor.sfu.url) is None

        # A new visit starts (CreateRoom through node1) once LiveKit stops placing rooms on
        # the dead node; any refusal before that is a clear 503, never a 500.
        visit = await api.eligible_visit()
        vid = visit["id"]
        answers: list[int] = []
        while True:
            status, body = await api.call("POST", f"/api/v1/visits/{vid}/start", who="alice")
            answers.append(status)
            if status == 200 or time.monotonic() - t0 > PLACEMENT_WINDOW:
                break
            assert status == 503, body
            await asyncio.sleep(0.5)
        assert answers[-1] == 200, answers
        assert node_hosting(cluster, f"evr-{vid}") is survivor
        token = await api.ok("POST", f"/api/v1/visits/{vid}/token", who="alice")
        assert token["token"]
        assert f"evr-{vid}" in await sfu.room_names()
        assert sfu.current_url == survivor.sfu.url  # it stays on the node that answers

        # The probe: node0 down and lost once, node1 still up.
        async def node0_lost() -> str | None:
            text = await _metrics(api)
            lost = metric(text, "evr_sfu_node_up", node=first.sfu.url) == 0
            return text if lost else None

        text = await eventually(node0_lost, timeout=15)
        assert metric(text, "evr_sfu_node_losses_total", node=first.sfu.url) == 1
        assert metric(text, "evr_sfu_node_up", node=survivor.sfu.url) == 1
        assert metric(text, "evr_sfu_node_losses_total", node=survivor.sfu.url) == 0

        # Prometheus, scraping the control plane, fires the shipped rule for node0 only.
        async def fired() -> list[dict[str, Any]] | None:
            alerts = (await asyncio.to_thread(prom.api, "alerts"))["alerts"]
            return alerts if _firing(alerts, first.sfu.url) else None

        alerts = await eventually(fired, timeout=20, interval=0.5)
        assert not _firing(alerts, survivor.sfu.url)
        firing = [a for a in alerts if a["labels"].get("node") == first.sfu.url]
        assert firing[0]["labels"]["severity"] == "warning"
    finally:
        await asyncio.to_thread(stop_prometheus, prom)
