"""The connection check's client in Python: the protocol of control_plane.bandwidth, as the
phone's page (web/src/check/bandwidth.ts) runs it. Used by the tests and the load tests.

    verdict = await run_check(http, "http://cp:8080", participant_session)

As a program it runs one check and prints one JSON object (the verdict, plus what the client
itself saw under "client"), so a test can run it inside a shaped network namespace:

    python -m loadtests.check_client --api-base=URL --session=SECRET

(`--session=` with the `=`: a session secret may begin with "-".)
"""

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
from livekit import rtc

ProgressCallback = Callable[[str, float], None]
READ_GRACE = 0.5
"""Seconds past the download's cap the client keeps reading before it acknowledges."""
PROBE_CONNECT_BUDGET = 6.0
"""Seconds the WebRTC leg may take to connect before the check goes on without it."""


@dataclass
class ClientSide:
    """What the client observed itself: informational, never used by the server."""

    started: float = field(default_factory=time.perf_counter)
    phases: dict[str, float] = field(default_factory=dict)
    download_bytes: int = 0
    upload_bytes_offered: int = 0
    probe_frames_sent: int = 0
    probe_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "duration_s": round(time.perf_counter() - self.started, 3),
            "phases_s": {k: round(v, 3) for k, v in self.phases.items()},
            "download_bytes": self.download_bytes,
            "upload_bytes_offered": self.upload_bytes_offered,
            "probe_frames_sent": self.probe_frames_sent,
            "probe_error": self.probe_error,
        }


class CheckFailed(RuntimeError):
    """The server refused a step; `status` and `body` are its answer."""

    def __init__(self, step: str, status: int, body: Any) -> None:
        super().__init__(f"{step}: HTTP {status}: {body}")
        self.status = status
        self.body = body


class _Api:
    def __init__(self, http: aiohttp.ClientSession, base: str, session: str) -> None:
        self.http = http
        self.base = base.rstrip("/")
        self.headers = {"Authorization": f"Bearer {session}"}

    async def post(self, step: str, path: str, body: Any = None) -> Any:
        async with self.http.post(self.base + path, json=body, headers=self.headers) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                raise CheckFailed(step, resp.status, data)
            return data


async def run_check(
    http: aiohttp.ClientSession,
    api_base: str,
    session: str,
    *,
    on_progress: ProgressCallback | None = None,
    probe: bool = True,
    client: ClientSide | None = None,
) -> dict[str, Any]:
    """Run one connection check; return the server's verdict (POST .../finish's answer).

    `probe=False` skips the WebRTC leg (the server then finds no media: `insufficient`).
    Raises CheckFailed if the server refuses a step.
    """
    side = client or ClientSide()
    progress = on_progress or (lambda _phase, _fraction: None)
    api = _Api(http, api_base, session)
    t = time.perf_counter()
    plan = await api.post("start", "/api/v1/participant/check")
    side.phases["start"] = time.perf_counter() - t

    # Nothing else shares the link while the download runs: the WebRTC leg's joining would
    # take a slow downlink's bytes, and its video would queue the download's TCP
    # acknowledgements on a slow uplink, so the downlink would read low. The leg starts
    # after it, and the upload waits for the leg, so the two never share the uplink.
    progress("rtt", 0.05)
    t = time.perf_counter()
    await _rtt(api, plan)
    side.phases["rtt"] = time.perf_counter() - t

    progress("download", 0.15)
    t = time.perf_counter()
    await _download(api, plan["download"], side)
    side.phases["download"] = time.perf_counter() - t
    transport: dict[str, Any] | None = None
    sender: dict[str, Any] | None = None
    if probe:
        progress("webrtc", 0.5)
        t = time.perf_counter()
        transport, sender = await _probe(api, plan["probe"], side)
        side.phases["webrtc"] = time.perf_counter() - t

    progress("upload", 0.65)
    t = time.perf_counter()
    await _upload(api, plan["upload"], side)
    side.phases["upload"] = time.perf_counter() - t

    progress("finish", 0.95)
    t = time.perf_counter()
    # The sender counters let the server see loss the SFU repaired before its subscriber.
    verdict: dict[str, Any] = await api.post(
        "finish", plan["finish_path"], {"transport": transport, "sender": sender}
    )
    side.phases["finish"] = time.perf_counter() - t
    progress("done", 1.0)
    return verdict


async def _rtt(api: _Api, plan: dict[str, Any]) -> None:
    nonce: str | None = None
    for _ in range(plan["rtt"]["rounds"] + 1):
        answer = await api.post("rtt", plan["rtt"]["path"], {"nonce": nonce})
        if answer["done"]:
            return
        nonce = answer["nonce"]


async def _download(api: _Api, spec: dict[str, Any], side: ClientSide) -> None:
    chunk, nonce_len = spec["chunk_bytes"], spec["nonce_bytes"]
    deadline = time.monotonic() + spec["max_seconds"] + READ_GRACE
    received = 0
    carry = b""  # the bytes just before `received`: a nonce may straddle two reads
    last_nonce: str | None = None
    async with api.http.get(api.base + spec["path"], headers=api.headers) as resp:
        if resp.status >= 400:
            raise CheckFailed("download", resp.status, await resp.text())
        with contextlib.suppress(TimeoutError, aiohttp.ClientPayloadError):
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                async for block in resp.content.iter_any():
                    buf = carry + block
                    buf_start = received - len(carry)
                    received += len(block)
                    boundary = (received // chunk) * chunk
                    if boundary > received - len(block):
                        # The latest complete chunk ends at `boundary`; its nonce ends it.
                        at = boundary - nonce_len - buf_start
                        last_nonce = buf[at : at + nonce_len].decode("ascii")
                    carry = buf[-nonce_len:]
        side.download_bytes = received
        if time.monotonic() >= deadline:
            resp.close()  # stop paying for bytes the server may still have queued
    if last_nonce is None:
        raise CheckFailed("download", 0, "no complete chunk arrived")
    await api.post("download/ack", spec["ack_path"], {"nonce": last_nonce})


async def _upload(api: _Api, spec: dict[str, Any], side: ClientSide) -> None:
    ticket = await api.post("upload/ticket", spec["path"] + "/ticket")
    block = 16 * 1024
    budget = ticket["max_bytes"]
    stop_at = time.monotonic() + ticket["max_seconds"] + READ_GRACE

    async def body() -> AsyncIterator[bytes]:
        sent = 0
        while sent < budget and time.monotonic() < stop_at:
            piece = os.urandom(min(block, budget - sent))
            sent += len(piece)
            side.upload_bytes_offered = sent
            yield piece

    url = f"{api.base}{spec['path']}?ticket={ticket['ticket']}"
    headers = api.headers | {"Content-Type": "application/octet-stream"}
    try:
        async with api.http.post(url, data=body(), headers=headers) as resp:
            data = await resp.json(content_type=None)
            if resp.status >= 400:
                raise CheckFailed("upload", resp.status, data)
    except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
        # The server hung up at its cap before we saw its answer: it has the figure anyway.
        pass


ProbeStats = tuple[dict[str, Any] | None, dict[str, Any] | None]


async def _probe(api: _Api, spec: dict[str, Any], side: ClientSide) -> ProbeStats:
    """Publish a moving textured camera into the probe room until the server has seen
    enough (or `max_seconds` passed); return the ICE candidate pair used and the video
    sender's counters (`_probe_stats`)."""
    video = spec["video"]
    width, height, fps = video["width"], video["height"], video["max_framerate"]
    room = rtc.Room()
    try:
        # Never cancelled: the SDK's FFI side panics if a join completes after its Python
        # side gave up. A join that is too slow is left to finish (or fail) on its own.
        joining = asyncio.create_task(
            room.connect(spec["url"], spec["token"], rtc.RoomOptions(connect_timeout=5))
        )
        await asyncio.wait({joining}, timeout=PROBE_CONNECT_BUDGET)
        if not joining.done():
            side.probe_error = f"not connected to the SFU within {PROBE_CONNECT_BUDGET:.0f} s"
            _leave_when_settled(joining, room)
            return None, None
        joining.result()
        source = rtc.VideoSource(width, height)
        track = rtc.LocalVideoTrack.create_video_track("connection-check", source)
        options = rtc.TrackPublishOptions(
            source=rtc.TrackSource.SOURCE_CAMERA,
            simulcast=False,
            video_encoding=rtc.VideoEncoding(max_bitrate=video["max_bitrate"], max_framerate=fps),
        )
        await asyncio.wait_for(room.local_participant.publish_track(track, options), 10)
        # Coarse blocks, like a camera's picture: pure noise would starve the encoder.
        rng = np.random.default_rng(7)
        blocks = rng.integers(0, 256, (height // 8, width // 8, 4), dtype=np.uint8)
        texture = np.repeat(np.repeat(blocks, 8, axis=0), 8, axis=1)
        texture[:, :, 3] = 255
        done = asyncio.Event()
        poller = asyncio.create_task(_until_seen(api, spec, done))
        due = start = time.perf_counter()
        n = 0
        while not done.is_set() and time.perf_counter() - start < spec["max_seconds"]:
            # A shifting texture: real motion for the encoder, at almost no CPU cost here.
            frame = np.roll(texture, shift=4 * n, axis=1)
            source.capture_frame(
                rtc.VideoFrame(width, height, rtc.VideoBufferType.RGBA, frame.tobytes())
            )
            n += 1
            side.probe_frames_sent = n
            due += 1 / fps
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError, CheckFailed, aiohttp.ClientError):
            await poller
        return await _probe_stats(room)
    except (TimeoutError, rtc.ConnectError) as exc:
        side.probe_error = f"{type(exc).__name__}: {exc}"
        return None, None
    finally:
        if room.isconnected():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(room.disconnect(), 5)


_settling: set[asyncio.Task[None]] = set()


def _leave_when_settled(joining: asyncio.Task[None], room: rtc.Room) -> None:
    async def leave() -> None:
        with contextlib.suppress(Exception):
            await joining
        if room.isconnected():
            with contextlib.suppress(Exception):
                await room.disconnect()

    task = asyncio.create_task(leave())
    _settling.add(task)  # a strong reference until it is done
    task.add_done_callback(_settling.discard)


async def _until_seen(api: _Api, spec: dict[str, Any], done: asyncio.Event) -> None:
    """Ask the server, once the wanted time has passed, whether it has seen enough video."""
    await asyncio.sleep(spec["seconds"])
    while True:
        async with api.http.get(api.base + spec["status_path"], headers=api.headers) as resp:
            status = await resp.json(content_type=None)
            if resp.status >= 400:
                raise CheckFailed("probe", resp.status, status)
        if status["done"]:
            done.set()
            return
        await asyncio.sleep(0.3)


async def _probe_stats(room: rtc.Room) -> ProbeStats:
    """The selected ICE candidate pair's local side and the video sender's counters, from
    the publisher's stats."""
    try:
        stats = await asyncio.wait_for(room.get_rtc_stats(), 3)
    except (TimeoutError, RuntimeError):
        return None, None
    every = list(stats.publisher_stats) + list(stats.subscriber_stats)
    return _transport(every), _sender(list(stats.publisher_stats))


def _sender(stats: list[rtc.stats.RtcStats]) -> dict[str, Any] | None:
    """What `POST .../finish` takes as `sender`: the video's outbound-rtp counters and the
    loss the SFU's receiver reports gave (remote-inbound-rtp), as a browser reports them."""
    out = [s.outbound_rtp for s in stats if s.WhichOneof("stats") == "outbound_rtp"]
    video = [o for o in out if o.stream.kind == "video"]
    if not video:
        return None
    ids = {o.rtc.id for o in video}
    remote = [
        s.remote_inbound_rtp
        for s in stats
        if s.WhichOneof("stats") == "remote_inbound_rtp"
        and s.remote_inbound_rtp.remote_inbound.local_id in ids
    ]
    return {
        "packets_sent": sum(o.sent.packets_sent for o in video),
        "retransmitted_packets_sent": sum(o.outbound.retransmitted_packets_sent for o in video),
        "nack_count": sum(o.outbound.nack_count for o in video),
        "remote_packets_lost": sum(r.received.packets_lost for r in remote) if remote else None,
    }


def _transport(every: list[rtc.stats.RtcStats]) -> dict[str, Any] | None:
    selected = {
        s.transport.transport.selected_candidate_pair_id
        for s in every
        if s.WhichOneof("stats") == "transport"
    }
    local_ids = {
        s.candidate_pair.candidate_pair.local_candidate_id
        for s in every
        if s.WhichOneof("stats") == "candidate_pair"
        and (s.candidate_pair.rtc.id in selected or s.candidate_pair.candidate_pair.nominated)
    }
    for s in every:
        if s.WhichOneof("stats") == "local_candidate" and s.local_candidate.rtc.id in local_ids:
            c = s.local_candidate.candidate
            kind = rtc.stats.IceCandidateType.Name(c.candidate_type).lower()
            relay = None
            if kind == "relay":
                relay = rtc.stats.IceServerTransportProtocol.Name(c.relay_protocol)
                relay = relay.removeprefix("TRANSPORT_").lower()
            return {"protocol": c.protocol.lower(), "candidate_type": kind, "relay_protocol": relay}
    return None


async def _main(args: argparse.Namespace) -> int:
    side = ClientSide()
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        try:
            verdict = await run_check(
                http, args.api_base, args.session, probe=not args.no_probe, client=side
            )
        except CheckFailed as exc:
            print(json.dumps({"error": {"status": exc.status, "body": exc.body},
                              "client": side.to_json()}))  # fmt: skip
            return 1
    print(json.dumps(verdict | {"client": side.to_json()}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one EVR connection check")
    parser.add_argument("--api-base", required=True, help="e.g. http://10.213.0.1:8080")
    parser.add_argument("--session", required=True, help="participant session secret")
    parser.add_argument("--no-probe", action="store_true", help="skip the WebRTC leg")
    args = parser.parse_args(argv)
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
