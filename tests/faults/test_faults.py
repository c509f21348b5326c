"""The fault suite (issue 11): during one recorded visit, each component fails in turn.

One environment for the module, laid out as deployed at scale: a two-node LiveKit cluster on
one Redis (tests/support/cluster.py), two `evr serve` replicas behind HAProxy on PostgreSQL
(tests/support/replicas.py), MinIO with Object Lock as the evidence store, and two recorders
sharing a small tmpfs spool made here. ONE visit is opened (officer and victim publishing
synthetic media through the Python SDK) and stays open for the whole module; each test runs
one statement through one fault:

    start a statement -> fault -> recovered -> stop it -> sealed (or failed loudly)

and then asserts, after every fault:

* the visit survived: it is live, and every answer the poller got during the fault said so;
* the statement is sealed (with a gap in its manifest whenever the recorder was cut off), or
  it is loudly not secured: a problem shown on the visit and a failure metric;
* no audit entry of the visit and no custody entry of any sealed statement was lost;
* HAProxy answered no 5xx outside the fault's failover window (FAILOVER_WINDOW, documented
  in docs/operations.md, "The fault suite").

Each test prints "fault-recovery <name> <seconds>" (benchmarks/faults.py collects them for
BENCHMARKS.md). The tests run in file order on the one layout; what a fault kills is either
not needed later (a replica, a recorder: one of each is left) or started again by its test
(PostgreSQL, MinIO, the SFU node, Redis). Redis comes last: it starts again from its
append-only file, and whatever LiveKit lost in that second is rebuilt by its nodes then.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import glob
import os
import re
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from livekit import api as lk

from core.domain import TokenRole, room_name_for
from core.recording_settings import S3Settings
from core.tokens import identity_for, mint
from loadtests.media import SyntheticParticipant
from tests.recorder.statement import OFFICER_RGB, OFFICER_TONE, VICTIM_RGB, VICTIM_TONE
from tests.support.cluster import (
    SfuCluster,
    kill_node,
    node_hosting,
    redis_command,
    restart_node,
    start_cluster,
    stop_cluster,
)
from tests.support.minio import RunningMinio, restart_minio, start_minio, stop_minio
from tests.support.netns import TestNet, create_testnet, destroy_testnet
from tests.support.postgres import RunningPostgres, create_database, start_postgres, stop_postgres
from tests.support.recorder import (
    RunningRecorder,
    eventually,
    metric,
    scrape,
    start_recorder,
    stop_recorder,
)
from tests.support.replicas import (
    ReplicaSet,
    as_stack,
    kill_replica,
    logged,
    start_replicas,
    stop_replicas,
)
from tests.support.stack import Api, bind_socket

RECOVER_WITHIN = 45.0
"""Patience for each recovery on the loaded shared machine (the figures are printed)."""
STALE_AFTER = 6.0
"""Seconds of silence after which a recorder's statement is taken over: several heartbeats
(0.5 s) of slack, so that a recorder alive but slow on the loaded machine is not replaced."""
SEGMENT_SECONDS = 3.0
SPOOL_BYTES = 32 * 1024 * 1024
WHY = {"X-Justification": "fault suite"}

FAILOVER_WINDOW: dict[str, float] = {
    # Seconds after the component is back (for a kill with nothing restarted: after the kill)
    # during which HAProxy may answer 5xx. Documented in docs/operations.md, "The fault suite".
    "control-plane-replica": 10.0,  # requests in flight to it; then redispatch, health checks
    "recorder": 0.0,  # the control plane does not depend on a recorder
    "postgresql": 10.0,  # 503 while it is down; pools reconnect on the next checkout
    "minio": 0.0,  # only sealing and evidence reads need it; the seal is retried
    "spool-disk-full": 0.0,
    "sfu-node": 15.0,  # LiveKit routes to the dead node until its stats are 5 s old
    "redis": 10.0,  # SFU API calls routed through Redis fail while it is down
}


@dataclass
class Env:
    workdir: Path
    spool: Path
    pg: RunningPostgres
    nets: list[TestNet]
    cluster: SfuCluster
    minio: RunningMinio
    replicas: ReplicaSet
    http: aiohttp.ClientSession
    recorders: list[RunningRecorder] = field(default_factory=list)

    @property
    def api(self) -> Api:
        return Api(self.http, as_stack(self.replicas))

    def start_recorder(self, name: str) -> RunningRecorder:
        rec = start_recorder(
            as_stack(self.replicas),
            self.workdir / "rec",
            name=name,
            spool_dir=self.spool,
            segment_seconds=SEGMENT_SECONDS,
        )
        self.recorders.append(rec)
        return rec


def _mount_spool(path: Path) -> None:
    # One small disk for both recorders, as two recorders on one host would share it.
    path.mkdir(parents=True, exist_ok=True)
    size = f"size={SPOOL_BYTES}"
    subprocess.run(["mount", "-t", "tmpfs", "-o", size, "tmpfs", str(path)], check=True)


def _umount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture(scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    workdir = tmp_path_factory.mktemp("faults")
    spool = workdir / "spool"
    _mount_spool(spool)
    pg = start_postgres()
    nets: list[TestNet] = []
    cluster: SfuCluster | None = None
    minio: RunningMinio | None = None
    replicas: ReplicaSet | None = None
    try:
        url = create_database(pg, f"evr_faults_{uuid.uuid4().hex[:8]}")
        nets = [create_testnet(f"fault{i}") for i in range(2)]
        sock = bind_socket(nets[0].host_ip)
        lb_port = sock.getsockname()[1]
        sock.close()
        cluster = start_cluster(
            workdir / "cluster",
            webhook_url=f"http://{nets[0].host_ip}:{lb_port}/api/v1/livekit/webhook",
            nets=nets,
        )
        minio_port = bind_socket(nets[0].host_ip)
        port = minio_port.getsockname()[1]
        minio_port.close()
        minio = start_minio(nets[0], workdir / "minio", port=port)
        s3 = S3Settings(
            endpoint=minio.endpoint,
            bucket="evr-faults",
            access_key=minio.access_key,
            secret_key=minio.secret_key,
            secure=False,
            min_retention_days=1,
        )
        replicas = await start_replicas(
            net=nets[0],
            database_url=url,
            workdir=workdir,
            sfu_port=0,
            sfu=cluster.nodes[0].sfu,
            lb_port=lb_port,
            s3=s3,
            stale_after=STALE_AFTER,
        )
        async with aiohttp.ClientSession() as http:
            e = Env(workdir, spool, pg, nets, cluster, minio, replicas, http)
            try:
                await asyncio.gather(
                    *(asyncio.to_thread(e.start_recorder, n) for n in ("rec-a", "rec-b"))
                )
                yield e
            finally:
                for rec in e.recorders:
                    stop_recorder(rec, kill=True)
                minio = e.minio
    finally:
        if replicas is not None:
            stop_replicas(replicas)
        if minio is not None:
            stop_minio(minio)
        if cluster is not None:
            stop_cluster(cluster, destroy_nets=False)
        for net in nets:
            destroy_testnet(net)
        stop_postgres(pg)
        _umount(spool)


# -- the one visit -----------------------------------------------------------------------------


@dataclass
class Visit:
    vid: str
    session: str
    officer: SyntheticParticipant
    victim: SyntheticParticipant
    officer_id: str
    victim_id: str
    audit: set[tuple[str, ...]] = field(default_factory=set)
    """Every audit entry of the visit seen so far: none may disappear."""
    custody: dict[str, list[tuple[str, ...]]] = field(default_factory=dict)
    """Every sealed statement's custody entries seen so far, by evidence id."""

    async def close(self) -> None:
        await asyncio.gather(self.officer.close(), self.victim.close())


def _victim_token(env: Env, vid: str) -> dict[str, str]:
    # Minted as the control plane mints it (tests/recorder/statement.py does the same): the
    # join page's connection check is tested elsewhere.
    tok = mint(
        env.replicas.settings.livekit,
        role=TokenRole.VICTIM,
        room=room_name_for(vid),
        identity=identity_for(TokenRole.VICTIM, vid),
        display_name="Victim",
        ttl=timedelta(minutes=10),
    )
    return {"url": tok.url, "token": tok.token, "identity": tok.identity}


def _person(rgb: tuple[int, int, int], tone: float) -> SyntheticParticipant:
    # Small and slow video: the suite is about faults, and on the loaded 2-core machine every
    # encoder and decoder saved keeps the recorder within its lag alarm.
    return SyntheticParticipant(rgb=rgb, tone_hz=tone, width=160, height=120, fps=10)


RECONCILE_SETTLE = 2.5
"""A little over the replicas' reconcile interval (2 s, tests/support/replicas.py)."""


async def _visit_on_node_1(env: Env) -> tuple[str, dict[str, Any]]:
    """A started visit whose room is on node 1 (the SFU-node fault kills the node hosting it,
    and everything else reaches the cluster through node 0), and its victim's joined session.

    The room is made on node 1 just before the visit starts. A reconcile pass that listed
    the rooms just before the start deletes that room as an orphan, and the room watch then
    makes it again wherever LiveKit chooses (seen once in four runs). Deleting the room again
    would send `room_finished`, which ends the visit; so that visit is ended and another
    started instead."""
    api, node = env.api, env.cluster.nodes[1]
    admin = lk.LiveKitAPI(
        env.cluster.nodes[0].sfu.url, env.cluster.api_key, env.cluster.api_secret, session=env.http
    )
    for _ in range(4):
        vid = (await api.eligible_visit())["id"]
        link = await api.ok("POST", f"/api/v1/visits/{vid}/links", who="alice", json={}, expect=201)
        joined = await api.ok("POST", f"/api/v1/join/{link['url'].rsplit('/', 1)[1]}", expect=201)
        room = room_name_for(vid)
        await admin.room.create_room(lk.CreateRoomRequest(name=room, node_id=node.node_id))
        await api.ok("POST", f"/api/v1/visits/{vid}/start", who="alice")
        await asyncio.sleep(RECONCILE_SETTLE)
        if await asyncio.to_thread(node_hosting, env.cluster, room) is node:
            return vid, joined
        await api.ok("POST", f"/api/v1/visits/{vid}/end", who="alice", json={"reason": "moved"})
    raise AssertionError(f"no visit's room could be kept on {node.name}")


@pytest.fixture(scope="module")
async def visit(env: Env) -> AsyncIterator[Visit]:
    """A live visit whose room is on cluster node 1 (node 0 serves the control plane's API
    calls and the participants' signalling), both participants publishing, consent given."""
    api = env.api
    vid, joined = await _visit_on_node_1(env)
    officer_tok = await api.ok("POST", f"/api/v1/visits/{vid}/token", who="alice")
    victim_tok = _victim_token(env, vid)
    v = Visit(
        vid,
        joined["session"],
        _person(OFFICER_RGB, OFFICER_TONE),
        _person(VICTIM_RGB, VICTIM_TONE),
        officer_tok["identity"],
        victim_tok["identity"],
    )
    try:
        await v.officer.connect(officer_tok["url"], officer_tok["token"])
        await v.victim.connect(victim_tok["url"], victim_tok["token"])
        await v.officer.publish()
        await v.victim.publish()
        await v.officer.wait_for_media(v.victim_id, video=5, audio=5)
        await api.ok(
            "POST",
            "/api/v1/participant/recording/consent",
            bearer=v.session,
            json={"consent": True},
            expect=201,
        )
        yield v
    finally:
        await v.close()


# -- what every fault is checked against -------------------------------------------------------


async def recording_of(env: Env, vid: str) -> dict[str, Any]:
    body = await env.api.ok("GET", f"/api/v1/visits/{vid}", who="alice")
    rec: dict[str, Any] = body["recording"]
    return rec


async def _quiet_recording(env: Env, vid: str) -> dict[str, Any] | None:
    try:
        return await recording_of(env, vid)
    except (AssertionError, aiohttp.ClientError):
        return None


_LAGGING = re.compile(r"recorder is \d+ s behind real time")


def holding(rec: dict[str, Any] | None) -> bool:
    """The statement is being recorded by a live recorder: secured, or not secured only
    because the recorder is behind real time. On the loaded 2-core machine the recorder's
    encoder falls 20-45 s behind with no fault at all (seen in runs here); the lag is still
    shown to the officer, and progress is checked by segments closing."""
    if not rec or rec["status"] != "recording":
        return False
    if rec["secured"]:
        return True
    lagging = bool(_LAGGING.fullmatch(rec["problem"] or ""))
    if lagging:
        print(f"recorder lagging {rec['lag_seconds']} s: {rec['problem']}")
    return lagging


async def start_statement(env: Env, v: Visit) -> dict[str, Any]:
    """Start a statement and wait until a recorder holds it with a closed segment. A statement
    an earlier failed test left going is stopped first, so that a failure names one fault."""
    left = await _quiet_recording(env, v.vid)
    if left and left["status"] not in ("sealed", "failed"):
        await env.api.call("POST", f"/api/v1/visits/{v.vid}/recording/stop", who="alice")

        async def settled() -> bool:
            rec = await _quiet_recording(env, v.vid)
            return bool(rec and rec["status"] in ("sealed", "failed"))

        await eventually(settled, timeout=90, interval=0.5)
    await env.api.ok("POST", f"/api/v1/visits/{v.vid}/recording/start", who="alice", expect=202)

    async def going() -> dict[str, Any] | None:
        rec = await _quiet_recording(env, v.vid)
        return rec if rec and holding(rec) and rec["segments"] >= 1 else None

    found: dict[str, Any] = await eventually(going, timeout=RECOVER_WITHIN, interval=0.3)
    return found


async def _media_flows(v: Visit) -> bool:
    """Both ways: the officer sees the victim and the victim the officer, 10 new frames."""
    for me, other in ((v.officer, v.victim_id), (v.victim, v.officer_id)):
        seen = me.received.get(other)
        before = seen.video_frames if seen else 0
        try:
            await me.wait_for_media(other, video=before + 10, audio=0, timeout=3)
        except TimeoutError:
            return False
    return True


async def recovered(
    env: Env, v: Visit, since: float, name: str, *, holder_not: str | None = None
) -> float:
    """Wait until the API answers the visit as live, media flows both ways, and the statement
    is held (see `holding`) with a segment closed after the fault (by another recorder than
    `holder_not`); print and return the seconds since `since` (time.monotonic())."""
    first = await _quiet_recording(env, v.vid)
    segments = first["segments"] if first else 0

    async def back() -> bool:
        rec = await _quiet_recording(env, v.vid)
        if not rec or not holding(rec):
            return False
        if holder_not is not None and rec["recorder"] == holder_not:
            return False
        return bool(rec["segments"] > segments) and await _media_flows(v)

    try:
        await eventually(back, timeout=RECOVER_WITHIN, interval=0.3)
    except AssertionError:
        raise AssertionError(
            f"{name}: not recovered within {RECOVER_WITHIN:.0f} s (visit live, media both "
            f"ways, statement held with a new segment): {await _quiet_recording(env, v.vid)}"
        ) from None
    took = time.monotonic() - since
    print(f"fault-recovery {name} {took:.1f}")
    return took


async def seal(env: Env, v: Visit, *, gap: bool | None) -> dict[str, Any]:
    """Stop the statement; it must be sealed, with a gap in its manifest iff `gap` (None:
    either, as long as the manifest has every gap the recording recorded)."""
    api = env.api
    await api.ok("POST", f"/api/v1/visits/{v.vid}/recording/stop", who="alice", expect=202)

    async def done() -> dict[str, Any] | None:
        rec = await _quiet_recording(env, v.vid)
        return rec if rec and rec["status"] in ("sealed", "failed") else None

    rec: dict[str, Any] = await eventually(done, timeout=90, interval=0.3)
    assert rec["status"] == "sealed", rec
    assert rec["secured"], rec
    viewed = await api.ok("GET", f"/api/v1/evidence/{rec['evidence_id']}", who="alice", headers=WHY)
    gaps = viewed["manifest"]["gaps"]
    assert len(gaps) == len(rec["gaps"]), (gaps, rec["gaps"])
    if gap is not None:
        assert bool(gaps) is gap, f"gap expected: {gap}; manifest gaps: {gaps}"
    assert [e["event"] for e in viewed["custody"]][:2] == ["created", "sealed"], viewed["custody"]
    v.custody[rec["evidence_id"]] = _custody_rows(viewed)
    return rec


def _custody_rows(viewed: dict[str, Any]) -> list[tuple[str, ...]]:
    return [tuple(str(x) for x in sorted(e.items())) for e in viewed["custody"]]


async def nothing_lost(env: Env, v: Visit) -> None:
    """No audit entry of the visit and no custody entry of a sealed statement disappeared."""
    api = env.api
    body = await api.ok("GET", f"/api/v1/visits/{v.vid}/audit", who="alice")
    now = {(e["at"], e["action"], e["subject"], e["actor"]) for e in body["entries"]}
    lost = v.audit - now
    assert not lost, f"audit entries lost: {sorted(lost)}"
    v.audit |= now
    for eid, before in v.custody.items():
        viewed = await api.ok("GET", f"/api/v1/evidence/{eid}", who="alice", headers=WHY)
        after = _custody_rows(viewed)
        missing = [row for row in before if row not in after]
        assert not missing, f"custody entries of {eid} lost: {missing}"
        v.custody[eid] = after


@dataclass
class Poller:
    """Asks for the visit every 0.2 s through HAProxy, as the officer's console does, so that
    HAProxy's log shows what a client got during the fault."""

    env: Env
    vid: str
    answers: list[tuple[float, int, str | None]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            try:
                status, body = await self.env.api.call(
                    "GET", f"/api/v1/visits/{self.vid}", who="alice"
                )
                visit_status = body.get("status") if isinstance(body, dict) else None
                self.answers.append((time.time(), status, visit_status))
            except aiohttp.ClientError:
                self.answers.append((time.time(), 0, None))
            await asyncio.sleep(0.2)

    def __enter__(self) -> Poller:
        self.task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()

    def visit_never_ended(self, allowed: frozenset[str] = frozenset({"live"})) -> None:
        seen = {s for _, code, s in self.answers if code == 200}
        assert seen <= allowed, f"the visit was seen as {seen} during the fault"


def no_5xx_outside(env: Env, name: str, *, since: float, fault: float, back: float) -> None:
    """Every 5xx HAProxy logged since `since` lies between the fault and `back` plus the
    fault's window (unix times; HAProxy logs whole seconds, hence a second either side)."""
    lo, hi = int(fault) - 1, int(back + FAILOVER_WINDOW[name]) + 1
    outside = [
        row
        for row in logged(env.replicas.haproxy)
        if row[0] >= int(since) and row[2] >= 500 and not lo <= row[0] <= hi
    ]
    assert not outside, f"{name}: 5xx outside its failover window [{lo}, {hi}]: {outside}"


async def holder_of(env: Env, v: Visit) -> RunningRecorder:
    rec = await recording_of(env, v.vid)
    return next(r for r in env.recorders if r.name == rec["recorder"])


# -- the faults, in turn -----------------------------------------------------------------------


async def test_a_control_plane_replica_killed(env: Env, visit: Visit) -> None:
    v, since = visit, time.time()
    await start_statement(env, v)
    with Poller(env, v.vid) as poller:
        t0, w0 = time.monotonic(), time.time()
        dead = env.replicas.replicas[0]
        kill_replica(dead)
        await recovered(env, v, t0, "control-plane-replica")
    poller.visit_never_ended()
    # Not started again: HAProxy serves the rest of the suite from the survivor, and a
    # Python process's start costs the loaded 2-core machine many seconds.
    await seal(env, v, gap=False)
    await nothing_lost(env, v)
    no_5xx_outside(env, "control-plane-replica", since=since, fault=w0, back=w0)


async def test_the_recorder_killed(env: Env, visit: Visit) -> None:
    v, since = visit, time.time()
    await start_statement(env, v)
    holder = await holder_of(env, v)
    with Poller(env, v.vid) as poller:
        t0, w0 = time.monotonic(), time.time()
        stop_recorder(holder, kill=True)
        env.recorders.remove(holder)
        await recovered(env, v, t0, "recorder", holder_not=holder.name)
    poller.visit_never_ended()
    # Not started again: one recorder is enough for the faults that follow, and a Python
    # process's start costs the loaded 2-core machine many seconds.
    await seal(env, v, gap=True)
    await nothing_lost(env, v)
    no_5xx_outside(env, "recorder", since=since, fault=w0, back=w0)


def _pg_ctl(pg: RunningPostgres, *args: str) -> None:
    [pg_ctl] = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))[-1:]
    argv = [pg_ctl, "-D", str(pg.datadir), *args]
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    subprocess.run(argv, check=True, capture_output=True)


async def test_postgresql_restarted(env: Env, visit: Visit) -> None:
    v, since, pg = visit, time.time(), env.pg
    await start_statement(env, v)
    with Poller(env, v.vid) as poller:
        w0 = time.time()
        await asyncio.to_thread(_pg_ctl, pg, "-m", "immediate", "stop")

        # While it is down the API says so (503 with a message), and never that the visit ended.
        async def unavailable() -> bool:
            status, _ = await env.api.call("GET", f"/api/v1/visits/{v.vid}", who="alice")
            return status == 503

        await eventually(unavailable, timeout=20)
        assert await _media_flows(v), "media stopped while PostgreSQL was down"
        opts = f"-h 127.0.0.1 -p {pg.port} -k {pg.datadir} -c fsync=off"
        log = str(pg.datadir / "server.log")
        await asyncio.to_thread(_pg_ctl, pg, "-l", log, "-w", "-o", opts, "start")
        t1, w1 = time.monotonic(), time.time()
        await recovered(env, v, t1, "postgresql")
    poller.visit_never_ended()
    # Had the outage outlasted the stale limit, the other recorder may have taken over: then
    # the gap is in the manifest (seal checks it against the recording's own record).
    await seal(env, v, gap=None)
    await nothing_lost(env, v)
    no_5xx_outside(env, "postgresql", since=since, fault=w0, back=w1)


async def test_minio_restarted_while_sealing(env: Env, visit: Visit) -> None:
    v, since, api = visit, time.time(), env.api
    await start_statement(env, v)
    with Poller(env, v.vid) as poller:
        w0 = time.time()
        stop_minio(env.minio)
        await api.ok("POST", f"/api/v1/visits/{v.vid}/recording/stop", who="alice", expect=202)

        async def waiting() -> dict[str, Any] | None:
            rec = await _quiet_recording(env, v.vid)
            problem = (rec or {}).get("problem") or ""
            ok = rec and rec["status"] == "sealing" and not rec["secured"]
            return rec if ok and "evidence store is unreachable" in problem else None

        await eventually(waiting, timeout=RECOVER_WITHIN)
        env.minio = await asyncio.to_thread(
            restart_minio, env.minio, env.nets[0], env.workdir / "minio"
        )
        t1, w1 = time.monotonic(), time.time()

        async def sealed() -> dict[str, Any] | None:
            rec = await _quiet_recording(env, v.vid)
            return rec if rec and rec["status"] == "sealed" and rec["secured"] else None

        rec = await eventually(sealed, timeout=90, interval=0.3)
        print(f"fault-recovery minio {time.monotonic() - t1:.1f}")
    poller.visit_never_ended()
    viewed = await api.ok("GET", f"/api/v1/evidence/{rec['evidence_id']}", who="alice", headers=WHY)
    assert viewed["manifest"]["gaps"] == [], viewed["manifest"]["gaps"]
    assert [e["event"] for e in viewed["custody"]][:2] == ["created", "sealed"]
    v.custody[rec["evidence_id"]] = _custody_rows(viewed)
    await nothing_lost(env, v)
    no_5xx_outside(env, "minio", since=since, fault=w0, back=w1)


def _fill(path: Path) -> Path:
    """Write zeros to `path`/filler until the disk is full; return the filler."""
    filler = path / "filler"
    chunk = b"\0" * (256 * 1024)
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            os.write(fd, chunk)  # unbuffered: nothing left to flush (and fail) at close
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
    finally:
        os.close(fd)
    return filler


async def test_the_spool_disk_fills(env: Env, visit: Visit) -> None:
    v, since = visit, time.time()
    await start_statement(env, v)
    holder = await holder_of(env, v)
    with Poller(env, v.vid) as poller:
        w0 = time.time()
        filler = await asyncio.to_thread(_fill, env.spool)

        async def loud() -> dict[str, Any] | None:
            rec = await _quiet_recording(env, v.vid)
            problem = (rec or {}).get("problem") or ""
            return rec if rec and "disk is full" in problem else None

        rec = await eventually(loud, timeout=RECOVER_WITHIN, interval=0.3)
        # Shown to the officer as not secured, counted, and the visit goes on.
        assert rec["secured"] is False, rec
        assert rec["status"] in ("failed", "requested", "recording"), rec
        text = await scrape(env.http, holder)
        failed = metric(text, "evr_recordings_failed_total", reason="disk_full")
        assert failed is not None, text
        assert failed >= 1, text
        assert await _media_flows(v), "media stopped when the spool disk filled"
        # The disk is freed (an operator's action); the next statement records again.
        filler.unlink()
        t1, w1 = time.monotonic(), time.time()
        rec = await eventually(lambda: _settled(env, v.vid), timeout=RECOVER_WITHIN, interval=0.3)
        if rec["status"] != "failed":
            # A statement that hit the full disk at its start is retried, not failed.
            await seal(env, v, gap=None)
        await start_statement(env, v)
        print(f"fault-recovery spool-disk-full {time.monotonic() - t1:.1f}")
    poller.visit_never_ended()
    await seal(env, v, gap=False)
    await nothing_lost(env, v)
    no_5xx_outside(env, "spool-disk-full", since=since, fault=w0, back=w1)


async def _settled(env: Env, vid: str) -> dict[str, Any] | None:
    rec = await _quiet_recording(env, vid)
    if rec and rec["status"] == "failed":
        return rec
    return rec if holding(rec) else None


async def _rejoin(
    token: Callable[[], Awaitable[dict[str, Any]]], rgb: tuple[int, int, int], tone: float
) -> tuple[SyntheticParticipant, str]:
    """As the victim's page and the officer's console do once LiveKit's own reconnect gives
    up: a fresh token from the control plane for every attempt, until a join succeeds. Until
    LiveKit counts the dead node out (its stats 5 s old), joins are routed to it and fail."""
    deadline = time.monotonic() + RECOVER_WITHIN
    while True:
        tok = await token()
        part = _person(rgb, tone)
        try:
            # Long enough on the loaded machine that a join which is getting through is not
            # abandoned (and replaced by a second session of the same identity).
            await part.connect(tok["url"], tok["token"], timeout=10)
            await part.publish()
        except Exception:
            with contextlib.suppress(Exception):
                await part.close()
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.25)
            continue
        return part, tok["identity"]


GAP_SLACK = 3.0
"""Seconds after the kill by which a gap must have started: frames already in flight, and the
clocks of test and recorder read on a loaded machine."""


def _covers(gaps: list[dict[str, str]], killed_at: float) -> bool:
    """A gap starts at most GAP_SLACK s after `killed_at` (unix time) and ends after it."""
    for gap in gaps:
        start = datetime.fromisoformat(gap["from"]).timestamp()
        end = datetime.fromisoformat(gap["to"]).timestamp()
        if start <= killed_at + GAP_SLACK and end > killed_at:
            return True
    return False


async def test_the_sfu_node_hosting_the_visit_killed(env: Env, visit: Visit) -> None:
    v, since, api, cluster = visit, time.time(), env.api, env.cluster
    room = room_name_for(v.vid)
    # The victim's page asks for its fresh tokens with its session, and the control plane
    # issues them only after a passed connection check (its WebRTC leg is on node 0).
    await api.passed_check(v.session)
    await start_statement(env, v)
    assert await _media_flows(v), "media was not flowing before the fault"
    node, survivor = cluster.nodes[1], cluster.nodes[0]
    assert node_hosting(cluster, room) is node, "the visit's room is not on node 1"
    with Poller(env, v.vid) as poller:
        t0, w0 = time.monotonic(), time.time()
        kill_node(node)
        try:
            await v.close()
            officer = _rejoin(
                lambda: api.ok("POST", f"/api/v1/visits/{v.vid}/token", who="alice"),
                OFFICER_RGB,
                OFFICER_TONE,
            )
            victim = _rejoin(
                lambda: api.ok("POST", "/api/v1/participant/token", bearer=v.session),
                VICTIM_RGB,
                VICTIM_TONE,
            )
            (v.officer, v.officer_id), (v.victim, v.victim_id) = await asyncio.gather(
                officer, victim
            )
            await recovered(env, v, t0, "sfu-node")
            # The room, same name, is now placed on the node that survived.
            assert node_hosting(cluster, room) is survivor, node_hosting(cluster, room)
            # While both participants were out of the room the visit was "waiting": open.
            poller.visit_never_ended(frozenset({"live", "waiting"}))
            # Media stopped for the recorder too at the kill: a gap must start there, not
            # when the recorder noticed (seal checks the manifest has the recording's gaps).
            rec = await seal(env, v, gap=True)
            assert _covers(rec["gaps"], w0), f"no gap from the kill at {w0:.1f}: {rec['gaps']}"
            await nothing_lost(env, v)
            no_5xx_outside(env, "sfu-node", since=since, fault=w0, back=w0)
        finally:
            # Back as a fresh node (new id), so that the Redis fault has two nodes again.
            await asyncio.to_thread(restart_node, cluster, node)


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        )


def _answers(address: str) -> bool:
    try:
        return redis_command(address, "PING") == b"PONG"
    except (OSError, RuntimeError):
        return False


async def test_redis_killed_and_restarted(env: Env, visit: Visit) -> None:
    v, since, cluster = visit, time.time(), env.cluster
    room = room_name_for(v.vid)
    await start_statement(env, v)
    # So that a failure here names this fault, not media an earlier fault left broken.
    assert await _media_flows(v), "media was not flowing before the fault"
    call_node = node_hosting(cluster, room)
    assert call_node is not None, "LiveKit has no node for the visit's room before the fault"
    redis = cluster.redis_process
    argv = [str(a) for a in redis.args]  # type: ignore[union-attr]
    with Poller(env, v.vid) as poller:
        w0 = time.time()
        redis.kill()
        await asyncio.to_thread(redis.wait, 10)
        # Reported, not asserted: the room's node holds the media; Redis carries only routing
        # (signalling relayed between nodes, API calls to the hosting node).
        print(f"redis-down media-flowing {await _media_flows(v)}")
        # Started again from its append-only file, as deployed (the redis role turns it on):
        # without it LiveKit's room placements are gone and the room watch's CreateRoom may put
        # the live room on the other node, splitting the call from its API and new joins.
        cluster.redis_process = await asyncio.to_thread(
            _spawn, argv, env.workdir / "cluster" / "redis.log"
        )
        await eventually(lambda: asyncio.to_thread(_answers, cluster.redis_address), timeout=20)
        t1, w1 = time.monotonic(), time.time()
        await recovered(env, v, t1, "redis")

        # Every node registers again, and the room is LiveKit's again (placed on a node).
        def rebuilt() -> bool:
            nodes = redis_command(cluster.redis_address, "HKEYS", "nodes")
            have = (
                {k.decode() for k in nodes if isinstance(k, bytes)}
                if isinstance(nodes, list)
                else set()
            )
            return {n.node_id for n in cluster.nodes} <= have and node_hosting(
                cluster, room
            ) is not None

        await eventually(lambda: asyncio.to_thread(rebuilt), timeout=RECOVER_WITHIN)
    # ... on the node that still holds the call (participants and recorder never left it).
    # Anywhere else, LiveKit's API (participant listing, the recording flag) and every new
    # join would go to an empty room of the same name while the call goes on elsewhere.
    placed = node_hosting(cluster, room)
    assert placed is call_node, (
        f"after Redis came back the room was placed on {placed and placed.name} "
        f"({placed and placed.node_id}), but the call is on {call_node.name} ({call_node.node_id})"
    )
    poller.visit_never_ended()
    # Whether the recorder was cut off depends on where its signalling went; the manifest must
    # have every gap the recording recorded (seal checks it).
    await seal(env, v, gap=None)
    await nothing_lost(env, v)
    no_5xx_outside(env, "redis", since=since, fault=w0, back=w1)
