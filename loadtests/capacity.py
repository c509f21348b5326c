"""Capacity report: how many concurrent 1:1 visits does one machine carry, and what breaks
first: the SFU, the load generator, or the recorder?

For each mode (540p single layer; 540p with simulcast; with the recorder) it starts a whole
local stack (SFU in a namespace of its own, control plane, and `evr recorder` when asked),
then plays growing numbers of concurrent visits with the Locust users
(`loadtests/locustfile.py`, headless, --spawn-rate new visits a second, each held for --hold
seconds with 540p video and audio each way), until a level fails the limit:

  * p95 join time <= 2 s (both participants' joins, all visits of the level), and
  * packet loss <= 1 % (mean over every received-media window), and
  * received video frame rate >= 90 % of the sent rate (25 fps), and
  * every join and first frame succeeded.

The media come from the Go agent (--agent go, the default: pre-encoded files, RTP counted
without decoding, a few thousandths of a core per participant) or the Python SDK agent
(--agent python: real encoding, ~0.4 core per participant). With --pin (the default on a
machine with 2 or more cores) livekit-server runs on core 0 and everything else this run
starts (Locust, the agents, the control plane, the recorder) on core 1.

While a level holds its calls, it samples the CPU of each process group (livekit-server;
the generator: Locust and its media agents; the recorder; the control plane) and of the
whole machine, so the report can say which one ran out, shows the level's progress on the
terminal, and draws the curves (visits against SFU cores, p95 join and loss) into --plot. It
then runs `lk load-test` (livekit-cli) against the same SFU, if `.tools/gobin/lk` exists, to
compare the generators' participants per core.

    sudo .venv/bin/python -m loadtests.capacity --out /tmp/capacity.md --plot /tmp/capacity.png

A benchmark, not a test: it takes minutes, and its figures depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import math
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml
from livekit import api as lk_api

from loadtests.asyncagent import AsyncAgent, AsyncAgentError
from loadtests.cpuquota import PERIOD_US, cpu_quota
from loadtests.localstack import LocalStack, local_stack, run_cancellable
from loadtests.names import FIRST_FRAME, JOIN, LOSS_BP, MEDIA, VIDEO_FPS, VIDEO_KBPS

REPO_ROOT = Path(__file__).resolve().parent.parent
LK = REPO_ROOT / ".tools" / "gobin" / "lk"
JOIN_P95_LIMIT_MS = 2000.0
LOSS_LIMIT_BP = 100.0  # 1 %
FPS_SHARE_LIMIT = 0.9
"""Received frame rate at least this share of the sent one."""
SENT_FPS = 25.0  # the Go agent's files (loadtests/mediaagent/make_media.sh); --video-fps
SFU_CORE, GENERATOR_CORE = 0, 1
SATURATED = 0.85
"""Machine CPU share above which the run is CPU-bound, and the busiest group is the cause."""


OWN_GROUPS = ("sfu", "generator", "recorder", "control_plane", "database")
"""The process groups this run starts; the rest of the machine's CPU is other work."""


@dataclass
class CpuGroup:
    """A set of processes (each with its descendants) whose CPU time is summed."""

    name: str
    roots: list[int]
    descendants: bool = True
    last: float = 0.0

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self._processes():
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                total += t.user + t.system
        return total

    def _processes(self) -> Iterator[psutil.Process]:
        for pid in self.roots:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                yield root
                if self.descendants:
                    yield from root.children(recursive=True)


class AgentPythonGroup(CpuGroup):
    """The media agents' main (Python, asyncio) threads only: the share of the generator
    that is interpreter rather than native codec and network threads."""

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self._processes():
            with contextlib.suppress(psutil.Error):
                if "loadtests.agent" in " ".join(proc.cmdline()):
                    total += sum(
                        t.user_time + t.system_time for t in proc.threads() if t.id == proc.pid
                    )
        return total


@dataclass
class CpuSample:
    t: float
    cores: dict[str, float]


class CpuSampler:
    """Cores used per group, once a second: (delta CPU seconds) / (delta wall seconds).

    Children that exit between two samples take their CPU time with them, so a group's
    figure can dip when processes come and go; the hold window has none of that."""

    def __init__(self, groups: list[CpuGroup]) -> None:
        self.groups = groups
        self.samples: list[CpuSample] = []

    async def run(self) -> None:
        wall = time.time()
        busy = _machine_busy()
        for g in self.groups:
            g.last = g.cpu_seconds()
        while True:
            await asyncio.sleep(1.0)
            now, now_busy = time.time(), _machine_busy()
            dt = now - wall
            cores = {"machine": (now_busy - busy) / dt}
            for g in self.groups:
                cpu = g.cpu_seconds()
                cores[g.name] = max(0.0, cpu - g.last) / dt
                g.last = cpu
            self.samples.append(CpuSample(now, cores))
            wall, busy = now, now_busy

    def mean(self, start: float, end: float) -> dict[str, float]:
        window = [s for s in self.samples if start <= s.t <= end] or self.samples[-3:]
        names = window[0].cores.keys() if window else []
        return {n: statistics.fmean(s.cores[n] for s in window) for n in names}


def _machine_busy() -> float:
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def p95(values: list[float]) -> float:
    """Nearest-rank 95th percentile (with two joins per visit, small levels are their max)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass(frozen=True)
class Mode:
    name: str
    record: bool = False
    simulcast: bool = False


MODES = {
    "single": Mode("540p"),
    "simulcast": Mode("540p simulcast", simulcast=True),
    "recorder": Mode("540p with recorder", record=True),
}


@dataclass
class Level:
    mode: str
    visits: int
    joins: list[float] = field(default_factory=list)
    first_frames: list[float] = field(default_factory=list)
    loss_bp: list[float] = field(default_factory=list)
    fps: list[float] = field(default_factory=list)
    low_fps: list[float] = field(default_factory=list)
    """Windows Locust recorded as failed for a frame rate under half the sent one."""
    kbps: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    load: str = ""
    http_failures: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    """Distinct failure messages (media and HTTP) and how often each occurred."""

    @property
    def reasons(self) -> list[str]:
        out = []
        if not self.joins or p95(self.joins) > JOIN_P95_LIMIT_MS:
            out.append(f"p95 join {p95(self.joins) if self.joins else math.inf:.0f} ms > 2 s")
        if self.loss_bp and statistics.fmean(self.loss_bp) > LOSS_LIMIT_BP:
            out.append(f"packet loss {statistics.fmean(self.loss_bp) / 100:.2f} % > 1 %")
        fps = self.fps_mean
        if fps is not None and fps < FPS_SHARE_LIMIT * SENT_FPS:
            out.append(f"received {fps:.1f} fps < 90 % of {SENT_FPS:.0f}")
        for name in (JOIN, FIRST_FRAME, LOSS_BP):
            if self.failures.get(name):
                out.append(f"{self.failures[name]} failed '{name}'")
        if len(self.first_frames) < 2 * self.visits:
            out.append(f"{len(self.first_frames)}/{2 * self.visits} saw the other's video")
        if self.http_failures:
            out.append(f"{self.http_failures} failed control-plane requests")
        return out

    @property
    def fps_mean(self) -> float | None:
        """Mean received video fps over every window, windows that failed Locust's own
        half-rate check included (their value is in the error, not in `fps`)."""
        values = self.fps + self.low_fps
        return statistics.fmean(values) if values else None

    @property
    def others(self) -> float:
        """Cores used by processes this run did not start (other work on a shared machine)."""
        c = self.cpu
        mine = sum(c.get(k, 0.0) for k in OWN_GROUPS)
        return max(0.0, c.get("machine", 0.0) - mine)

    @property
    def passed(self) -> bool:
        return not self.reasons

    @property
    def generator_per_core(self) -> float:
        cores = self.cpu.get("generator", 0.0)
        return 2 * self.visits / cores if cores > 0 else math.nan

    def row(self) -> str:
        def fmt(values: list[float], f: str = ".0f") -> str:
            return format(statistics.fmean(values), f) if values else "-"

        c = self.cpu
        loss = (
            f"{statistics.fmean(self.loss_bp) / 100:.2f} / {max(self.loss_bp) / 100:.2f}"
            if self.loss_bp
            else "-"
        )
        return (
            f"| {self.mode} | {self.visits} | {p95(self.joins) if self.joins else math.nan:.0f} "
            f"| {p95(self.first_frames) if self.first_frames else math.nan:.0f} | {loss} "
            f"| {fmt(self.fps + self.low_fps, '.1f')} | {fmt(self.kbps)} "
            f"| {c.get('sfu', 0):.2f} | {c.get('generator', 0):.2f} | {c.get('recorder', 0):.2f} "
            f"| {c.get('control_plane', 0):.2f} "
            # SQLite runs inside the control plane and recorder processes: no column of its own.
            f"| {format(c['database'], '.2f') if 'database' in c else '-'} "
            f"| {self.others:.2f} | {c.get('machine', 0):.2f} "
            f"| {self.load} "
            f"| {'pass' if self.passed else 'FAIL: ' + '; '.join(self.reasons)} |"
        )


HEADER = (
    "| mode | visits | p95 join ms | p95 first frame ms | loss % mean / max | recv fps "
    "| recv video kbps | SFU cores | generator cores | recorder cores | control plane cores "
    "| database cores | other processes cores | machine cores | load avg | verdict |\n|"
    + "---|"
    * 16
)


def pin(pid: int, core: int) -> None:
    """Move every thread of `pid` onto `core` (children started later inherit it)."""
    subprocess.run(
        ["taskset", "-a", "-p", "-c", str(core), str(pid)], check=True, capture_output=True
    )


class Progress:
    """One status line per level while it runs: on a terminal rewritten in place every
    second, elsewhere printed every 10 s."""

    def __init__(self, label: str, visits: int, samples: Path, sampler: CpuSampler) -> None:
        self.label, self.visits, self.samples, self.sampler = label, visits, samples, sampler
        self.tty = sys.stderr.isatty()
        self.start = time.monotonic()

    def line(self) -> str:
        counts: dict[str, int] = {}
        failed = 0
        with contextlib.suppress(OSError):
            for raw in self.samples.read_text().splitlines():
                with contextlib.suppress(ValueError):
                    row = json.loads(raw)
                    counts[row["name"]] = counts.get(row["name"], 0) + 1
                    failed += not row["ok"]
        cpu = self.sampler.samples[-1].cores if self.sampler.samples else {}
        return (
            f"{self.label}: {self.visits} visits | {time.monotonic() - self.start:4.0f} s "
            f"| joined {counts.get(JOIN, 0)}/{2 * self.visits} "
            f"| video seen {counts.get(FIRST_FRAME, 0)}/{2 * self.visits} "
            f"| windows {counts.get(LOSS_BP, 0)} | failed {failed} "
            f"| SFU {cpu.get('sfu', 0.0):.2f} generator {cpu.get('generator', 0.0):.2f} "
            f"machine {cpu.get('machine', 0.0):.2f} cores"
        )

    async def run(self) -> None:
        period = 1.0 if self.tty else 10.0
        while True:
            await asyncio.sleep(period)
            if self.tty:
                print("\r\033[K" + self.line(), end="", file=sys.stderr, flush=True)
            else:
                print(self.line(), file=sys.stderr, flush=True)

    def done(self) -> None:
        if self.tty:
            print(file=sys.stderr)


async def run_level(
    ls: LocalStack, visits: int, args: argparse.Namespace, work: Path, *, mode: Mode
) -> Level:
    record = mode.record
    level = Level(mode=mode.name, visits=visits, load=f"{os.getloadavg()[0]:.1f}")
    tag = f"{mode.name.replace(' ', '-')}-{visits}"
    samples_path = work / f"samples-{tag}.jsonl"
    ramp = math.ceil(visits / args.spawn_rate)
    prefix = ["taskset", "-c", str(GENERATOR_CORE)] if args.pin else []
    argv = [
        *prefix,
        sys.executable, "-m", "locust",
        "-f", "loadtests/locustfile.py",
        "--headless", "--only-summary", "--loglevel", "WARNING",
        "-u", str(visits), "-r", str(args.spawn_rate),
        "--run-time", f"{int(ramp + args.hold + 180)}s", "--stop-timeout", "60",
        "--media-agent", args.agent, "--media-timeout", "30",
        "--host", ls.host,
        "--visits-per-user", "1",
        "--hold", str(args.hold), "--stats-window", str(args.window),
        "--media-agents", str(args.media_agents),
        "--media-samples", str(samples_path),
        "--csv", str(work / f"locust-{tag}"), "--html", str(work / f"locust-{tag}.html"),
    ]  # fmt: skip
    if record:
        argv.append("--record")
    if mode.simulcast:
        argv.append("--simulcast")
    env = {**os.environ, "EVR_OFFICER_TOKENS": ls.officer_tokens}
    log_path = work / f"locust-{tag}.log"
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=REPO_ROOT, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
        )
    groups = [
        CpuGroup("sfu", [ls.sfu_pid]),
        CpuGroup("generator", [proc.pid]),
        AgentPythonGroup("agent_python", [proc.pid]),
        # This process serves the control plane; its children are the groups above.
        CpuGroup("control_plane", [os.getpid()], descendants=False),
    ]
    if ls.recorder_pid is not None:
        groups.append(CpuGroup("recorder", [ls.recorder_pid]))
    if ls.database_pid is not None:
        # The PostgreSQL this run started: its own column, never counted as other work.
        groups.append(CpuGroup("database", [ls.database_pid]))
    sampler = CpuSampler(groups)
    sampling = asyncio.create_task(sampler.run())
    progress = Progress(mode.name, visits, samples_path, sampler)
    showing = asyncio.create_task(progress.run())
    try:
        await proc.wait()
    finally:
        for task in (sampling, showing):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        progress.done()
    if not samples_path.exists():
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"Locust recorded nothing at {visits} visits:\n{tail}")
    rows = [json.loads(line) for line in samples_path.read_text().splitlines()]
    read_http_failures(work / f"locust-{tag}_failures.csv", level)
    for row in rows:
        if not row["ok"]:
            low = re.search(r"video at ([\d.]+) fps", row.get("error", ""))
            if row["name"] == VIDEO_FPS and low:
                level.low_fps.append(float(low.group(1)))
            level.failures[row["name"]] = level.failures.get(row["name"], 0) + 1
            error = f"{row['name']}: {row.get('error', '?')}"[:200]
            level.errors[error] = level.errors.get(error, 0) + 1
            continue
        {
            JOIN: level.joins,
            FIRST_FRAME: level.first_frames,
            LOSS_BP: level.loss_bp,
            VIDEO_FPS: level.fps,
            VIDEO_KBPS: level.kbps,
        }.get(row["name"], []).append(row["value"])
    # CPU while every call is up: from the last first frame to the last media window.
    held = [r["t"] for r in rows if r["name"] == LOSS_BP]
    seen = [r["t"] for r in rows if r["name"] == FIRST_FRAME]
    if held and seen:
        level.cpu = sampler.mean(max(seen) + 1, max(held))
    return level


async def run_level_direct(  # noqa: PLR0915 - one level's sequence, read top to bottom
    ls: LocalStack, visits: int, args: argparse.Namespace, *, mode: Mode
) -> Level:
    """One level without the control plane: this run mints each participant a narrow token
    (one room, join only) from the SFU's keys and drives one Go agent itself. It loads the
    SFU exactly as the Locust journey's calls do, without the journey's connection checks
    (which need a Python WebRTC leg per victim) and HTTP calls."""
    level = Level(mode=mode.name, visits=visits, load=f"{os.getloadavg()[0]:.1f}")
    sfu = ls.stack.sfu
    prefix = ["taskset", "-c", str(GENERATOR_CORE)] if args.pin else []
    agent = await AsyncAgent.start(prefix=prefix)
    groups = [
        CpuGroup("sfu", [ls.sfu_pid]),
        CpuGroup("generator", [agent.pid]),
        CpuGroup("control_plane", [os.getpid()], descendants=False),
    ]
    sampler = CpuSampler(groups)
    sampling = asyncio.create_task(sampler.run())
    samples = Path(tempfile.mkstemp(prefix="evr-capacity-", suffix=".jsonl")[1])
    progress = Progress(mode.name, visits, samples, sampler)
    showing = asyncio.create_task(progress.run())

    def note(name: str, value: float, ok: bool = True, error: str = "") -> None:
        with samples.open("a") as f:
            f.write(json.dumps({"t": time.time(), "name": name, "ok": ok}) + "\n")
        if not ok:
            level.failures[name] = level.failures.get(name, 0) + 1
            key = f"{name}: {error}"[:200]
            level.errors[key] = level.errors.get(key, 0) + 1
            return
        {JOIN: level.joins, FIRST_FRAME: level.first_frames, LOSS_BP: level.loss_bp}.get(
            name, []
        ).append(value)

    tag = uuid.uuid4().hex[:6]

    async def visit(v: int) -> list[str]:
        room = f"cap-{tag}-{v}"
        async with lk_api.LiveKitAPI(sfu.url, sfu.api_key, sfu.api_secret) as lk:
            await lk.room.create_room(lk_api.CreateRoomRequest(name=room))
        keys: list[str] = []
        for role in ("officer", "victim"):
            key, identity = f"{v}:{role}", f"{role}-{tag}-{v}"
            token = (
                lk_api.AccessToken(sfu.api_key, sfu.api_secret)
                .with_identity(identity)
                .with_grants(lk_api.VideoGrants(room_join=True, room=room))
                .to_jwt()
            )
            args_ = {
                "participant": key,
                "url": sfu.ws_url,
                "token": token,
                "height": 540,
                "simulcast": mode.simulcast,
                "timeout": 30,
            }
            try:
                joined = await agent.call("join", args_, timeout=70)
            except AsyncAgentError as exc:
                note(JOIN, 0, ok=False, error=str(exc))
                return keys
            note(JOIN, joined["join_s"] * 1000)
            keys.append(key)
        for key, other, who in ((keys[0], keys[1], "victim"), (keys[1], keys[0], "officer")):
            try:
                seen = await agent.call(
                    "first_frame",
                    {
                        "participant": key,
                        "remote": f"{who}-{tag}-{v}",
                        "since": other,
                        "timeout": 30,
                    },
                    timeout=40,
                )
                note(FIRST_FRAME, seen["first_frame_s"] * 1000)
            except AsyncAgentError as exc:
                note(FIRST_FRAME, 0, ok=False, error=str(exc))
        return keys

    try:
        tasks = []
        for v in range(visits):
            tasks.append(asyncio.create_task(visit(v)))
            await asyncio.sleep(1 / args.spawn_rate)
        keys = [k for ks in await asyncio.gather(*tasks) for k in ks]
        held_from = time.time()
        held = 0.0
        while held < args.hold and keys:
            window = min(args.window, args.hold - held)
            results = await asyncio.gather(
                *(
                    agent.call(
                        "measure", {"participant": k, "seconds": window}, timeout=window + 30
                    )
                    for k in keys
                ),
                return_exceptions=True,
            )
            for r in results:
                if isinstance(r, BaseException):
                    note(LOSS_BP, 0, ok=False, error=str(r))
                elif r["packets"] == 0:
                    note(LOSS_BP, 0, ok=False, error="no RTP packets received")
                else:
                    note(LOSS_BP, r["loss_fraction"] * 10_000)
                    level.fps.append(r["video_fps"])
                    level.kbps.append(r["video_kbps"])
            held += window
        level.cpu = sampler.mean(held_from + 1, time.time())
    finally:
        for task in (sampling, showing):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        progress.done()
        await agent.close(timeout=60)
        await asyncio.to_thread(samples.unlink, missing_ok=True)
    return level


def read_http_failures(path: Path, level: Level) -> None:
    """Control-plane failures from Locust's failures CSV (media ones come from the samples)."""
    if not path.exists():
        return
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["Method"] == MEDIA:
                continue
            count = int(row["Occurrences"])
            level.http_failures += count
            error = f"{row['Method']} {row['Name']}: {row['Error']}"[:200]
            level.errors[error] = level.errors.get(error, 0) + count


def bottleneck(level: Level, ncpu: int) -> str:
    c = level.cpu
    machine = c.get("machine", 0.0)
    ours = {k: c.get(k, 0.0) for k in ("sfu", "generator", "recorder", "database") if k in c}
    others = level.others
    if not ours:
        return "no CPU figures: no call was ever held at this level."
    busiest = max(ours, key=lambda k: ours[k])
    share = ", ".join(f"{k} {v:.2f}" for k, v in ours.items())
    if machine / ncpu >= SATURATED:
        return (
            f"CPU-bound: the machine was {100 * machine / ncpu:.0f} % busy ({share} cores; "
            f"other processes on this shared machine {others:.2f}). The busiest is the "
            f"**{'load generator' if busiest == 'generator' else busiest}**."
        )
    suspect = "recorder" if "recorder" in ours else "SFU or the network path"
    return (
        f"Not CPU-bound (machine {100 * machine / ncpu:.0f} % busy; {share} cores; others "
        f"{others:.2f}): the failure ({'; '.join(level.reasons)}) points at the {suspect}."
    )


async def lk_load_test(ls: LocalStack, args: argparse.Namespace) -> str:
    """Run livekit-cli's own load test against the same SFU; return a report paragraph."""
    if not LK.exists():
        return f"`lk` is not built at {LK.relative_to(REPO_ROOT)} (see BENCHMARKS.md for why)."
    sfu = ls.stack.sfu
    pubs = args.lk_publishers
    # The SFU's profile does not auto-create rooms (the control plane does): make lk's.
    async with lk_api.LiveKitAPI(sfu.url, sfu.api_key, sfu.api_secret) as client:
        await client.room.create_room(lk_api.CreateRoomRequest(name="capacity-lk"))
    argv = [
        str(LK), "load-test",
        "--url", sfu.ws_url, "--api-key", sfu.api_key, "--api-secret", sfu.api_secret,
        "--room", "capacity-lk", "--video-publishers", str(pubs), "--subscribers", str(pubs),
        "--duration", f"{int(args.hold)}s", "--no-simulcast", "--video-resolution", "medium",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    sampler = CpuSampler([CpuGroup("lk", [proc.pid]), CpuGroup("sfu", [ls.sfu_pid])])
    sampling = asyncio.create_task(sampler.run())
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), args.hold + 120)
    finally:
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
    text = out.decode(errors="replace")
    cpu = sampler.mean(0, math.inf)
    lk_cores = cpu.get("lk", 0.0)
    per_core = (2 * pubs) / lk_cores if lk_cores > 0 else math.nan
    shown = "\n".join(text.strip().splitlines()[-25:])
    secrets = (sfu.api_secret, sfu.api_key)
    cmd = shlex.join([a if a not in secrets else "..." for a in argv])
    total = re.search(r"Total\W+(\d+)/(\d+)", text)
    subscribed = int(total.group(1)) if total else 0
    if subscribed == 0:
        verdict = (
            "No subscriber received a single track: the media lk publishes are embedded in "
            "its module, and the published module carries them as Git LFS pointers (130-byte "
            "text files), so its publishers send nothing. Its per-core figure therefore counts "
            "signalling and idle peer connections only and is not comparable with ours."
        )
    else:
        verdict = f"{subscribed} tracks subscribed."
    return (
        f"`{cmd}` exited {proc.returncode}; lk used {lk_cores:.2f} cores for {2 * pubs} "
        f"testers ({per_core:.0f} per core), the SFU {cpu.get('sfu', 0):.2f} cores. "
        f"{verdict}\n\n```\n{shown}\n```"
    )


async def run(args: argparse.Namespace) -> str:
    ncpu = psutil.cpu_count() or 1
    levels = [int(v) for v in args.levels.split(",")]
    modes = [MODES[m] for m in args.modes.split(",")]
    out: list[Level] = []
    notes: list[str] = []
    lk_report = ""
    if args.pin:
        # The control plane serves from this process: it shares the generator's core.
        pin(os.getpid(), GENERATOR_CORE)
    with tempfile.TemporaryDirectory(prefix="evr-capacity-") as tmp:
        for i, mode in enumerate(modes):
            work = Path(tmp) / f"mode{i}"
            work.mkdir()
            try:
                async with local_stack(
                    work,
                    tag="capacity",
                    recorder=mode.record,
                    postgres=args.postgres,
                    sfu_options={"log_level": args.sfu_log_level, "config_patch": args.sfu_set},
                ) as ls:
                    if args.pin:
                        pin(ls.sfu_pid, SFU_CORE)
                        if ls.recorder_pid is not None:
                            pin(ls.recorder_pid, GENERATOR_CORE)
                    quota = contextlib.ExitStack()
                    if args.sfu_cores is not None:
                        quota.enter_context(cpu_quota(ls.sfu_pid, args.sfu_cores))
                    with quota:
                        await _levels(ls, levels, args=args, work=work, mode=mode, out=out)
                    if i == 0 and not args.no_lk:
                        lk_report = await lk_load_test(ls, args)
            except RuntimeError as exc:  # e.g. the recorder would not start
                notes.append(f"{mode.name}: not run: {exc}")
    if args.plot:
        plot(out, args.plot, sfu_cores=args.sfu_cores)
    return render(out, notes, lk_report, args, ncpu)


async def _levels(
    ls: LocalStack,
    levels: list[int],
    *,
    args: argparse.Namespace,
    work: Path,
    mode: Mode,
    out: list[Level],
) -> None:
    for n in levels:
        if args.direct:
            level = await run_level_direct(ls, n, args, mode=mode)
        else:
            level = await run_level(ls, n, args, work, mode=mode)
        out.append(level)
        print(level.row(), file=sys.stderr)
        if not level.passed and not args.keep_going:
            break


def plot(out: list[Level], path: Path, *, sfu_cores: float | None = None) -> None:
    """Visits against SFU cores, p95 join and loss, one line per mode, into a PNG."""
    import matplotlib  # noqa: PLC0415 - only a run that plots needs it

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    panels: tuple[tuple[str, Callable[[Level], float], float | None], ...] = (
        ("livekit-server CPU (cores)", lambda lv: lv.cpu.get("sfu", math.nan), None),
        ("p95 join (ms)", lambda lv: p95(lv.joins) if lv.joins else math.nan, JOIN_P95_LIMIT_MS),
        (
            "packet loss, mean (%)",
            lambda lv: statistics.fmean(lv.loss_bp) / 100 if lv.loss_bp else math.nan,
            LOSS_LIMIT_BP / 100,
        ),
    )
    for ax, (title, value, limit) in zip(axes, panels, strict=True):
        for mode in dict.fromkeys(lv.mode for lv in out):
            ran = [lv for lv in out if lv.mode == mode]
            ax.plot([lv.visits for lv in ran], [value(lv) for lv in ran], marker="o", label=mode)
            for lv in ran:
                if not lv.passed:
                    ax.plot([lv.visits], [value(lv)], marker="x", color="red", markersize=12)
        if limit is not None:
            ax.axhline(limit, color="grey", linestyle="--", linewidth=1, label="limit")
        ax.set_title(title)
        ax.set_ylim(bottom=0)
        ax.set_xlabel("concurrent 1:1 visits")
        ax.grid(alpha=0.3)
    axes[0].legend()
    held = "on one core" if sfu_cores is None else f"held to {sfu_cores:g} of a core"
    fig.suptitle(f"EVR capacity: livekit-server {held} (red x: level over the limit)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def render(
    out: list[Level], notes: list[str], lk_report: str, args: argparse.Namespace, ncpu: int
) -> str:
    lines = [
        f"Machine: {ncpu} cores ({psutil.virtual_memory().total / 2**30:.0f} GiB), shared with "
        "other engineers' test runs; CPU of 'other processes' is what this run did not start "
        "(the PostgreSQL it starts has its own 'database' column).",
        f"Database: {'PostgreSQL' if args.postgres else 'SQLite'}. Media: the {args.agent} "
        f"agent. Each level: N visits started {args.spawn_rate:g} a second, each held "
        f"{args.hold:g} s after both saw video, media windows of {args.window:g} s; "
        "960x540@25 ~800 kbps VP8 + Opus each way (simulcast: 320x180 and 640x360 layers too).",
        (
            f"Pinned: livekit-server on core {SFU_CORE}; Locust, the agents, the control plane "
            f"and the recorder on core {GENERATOR_CORE} (other engineers' work runs on both)."
            if args.pin
            else "Not pinned: every process may run on any core."
        ),
        f"livekit-server log level {args.sfu_log_level}"
        + "".join(f"; `{k}: {json.dumps(v)}`" for k, v in args.sfu_set.items())
        + ".",
        *(
            [
                f"livekit-server held to {args.sfu_cores:g} of a core by a CFS quota "
                f"({args.sfu_cores * PERIOD_US / 1000:g} ms of CPU every {PERIOD_US / 1000:g} ms)."
            ]
            if args.sfu_cores is not None
            else []
        ),
        "",
        HEADER,
        *(level.row() for level in out),
        "",
    ]
    for mode in dict.fromkeys(lv.mode for lv in out):
        ran = [lv for lv in out if lv.mode == mode]
        if not ran:
            continue
        passed = [lv for lv in ran if lv.passed]
        carried = passed[-1].visits if passed else 0
        limiting = next((lv for lv in ran if not lv.passed), ran[-1])
        lines.append(f"- **{mode}: {carried} concurrent visits** within the limit.")
        if args.sfu_cores is not None and carried:
            lines.append(
                f"  - With the SFU held to {args.sfu_cores:g} of a core: "
                f"**{carried / args.sfu_cores:.0f} visits per SFU core** at saturation "
                f"({carried} carried, {limiting.visits} not)."
                if not limiting.passed
                else f"  - With the SFU held to {args.sfu_cores:g} of a core every level "
                f"passed: at least {carried / args.sfu_cores:.0f} visits per SFU core."
            )
        if limiting.passed:
            lines.append(f"  - Every level passed, up to {limiting.visits} visits.")
        else:
            lines.append(f"  - At {limiting.visits} visits: {bottleneck(limiting, ncpu)}")
        if limiting.errors:
            top = sorted(limiting.errors.items(), key=lambda kv: -kv[1])[:4]
            lines.append("  - Failures there: " + "; ".join(f"`{e}` x{n}" for e, n in top))
        best = passed[-1] if passed else ran[0]
        sfu = best.cpu.get("sfu", 0.0)
        if sfu > 0 and args.agent == "go":
            over = "" if best.passed else " (a level over the limit)"
            lines.append(
                f"  - At {best.visits} visits{over} the SFU used {sfu:.2f} cores: "
                f"{sfu / best.visits:.4f} cores per visit, {best.visits / sfu:.0f} visits per "
                f"SFU core at that load. The generator used {best.cpu.get('generator', 0.0):.2f}"
                f" cores ({best.cpu.get('generator', 0.0) / (2 * best.visits):.4f} per "
                "participant"
                + (", the Go agent alone)." if args.direct else ", Locust and checks included).")
            )
        elif sfu > 0:
            python = best.cpu.get("agent_python", 0.0)
            lines.append(
                f"  - Generator: {best.generator_per_core:.1f} participants per core at "
                f"{best.visits} visits, of which the agents' Python threads used {python:.2f} "
                f"of {best.cpu.get('generator', 0.0):.2f} cores (the rest is native codec and "
                f"network threads). SFU: {sfu / best.visits:.3f} cores per visit, i.e. "
                f"~{best.visits / sfu:.0f} visits per core if the SFU had a core to itself "
                "(an extrapolation from this level, not a measurement)."
            )
    lines += [f"- {n}" for n in notes]
    if lk_report:
        lines += ["", "livekit-cli `lk load-test` on the same SFU:", "", lk_report]
    return "\n".join(lines)


def _yaml_setting(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key or any(not part for part in key.split(".")):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE with a dotted key, got {text!r}")
    return key, yaml.safe_load(value)


def main() -> None:
    parser = argparse.ArgumentParser(description="EVR capacity report (a benchmark)")
    parser.add_argument(
        "--levels", default="10,20,40,60,80,100,120,150", help="visit counts to try"
    )
    parser.add_argument("--agent", choices=("go", "python"), default="go", help="media agent")
    parser.add_argument(
        "--modes",
        default="single,simulcast",
        help=f"comma-separated, in order: {', '.join(MODES)}",
    )
    parser.add_argument("--spawn-rate", type=float, default=2.0, help="new visits a second")
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="do not pin the SFU and generator"
    )
    parser.add_argument("--plot", type=Path, help="draw the curves into this PNG")
    parser.add_argument(
        "--keep-going",
        action="store_true",
        help="play every level even after one fails (the curves then show the whole range)",
    )
    parser.add_argument(
        "--direct",
        action="store_true",
        help="Go agent only: skip the control plane; tokens minted here, no connection checks",
    )
    parser.add_argument("--hold", type=float, default=30.0, help="seconds each call is held")
    parser.add_argument("--window", type=float, default=5.0, help="media window seconds")
    parser.add_argument("--media-agents", type=int, default=1)
    parser.add_argument("--lk-publishers", type=int, default=4)
    parser.add_argument("--no-lk", action="store_true", help="skip the lk load-test comparison")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="run the control plane (and recorder) on PostgreSQL instead of SQLite",
    )
    parser.add_argument(
        "--sfu-cores",
        type=float,
        help="hold livekit-server to this fraction of a core (a CFS quota) so that it, not the "
        "generator, saturates first; visits per SFU core = visits carried / this",
    )
    parser.add_argument(
        "--sfu-log-level",
        choices=("debug", "info", "warn"),
        default="info",
        help="livekit-server's log level (info, as the production profiles; the test suite "
        "runs it at debug)",
    )
    parser.add_argument(
        "--sfu-set",
        type=_yaml_setting,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set a key of livekit-server's YAML config (dotted, value as YAML), e.g. "
        "rtc.congestion_control.enabled=false; repeatable",
    )
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args()
    args.sfu_set = dict(args.sfu_set)
    if args.sfu_cores is not None and not 0 < args.sfu_cores <= 64:
        parser.error("--sfu-cores: a fraction of a core above 0, e.g. 0.25")
    if any(m not in MODES for m in args.modes.split(",")):
        parser.error(f"--modes: choose from {', '.join(MODES)}")
    if args.pin and (psutil.cpu_count() or 1) < 2:
        parser.error("pinning needs 2 cores; pass --no-pin")
    report = run_cancellable(run(args))
    command = "sudo .venv/bin/python -m loadtests.capacity " + shlex.join(sys.argv[1:])
    text = f"Command: `{command}`\n\n{report}\n"
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
