"""`python -m loadtests.agent`: synthetic media participants in a plain asyncio process.

Locust runs on gevent and monkey-patches threading, sockets and selectors; the LiveKit SDK
runs on asyncio and calls back from native (Rust) threads. Rather than let the two share a
process, each Locust process starts agents like this one, which never import gevent, and
drives them over stdin/stdout with one JSON object per line:

    request:  {"id": 7, "op": "join", "args": {...}}
    response: {"id": 7, "ok": true, "result": {...}}   or   {"id": 7, "ok": false, "error": "..."}

Every timing is taken here, with `time.perf_counter()` next to the SDK call it measures, so
the pipe and the gevent side add nothing to a reported figure. Requests run concurrently;
responses come back in completion order. The agent exits, closing every room, at EOF on stdin.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import IO, Any

import aiohttp

from loadtests import rtcstats
from loadtests.media import SyntheticParticipant, camera_frames

log = logging.getLogger("loadtests.agent")

Result = dict[str, Any]


class AgentError(Exception):
    """A request the agent could not carry out; the message goes back to the caller."""


@dataclass(frozen=True, kw_only=True)
class JoinArgs:
    participant: str
    url: str
    token: str
    rgb: tuple[int, int, int]
    tone_hz: float
    width: int
    height: int
    fps: int
    max_bitrate: int
    noise: int
    video: bool
    audio: bool
    timeout: float

    @classmethod
    def parse(cls, args: dict[str, Any]) -> JoinArgs:
        r, g, b = (int(c) for c in args["rgb"])
        return cls(
            participant=str(args["participant"]),
            url=str(args["url"]),
            token=str(args["token"]),
            rgb=(r, g, b),
            tone_hz=float(args.get("tone_hz", 440.0)),
            width=int(args["width"]),
            height=int(args["height"]),
            fps=int(args["fps"]),
            max_bitrate=int(args["max_bitrate"]),
            noise=int(args.get("noise", 0)),
            video=bool(args.get("video", True)),
            audio=bool(args.get("audio", True)),
            timeout=float(args.get("timeout", 20.0)),
        )


class Agent:
    """The participants of one agent process, by the caller's participant key."""

    def __init__(self) -> None:
        self.participants: dict[str, SyntheticParticipant] = {}
        self._http: aiohttp.ClientSession | None = None
        self.ops: dict[str, Callable[[dict[str, Any]], Awaitable[Result]]] = {
            "ping": self.ping,
            "join": self.join,
            "check": self.check,
            "first_frame": self.first_frame,
            "measure": self.measure,
            "leave": self.leave,
        }

    def _get(self, key: str) -> SyntheticParticipant:
        try:
            return self.participants[key]
        except KeyError:
            raise AgentError(f"no participant {key!r} in this agent") from None

    async def ping(self, _args: dict[str, Any]) -> Result:
        return {"pid": os.getpid(), "participants": len(self.participants)}

    async def join(self, args: dict[str, Any]) -> Result:
        """Connect, then publish camera and mic. `join_s` is the SDK's connect alone (signal,
        ICE and DTLS to the SFU); `publish_s` is publishing both tracks after it."""
        a = JoinArgs.parse(args)
        if a.participant in self.participants:
            raise AgentError(f"participant {a.participant!r} already joined")
        p = SyntheticParticipant(
            rgb=a.rgb,
            tone_hz=a.tone_hz,
            width=a.width,
            height=a.height,
            fps=a.fps,
            max_bitrate=a.max_bitrate,
            noise=a.noise,
            inspect_pixels=False,
        )
        self.participants[a.participant] = p
        # Make (or find cached) the camera's frames off the loop, before the clock starts:
        # building noise frames takes long enough to stall every other participant here.
        await asyncio.to_thread(camera_frames, a.width, a.height, a.rgb, a.noise)
        join_s = await p.connect(a.url, a.token, timeout=a.timeout)
        start = time.perf_counter()
        await asyncio.wait_for(p.publish(video=a.video, audio=a.audio), a.timeout)
        return {
            "join_s": join_s,
            "publish_s": time.perf_counter() - start,
            "identity": p.room.local_participant.identity,
        }

    async def check(self, args: dict[str, Any]) -> Result:
        """The victim's connection check (loadtests.check_client, the join page's protocol):
        `check_s` is the whole check, as the victim waits for it."""
        from loadtests.check_client import run_check  # noqa: PLC0415 - only agents need it

        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        start = time.perf_counter()
        verdict = await run_check(self._http, str(args["api_base"]), str(args["session"]))
        return {"check_s": time.perf_counter() - start, "verdict": verdict}

    async def first_frame(self, args: dict[str, Any]) -> Result:
        """Wait for the first decoded video frame from `remote` (an identity). The clock
        starts when both this participant and `since` (another participant key of this agent,
        normally the remote's) had started connecting, whichever was later."""
        p = self._get(str(args["participant"]))
        remote = str(args["remote"])
        timeout = float(args.get("timeout", 20.0))
        starts = [p.connect_started]
        if args.get("since") is not None:
            starts.append(self._get(str(args["since"])).connect_started)
        if any(s is None for s in starts):
            raise AgentError("first_frame before join")
        origin = max(s for s in starts if s is not None)
        deadline = time.perf_counter() + timeout
        while True:
            got = p.received.get(remote)
            if got is not None and got.first_video_at is not None:
                return {"first_frame_s": got.first_video_at - origin, "size": got.video_size}
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no video frame from {remote} within {timeout:.0f}s")
            # The frame's arrival is stamped by the reader task; polling only notices it.
            await asyncio.sleep(0.02)

    async def measure(self, args: dict[str, Any]) -> Result:
        """Received bitrate, fps and packet loss over the next `seconds`."""
        p = self._get(str(args["participant"]))
        seconds = float(args["seconds"])
        before = await rtcstats.snapshot(p.room)
        await asyncio.sleep(seconds)
        after = await rtcstats.snapshot(p.room)
        r = rtcstats.rates(before, after)
        return {
            "seconds": r.seconds,
            "video_kbps": r.video_kbps,
            "video_fps": r.video_fps,
            "audio_kbps": r.audio_kbps,
            "packets": r.packets,
            "loss_fraction": r.loss_fraction,
        }

    async def leave(self, args: dict[str, Any]) -> Result:
        p = self.participants.pop(str(args["participant"]), None)
        if p is not None:
            await p.close()
        return {"left": p is not None}

    async def close(self) -> None:
        for key in list(self.participants):
            with contextlib.suppress(Exception):
                await self.leave({"participant": key})
        if self._http is not None:
            await self._http.close()

    async def handle(self, line: bytes, out: IO[bytes]) -> None:
        try:
            request = json.loads(line)
            rid = request["id"]
            op = self.ops[request["op"]]
        except (ValueError, KeyError, TypeError):
            log.exception("bad request line %r", line[:200])
            return
        try:
            reply: Result = {"id": rid, "ok": True, "result": await op(request.get("args", {}))}
        except Exception as exc:  # any failure is reported to the caller, which records it
            reply = {"id": rid, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()


async def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """Serve requests from `stdin` until EOF, then close every participant."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
    agent = Agent()
    tasks: set[asyncio.Task[None]] = set()
    try:
        while line := await reader.readline():
            task = asyncio.create_task(agent.handle(line, stdout))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await agent.close()
        # Native callbacks still in flight find the loop closing; that is expected now.
        logging.getLogger("livekit").setLevel(logging.CRITICAL)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # Replies own fd 1; anything else that prints (a library, a stray print) goes to stderr.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    asyncio.run(serve(sys.stdin.buffer, replies))


if __name__ == "__main__":
    main()
