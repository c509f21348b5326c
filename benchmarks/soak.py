"""Soak: concurrent recorded visits for a long time on the scaled layout (issue 11, item 7).

The layout of the fault suite (tests/faults/test_faults.py): a two-node LiveKit cluster
sharing Redis, two `evr serve` replicas behind HAProxy on PostgreSQL, MinIO with Object Lock
as the evidence store, and two recorders. `--visits` visits run at once (LiveKit places each
room on a node; the summary says which), each with a synthetic officer and victim publishing
small video (160x120, 10 fps) and audio, who join as the pages do (retrying with fresh
tokens for up to a minute). Each visit records statements of `--statement` seconds back to
back (start, stop, wait for the outcome, start the next) until `--minutes` have passed.

Every `--sample` seconds the resident memory (VmRSS) of every process is read from /proc:
both SFU nodes, Redis, the replicas, HAProxy, the recorders, PostgreSQL (the postmaster and
its backends, summed), MinIO, and this process (the synthetic participants), with the load
average. Samples go to `<workdir>/samples.jsonl` as they are taken.

Each statement ends as one of:

* sealed: the visit shows it sealed and secured, and its evidence view (manifest, custody)
  is served from MinIO;
* loud: not sealed, but the visit view shows a problem (failed, or not secured and why) AND
  a recorder's metric marks it (`evr_recordings_failed_total` grew, or
  `evr_recordings_not_secured` > 0);
* lost: anything else, a recording lost silently. Any lost statement makes the run exit 1.

A statement still sealing when its wait runs out is looked at again at the end of the run
(in the database, as the visit view reads it). A recorder that dies is reported and started
again, as its service manager would.

    sudo .venv/bin/python -m benchmarks.soak --visits 3 --minutes 30

Needs root (network namespaces). Prints samples as they are taken, then a JSON summary: per
process the RSS at start, middle and end, the peak, and the slope after `--warmup` seconds
(least squares, MiB per 10 min); per statement outcome counts; recorder deaths; HAProxy 5xx.
With matplotlib, it draws `<workdir>/soak-rss.png` (or `--png`).

The run itself happens in a child process: LiveKit's Rust SDK can abort the process holding
the synthetic participants ("FFI Panic: timed out waiting for ReadyForRoomEventRequest", seen
under a load average of 38), and then no cleanup of its own runs. The parent then stops
every process the child started (their pids are in `<workdir>/state.json`) and deletes the
namespaces.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import glob
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from livekit import rtc

from core import db, schema
from core.domain import TokenRole, room_name_for
from core.recording_settings import S3Settings
from core.tokens import identity_for, mint
from loadtests.media import Received, SyntheticParticipant
from tests.support.cluster import SfuCluster, node_hosting, start_cluster, stop_cluster
from tests.support.minio import start_minio, stop_minio
from tests.support.netns import TestNet, create_testnet, destroy_testnet
from tests.support.postgres import RunningPostgres, create_database, start_postgres, stop_postgres
from tests.support.recorder import (
    REPO_ROOT,
    RunningRecorder,
    metric,
    start_recorder,
    stop_recorder,
)
from tests.support.replicas import ReplicaSet, as_stack, logged, start_replicas, stop_replicas
from tests.support.stack import Api, bind_socket

SEAL_PATIENCE = 180.0
"""Seconds after a stop to wait for sealed or failed before the statement is looked at again
at the end (a loaded machine's recorder can be minutes behind real time)."""
WHY = {"X-Justification": "soak benchmark"}


# -- memory -------------------------------------------------------------------------------------


STATUS_FIELDS = ("VmRSS", "RssAnon", "Threads")


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon and Pss (KiB) and Threads of `pid`, from /proc (zeros if it is gone).
    RssAnon apart from the file-backed part says whether growth is heap (or native buffers)."""
    out = dict.fromkeys((*STATUS_FIELDS, "Pss"), 0)
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in out:
                out[key] = int(value.split()[0])
    except (OSError, ValueError, IndexError):
        pass
    # PSS shares each shared page among its users: PostgreSQL's backends all map the same
    # shared buffers, which their RSS sum counts once per backend.
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                out["Pss"] = int(line.split()[1])
    return out


def mappings_kib(pid: int) -> dict[str, int]:
    """Resident KiB of `pid` by mapping: the file's name, [heap], [stack], or anonymous
    mappings by their size (glibc's per-thread malloc arenas reserve 64 MiB each; thread
    stacks 8 MiB; CPython's arenas and large mallocs are smaller). Says where growth lives."""
    out: dict[str, int] = {}
    name = ""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
            head = line.split()
            if "-" in head[0] and len(head) >= 5 and not head[0].endswith(":"):
                lo, hi = (int(x, 16) for x in head[0].split("-"))
                size = (hi - lo) >> 20
                if len(head) > 5:
                    name = Path(head[5]).name if head[5].startswith("/") else head[5]
                else:
                    bucket = (
                        "<1" if size < 1 else "1-7" if size < 8 else "8-63" if size < 64 else "64+"
                    )
                    name = f"[anon {bucket} MiB]"
            elif head[0] == "Rss:":
                out[name] = out.get(name, 0) + int(head[1])
    return out


def growth(before: dict[str, int], after: dict[str, int], top: int = 6) -> dict[str, int]:
    """The mappings whose resident size grew most, in MiB."""
    grew = {k: (after.get(k, 0) - before.get(k, 0)) >> 10 for k in after.keys() | before.keys()}
    return dict(sorted(((k, v) for k, v in grew.items() if v > 0), key=lambda kv: -kv[1])[:top])


def children(pid: int) -> list[int]:
    out = []
    for path in glob.glob(f"/proc/{pid}/task/*/children"):
        with contextlib.suppress(OSError):
            out += [int(p) for p in Path(path).read_text().split()]
    return out


def slope_per_10min(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, MiB) points in MiB per 10 minutes (None if < 3)."""
    if len(points) < 3:
        return None
    n = len(points)
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    if var == 0:
        return None
    cov = sum((t - mx) * (v - my) for t, v in points)
    return round(cov / var * 600, 1)


def memory_report(
    samples: list[dict[str, Any]], names: list[str], warmup: float, key: str = "rss_mib"
) -> dict[str, Any]:
    """Per process: `key` (MiB) at start, middle, end, the peak, and the slope after `warmup`
    s. The start is the first sample, taken when every process is up and before any visit."""
    out: dict[str, Any] = {}
    end_t = samples[-1]["t_s"]
    middle = min(samples, key=lambda s: abs(s["t_s"] - end_t / 2))
    for name in names:
        series = [(s["t_s"], s[key][name]) for s in samples if s[key].get(name)]
        if not series:
            continue
        after = [(t, v) for t, v in series if t >= warmup]
        out[name] = {
            "start": series[0][1],
            "middle": middle[key].get(name),
            "end": series[-1][1],
            "peak": max(v for _, v in series),
            "slope_mib_per_10min_after_warmup": slope_per_10min(after),
        }
    return out


def lag_report(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Per recorder: its writers' lag (median and max over the samples) and the video frames
    it dropped by the last sample it answered (a restarted recorder counts from zero)."""
    out: dict[str, Any] = {}
    names = sorted({n for s in samples for n in s.get("recorders", {})})
    for name in names:
        rows = [s["recorders"][name] for s in samples if name in s.get("recorders", {})]
        lags = sorted(r["lag_s"] for r in rows if r["lag_s"] is not None)
        out[name] = {
            "lag_median": lags[len(lags) // 2] if lags else None,
            "lag_max": lags[-1] if lags else None,
            "video_dropped": rows[-1]["video_dropped"],
        }
    return out


def draw(samples: list[dict[str, Any]], names: list[str], path: Path, warmup: float) -> bool:
    """RSS over time, one line per process; False if matplotlib is not there."""
    try:
        import matplotlib as mpl  # noqa: PLC0415 - optional, only for the picture

        mpl.use("Agg")
        import matplotlib.pyplot as plt  # noqa: PLC0415
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(10, 6))
    ax.set_prop_cycle(color=[plt.get_cmap("tab20")(i) for i in range(0, 20, 2)] + ["black"])
    for name in names:
        pts = [(s["t_s"] / 60, s["rss_mib"][name]) for s in samples if s["rss_mib"].get(name)]
        if pts:
            ax.plot(*zip(*pts, strict=True), label=name)
    ax.axvline(warmup / 60, color="grey", linestyle=":", label="end of warm-up")
    ax.set_xlabel("minutes")
    ax.set_ylabel("RSS (MiB)")
    ax.set_title("benchmarks/soak.py: resident memory per process")
    ax.legend(fontsize="small", loc="upper left", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


# -- the statements -----------------------------------------------------------------------------


VIDEO_QUEUE = 4
"""Frames a participant's video counter may have waiting: the oldest is dropped beyond."""


class SoakParticipant(SyntheticParticipant):
    """A synthetic participant that counts the video it receives through a bounded queue and
    does not read audio at all. LiveKit's streams queue without bound by default, and on the
    loaded machine this process's event loop fell behind: in the first 3-minute trial six
    participants reading audio and video grew it from 144 to 900 MiB (queued frames, RssAnon)
    while handling a fifth of the frames sent. Audio still flows to the recorders, whose
    sealed statements show it."""

    def _on_track(
        self, track: rtc.Track, _pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        stats = self.received.setdefault(participant.identity, Received())
        if track.kind == rtc.TrackKind.KIND_VIDEO:
            self._tasks.append(asyncio.create_task(self._count_video(track, stats)))

    async def _count_video(self, track: rtc.Track, stats: Received) -> None:
        async for _event in rtc.VideoStream(track, capacity=VIDEO_QUEUE):
            stats.video_frames += 1


@dataclass
class Run:
    api: Api
    rs: ReplicaSet
    http: aiohttp.ClientSession
    recorders: list[RunningRecorder]
    stop_at: float
    statement: float
    started: float
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    api_errors: list[str] = field(default_factory=list)
    recorder_deaths: list[dict[str, Any]] = field(default_factory=list)
    placement: dict[int, str | None] = field(default_factory=dict)
    """Visit -> the cluster node LiveKit placed its room on."""
    join_failures: int = 0

    async def recorder_metrics(self) -> dict[str, float]:
        """Summed over the recorders that answer: failures so far, statements not secured."""
        failed = not_secured = 0.0
        for rec in list(self.recorders):
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self.http.get(rec.metrics_url, timeout=aiohttp.ClientTimeout(5)) as r:
                    text = await r.text()
                for line in text.splitlines():
                    if line.startswith("evr_recordings_failed_total{"):
                        failed += float(line.rsplit(" ", 1)[1])
                not_secured += metric(text, "evr_recordings_not_secured") or 0.0
        return {"failed_total": failed, "not_secured": not_secured}

    async def failures_by_reason(self) -> dict[str, float]:
        """`evr_recordings_failed_total` by reason, summed over the recorders that answer (a
        restarted recorder counts from zero)."""
        out: dict[str, float] = {}
        for rec in list(self.recorders):
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self.http.get(rec.metrics_url, timeout=aiohttp.ClientTimeout(5)) as r:
                    text = await r.text()
                for line in text.splitlines():
                    if line.startswith("evr_recordings_failed_total{"):
                        reason = line.split('reason="', 1)[1].split('"', 1)[0]
                        out[reason] = out.get(reason, 0.0) + float(line.rsplit(" ", 1)[1])
        return {k: v for k, v in out.items() if v}

    async def recorder_gauges(self) -> dict[str, dict[str, float | None]]:
        """Per recorder that answers: how far its slowest writer is behind real time, and the
        video frames it dropped for that (the metric is absent from a recorder before it)."""
        out: dict[str, dict[str, float | None]] = {}
        for rec in list(self.recorders):
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self.http.get(rec.metrics_url, timeout=aiohttp.ClientTimeout(5)) as r:
                    text = await r.text()
                out[rec.name] = {
                    "lag_s": metric(text, "evr_recorder_lag_seconds"),
                    "video_dropped": metric(text, "evr_recording_video_frames_dropped_total"),
                }
        return out

    def at(self) -> float:
        return round(time.monotonic() - self.started, 1)


JOIN_PATIENCE = 60.0
"""Seconds a participant keeps trying to join, with fresh tokens, as the pages do."""
JOIN_TIMEOUT = 40.0
STAGGER = 20.0
"""Seconds between the visits' starts: six participants joining at once on the loaded
machine starved this process's event loop, and LiveKit's SDK aborted it."""


async def join(
    token: Callable[[], Awaitable[dict[str, str]]], rgb: tuple[int, int, int], tone: float
) -> tuple[SoakParticipant, int]:
    """A participant in the room, publishing; and how many joins failed first. Small and slow
    video, as in the fault suite: the shared 2-core machine runs every encoder here."""
    deadline, failed = time.monotonic() + JOIN_PATIENCE, 0
    while True:
        tok = await token()
        part = SoakParticipant(
            rgb=rgb, tone_hz=tone, width=160, height=120, fps=10, inspect_pixels=False
        )
        try:
            # The SDK's own timeout must fire first: a connect cancelled from outside (the
            # backstop 10 s later) makes its FFI side abort the process when the join completes
            # (seen at load 32: "timed out waiting for ReadyForRoomEventRequest").
            await part.connect(tok["url"], tok["token"], timeout=JOIN_TIMEOUT)
            await part.publish()
        except Exception as exc:
            with contextlib.suppress(Exception):
                await part.close()
            failed += 1
            print(json.dumps({"join_failed": tok["identity"], "error": repr(exc)}), flush=True)
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(2)
            continue
        return part, failed


async def one_visit(run: Run, index: int, *, cluster: SfuCluster) -> None:
    """A visit recording statements back to back until the run's end; outcomes appended."""
    api = run.api
    await asyncio.sleep(index * STAGGER)
    visit = await api.eligible_visit()
    vid = visit["id"]
    link = await api.ok("POST", f"/api/v1/visits/{vid}/links", who="alice", json={}, expect=201)
    joined = await api.ok("POST", f"/api/v1/join/{link['url'].rsplit('/', 1)[1]}", expect=201)
    # The control plane creates the room and LiveKit places it on a node. (Creating it first
    # on a chosen node, as the fault suite does, lost a room in a trial: the leader's sweep of
    # rooms without an open visit listed it before the start committed, and deleted it.)
    await api.ok("POST", f"/api/v1/visits/{vid}/start", who="alice")
    node = node_hosting(cluster, room_name_for(vid))
    run.placement[index] = node.name if node else None

    async def officer_token() -> dict[str, str]:
        tok: dict[str, str] = await api.ok("POST", f"/api/v1/visits/{vid}/token", who="alice")
        return tok

    async def victim_token() -> dict[str, str]:
        tok = mint(
            run.rs.settings.livekit,
            role=TokenRole.VICTIM,
            room=room_name_for(vid),
            identity=identity_for(TokenRole.VICTIM, vid),
            display_name="Victim",
            ttl=timedelta(minutes=5),
        )
        return {"url": tok.url, "token": tok.token, "identity": tok.identity}

    people: list[SoakParticipant] = []
    try:
        for token, rgb, tone in (
            (officer_token, (200, 40, 40), 440.0),
            (victim_token, (40, 40, 200), 660.0),
        ):
            part, failed = await join(token, rgb, tone)
            people.append(part)
            run.join_failures += failed
        officer, victim = people
        await api.ok(
            "POST", "/api/v1/participant/recording/consent", bearer=joined["session"],
            json={"consent": True}, expect=201,
        )  # fmt: skip
        n = 0
        while time.monotonic() < run.stop_at:
            n += 1
            try:
                await one_statement(run, vid, index, n, (officer, victim))
            except (AssertionError, aiohttp.ClientError) as exc:  # not the answer expected
                run.api_errors.append(f"visit {index} statement {n} at {run.at()} s: {exc}")
                print(json.dumps({"api_error": run.api_errors[-1]}), flush=True)
                # A statement left going would refuse the next start: stop it (the database
                # sweep at the end accounts for it).
                with contextlib.suppress(aiohttp.ClientError):
                    await api.call("POST", f"/api/v1/visits/{vid}/recording/stop", who="alice")
                await asyncio.sleep(5)
    finally:
        for part in people:
            await part.close()
        await api.call("POST", f"/api/v1/visits/{vid}/end", who="alice", json={"reason": "soak"})


async def one_statement(
    run: Run, vid: str, index: int, n: int, people: tuple[SyntheticParticipant, ...]
) -> None:
    api = run.api
    before = await run.recorder_metrics()
    frames = [sum(r.video_frames for r in p.received.values()) for p in people]
    await api.ok("POST", f"/api/v1/visits/{vid}/recording/start", who="alice", expect=202)
    await asyncio.sleep(run.statement)
    await api.ok("POST", f"/api/v1/visits/{vid}/recording/stop", who="alice", expect=202)
    stopped = time.monotonic()
    rec: dict[str, Any] = {}
    while time.monotonic() < stopped + SEAL_PATIENCE:
        rec = (await api.ok("GET", f"/api/v1/visits/{vid}", who="alice"))["recording"]
        if rec["status"] in ("sealed", "failed"):
            break
        await asyncio.sleep(1)
    after = await run.recorder_metrics()
    media = [sum(r.video_frames for r in p.received.values()) for p in people]
    outcome: dict[str, Any] = {
        "visit": index,
        "n": n,
        "at_s": run.at(),
        "id": rec.get("id"),
        "status": rec.get("status"),
        "secured": rec.get("secured"),
        "problem": rec.get("problem"),
        "gaps": len(rec.get("gaps") or []),
        "segments": rec.get("segments"),
        "recorder": rec.get("recorder"),
        "seal_wait_s": round(time.monotonic() - stopped, 1),
        "metric_failed_grew": after["failed_total"] > before["failed_total"],
        "metric_not_secured": after["not_secured"],
        # Video frames each participant received during the statement (both ways flowing).
        "media_frames": [m - f for m, f in zip(media, frames, strict=True)],
    }
    if rec.get("status") == "sealed":
        code, viewed = await api.call(
            "GET", f"/api/v1/evidence/{rec['id']}", who="alice", headers=WHY
        )
        outcome["evidence_view"] = code
        if code == 200:
            outcome["custody"] = [e["event"] for e in viewed["custody"]]
    run.outcomes.append(outcome)
    print(json.dumps({"statement": outcome}), flush=True)


def verdict(o: dict[str, Any]) -> str:
    """sealed / loud / lost, as the module docstring defines them."""
    if o.get("status") == "sealed" and o.get("secured") and o.get("evidence_view") == 200:
        return "sealed"
    if o.get("status_at_end") == "sealed":  # after its wait ran out: in the database
        return "sealed"
    shown = bool(o.get("problem")) or o.get("status") == "failed"
    counted = bool(o.get("metric_failed_grew")) or (o.get("metric_not_secured") or 0) > 0
    return "loud" if shown and counted else "lost"


async def settle_late(
    rs: ReplicaSet, outcomes: list[dict[str, Any]]
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """Look again, in the database, at statements not yet sealed or failed when their wait
    ran out; note the final status on each. Returns every statement's status count, and the
    statements no outcome accounts for (one whose start or stop got an unexpected answer)."""
    engine = db.create_engine(rs.settings.database_url)
    try:
        async with engine.connect() as conn:
            r = schema.recordings
            rows = (await conn.execute(sa.select(r.c.id, r.c.status, r.c.problem))).all()
    finally:
        await engine.dispose()
    final = {row.id: (row.status, row.problem) for row in rows}
    for o in outcomes:
        if o.get("status") not in ("sealed", "failed") and o.get("id") in final:
            o["status_at_end"], o["problem_at_end"] = final[o["id"]]
    counts: dict[str, int] = {}
    for status, _ in final.values():
        counts[status] = counts.get(status, 0) + 1
    known = {o.get("id") for o in outcomes}
    untracked = [
        {"id": rid, "status": status, "problem": problem}
        for rid, (status, problem) in final.items()
        if rid not in known
    ]
    return counts, untracked


# -- the run ------------------------------------------------------------------------------------


def _state(path: Path, **values: Any) -> None:
    """Record what was started, for the parent to stop should this process be aborted."""
    state = json.loads(path.read_text()) if path.exists() else {}
    state.update(values)
    path.write_text(json.dumps(state))


async def soak(args: argparse.Namespace, work: Path) -> int:  # noqa: PLR0915 - one linear script
    state = work / "state.json"
    pg = start_postgres()
    _state(state, pg=[str(pg.datadir), pg.port])
    nets = [create_testnet(f"soak{i}") for i in range(2)]
    _state(state, nets=[dataclasses.asdict(n) for n in nets])
    sock = bind_socket(nets[0].host_ip)
    lb_port = sock.getsockname()[1]
    sock.close()
    cluster = start_cluster(
        work / "cluster",
        webhook_url=f"http://{nets[0].host_ip}:{lb_port}/api/v1/livekit/webhook",
        nets=nets,
    )
    _state(state, redis=cluster.redis_process.pid)
    sock = bind_socket(nets[0].host_ip)
    minio_port = sock.getsockname()[1]
    sock.close()
    minio = start_minio(nets[0], work / "minio", port=minio_port)
    recorders: list[RunningRecorder] = []
    rs: ReplicaSet | None = None
    try:
        rs = await start_replicas(
            net=nets[0],
            database_url=create_database(pg, f"evr_soak_{uuid.uuid4().hex[:8]}"),
            workdir=work,
            sfu_port=0,
            sfu=cluster.nodes[0].sfu,
            lb_port=lb_port,
            s3=S3Settings(
                endpoint=minio.endpoint, bucket="evr-soak", access_key=minio.access_key,
                secret_key=minio.secret_key, secure=False, min_retention_days=1,
            ),
            stale_after=6.0,
        )  # fmt: skip
        stack = as_stack(rs)
        sources = dict(kv.split("=", 1) for kv in args.source)

        def new_recorder(name: str) -> RunningRecorder:
            # --source runs a recorder from another tree (e.g. worktrees of the commits before
            # and after a fix), so both are measured side by side under the same load.
            source = Path(sources.get(name, REPO_ROOT)).resolve()
            rec = start_recorder(
                stack, work / "rec", name=name, segment_seconds=args.segment, source=source
            )
            _state(state, **{name: rec.process.pid})
            return rec

        recorders += await asyncio.gather(
            *(asyncio.to_thread(new_recorder, f"rec-{chr(97 + i)}") for i in range(args.recorders))
        )
        _state(
            state,
            replicas=[r.process.pid for r in rs.replicas],
            haproxy=rs.haproxy.process.pid,
        )
        fixed = {r.name: [r.process.pid] for r in rs.replicas}
        fixed["haproxy"] = [rs.haproxy.process.pid]
        fixed.update({n.name: [n.sfu.process.pid] for n in cluster.nodes})
        fixed["redis"] = [cluster.redis_process.pid]
        fixed["minio"] = [minio.process.pid]
        fixed["participants (this process)"] = [os.getpid()]

        def processes() -> dict[str, list[int]]:
            # Looked up at each sample: backends come and go, a dead recorder is replaced.
            procs = dict(fixed)
            procs.update({r.name: [r.process.pid] for r in recorders})
            procs["postgresql"] = [pg.pid, *children(pg.pid)]
            return procs

        names = sorted(processes())
        warmup = args.warmup

        def mapped() -> dict[str, tuple[int, dict[str, int]]]:
            # One process each (PostgreSQL's come and go): by mapping, to say what grows.
            return {
                k: (v[0], mappings_kib(v[0])) for k, v in processes().items() if k != "postgresql"
            }

        warm: dict[str, tuple[int, dict[str, int]]] = {}
        if args.tracemalloc:
            tracemalloc.start(8)
        traced: list[tracemalloc.Snapshot] = []
        traced_growth: list[str] = []
        samples: list[dict[str, Any]] = []
        started = time.monotonic()
        stop_at = started + args.minutes * 60

        async with aiohttp.ClientSession() as http:
            run = Run(Api(http, stack), rs, http, recorders, stop_at, args.statement, started)

            async def sampler() -> None:
                with (work / "samples.jsonl").open("a") as out:
                    while True:
                        seen = {k: [proc_status(p) for p in v] for k, v in processes().items()}
                        gauges = await run.recorder_gauges()
                        row = {
                            "t_s": round(time.monotonic() - started),
                            "load1": load_average(),
                            "rss_mib": {
                                k: round(sum(s["VmRSS"] for s in v) / 1024, 1)
                                for k, v in seen.items()
                            },
                            "anon_mib": {
                                k: round(sum(s["RssAnon"] for s in v) / 1024, 1)
                                for k, v in seen.items()
                            },
                            "pss_mib": {
                                k: round(sum(s["Pss"] for s in v) / 1024, 1)
                                for k, v in seen.items()
                            },
                            "threads": {k: sum(s["Threads"] for s in v) for k, v in seen.items()},
                            "recorders": gauges,
                        }
                        if not warm and row["t_s"] >= warmup:
                            warm.update(mapped())
                            if args.tracemalloc:
                                traced.append(tracemalloc.take_snapshot())
                        samples.append(row)
                        out.write(json.dumps(row) + "\n")
                        out.flush()
                        print(json.dumps({"sample": row}), flush=True)
                        await asyncio.sleep(args.sample)

            async def keeper() -> None:
                # A recorder that dies is reported and started again, as systemd would.
                while True:
                    await asyncio.sleep(2)
                    for i, rec in enumerate(list(recorders)):
                        code = rec.process.poll()
                        if code is None:
                            continue
                        tail = rec.log_path.read_text(errors="replace").splitlines()[-5:]
                        death = {"recorder": rec.name, "at_s": run.at(), "exit": code,
                                 "log_tail": tail}  # fmt: skip
                        run.recorder_deaths.append(death)
                        print(json.dumps({"recorder_died": death}), flush=True)
                        recorders[i] = await asyncio.to_thread(new_recorder, rec.name)

            tasks = [asyncio.create_task(sampler()), asyncio.create_task(keeper())]
            try:
                # A visit that fails outright (e.g. a join timing out) is reported; the others
                # go on.
                ended_visits = await asyncio.gather(
                    *(one_visit(run, i, cluster=cluster) for i in range(args.visits)),
                    return_exceptions=True,
                )
            finally:
                for t in tasks:
                    t.cancel()
            ended = time.monotonic() - started
            at_end = mapped()
            failures = await run.failures_by_reason()
            if traced:
                top = tracemalloc.take_snapshot().compare_to(traced[0], "lineno")[:12]
                traced_growth = [str(stat) for stat in top]
            statuses, untracked = await settle_late(rs, run.outcomes)

        for o in run.outcomes:
            o["verdict"] = verdict(o)
        counts = {
            v: sum(o["verdict"] == v for o in run.outcomes) for v in ("sealed", "loud", "lost")
        }
        untracked_lost = sum(1 for u in untracked if u["status"] != "sealed" and not u["problem"])
        five = [row for row in logged(rs.haproxy) if row[2] >= 500]
        loads = [s["load1"] for s in samples]
        grown = {
            k: growth(warm[k][1], m)
            for k, (pid, m) in at_end.items()
            if warm.get(k, (0,))[0] == pid
        }
        png = Path(args.png) if args.png else work / "soak-rss.png"
        summary = {
            "visits": args.visits,
            "minutes_asked": args.minutes,
            "minutes_run": round(ended / 60, 1),
            "statement_s": args.statement,
            "segment_s": args.segment,
            "samples": len(samples),
            "load1": {
                "min": min(loads),
                "median": sorted(loads)[len(loads) // 2],
                "max": max(loads),
            },
            "statements": len(run.outcomes),
            **counts,
            "with_gaps": sum(1 for o in run.outcomes if o["gaps"]),
            "media_stalled": sum(1 for o in run.outcomes if min(o["media_frames"]) == 0),
            "not_sealed": [o for o in run.outcomes if o["verdict"] != "sealed"],
            "recordings_in_database": statuses,
            # Statements no outcome accounts for: lost unless sealed or shown with a problem.
            "untracked": untracked,
            "untracked_lost": untracked_lost,
            "recorder_failures_counted_by_reason": failures,
            "recorder_deaths": run.recorder_deaths,
            "api_errors": run.api_errors,
            "rooms_on_nodes": run.placement,
            "joins_failed_then_retried": run.join_failures,
            "visit_errors": [repr(e) for e in ended_visits if isinstance(e, BaseException)],
            "haproxy_5xx": [list(row) for row in five],
            "warmup_s": round(warmup),
            "grown_since_warmup_by_mapping_mib": grown,
            "tracemalloc_this_process_since_warmup": traced_growth,
            "rss_mib": memory_report(samples, names, warmup),
            "anon_mib": memory_report(samples, names, warmup, "anon_mib"),
            "pss_mib": memory_report(samples, names, warmup, "pss_mib"),
            "threads": {
                k: [samples[0]["threads"].get(k), samples[-1]["threads"].get(k)] for k in names
            },
            "recorder_sources": args.source,
            "recorder_lag_s": lag_report(samples),
            "png": str(png) if draw(samples, names, png, warmup) else None,
        }
        (work / "summary.json").write_text(json.dumps(summary, indent=1))
        print(json.dumps(summary, indent=1))
        broken = any(isinstance(e, BaseException) for e in ended_visits)
        return 1 if counts["lost"] or untracked_lost or broken else 0
    finally:
        for rec in recorders:
            stop_recorder(rec)
            # Seen before: LiveKit's Rust SDK aborting the recorder at exit (-6, SIGABRT).
            print(json.dumps({"recorder_exit": {rec.name: rec.process.returncode}}), flush=True)
        if rs is not None:
            stop_replicas(rs)
        stop_minio(minio)
        stop_cluster(cluster, destroy_nets=False)
        for net in nets:
            destroy_testnet(net)
        stop_postgres(pg)


def clean_up_after(work: Path) -> None:
    """Stop what an aborted child left running (its pids in state.json) and delete its
    namespaces (which kills the SFU nodes and MinIO in them)."""
    path = work / "state.json"
    if not path.exists():
        return
    state = json.loads(path.read_text())
    pids = [state.get("redis"), state.get("haproxy"),
            *(v for k, v in state.items() if k.startswith("rec-")),
            *state.get("replicas", [])]  # fmt: skip
    for pid in pids:
        if pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    for net in state.get("nets", []):
        destroy_testnet(TestNet(**net))
    if "pg" in state:
        stop_postgres(RunningPostgres(datadir=Path(state["pg"][0]), port=state["pg"][1]))
    print(json.dumps({"cleaned_up_after_abort": state}), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--visits", type=int, default=3)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--statement", type=float, default=60.0, help="seconds per statement")
    parser.add_argument("--segment", type=float, default=10.0, help="seconds per segment")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--warmup", type=float, default=300.0, help="seconds left out of slopes")
    parser.add_argument("--png", default="", help="where to draw RSS over time")
    parser.add_argument(
        "--tracemalloc",
        action="store_true",
        help="trace this process's Python allocations; report the growth after warm-up",
    )
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="REC=DIR",
        help="run recorder REC (rec-a, rec-b, ...) from this source tree, e.g. a git worktree",
    )
    parser.add_argument("--recorders", type=int, default=2, help="recorders in the pool")
    parser.add_argument("--workdir", default="", help=argparse.SUPPRESS)  # the child's
    args = parser.parse_args()
    if args.workdir:
        return asyncio.run(soak(args, Path(args.workdir)))
    work = Path(tempfile.mkdtemp(prefix="evr-soak-"))
    print(json.dumps({"workdir": str(work)}), flush=True)
    child = subprocess.run([sys.executable, "-m", "benchmarks.soak", *sys.argv[1:],
                            "--workdir", str(work)], check=False)  # fmt: skip
    if child.returncode < 0:  # killed by a signal (an abort): its own cleanup did not run
        print(json.dumps({"child_died": child.returncode}), flush=True)
        clean_up_after(work)
        return 2
    return child.returncode


if __name__ == "__main__":
    raise SystemExit(main())
