"""Capacity report: how many concurrent 1:1 visits does one machine carry, and what breaks
first: the SFU, the load generator, or the recorder?

For each mode (without, then with the recorder) it starts a whole local stack (SFU in a
namespace of its own, control plane, and `evr recorder` when asked), then plays growing
numbers of concurrent visits with the Locust users (`loadtests/locustfile.py`, headless,
one new visit a second, each held for --hold seconds with 540p video and audio each way),
until a level fails the limit:

  * p95 join time <= 2 s (both participants' joins, all visits of the level), and
  * packet loss <= 1 % (mean over every received-media window), and
  * every join and first frame succeeded.

While a level holds its calls, it samples the CPU of each process group (livekit-server;
the generator: Locust and its media agents; the recorder; the control plane) and of the
whole machine, so the report can say which one ran out. It then runs `lk load-test`
(livekit-cli) against the same SFU, if `.tools/gobin/lk` exists, to compare the generators'
participants per core.

    sudo .venv/bin/python -m loadtests.capacity --out /tmp/capacity.md

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
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from livekit import api as lk_api

from loadtests.localstack import LocalStack, local_stack, run_cancellable
from loadtests.names import FIRST_FRAME, JOIN, LOSS_BP, MEDIA, VIDEO_FPS, VIDEO_KBPS

REPO_ROOT = Path(__file__).resolve().parent.parent
LK = REPO_ROOT / ".tools" / "gobin" / "lk"
JOIN_P95_LIMIT_MS = 2000.0
LOSS_LIMIT_BP = 100.0  # 1 %
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


@dataclass
class Level:
    mode: str
    visits: int
    joins: list[float] = field(default_factory=list)
    first_frames: list[float] = field(default_factory=list)
    loss_bp: list[float] = field(default_factory=list)
    fps: list[float] = field(default_factory=list)
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
        for name in (JOIN, FIRST_FRAME, LOSS_BP):
            if self.failures.get(name):
                out.append(f"{self.failures[name]} failed '{name}'")
        if len(self.first_frames) < 2 * self.visits:
            out.append(f"{len(self.first_frames)}/{2 * self.visits} saw the other's video")
        if self.http_failures:
            out.append(f"{self.http_failures} failed control-plane requests")
        return out

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
            f"| {fmt(self.fps, '.1f')} | {fmt(self.kbps)} "
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


async def run_level(
    ls: LocalStack, visits: int, args: argparse.Namespace, work: Path, *, record: bool
) -> Level:
    mode = "with recorder" if record else "without recorder"
    level = Level(mode=mode, visits=visits, load=f"{os.getloadavg()[0]:.1f}")
    tag = f"{'rec' if record else 'norec'}-{visits}"
    samples_path = work / f"samples-{tag}.jsonl"
    argv = [
        sys.executable, "-m", "locust",
        "-f", "loadtests/locustfile.py",
        "--headless", "--only-summary", "--loglevel", "WARNING",
        "-u", str(visits), "-r", "1",
        "--run-time", f"{int(visits + args.hold + 120)}s", "--stop-timeout", "30",
        "--host", ls.host,
        "--visits-per-user", "1",
        "--hold", str(args.hold), "--stats-window", str(args.window),
        "--media-agents", str(args.media_agents),
        "--media-samples", str(samples_path),
        "--csv", str(work / f"locust-{tag}"), "--html", str(work / f"locust-{tag}.html"),
    ]  # fmt: skip
    if record:
        argv.append("--record")
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
    try:
        await proc.wait()
    finally:
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
    if not samples_path.exists():
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
        raise RuntimeError(f"Locust recorded nothing at {visits} visits:\n{tail}")
    rows = [json.loads(line) for line in samples_path.read_text().splitlines()]
    read_http_failures(work / f"locust-{tag}_failures.csv", level)
    for row in rows:
        if not row["ok"]:
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
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.recorder]
    out: list[Level] = []
    notes: list[str] = []
    lk_report = ""
    with tempfile.TemporaryDirectory(prefix="evr-capacity-") as tmp:
        for record in modes:
            work = Path(tmp) / ("rec" if record else "norec")
            work.mkdir()
            try:
                async with local_stack(
                    work, tag="capacity", recorder=record, postgres=args.postgres
                ) as ls:
                    for n in levels:
                        print(
                            f"{'with' if record else 'without'} recorder: {n} visits",
                            file=sys.stderr,
                        )
                        level = await run_level(ls, n, args, work, record=record)
                        out.append(level)
                        print(level.row(), file=sys.stderr)
                        if not level.passed:
                            break
                    if not record and not args.no_lk:
                        lk_report = await lk_load_test(ls, args)
            except RuntimeError as exc:  # e.g. the recorder would not start
                notes.append(f"{'with' if record else 'without'} recorder: not run: {exc}")
    return render(out, notes, lk_report, args, ncpu)


def render(
    out: list[Level], notes: list[str], lk_report: str, args: argparse.Namespace, ncpu: int
) -> str:
    lines = [
        f"Machine: {ncpu} cores ({psutil.virtual_memory().total / 2**30:.0f} GiB), shared with "
        "other engineers' test runs; CPU of 'other processes' is what this run did not start "
        "(the PostgreSQL it starts has its own 'database' column).",
        f"Database: {'PostgreSQL' if args.postgres else 'SQLite'}. "
        f"Each level: N visits started one a second, each held {args.hold:g} s after both saw "
        f"video, media windows of {args.window:g} s; 960x540@25 800 kbps VP8 + Opus each way.",
        "",
        HEADER,
        *(level.row() for level in out),
        "",
    ]
    for mode in ("without recorder", "with recorder"):
        ran = [lv for lv in out if lv.mode == mode]
        if not ran:
            continue
        passed = [lv for lv in ran if lv.passed]
        carried = passed[-1].visits if passed else 0
        limiting = next((lv for lv in ran if not lv.passed), ran[-1])
        lines.append(f"- **{mode}: {carried} concurrent visits** within the limit.")
        lines.append(f"  - At {limiting.visits} visits: {bottleneck(limiting, ncpu)}")
        if limiting.errors:
            top = sorted(limiting.errors.items(), key=lambda kv: -kv[1])[:4]
            lines.append("  - Failures there: " + "; ".join(f"`{e}` x{n}" for e, n in top))
        best = passed[-1] if passed else ran[0]
        sfu = best.cpu.get("sfu", 0.0)
        if sfu > 0:
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


def main() -> None:
    parser = argparse.ArgumentParser(description="EVR capacity report (a benchmark)")
    parser.add_argument("--levels", default="1,2,3,4,6,8,12,16", help="visit counts to try")
    parser.add_argument("--hold", type=float, default=30.0, help="seconds each call is held")
    parser.add_argument("--window", type=float, default=5.0, help="media window seconds")
    parser.add_argument("--media-agents", type=int, default=1)
    parser.add_argument("--recorder", choices=("off", "on", "both"), default="both")
    parser.add_argument("--lk-publishers", type=int, default=4)
    parser.add_argument("--no-lk", action="store_true", help="skip the lk load-test comparison")
    parser.add_argument(
        "--postgres",
        action="store_true",
        help="run the control plane (and recorder) on PostgreSQL instead of SQLite",
    )
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args()
    report = run_cancellable(run(args))
    command = "sudo .venv/bin/python -m loadtests.capacity " + shlex.join(sys.argv[1:])
    text = f"Command: `{command}`\n\n{report}\n"
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
