"""Received-media rates from the SDK's WebRTC stats (`room.get_rtc_stats()`).

The stats are cumulative counters from libwebrtc's inbound RTP streams; a rate is the
difference of two snapshots over the time between them. With LiveKit's single peer
connection (server 1.13 and this SDK) received streams are listed under `publisher_stats`;
with two peer connections, under `subscriber_stats`. Both are read, each stream once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from livekit import rtc


@dataclass(frozen=True)
class Counters:
    """Cumulative inbound counters, summed over every stream of a kind, at `taken_at`."""

    taken_at: float
    video_bytes: int = 0
    video_frames: int = 0
    audio_bytes: int = 0
    packets_received: int = 0
    packets_lost: int = 0


@dataclass(frozen=True)
class Rates:
    """What one participant received over a window."""

    seconds: float
    video_kbps: float
    video_fps: float
    audio_kbps: float
    packets: int
    loss_fraction: float
    """Lost / (received + lost) over the window, audio and video together."""


def counters(stats: Any, *, taken_at: float | None = None) -> Counters:
    """Sum the inbound RTP counters in `stats` (an `rtc.RtcStats`)."""
    video_bytes = video_frames = audio_bytes = received = lost = 0
    seen: set[str] = set()
    for entry in [*stats.publisher_stats, *stats.subscriber_stats]:
        if entry.WhichOneof("stats") != "inbound_rtp" or entry.inbound_rtp.rtc.id in seen:
            continue
        rtp = entry.inbound_rtp
        seen.add(rtp.rtc.id)
        received += rtp.received.packets_received
        # packetsLost can go negative with duplicates (RFC 3550); never count that as gain.
        lost += max(0, rtp.received.packets_lost)
        if rtp.stream.kind == "video":
            video_bytes += rtp.inbound.bytes_received
            video_frames += rtp.inbound.frames_decoded
        elif rtp.stream.kind == "audio":
            audio_bytes += rtp.inbound.bytes_received
    return Counters(
        taken_at=time.perf_counter() if taken_at is None else taken_at,
        video_bytes=video_bytes,
        video_frames=video_frames,
        audio_bytes=audio_bytes,
        packets_received=received,
        packets_lost=lost,
    )


async def snapshot(room: rtc.Room) -> Counters:
    """Counters for `room` now."""
    stats = await room.get_rtc_stats()
    return counters(stats)


def rates(before: Counters, after: Counters) -> Rates:
    """Rates between two snapshots of the same room. Raises ValueError on an empty window."""
    seconds = after.taken_at - before.taken_at
    if seconds <= 0:
        raise ValueError("the second snapshot must be taken after the first")
    received = after.packets_received - before.packets_received
    lost = max(0, after.packets_lost - before.packets_lost)
    total = received + lost
    return Rates(
        seconds=seconds,
        video_kbps=(after.video_bytes - before.video_bytes) * 8 / 1000 / seconds,
        video_fps=(after.video_frames - before.video_frames) / seconds,
        audio_kbps=(after.audio_bytes - before.audio_bytes) * 8 / 1000 / seconds,
        packets=received,
        loss_fraction=lost / total if total else 0.0,
    )
