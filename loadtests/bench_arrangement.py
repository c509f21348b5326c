"""Benchmark: does running the media under Locust distort the timings it reports?

In one run, against one local stack, the same visit is played alternately

  * by a plain asyncio script: a child process that drives the control plane with aiohttp
    and the media with `loadtests.agent.Agent` in its own loop (no gevent, no pipe, no
    Locust); and
  * by Locust: `locust -f loadtests/locustfile.py` headless, one user, whose media go
    through the agent subprocess and the gevent bridge,

and the join time and time to the first remote video frame are compared (medians, p95 and
the Locust/plain ratio). Blocks alternate so that drifting machine load hits both sides.

    sudo .venv/bin/python -m loadtests.bench_arrangement --rounds 3 --visits 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from loadtests.agent import Agent
from loadtests.localstack import LocalStack, local_stack, run_cancellable
from loadtests.names import ELIGIBILITY, FIRST_FRAME, JOIN, OFFICER_RGB, VICTIM_RGB

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, kw_only=True)
class Media:
    width: int = 960
    height: int = 540
    fps: int = 25
    kbps: int = 800
    noise: int = 12
    hold: float = 3.0


@dataclass
class Samples:
    join_ms: list[float] = field(default_factory=list)
    first_frame_ms: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


class ControlPlane:
    """The visit's HTTP steps, as the Locust user makes them, with aiohttp."""

    def __init__(self, session: aiohttp.ClientSession, base: str, officer: str) -> None:
        self.session, self.base, self.officer = session, base, officer

    async def call(
        self, method: str, path: str, *, bearer: str | None = "", json: Any = None
    ) -> Any:
        """As the officer by default; with `bearer` a participant session; None: no auth."""
        token = self.officer if bearer == "" else bearer
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(method, self.base + path, headers=headers, json=json) as r:
            if r.status >= 300:
                raise RuntimeError(f"{method} {path}: {r.status} {await r.text()}")
            return await r.json()

    async def ready_visit(self, agent: Agent) -> tuple[str, Any, Any]:
        """A started visit, the victim's connection check done: (id, officer's and victim's
        tokens)."""
        visit = await self.call(
            "POST",
            "/api/v1/visits",
            json={
                "crime_reference": "BENCH/1",
                "scheduled_at": "2026-11-28T14:00:00Z",
                "contact": {"channel": "sms", "value": "+447700900123"},
            },
        )
        base = f"/api/v1/visits/{visit['id']}"
        await self.call("POST", f"{base}/choice", json={"choice": "video"})
        for item in ELIGIBILITY:
            await self.call("PUT", f"{base}/eligibility/{item}", json={"value": True})
        link = await self.call("POST", f"{base}/links", json={})
        joined = await self.call(
            "POST", "/api/v1/join/" + link["url"].rsplit("/", 1)[1], bearer=None
        )
        await self.call("POST", f"{base}/start")
        officer = await self.call("POST", f"{base}/token")
        await agent.check({"api_base": self.base, "session": joined["session"]})
        victim = await self.call("POST", "/api/v1/participant/token", bearer=joined["session"])
        return str(visit["id"]), officer, victim


class SampleFile:
    """Media samples as JSON lines, the format of the Locust side's --media-samples."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def add(self, name: str, value: float, *, error: str | None = None) -> None:
        row: dict[str, Any] = {"t": time.time(), "name": name, "value": value, "ok": not error}
        if error:
            row["error"] = error
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


async def plain_visit(cp: ControlPlane, agent: Agent, media: Media, out: SampleFile) -> None:
    try:
        vid, officer_tok, victim_tok = await cp.ready_visit(agent)
    except Exception as exc:  # counted, as Locust counts a failed step
        out.add(JOIN, 0, error=f"could not start: {exc}")
        return
    common = {
        "width": media.width,
        "height": media.height,
        "fps": media.fps,
        "max_bitrate": media.kbps * 1000,
        "noise": media.noise,
    }
    keys = (f"{vid}:officer", f"{vid}:victim")
    step = JOIN
    try:
        ids = []
        for key, tok, rgb in zip(
            keys, (officer_tok, victim_tok), (OFFICER_RGB, VICTIM_RGB), strict=True
        ):
            r = await agent.join(
                {"participant": key, "url": tok["url"], "token": tok["token"], "rgb": rgb, **common}
            )
            out.add(JOIN, r["join_s"] * 1000)
            ids.append(r["identity"])
        step = FIRST_FRAME
        frames = await asyncio.gather(
            agent.first_frame({"participant": keys[0], "remote": ids[1], "since": keys[1]}),
            agent.first_frame({"participant": keys[1], "remote": ids[0], "since": keys[0]}),
        )
        for f in frames:
            out.add(FIRST_FRAME, f["first_frame_s"] * 1000)
        step = "measure"
        await asyncio.gather(
            *(agent.measure({"participant": k, "seconds": media.hold}) for k in keys)
        )
    except Exception as exc:  # a failed step is recorded, as the Locust side records it
        out.add(step, 0, error=str(exc))
    finally:
        await cp.call("POST", f"/api/v1/visits/{vid}/end", json={"reason": "benchmark"})
        for key in keys:
            await agent.leave({"participant": key})


async def plain_block(host: str, token: str, media: Media, visits: int, out: SampleFile) -> None:
    """The plain side: run in a child process of its own (`plain` subcommand), like the
    Locust side, so neither shares a process with the control plane."""
    if "gevent" in sys.modules:
        raise RuntimeError("the plain side must run in a process that never imported gevent")
    agent = Agent()
    async with aiohttp.ClientSession() as session:
        cp = ControlPlane(session, host, token)
        for _ in range(visits):
            await plain_visit(cp, agent, media, out)
            await asyncio.sleep(1)  # Locust's wait_time between visits
    await agent.close()


def media_args(media: Media) -> list[str]:
    return [
        "--hold", str(media.hold),
        "--video-width", str(media.width), "--video-height", str(media.height),
        "--video-fps", str(media.fps), "--video-kbps", str(media.kbps),
        "--video-noise", str(media.noise),
    ]  # fmt: skip


async def child(argv: list[str], env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=REPO_ROOT, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
        )
        await proc.wait()


async def plain_side(ls: LocalStack, media: Media, visits: int, samples: Path) -> None:
    token = ls.officer_tokens.split(",")[0]
    argv = [sys.executable, "-m", "loadtests.bench_arrangement", "plain", "--host", ls.host]
    argv += ["--visits", str(visits), "--samples", str(samples), *media_args(media)]
    env = {**os.environ, "EVR_OFFICER_TOKENS": token}
    await child(argv, env, samples.with_suffix(".log"))


async def locust_side(ls: LocalStack, media: Media, visits: int, samples: Path) -> None:
    argv = [
        sys.executable, "-m", "locust",
        "-f", "loadtests/locustfile.py",
        "--headless", "--only-summary", "--loglevel", "WARNING",
        "-u", "1", "-r", "1",
        "--run-time", f"{int(visits * (media.hold + 30))}s",
        "--host", ls.host,
        "--visits-per-user", str(visits),
        "--stats-window", str(media.hold),
        "--media-samples", str(samples),
        *media_args(media),
    ]  # fmt: skip
    env = {**os.environ, "EVR_OFFICER_TOKENS": ls.officer_tokens.split(",")[0]}
    await child(argv, env, samples.with_suffix(".log"))


def read_samples(path: Path, out: Samples) -> None:
    if not path.exists():
        return
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if not row["ok"]:
            out.failures[row["name"]] = out.failures.get(row["name"], 0) + 1
            out.errors.append(f"{row['name']}: {row.get('error', '?')}")
        elif row["name"] == JOIN:
            out.join_ms.append(row["value"])
        elif row["name"] == FIRST_FRAME:
            out.first_frame_ms.append(row["value"])


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1] if len(values) > 1 else values[0]


def report(
    plain: Samples, loc: Samples, media: Media, *, rounds: int, visits: int, load: str
) -> str:
    lines = [
        f"Each side: {rounds} blocks x {visits} sequential visits (2 participants each), "
        f"{media.width}x{media.height}@{media.fps} {media.kbps} kbps + audio, "
        f"hold {media.hold:g} s; "
        f"blocks alternated. Load average before/after: {load}.",
        "",
        "| metric | side | n | median ms | p95 ms | failures |",
        "|---|---|---|---|---|---|",
    ]
    ratios = []
    for label, attr in ((JOIN, "join_ms"), (FIRST_FRAME, "first_frame_ms")):
        a, b = getattr(plain, attr), getattr(loc, attr)
        for side, vals, s in (("plain asyncio", a, plain), ("Locust + agent", b, loc)):
            if vals:
                lines.append(
                    f"| {label} | {side} | {len(vals)} | {statistics.median(vals):.0f} "
                    f"| {p95(vals):.0f} | {s.failures.get(label, 0)} |"
                )
        if a and b:
            median_ratio = statistics.median(b) / statistics.median(a)
            ratios.append(
                f"- {label}: Locust/plain median ratio {median_ratio:.2f}, "
                f"p95 ratio {p95(b) / p95(a):.2f}"
            )
    errors = [f"- {side}: {e}" for side, x in (("plain", plain), ("Locust", loc)) for e in x.errors]
    return "\n".join([*lines, "", *ratios, *(["", "Failures:", *errors] if errors else [])])


async def run(args: argparse.Namespace) -> str:
    media = Media(hold=args.hold)
    plain, loc = Samples(), Samples()
    before = f"{os.getloadavg()[0]:.1f}"
    with tempfile.TemporaryDirectory(prefix="evr-bench-") as tmp:
        work = Path(tmp)
        async with local_stack(work, tag="bench") as ls:
            for r in range(args.rounds):
                print(f"round {r + 1}/{args.rounds}: plain asyncio", file=sys.stderr)
                await plain_side(ls, media, args.visits, work / f"plain-{r}.jsonl")
                read_samples(work / f"plain-{r}.jsonl", plain)
                print(f"round {r + 1}/{args.rounds}: locust", file=sys.stderr)
                await locust_side(ls, media, args.visits, work / f"locust-{r}.jsonl")
                read_samples(work / f"locust-{r}.jsonl", loc)
    after = f"{os.getloadavg()[0]:.1f}"
    load = f"{before}/{after}"
    return report(plain, loc, media, rounds=args.rounds, visits=args.visits, load=load)


def main() -> None:
    parser = argparse.ArgumentParser(description="Locust arrangement vs plain asyncio timings")
    parser.add_argument("side", nargs="?", choices=("plain",), help="(internal) one plain block")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--visits", type=int, default=4, help="visits per block")
    parser.add_argument("--hold", type=float, default=3.0)
    # For the plain child, the same media options as the Locust side.
    parser.add_argument("--host")
    parser.add_argument("--samples", type=Path)
    parser.add_argument("--video-width", type=int, default=960)
    parser.add_argument("--video-height", type=int, default=540)
    parser.add_argument("--video-fps", type=int, default=25)
    parser.add_argument("--video-kbps", type=int, default=800)
    parser.add_argument("--video-noise", type=int, default=12)
    args = parser.parse_args()
    if args.side == "plain":
        media = Media(
            width=args.video_width,
            height=args.video_height,
            fps=args.video_fps,
            kbps=args.video_kbps,
            noise=args.video_noise,
            hold=args.hold,
        )
        token = os.environ["EVR_OFFICER_TOKENS"]
        asyncio.run(plain_block(args.host, token, media, args.visits, SampleFile(args.samples)))
        return
    print(run_cancellable(run(args)))


if __name__ == "__main__":
    main()
