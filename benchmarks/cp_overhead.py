"""The control plane's overhead beside direct livekit-api calls, measured in one run (issue 14).

A real livekit-server in a test namespace and the real control plane, `evr serve` in its own
process (so its CPU time can be read from /proc/<pid>/stat), on SQLite and on PostgreSQL:

- start: `POST /api/v1/visits/{id}/start` against a direct `CreateRoom` plus two token mints
  from this process, interleaved one for one so both see the same machine load (p50/p99);
- exchange: join code -> participant session (`POST /api/v1/join/{code}`), as exchanges per
  CPU-second of the control-plane process, against bare token mints per CPU-second of this
  one; the control plane's idle CPU over the same wall time is reported beside it, and so is
  the CPU of as many `GET /healthz` (the HTTP server and middlewares alone: the floor);
- setup: the whole officer-side setup of one visit (create, choice, five eligibility items,
  link, start, officer token), each step's p50/p99 and the total.

    sudo .venv/bin/python -m benchmarks.cp_overhead --db sqlite,postgres --visits 300

`--against TREE` measures another tree's control plane (a checkout with a `.venv`-compatible
setup, such as `git archive` of an earlier commit, which also has this file's
`officer_token`) side by side with this one's: both run at once, on their own databases
(each migrated by its own tree's code) and one SFU, and take turns, exchanges
in blocks of 25 and starts one for one; it reports each one's CPU per exchange, their ratio,
and each one's `start` against the direct calls made between them (no setup phase, no
floor). On a shared, noisy machine that ratio is steadier than two runs a minute apart.

Needs root for the network namespace. `--profile DIR` records the exchange and the start
phases with py-spy (collapsed stacks, one file per phase and database). Prints a JSON
summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from livekit import api
from sqlalchemy.ext.asyncio import create_async_engine

from control_plane.auth import add_officer, create_api_token
from core import db
from core.domain import OfficerRole, TokenRole
from core.settings import LiveKitSettings
from core.tokens import mint
from tests.support.netns import TestNet, create_testnet, destroy_testnet
from tests.support.postgres import (
    create_database,
    create_empty_database,
    owner_url,
    runtime_url,
    start_postgres,
    stop_postgres,
)
from tests.support.sfu import RunningSfu, start_sfu, stop_sfu
from tests.support.stack import bind_socket

ELIGIBILITY = (
    "risk_assessment_clear",
    "adult_or_guardian",
    "offender_not_present",
    "smartphone_with_video",
    "network_adequate",
)
TICKS = os.sysconf("SC_CLK_TCK")
TREE = Path(__file__).resolve().parent.parent
BLOCK = 25  # exchanges per turn when two control planes are measured side by side
TTL = timedelta(minutes=5)
Times = dict[str, list[float]]


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, from /proc/<pid>/stat (fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def ms_summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(pct(values, 50) * 1000, 2),
        "p99_ms": round(pct(values, 99) * 1000, 2),
        "n": len(values),
    }


class ControlPlane:
    """`evr serve` in its own process, with a settings file written for this run."""

    def __init__(
        self,
        *,
        workdir: Path,
        net: TestNet,
        port: int,
        sfu: RunningSfu,
        db_url: str,
        tree: Path = TREE,
    ):
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.base_url = f"http://{net.host_ip}:{port}"
        config = workdir / "evr.toml"
        config.write_text(
            f'host = "{net.host_ip}"\nport = {port}\nmetrics_host = "127.0.0.1"\n'
            f'metrics_port = {_free_port()}\ndatabase_url = "{db_url}"\n'
            f'[livekit]\nkey_file = "{sfu.config_path.parent / "livekit-keys.yaml"}"\n'
            f'api_url = "{sfu.url}"\nclient_url = "{sfu.ws_url}"\n'
            f'[join]\npublic_base_url = "{self.base_url}"\n',
            encoding="utf-8",
        )
        self.log = (workdir / "evr-serve.log").open("wb")
        # cwd is the workdir: the evidence store and spool default to ./var there.
        # The control plane of the tree this file is in (so a copy of an older commit can be
        # measured with the same benchmark), whatever the venv has installed.
        env = {**os.environ, "PYTHONPATH": str(tree)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "evr", "serve", "--config", str(config)],
            cwd=workdir,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    async def wait_ready(self, session: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 120  # a loaded machine starts it slowly
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"evr serve exited; see {self.log.name}")
            try:
                async with session.get(self.base_url + "/readyz") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
        raise RuntimeError("evr serve did not become ready in 120 s")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def _free_port() -> int:
    with bind_socket("127.0.0.1") as sock:
        port: int = sock.getsockname()[1]
        return port


class Officer:
    def __init__(self, session: aiohttp.ClientSession, base_url: str, token: str):
        self.session, self.base_url = session, base_url
        self.auth = {"Authorization": f"Bearer {token}"}

    async def call(
        self, method: str, path: str, *, expect: int = 200, json_body: Any = None, auth: bool = True
    ) -> Any:
        headers = self.auth if auth else {}
        async with self.session.request(
            method, self.base_url + path, json=json_body, headers=headers
        ) as resp:
            body = await resp.json(content_type=None)
            if resp.status != expect:
                raise RuntimeError(f"{method} {path}: {resp.status} {body}")
            return body

    async def eligible_visit(self, times: Times) -> str:
        """Create a visit, record the choice and every eligibility item; time each step."""

        async def timed(step: str, call: Awaitable[Any]) -> Any:
            t0 = time.perf_counter()
            out = await call
            times.setdefault(step, []).append(time.perf_counter() - t0)
            return out

        visit = await timed(
            "create",
            self.call(
                "POST",
                "/api/v1/visits",
                expect=201,
                json_body={
                    "crime_reference": "CR/2026/0001",
                    "scheduled_at": "2026-11-28T14:00:00Z",
                    "contact": {"channel": "sms", "value": "+447700900123"},
                },
            ),
        )
        vid = str(visit["id"])
        await timed(
            "choice",
            self.call("POST", f"/api/v1/visits/{vid}/choice", json_body={"choice": "video"}),
        )
        t0 = time.perf_counter()
        for item in ELIGIBILITY:
            await self.call(
                "PUT", f"/api/v1/visits/{vid}/eligibility/{item}", json_body={"value": True}
            )
        times.setdefault("eligibility (5 items)", []).append(time.perf_counter() - t0)
        return vid

    async def link(self, vid: str, times: Times) -> str:
        t0 = time.perf_counter()
        link = await self.call("POST", f"/api/v1/visits/{vid}/links", expect=201, json_body={})
        times.setdefault("link", []).append(time.perf_counter() - t0)
        return str(link["url"]).rsplit("/", 1)[1]


async def direct_start(lk: api.LiveKitAPI, livekit: LiveKitSettings) -> float:
    """What `start` does at its core, with no control plane: CreateRoom and two tokens."""
    room = f"direct-{uuid.uuid4()}"
    t0 = time.perf_counter()
    await lk.room.create_room(
        api.CreateRoomRequest(
            name=room, empty_timeout=300, departure_timeout=60, max_participants=6
        )
    )
    for role, ident in ((TokenRole.OFFICER, "officer-x"), (TokenRole.VICTIM, "victim-x")):
        mint(
            livekit,
            role=role,
            room=room,
            identity=ident,
            display_name=ident,
            ttl=TTL,
        )
    return time.perf_counter() - t0


def mints_per_cpu_second(livekit: LiveKitSettings, n: int) -> float:
    t0 = time.process_time()
    for i in range(n):
        mint(
            livekit,
            role=TokenRole.VICTIM,
            room="bench-room",
            identity=f"victim-{i}",
            display_name="Victim",
            ttl=TTL,
        )
    return n / (time.process_time() - t0)


class Spy:
    """py-spy recording one process, as collapsed stacks, until stopped (if a path is given)."""

    def __init__(self, pid: int, out: Path | None) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            argv = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid)]
            # --gil: only the thread holding the GIL is sampled, so samples follow CPU, not waits.
            argv += ["--gil", "--format", "raw", "--rate", "250", "-o", str(out)]
            self.process = subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(30)


async def exchange_phase(
    cp: ControlPlane, officer: Officer, codes: list[str], livekit: LiveKitSettings, out: Path | None
) -> dict[str, Any]:
    """Spend every code, one at a time; the control plane's CPU time over the phase."""
    # Idle CPU (the periodic jobs), to say how much of the phase's CPU is not the exchanges.
    idle0, w0 = cpu_seconds(cp.process.pid), time.monotonic()
    await asyncio.sleep(3)
    idle_rate = (cpu_seconds(cp.process.pid) - idle0) / (time.monotonic() - w0)
    spy = Spy(cp.process.pid, out)
    if out is not None:
        await asyncio.sleep(1)  # py-spy attaches
    times: list[float] = []
    c0, w0 = cpu_seconds(cp.process.pid), time.monotonic()
    for code in codes:
        t0 = time.perf_counter()
        await officer.call("POST", f"/api/v1/join/{code}", expect=201, auth=False)
        times.append(time.perf_counter() - t0)
    cpu, wall = cpu_seconds(cp.process.pid) - c0, time.monotonic() - w0
    spy.stop()
    floor = await http_floor(cp, officer, len(codes))
    return {
        **ms_summary(times),
        "cpu_ms_each": round(cpu / len(codes) * 1000, 3),
        "per_cpu_second": round(len(codes) / cpu, 1),
        "idle_cpu_share_of_phase": round(idle_rate * wall / cpu, 3),
        "bare_mints_per_cpu_second": round(mints_per_cpu_second(livekit, 5000), 1),
        "http_floor_cpu_ms_each": floor,
        "http_floor_share": round(floor / (cpu / len(codes) * 1000), 3),
    }


async def http_floor(cp: ControlPlane, officer: Officer, n: int) -> float:
    """Control-plane CPU ms per `GET /healthz`: aiohttp and every middleware (span, metrics,
    errors, input checks) with no database or SFU work, the floor under any request."""
    c0 = cpu_seconds(cp.process.pid)
    for _ in range(n):
        await officer.call("GET", "/healthz", auth=False)
    return round((cpu_seconds(cp.process.pid) - c0) / n * 1000, 3)


async def start_phase(
    cp: ControlPlane,
    officer: Officer,
    sfu: RunningSfu,
    livekit: LiveKitSettings,
    *,
    ready: list[str],
    times: Times,
    out: Path | None,
) -> dict[str, Any]:
    """`start` and a direct CreateRoom + two mints, interleaved one for one; then the
    officer's token for the started visit (a step of the setup). `out`: py-spy the phase."""
    lk = api.LiveKitAPI(sfu.url, sfu.api_key, sfu.api_secret)
    starts: list[float] = []
    directs: list[float] = []
    spy = Spy(cp.process.pid, out)
    if out is not None:
        await asyncio.sleep(1)  # py-spy attaches
    try:
        for _ in range(5):
            await direct_start(lk, livekit)
        for vid in ready:
            t0 = time.perf_counter()
            await officer.call("POST", f"/api/v1/visits/{vid}/start")
            starts.append(time.perf_counter() - t0)
            times.setdefault("start", []).append(starts[-1])
            directs.append(await direct_start(lk, livekit))
            t0 = time.perf_counter()
            await officer.call("POST", f"/api/v1/visits/{vid}/token")
            times.setdefault("token", []).append(time.perf_counter() - t0)
    finally:
        spy.stop()
        await lk.aclose()
    s, d = ms_summary(starts), ms_summary(directs)
    return {
        "start": s,
        "direct_create_room_and_2_mints": d,
        "ratio_p50": round(s["p50_ms"] / d["p50_ms"], 2),
        "ratio_p99": round(s["p99_ms"] / d["p99_ms"], 2),
    }


async def officer_token(db_url: str) -> str:
    """A fresh database, migrated, with one officer; that officer's API token."""
    engine = create_async_engine(db_url)
    try:
        await db.migrate(engine)
        await add_officer(
            engine, collar_number="1001", display_name="bench", unit="EVR-EAST",
            role=OfficerRole.OFFICER,
        )  # fmt: skip
        return await create_api_token(engine, collar_number="1001", label="bench")
    finally:
        await engine.dispose()


_PREPARE = """
import asyncio, sys
from benchmarks.cp_overhead import officer_token
from core import db
asyncio.run(db.migrate_as_owner(sys.argv[1], sys.argv[2]))
print(asyncio.run(officer_token(sys.argv[1])))
"""


async def officer_token_of(tree: Path, db_url: str) -> str:
    """`officer_token` run by `tree`'s own code, so each tree's database has its own schema
    (side by side, a change of schema is measured against the tree before it). The empty
    database is migrated first as its owner (on SQLite, the same URL)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    argv = [sys.executable, "-c", _PREPARE, db_url, owner_url(db_url)]
    done = await asyncio.to_thread(
        subprocess.run, argv,
        cwd=tree, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"preparing {db_url} with {tree} failed:\n{done.stderr}")
    return done.stdout.strip().splitlines()[-1]


async def run_database(
    name: str, db_url: str, *, net: TestNet, sfu: RunningSfu, port: int, workdir: Path,
    visits: int, profile: Path | None,
) -> dict[str, Any]:  # fmt: skip
    token = await officer_token(db_url)
    livekit = LiveKitSettings(
        api_url=sfu.url, client_url=sfu.ws_url, api_key=sfu.api_key, api_secret=sfu.api_secret
    )
    cp = ControlPlane(workdir=workdir, net=net, port=port, sfu=sfu, db_url=db_url)
    result: dict[str, Any] = {"database": name}
    try:
        async with aiohttp.ClientSession() as session:
            await cp.wait_ready(session)
            officer = Officer(session, cp.base_url, token)
            times: Times = {}
            # Warm-up: the first requests compile queries and fill caches.
            for _ in range(10):
                code = await officer.link(await officer.eligible_visit({}), {})
                await officer.call("POST", f"/api/v1/join/{code}", expect=201, auth=False)
            ready = [await officer.eligible_visit(times) for _ in range(visits)]
            codes = [await officer.link(vid, times) for vid in ready]
            out = None if profile is None else profile / f"exchange-{name}.txt"
            result["exchange"] = await exchange_phase(cp, officer, codes, livekit, out)
            out = None if profile is None else profile / f"start-{name}.txt"
            result["start"] = await start_phase(
                cp, officer, sfu, livekit, ready=ready, times=times, out=out
            )
            steps = {step: ms_summary(v) for step, v in times.items()}
            total_p50 = sum(v["p50_ms"] for v in steps.values())
            result["setup"] = {**steps, "sum_of_p50_ms": round(total_p50, 2)}
    finally:
        cp.stop()
    return result


async def run_pair(
    name: str, urls: tuple[str, str], *, net: TestNet, sfu: RunningSfu,
    ports: tuple[int, int], workdir: Path, visits: int, against: Path,
) -> dict[str, Any]:  # fmt: skip
    """This tree's control plane and `against`'s, each on its own database and both on one
    SFU (which sends its webhooks to both), taking turns: exchanges in blocks of BLOCK, the
    first turn alternating between them, and starts one for one with a direct CreateRoom
    after each. Both see the same machine, so their ratio holds while the machine drifts."""
    livekit = LiveKitSettings(
        api_url=sfu.url, client_url=sfu.ws_url, api_key=sfu.api_key, api_secret=sfu.api_secret
    )
    labels, trees = ("this", "against"), (TREE, against)
    tokens = [await officer_token_of(tree, url) for url, tree in zip(urls, trees, strict=True)]
    cps = [
        ControlPlane(workdir=workdir / label, net=net, port=port, sfu=sfu, db_url=url, tree=tree)
        for label, url, port, tree in zip(labels, urls, ports, trees, strict=True)
    ]
    lk = api.LiveKitAPI(sfu.url, sfu.api_key, sfu.api_secret)
    try:
        async with aiohttp.ClientSession() as session:
            officers = []
            for cp, token in zip(cps, tokens, strict=True):
                await cp.wait_ready(session)
                officers.append(Officer(session, cp.base_url, token))
            for officer in officers:
                for _ in range(10):  # warm-up: compile queries, fill caches
                    code = await officer.link(await officer.eligible_visit({}), {})
                    await officer.call("POST", f"/api/v1/join/{code}", expect=201, auth=False)
            ready = [[await o.eligible_visit({}) for _ in range(visits)] for o in officers]
            codes = [
                [await o.link(v, {}) for v in vids] for o, vids in zip(officers, ready, strict=True)
            ]
            cpu: list[float] = [0.0, 0.0]
            took: list[list[float]] = [[], []]
            for block, first in enumerate(range(0, visits, BLOCK)):
                for side in (0, 1) if block % 2 == 0 else (1, 0):
                    pid = cps[side].process.pid
                    c0 = cpu_seconds(pid)
                    for code in codes[side][first : first + BLOCK]:
                        t0 = time.perf_counter()
                        await officers[side].call(
                            "POST", f"/api/v1/join/{code}", expect=201, auth=False
                        )
                        took[side].append(time.perf_counter() - t0)
                    cpu[side] += cpu_seconds(pid) - c0
            starts: list[list[float]] = [[], []]
            directs: list[float] = []
            for i in range(visits):
                for side in (0, 1) if i % 2 == 0 else (1, 0):
                    t0 = time.perf_counter()
                    await officers[side].call("POST", f"/api/v1/visits/{ready[side][i]}/start")
                    starts[side].append(time.perf_counter() - t0)
                    directs.append(await direct_start(lk, livekit))
    finally:
        await lk.aclose()
        for cp in cps:
            cp.stop()
    direct = ms_summary(directs)
    result: dict[str, Any] = {"database": name, "against": str(against), "direct": direct}
    for side, label in enumerate(labels):
        s = ms_summary(starts[side])
        result[label] = {
            "exchange": {
                **ms_summary(took[side]),
                "cpu_ms_each": round(cpu[side] / visits * 1000, 3),
                "per_cpu_second": round(visits / cpu[side], 1),
            },
            "start": s,
            "start_ratio_p50": round(s["p50_ms"] / direct["p50_ms"], 2),
            "start_ratio_p99": round(s["p99_ms"] / direct["p99_ms"], 2),
        }
    result["cpu_per_exchange_this_over_against"] = round(cpu[0] / cpu[1], 3)
    result["bare_mints_per_cpu_second"] = round(mints_per_cpu_second(livekit, 5000), 1)
    return result


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    net = create_testnet("cpover")
    try:
        return await _measure(args, net)
    finally:
        # Also when the SFU cannot start (a tree not set up): the namespace never outlives us.
        destroy_testnet(net)


async def _measure(args: argparse.Namespace, net: TestNet) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    pg = None
    with tempfile.TemporaryDirectory(prefix="evr-cpover-") as tmp:
        root = Path(tmp)
        ports = []
        for _ in range(2):
            sock = bind_socket(net.host_ip)
            ports.append(sock.getsockname()[1])
            sock.close()
        port = ports[0]
        hooks = [f"http://{net.host_ip}:{p}/api/v1/livekit/webhook" for p in ports]
        base = 17000 + os.getpid() % 20000
        sfu = start_sfu(
            net=net,
            webhook_url=hooks[0],
            # Side by side, both control planes get every webhook, as both get the same load.
            config_patch={"webhook.urls": hooks} if args.against else None,
            workdir=root,
            http_port=base,
            rtc_tcp_port=base + 1,
            rtc_udp_port=base + 2,
            prometheus_port=base + 3,
            turn_udp_port=base + 4,
            log_level="info",
        )
        try:
            for name in args.db.split(","):
                workdir = root / name
                workdir.mkdir()
                if name == "sqlite":
                    url = f"sqlite+aiosqlite:///{workdir / 'evr.sqlite3'}"
                    url_b = f"sqlite+aiosqlite:///{workdir / 'against.sqlite3'}"
                elif name == "postgres":
                    pg = pg or start_postgres()
                    if args.against:  # each tree migrates its own (officer_token_of)
                        url, url_b = (
                            runtime_url(create_empty_database(pg, db_name))
                            for db_name in ("cpover", "cpover_against")
                        )
                    else:
                        url = create_database(pg, "cpover")
                else:
                    raise SystemExit(f"unknown database {name!r}")
                if args.against:
                    out = await run_pair(
                        name, (url, url_b), net=net, sfu=sfu, ports=(ports[0], ports[1]),
                        workdir=workdir, visits=args.visits, against=args.against.resolve(),
                    )  # fmt: skip
                    print(json.dumps(out), flush=True)
                    results.append(out)
                    continue
                out = await run_database(
                    name,
                    url,
                    net=net,
                    sfu=sfu,
                    port=port,
                    workdir=workdir,
                    visits=args.visits,
                    profile=args.profile,
                )
                print(json.dumps(out), flush=True)
                results.append(out)
        finally:
            stop_sfu(sfu)
            if pg is not None:
                stop_postgres(pg)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default="sqlite,postgres", help="comma-separated: sqlite,postgres")
    parser.add_argument(
        "--visits", type=int, default=300, help="visits (and exchanges) per database"
    )
    parser.add_argument("--profile", type=Path, default=None, help="py-spy the exchange phase here")
    parser.add_argument(
        "--against",
        type=Path,
        default=None,
        help="another tree whose control plane takes turns with this one's",
    )
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
