"""CPU per participant of the two media generators, side by side in one run: the Go agent
(loadtests/mediaagent: pre-encoded files, RTP counted without decoding) and the Python SDK
agent (loadtests/agent.py: real VP8 encode and decode).

Each round holds `--go-visits` 1:1 visits in one Go agent, then `--python-visits` in one
Python agent, against the same livekit-server (in a test namespace), 540p VP8 + Opus each way,
and samples the agent process's CPU (all its threads) over `--hold` seconds once every
participant receives video. Rounds alternate so that the machine's background load falls on
both sides alike.

    sudo .venv/bin/python -m loadtests.generator_cost --rounds 2

A benchmark, not a test: figures depend on the machine and what else runs on it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import shlex
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
from livekit import api

from loadtests.asyncagent import AsyncAgent
from loadtests.localstack import run_cancellable
from loadtests.names import OFFICER_RGB, VICTIM_RGB
from tests.support.netns import create_testnet, destroy_testnet
from tests.support.sfu import RunningSfu, start_sfu, stop_sfu


@dataclass
class Sample:
    kind: str
    participants: int
    agent_cores: float
    sfu_cores: float
    recv_fps: float
    loss: float

    @property
    def per_participant(self) -> float:
        return self.agent_cores / self.participants


def _token(sfu: RunningSfu, room: str, identity: str) -> str:
    return (
        api.AccessToken(sfu.api_key, sfu.api_secret)
        .with_identity(identity)
        .with_grants(api.VideoGrants(room_join=True, room=room))
        .with_ttl(dt.timedelta(minutes=10))
        .to_jwt()
    )


def _cpu(pid: int) -> float:
    proc = psutil.Process(pid)
    total = 0.0
    for p in (proc, *proc.children(recursive=True)):
        t = p.cpu_times()
        total += t.user + t.system
    return total


async def hold(sfu: RunningSfu, kind: str, visits: int, seconds: float) -> Sample:
    """Join `visits` 1:1 calls in one agent of `kind`, wait for video both ways, then
    measure the agent's and the SFU's CPU over `seconds`."""
    agent = await AsyncAgent.start(kind=kind)
    try:
        tag = uuid.uuid4().hex[:6]
        keys: list[tuple[str, str, str]] = []  # (participant key, identity, other's key)
        async with api.LiveKitAPI(sfu.url, sfu.api_key, sfu.api_secret) as lk:
            for v in range(visits):
                room = f"cost-{tag}-{v}"
                await lk.room.create_room(api.CreateRoomRequest(name=room))
                for role, other in (("officer", "victim"), ("victim", "officer")):
                    key = f"{v}:{role}"
                    args = {
                        "participant": key,
                        "url": sfu.ws_url,
                        "token": _token(sfu, room, f"{role}-{tag}-{v}"),
                        # The Python agent's encoder settings: LiveKit's h540 preset.
                        "rgb": OFFICER_RGB if role == "officer" else VICTIM_RGB,
                        "width": 960,
                        "height": 540,
                        "fps": 25,
                        "max_bitrate": 800_000,
                        "noise": 12,
                        "timeout": 30,
                    }
                    await agent.call("join", args, timeout=90)
                    keys.append((key, f"{role}-{tag}-{v}", f"{v}:{other}"))
        ids = {key: ident for key, ident, _ in keys}
        await asyncio.gather(
            *(
                agent.call(
                    "first_frame",
                    {"participant": k, "remote": ids[o], "since": o, "timeout": 60},
                    timeout=70,
                )
                for k, _, o in keys
            )
        )
        await asyncio.sleep(2)  # past the joins' own CPU burst
        a0, s0, t0 = _cpu(agent.pid), _cpu(int(sfu.process.pid)), time.monotonic()
        windows = await asyncio.gather(
            *(
                agent.call("measure", {"participant": k, "seconds": seconds}, timeout=seconds + 30)
                for k, _, _ in keys
            )
        )
        a1, s1, t1 = _cpu(agent.pid), _cpu(int(sfu.process.pid)), time.monotonic()
        lost = [w["loss_fraction"] for w in windows]
        return Sample(
            kind=kind,
            participants=len(keys),
            agent_cores=(a1 - a0) / (t1 - t0),
            sfu_cores=(s1 - s0) / (t1 - t0),
            recv_fps=statistics.fmean(w["video_fps"] for w in windows),
            loss=statistics.fmean(lost),
        )
    finally:
        await agent.close()


async def run(args: argparse.Namespace) -> str:
    samples: list[Sample] = []
    net = create_testnet("gencost")
    try:
        with tempfile.TemporaryDirectory(prefix="evr-gencost-") as tmp:
            sfu = start_sfu(
                net=net, webhook_url=f"http://{net.host_ip}:9/livekit/webhook", workdir=Path(tmp)
            )
            try:
                for r in range(args.rounds):
                    for kind, visits in (("go", args.go_visits), ("python", args.python_visits)):
                        print(f"round {r + 1}: {kind} agent, {visits} visits", file=sys.stderr)
                        s = await hold(sfu, kind, visits, args.hold)
                        samples.append(s)
                        print(
                            f"  {s.participants} participants: agent {s.agent_cores:.3f} cores "
                            f"({s.per_participant:.4f}/participant), recv {s.recv_fps:.1f} fps",
                            file=sys.stderr,
                        )
            finally:
                stop_sfu(sfu)
    finally:
        destroy_testnet(net)
    return render(samples, args)


def render(samples: list[Sample], args: argparse.Namespace) -> str:
    lines = [
        "| round | agent | participants | agent cores | cores per participant | SFU cores "
        "| recv fps | loss % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for i, s in enumerate(samples):
        lines.append(
            f"| {i // 2 + 1} | {s.kind} | {s.participants} | {s.agent_cores:.3f} "
            f"| {s.per_participant:.4f} | {s.sfu_cores:.3f} | {s.recv_fps:.1f} "
            f"| {100 * s.loss:.2f} |"
        )
    go = [s.per_participant for s in samples if s.kind == "go"]
    py = [s.per_participant for s in samples if s.kind == "python"]
    if go and py:
        lines += [
            "",
            f"Median cores per participant: Go agent {statistics.median(go):.4f}, Python agent "
            f"{statistics.median(py):.4f}: the Go agent costs "
            f"{statistics.median(go) / statistics.median(py):.3f}x the Python agent "
            f"({statistics.median(py) / statistics.median(go):.0f} times less).",
        ]
    load = os.getloadavg()
    lines.append(f"Load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--go-visits", type=int, default=20)
    parser.add_argument("--python-visits", type=int, default=1)
    parser.add_argument("--hold", type=float, default=20.0, help="seconds measured per side")
    args = parser.parse_args()
    report = run_cancellable(run(args))
    cmd = "sudo .venv/bin/python -m loadtests.generator_cost " + shlex.join(sys.argv[1:])
    print(f"Command: `{cmd}`\n\n{report}")


if __name__ == "__main__":
    main()
