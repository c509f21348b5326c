"""A real Prometheus scrapes a real deployment while a real visit runs.

Debian's Prometheus scrapes two control-plane replicas (sharing one database), the recorder
and the SFU every second, with the repository's rule files loaded. While an officer and a
victim exchange media on the SFU with tokens from the API, and a statement is recorded, the
test drives what some panels need before they can show anything (a 5xx, packet loss) and
then runs every dashboard panel's query and every alert expression through Prometheus's
HTTP API. The programme panels are checked after the visit ends and the victim answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml
from aiohttp import web

from control_plane.app import create_app
from control_plane.keys import MANAGEMENT_URL
from loadtests.media import SyntheticParticipant
from monitoring import alerts_gen, dashboards
from monitoring.dashboards import hosts, programme_outcomes
from tests.recorder.statement import wait_recording
from tests.support.netns import TestNet, create_testnet, destroy_testnet
from tests.support.prometheus import (
    RunningPrometheus,
    start_prometheus,
    stop_prometheus,
    write_config,
)
from tests.support.recorder import RunningRecorder, eventually, start_recorder, stop_recorder
from tests.support.stack import Api, Stack, bind_socket, start_stack, stop_stack

RULE_FILES = sorted((Path(__file__).resolve().parents[2] / "monitoring/alerts").glob("*.rules.yml"))
LIVE = alerts_gen.selector(alerts_gen.CONTROL_PLANE_JOB, 'state="live"')
DATA_TIMEOUT = 30.0
"""Seconds for every panel to have data: LiveKit reports track stats every ~5 s."""


@dataclass
class Deployment:
    net: TestNet
    stack: Stack
    stale_replica_url: str
    recorder: RunningRecorder
    prometheus: RunningPrometheus


def _host_port(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


@contextlib.asynccontextmanager
async def _stale_replica(stack: Stack) -> AsyncIterator[tuple[str, str]]:
    """A second control-plane replica on the same database whose LiveKit secret is stale
    (a half-finished key rotation): the SFU refuses its calls, so it answers 503s. Yields
    its public and its management (metrics) address."""
    sock = bind_socket(stack.settings.host)
    livekit = dataclasses.replace(stack.settings.livekit, api_secret="stale" * 10)
    settings = dataclasses.replace(stack.settings, port=sock.getsockname()[1], livekit=livekit)
    app = create_app(settings, reconcile=False)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.SockSite(runner, sock).start()
        yield f"http://{settings.host}:{settings.port}", app[MANAGEMENT_URL]
    finally:
        await runner.cleanup()


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    net = create_testnet("prom")
    try:
        stack = await start_stack(
            net=net,
            database_url=f"sqlite+aiosqlite:///{tmp_path / 'evr.sqlite3'}",
            workdir=tmp_path / "sfu",
            http_port=17900,
        )
        try:
            async with _stale_replica(stack) as (stale_url, stale_metrics_url):
                recorder = await asyncio.to_thread(
                    start_recorder, stack, tmp_path / "recorder", name="recorder-prom"
                )
                try:
                    config = tmp_path / "prometheus.yml"
                    write_config(
                        config,
                        jobs={
                            alerts_gen.CONTROL_PLANE_JOB: [
                                _host_port(stack.metrics_url),
                                _host_port(stale_metrics_url),
                            ],
                            alerts_gen.RECORDER_JOB: [_host_port(recorder.metrics_url)],
                            # The SFU's own /metrics, inside the test's namespace.
                            alerts_gen.SFU_JOB: [_host_port(stack.sfu.metrics_url)],
                        },
                        rule_files=RULE_FILES,
                    )
                    prom = await asyncio.to_thread(start_prometheus, config, tmp_path)
                    try:
                        yield Deployment(net, stack, stale_url, recorder, prom)
                    finally:
                        await asyncio.to_thread(stop_prometheus, prom)
                finally:
                    await asyncio.to_thread(stop_recorder, recorder)
        finally:
            await stop_stack(stack)
    finally:
        destroy_testnet(net)


@contextlib.contextmanager
def _poor_uplink(net: TestNet, rate: str = "200kbit") -> Iterator[None]:
    """Squeeze everything the phones send to the SFU through a token bucket: packets that
    overflow it are dropped, which is real packet loss for the SFU to report."""
    tc = ["tc", "qdisc"]
    subprocess.run([*tc, "add", "dev", net.host_if, "root", "tbf", "rate", rate,
                    "burst", "3000", "latency", "50ms"], check=True, timeout=10)  # fmt: skip
    try:
        yield
    finally:
        subprocess.run([*tc, "del", "dev", net.host_if, "root"], check=False, timeout=10)


def _panel_queries(*, programme: bool) -> list[tuple[str, str, str]]:
    # The hosts dashboard reads node exporters, which run only on Ansible-deployed hosts
    # (tests/infra checks their targets are up there), not in this test's namespaces.
    return [
        (uid, title, dashboards.expand_macros(expr))
        for uid, title, expr in dashboards.all_panel_queries()
        if (uid == programme_outcomes.UID) is programme and uid != hosts.UID
    ]


async def _until_every_query_has_data(
    prom: RunningPrometheus, queries: list[tuple[str, str, str]]
) -> dict[str, list[dict[str, Any]]]:
    """Poll until each query returns a non-empty result with at least one number in it (not
    only NaN, which a ratio of two idle rates gives); fail naming those that never did."""
    deadline = time.monotonic() + DATA_TIMEOUT
    results: dict[str, list[dict[str, Any]]] = {}
    while True:
        missing = []
        for uid, title, expr in queries:
            if not _has_a_number(results.get(expr, [])):
                results[expr] = await asyncio.to_thread(prom.query, expr)
            if not _has_a_number(results[expr]):
                missing.append(f"{uid} / {title}: {results[expr]}\n{expr}")
        if not missing:
            return results
        if time.monotonic() > deadline:
            pytest.fail("panels without data:\n\n" + "\n\n".join(missing))
        await asyncio.sleep(0.5)


def _has_a_number(result: list[dict[str, Any]]) -> bool:
    return any(not math.isnan(float(sample["value"][1])) for sample in result)


def _value(result: list[dict[str, Any]]) -> float:
    (sample,) = result
    return float(sample["value"][1])


async def _scalar(prom: RunningPrometheus, expr: str) -> float:
    return _value(await asyncio.to_thread(prom.query, expr))


async def _probe_readiness(http: aiohttp.ClientSession, base_url: str) -> None:
    while True:
        async with http.get(base_url + "/readyz") as resp:
            await resp.read()
        await asyncio.sleep(0.5)


async def test_every_panel_has_data_and_every_alert_evaluates(
    deployment: Deployment, http: aiohttp.ClientSession
) -> None:
    d, prom = deployment, deployment.prometheus
    api = Api(http, d.stack)

    # A real visit: the victim checks their connection, then both join with the API's tokens.
    vid, session = await api.live_ready_visit()
    # (retried like every test whose subject is not the check: its WebRTC leg is now and then
    # missed on a busy 2-core machine; the verdicts are asserted in tests/control_plane/bandwidth)
    verdict = await api.passed_check(session)
    assert verdict["verdict"] in ("sd", "hd"), verdict
    officer_tok = await api.ok("POST", f"/api/v1/visits/{vid}/token", who="alice")
    victim_tok = await api.ok("POST", "/api/v1/participant/token", bearer=session)
    officer = SyntheticParticipant(rgb=(200, 40, 40), tone_hz=440)
    victim = SyntheticParticipant(rgb=(40, 40, 200), tone_hz=660)
    try:
        await officer.connect(officer_tok["url"], officer_tok["token"])
        await victim.connect(victim_tok["url"], victim_tok["token"])
        await officer.publish()
        await victim.publish()
        await officer.wait_for_media(victim_tok["identity"], video=5, audio=5)
        await victim.wait_for_media(officer_tok["identity"], video=5, audio=5)

        # The statement is recorded: the victim consents, the officer starts the recorder.
        await api.ok(
            "POST",
            "/api/v1/participant/recording/consent",
            bearer=session,
            json={"consent": True},
            expect=201,
        )
        await api.ok("POST", f"/api/v1/visits/{vid}/recording/start", who="alice", expect=202)
        await wait_recording(api, vid, status="recording")

        # Panels that stay empty until something goes wrong: drive it.
        with _poor_uplink(d.net):
            await asyncio.sleep(3)  # the SFU sees packets lost on the way in
        async with http.get(d.stale_replica_url + "/readyz") as resp:
            assert resp.status == 503  # the SFU refuses the stale secret: a 5xx
        # A load balancer keeps probing it, so its error rate is a rate, not one spike.
        prober = asyncio.create_task(_probe_readiness(http, d.stale_replica_url))
        try:
            await _until_every_query_has_data(prom, _panel_queries(programme=False))
        finally:
            prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await prober

        # Both replicas export the same visit count from the shared database: the
        # dashboard's `max by` shows the one live visit, where `sum` would show two.
        assert await _scalar(prom, f"max by (state) (evr_visits{LIVE})") == 1
        assert await _scalar(prom, f"sum by (state) (evr_visits{LIVE})") == 2
        loss = f'sum(livekit_packet_loss_total{{job="{alerts_gen.SFU_JOB}"}})'
        assert await _scalar(prom, loss) > 0

        # The statement is sealed and the officer ends the call with both still in it.
        await api.ok("POST", f"/api/v1/visits/{vid}/recording/stop", who="alice", expect=202)
        await api.ok(
            "POST", f"/api/v1/visits/{vid}/end", who="alice", json={"reason": "statement taken"}
        )
    finally:
        await victim.close()
        await officer.close()

    # Afterwards the victim answers the feedback, and the officer records what followed.
    feedback = {"recommend": True, "satisfaction": 4}
    await api.ok("POST", "/api/v1/participant/feedback", bearer=session, json=feedback, expect=201)
    outcomes = {"arrest_or_interview": True, "charge_or_caution": False, "victim_withdrew": False}
    await api.ok("PUT", f"/api/v1/visits/{vid}/outcomes", who="alice", json=outcomes)

    expected: dict[str, object] = {
        "Visits by video": 1.0,
        "Would recommend": 1.0,
        "Mean satisfaction (1-5)": 4.0,
        "Officer journeys avoided": 1.0,
        "Visits by mode": {"video": 1.0, "in_person": 0.0},
        "Outcomes": {"arrest_or_interview": 1.0, "charge_or_caution": 0.0, "victim_withdrew": 0.0},
    }

    async def programme_figures() -> dict[str, object] | None:
        results = await _until_every_query_has_data(prom, _panel_queries(programme=True))
        figures: dict[str, object] = {}
        for _, title, expr in _panel_queries(programme=True):
            samples = results[expr]
            if len(samples) == 1:
                figures[title] = _value(samples)
            else:  # one bar per label value
                figures[title] = {
                    next(iter(s["metric"].values())): float(s["value"][1]) for s in samples
                }
        return figures if figures == expected else None

    # The next scrape after the answers carries them (the gauges come from the database).
    await eventually(programme_figures, timeout=10)
    sealed = f'sum(evr_recordings_sealed_total{{job="{alerts_gen.RECORDER_JOB}"}})'

    async def sealed_once() -> bool:
        return await _scalar(prom, sealed) == 1

    await eventually(sealed_once, timeout=DATA_TIMEOUT)

    # Every alert expression evaluates, and every rule is loaded and has evaluated cleanly.
    rules = [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]
        for rule in group["rules"]
    ]
    for rule in rules:
        await asyncio.to_thread(prom.query, rule["expr"])  # raises on any evaluation error
    groups = (await asyncio.to_thread(prom.api, "rules"))["groups"]
    loaded = [rule for group in groups for rule in group["rules"]]
    assert len(loaded) == len(rules)
    unhealthy = [
        (r["name"], r["health"], r.get("lastError")) for r in loaded if r["health"] != "ok"
    ]
    assert unhealthy == []

    targets = (await asyncio.to_thread(prom.api, "targets"))["activeTargets"]
    assert sorted((t["labels"]["job"], t["health"]) for t in targets) == sorted(
        [
            (alerts_gen.CONTROL_PLANE_JOB, "up"),
            (alerts_gen.CONTROL_PLANE_JOB, "up"),
            (alerts_gen.RECORDER_JOB, "up"),
            (alerts_gen.SFU_JOB, "up"),
        ]
    )
