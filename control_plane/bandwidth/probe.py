"""The WebRTC leg, read from the SFU side.

The control plane creates a short-lived probe room per check, gives the phone a token that
can publish a camera there and nothing else, and joins the room itself as a hidden
subscriber (the Python realtime SDK). What that subscriber receives is what the phone got
through to the SFU: if UDP is blocked and the phone could not fall back to ICE/TCP or TURN,
nothing arrives and the verdict is `insufficient`.
"""

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from livekit import api, rtc

from control_plane.bandwidth.loss import SenderReport, phone_loss, worse_loss
from control_plane.bandwidth.verdict import ProbeFigures
from core.livekit_nodes import NodeList, signalling_url
from core.settings import LiveKitSettings

log = logging.getLogger(__name__)

OBSERVER_IDENTITY = "evr-probe-observer"
SAMPLE_INTERVAL = 0.25
PROBE_ROOM_PREFIX = "probe-"
"""Not "evr-": the visit reconciler deletes evr- rooms that have no open visit."""


def probe_room_name(check_id: str) -> str:
    return f"{PROBE_ROOM_PREFIX}{check_id}"


def probe_publisher_identity(check_id: str) -> str:
    return f"probe:{check_id}"


def publisher_token(livekit: LiveKitSettings, check_id: str, ttl: timedelta) -> str:
    """Camera only, in this probe room only: no microphone, no data, no subscribing."""
    return (
        api.AccessToken(livekit.api_key, livekit.api_secret)
        .with_identity(probe_publisher_identity(check_id))
        .with_name("Connection check")
        .with_grants(
            api.VideoGrants(
                room_join=True,
                room=probe_room_name(check_id),
                can_publish=True,
                can_publish_sources=["camera"],
                can_subscribe=False,
                can_publish_data=False,
                can_update_own_metadata=False,
            )
        )
        .with_ttl(ttl)
        .to_jwt()
    )


def _observer_token(livekit: LiveKitSettings, check_id: str, ttl: timedelta) -> str:
    return (
        api.AccessToken(livekit.api_key, livekit.api_secret)
        .with_identity(OBSERVER_IDENTITY)
        .with_grants(
            api.VideoGrants(
                room_join=True,
                room=probe_room_name(check_id),
                can_publish=False,
                can_publish_data=False,
                can_subscribe=True,
                hidden=True,
            )
        )
        .with_ttl(ttl)
        .to_jwt()
    )


@dataclass(frozen=True)
class InboundSample:
    at: float
    frames: int
    bytes: int
    packets: int
    lost: int
    jitter_s: float


@dataclass
class ProbeObserver:
    """The hidden subscriber of one probe room. It signals over the API addresses the
    control plane already reaches (`nodes`, shared with its API calls): from the node that
    last answered, on to the next while one cannot be reached, `connect_timeout` each."""

    livekit: LiveKitSettings
    nodes: NodeList
    check_id: str
    ttl: timedelta
    connect_timeout: float = 5.0
    room: rtc.Room = field(default_factory=rtc.Room)
    quality: str | None = None
    error: str | None = None
    samples: list[InboundSample] = field(default_factory=list)
    _track: rtc.RemoteVideoTrack | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _connecting: asyncio.Task[None] | None = None
    _closed: bool = False

    async def join(self) -> bool:
        """Join the probe room; False if that took longer than `connect_timeout`.

        The subscriber is in the room before the phone is told about it, so it sees the
        phone's whole publication even when this machine is busy."""
        self.room.on("track_subscribed", self._on_track)
        self.room.on("connection_quality_changed", self._on_quality)
        self._connecting = asyncio.create_task(self._connect(), name="probe-observer")
        # asyncio.wait, not wait_for: the join must not be cancelled (see _connect).
        budget = self.connect_timeout * len(self.nodes.urls)
        await asyncio.wait({self._connecting}, timeout=budget)
        return self._connecting.done() and self.error is None

    async def _connect(self) -> None:
        token = _observer_token(self.livekit, self.check_id, self.ttl)
        # Never cancel Room.connect from outside: the SDK's FFI side panics if it completes
        # after the Python side gave up. Its own timeout bounds it instead.
        options = rtc.RoomOptions(connect_timeout=self.connect_timeout)

        async def connect(url: str) -> None:
            # A failed connect leaves the Room as it was before: the next node reuses it.
            await self.room.connect(signalling_url(url), token, options)

        def unreachable(url: str, exc: BaseException, last: bool) -> None:
            log.warning(
                "probe observer could not join through LiveKit node %s (%s)%s",
                url,
                exc,
                "" if last else "; trying the next node",
                extra={"check_id": self.check_id},
            )

        try:
            await self.nodes.first_answer(
                connect, unreachable=(rtc.ConnectError,), on_unreachable=unreachable
            )
        except rtc.ConnectError as exc:
            self.error = f"observer could not join the probe room: {exc}"
            log.warning("probe observer failed", extra={"check_id": self.check_id})

    def _on_track(
        self,
        track: rtc.Track,
        _pub: rtc.RemoteTrackPublication,
        participant: rtc.RemoteParticipant,
    ) -> None:
        if (
            self._closed
            or participant.identity != probe_publisher_identity(self.check_id)
            or not isinstance(track, rtc.RemoteVideoTrack)
            or self._track is not None
        ):
            return
        self._track = track
        self._tasks.append(asyncio.create_task(self._sample(track), name="probe-stats"))

    def _on_quality(self, participant: rtc.Participant, quality: rtc.ConnectionQuality) -> None:
        if participant.identity == probe_publisher_identity(self.check_id):
            self.quality = quality.name.removeprefix("QUALITY_").lower()

    async def _sample(self, track: rtc.RemoteVideoTrack) -> None:
        """Sample the receiver's inbound-RTP counters until the phone leaves.

        Frames are counted as the receiver assembled them from what the SFU forwarded, not
        as decoded: decoding is this machine's CPU, not the phone's network."""
        while True:
            try:
                stats = await asyncio.wait_for(track.get_stats(), 2.0)
            except Exception:  # the SDK raises bare Exceptions, e.g. once the track ended
                stats = []
            now = time.monotonic()
            for s in stats:
                if s.WhichOneof("stats") == "inbound_rtp":
                    rtp = s.inbound_rtp
                    self.samples.append(
                        InboundSample(
                            at=now,
                            frames=rtp.inbound.frames_received,
                            bytes=rtp.inbound.bytes_received,
                            packets=rtp.received.packets_received,
                            lost=max(rtp.received.packets_lost, 0),
                            jitter_s=rtp.received.jitter,
                        )
                    )
            await asyncio.sleep(SAMPLE_INTERVAL)

    def status(self, wanted_seconds: float) -> dict[str, Any]:
        """Progress for the phone: it publishes until `done`."""
        flowing = [x for x in self.samples if x.frames > 0]
        seconds = flowing[-1].at - flowing[0].at if flowing else 0.0
        return {
            "subscribed": self._track is not None,
            "frames": flowing[-1].frames if flowing else 0,
            "seconds": round(seconds, 2),
            "done": seconds >= wanted_seconds,
        }

    def figures(
        self, transport: dict[str, Any] | None, sender: SenderReport | None = None
    ) -> ProbeFigures:
        """What arrived so far; call once, when the phone has finished publishing. The loss
        is the worse of the server's figure and the phone's `sender` report (loss module)."""
        if self._track is None:
            return ProbeFigures(connected=False, sfu_quality=self.quality, transport=transport)
        from_phone = phone_loss(sender)
        flowing = [x for x in self.samples if x.frames > 0]
        if not flowing:
            # RTP reached the SFU (it forwarded the track) but no complete frame.
            return ProbeFigures(
                connected=True,
                packet_loss=from_phone,
                phone_loss=from_phone,
                sfu_quality=self.quality,
                transport=transport,
            )
        first, last = flowing[0], flowing[-1]
        # The last sample at which frames still arrived closes the window.
        last = next(x for x in flowing if x.frames == last.frames)
        span = last.at - first.at
        fps = (last.frames - first.frames) / span if span > 0 else 0.0
        kbps = (last.bytes - first.bytes) * 8 / span / 1000 if span > 0 else 0.0
        final = flowing[-1]
        total = final.packets + final.lost
        server = final.lost / total if total else None
        return ProbeFigures(
            connected=True,
            video_frames=final.frames,
            fps=fps,
            kbps=kbps,
            packet_loss=worse_loss(server, from_phone),
            server_loss=server,
            phone_loss=from_phone,
            jitter_ms=final.jitter_s * 1000,
            sfu_quality=self.quality,
            transport=transport,
        )

    async def close(self) -> None:
        """Stop counting and leave; waits for a join still in progress (bounded by the SDK's
        connect timeout), so call it off the request path."""
        self._closed = True
        if self._connecting is not None:
            with contextlib.suppress(Exception):
                await self._connecting
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.room.disconnect(), 5.0)
