"""A whole visit through a deployed EVR, from outside its hosts.

The officer's API token is made with `evr` on a control-plane host (as an administrator would);
the officer then works through the load balancer's HTTPS API. The victim's phone and the
officer's call run as `tests.infra.phone` inside a network namespace of their own, routed only
to the deployment's hosts: it spends the join code, runs the connection check, and both join
with real media. The statement is recorded and sealed by a recorder host; its disclosure
bundle is exported and checked with `evr evidence export|verify` on a host.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.infra.deploy import REPO
from tests.infra.hosts import TestHost
from tests.infra.mesh import route_mesh, unroute_mesh
from tests.support.netns import TestNet, create_testnet, destroy_testnet

__all__ = ["VisitResult", "evr_on_host", "phone_namespace", "play_visit"]

EVR = "/opt/evr/current/bin/evr"
CONFIG = "/etc/evr/evr.toml"
COLLAR = "1001"
SPEAK_SECONDS = 4.0


def evr_on_host(host: TestHost, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`evr ARGS --config /etc/evr/evr.toml` on `host`, as the services run it: the evr user,
    with the database URL from the same 0600 environment file systemd gives them."""
    return host.run(
        "systemd-run",
        "--quiet",
        "--wait",
        "--pipe",
        "--collect",
        "-p",
        "User=evr",
        "-p",
        "EnvironmentFile=/etc/evr/evr.env",
        EVR,
        *args,
        "--config",
        CONFIG,
        check=check,
    )


def officer_api_token(host: TestHost) -> str:
    """A local officer (collar 1001) and an API token for them, made on a control-plane host."""
    listed = evr_on_host(host, "token-list", "--collar", COLLAR, check=False)
    if listed.returncode != 0 or COLLAR not in listed.stdout:
        evr_on_host(
            host, "officer-add", "--collar", COLLAR, "--name", "Deploy Test", "--unit", "EVR-EAST"
        )
    made = evr_on_host(host, "token-create", "--collar", COLLAR, "--label", "deploy-test")
    return made.stdout.strip().splitlines()[-1]


@contextlib.contextmanager
def phone_namespace(route_to: Sequence[TestHost]) -> Iterator[TestNet]:
    """A namespace for the people on the call, routed to `route_to` hosts and nowhere else.

    Its /etc/resolv.conf (as `ip netns exec` shows it) points at its own loopback, so a name
    the SFU hands out (the TURN domain) resolves nowhere instead of querying a real resolver.
    """
    net = create_testnet("evr-phone")
    etc = Path("/etc/netns") / net.name
    hosts: list[TestNet] = []
    try:
        etc.mkdir(parents=True)
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        (etc / "hosts").write_text("127.0.0.1 localhost\n")
        hosts = [h.net for h in route_to]
        route_mesh([net, *hosts])
        yield net
    finally:
        unroute_mesh([net])
        # The hosts keep the mesh they had among themselves (a lone host had none).
        if len(hosts) > 1:
            route_mesh(hosts)
        else:
            unroute_mesh(hosts)
        shutil.rmtree(etc, ignore_errors=True)
        destroy_testnet(net)


@dataclass(frozen=True)
class VisitResult:
    visit_id: str
    evidence_id: str
    phone: dict[str, Any]
    left: dict[str, Any]
    """The phone's last line: the video frames each side had received when they left."""
    recording: dict[str, Any]
    api_statuses: list[int]


class _Officer:
    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http, self.base = http, base
        self.headers = {"Authorization": f"Bearer {token}"}
        self.statuses: list[int] = []

    async def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        async with self.http.request(
            method, self.base + path, json=body, headers=self.headers
        ) as resp:
            data = await resp.json(content_type=None)
            self.statuses.append(resp.status)
            assert resp.status == expect, f"{method} {path}: {resp.status} {data}"
            return data


async def _wait_recording(officer: _Officer, vid: str, status: str, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    recording: Any = None
    while time.monotonic() < deadline:
        recording = (await officer.call("GET", f"/api/v1/visits/{vid}"))["recording"]
        if recording is not None and recording["status"] == status:
            return recording
        await asyncio.sleep(1)
    raise AssertionError(f"the recording never reached {status!r}: {recording}")


async def _readline(process: asyncio.subprocess.Process, timeout: float) -> dict[str, Any]:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout)
    if not line:
        assert process.stderr is not None
        err = await process.stderr.read()
        raise AssertionError(f"the phone ended early:\n{err.decode()[-4000:]}")
    data: dict[str, Any] = json.loads(line)
    return data


async def play_visit(
    *,
    base_url: str,
    ca: Path,
    api_token: str,
    phone: TestNet,
    reference: str,
    during_call: Callable[[str], Awaitable[None]] | None = None,
) -> VisitResult:
    """Create, run and record a visit through `base_url`; return what it produced.
    `during_call(visit_id)`, if given, is awaited while both are on the call, before the
    statement is recorded (so the recording also proves the call outlived it)."""
    context = ssl.create_default_context(cafile=str(ca))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
        officer = _Officer(http, base_url, api_token)
        visit = await officer.call(
            "POST",
            "/api/v1/visits",
            {
                "crime_reference": reference,
                "scheduled_at": "2026-11-28T14:00:00Z",
                "contact": {"channel": "sms", "value": "+447700900123"},
            },
            expect=201,
        )
        vid = visit["id"]
        await officer.call("POST", f"/api/v1/visits/{vid}/choice", {"choice": "video"})
        for item in (
            "risk_assessment_clear",
            "adult_or_guardian",
            "offender_not_present",
            "smartphone_with_video",
            "network_adequate",
        ):
            await officer.call("PUT", f"/api/v1/visits/{vid}/eligibility/{item}", {"value": True})
        link = await officer.call("POST", f"/api/v1/visits/{vid}/links", {}, expect=201)
        await officer.call("POST", f"/api/v1/visits/{vid}/start")
        officer_lk = await officer.call("POST", f"/api/v1/visits/{vid}/token")
        process = await asyncio.create_subprocess_exec(
            "ip",
            "netns",
            "exec",
            phone.name,
            sys.executable,
            "-m",
            "tests.infra.phone",
            f"--api-base={base_url}",
            f"--ca={ca}",
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdin is not None
        try:
            code = link["url"].rsplit("/", 1)[1]
            process.stdin.write(json.dumps({"code": code, "officer": officer_lk}).encode() + b"\n")
            await process.stdin.drain()
            on_call = await _readline(process, timeout=120)
            if during_call is not None:
                await during_call(vid)
            started = await officer.call(
                "POST", f"/api/v1/visits/{vid}/recording/start", expect=202
            )
            assert started["recording"]["status"] == "requested", started
            await _wait_recording(officer, vid, "recording", timeout=60)
            await asyncio.sleep(SPEAK_SECONDS)
            await officer.call("POST", f"/api/v1/visits/{vid}/recording/stop", expect=202)
            sealed = await _wait_recording(officer, vid, "sealed", timeout=120)
            process.stdin.close()
            left = await _readline(process, timeout=30)
            assert left["left"] is True, left
            await officer.call("POST", f"/api/v1/visits/{vid}/end", {"reason": "statement taken"})
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        return VisitResult(vid, sealed["evidence_id"], on_call, left, sealed, officer.statuses)
