"""Reading one subscribed track: each frame or audio chunk stamped with when it was captured.

The stamps are what place media in the recording, so they must not depend on when a busy
event loop got round to delivering it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from livekit import rtc
from livekit.rtc._utils import RingQueue

from evidence.writer import Pcm, Pixels, WriterConfig

_MAX_CLOCK_SKEW = 2.0  # a frame timestamp further than this from now is not trusted
# Audio this much later than its sample count says is late, and late for this long means
# the stream really paused (the receiver conceals losses, so this is rare): re-anchor then.
_AUDIO_STALL = 1.0
_AUDIO_PAUSE = 5.0
_TILE_HEIGHT = WriterConfig().height  # a tile is never taller than the composite
# Decoded frames the SDK may hold for one video track while the event loop is busy: 1 s at
# 25 fps. Its default (0) holds every frame until the loop reads it; a full queue drops the
# oldest. Audio streams stay unbounded: audio is never dropped.
VIDEO_STREAM_CAPACITY = 25

VideoSink = Callable[[str, float, Pixels], None]  # (identity, monotonic capture time, pixels)
DropSink = Callable[[int], None]  # frames the SDK's queue dropped
AudioSink = Callable[[str, float, Pcm, int], None]  # (identity, capture time, pcm, rate)


class Publication(Protocol):
    """What :func:`request_tile_layer` reads of an ``rtc.RemoteTrackPublication``."""

    @property
    def kind(self) -> rtc.TrackKind.ValueType: ...
    @property
    def simulcasted(self) -> bool: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    def set_video_quality(self, quality: rtc.VideoQuality.ValueType) -> None: ...


def request_tile_layer(publication: Publication, *, tile_height: int = _TILE_HEIGHT) -> bool:
    """Ask the SFU for the simulcast layer that fills a tile of the composite, not the top one.

    The composite shows each participant at most ``tile_height`` px tall (all 360 px of the
    1280x360 composite for two people). A camera at 720p (the join page's and the officer
    console's) is published with LiveKit's 360p and 180p layers under it; the SFU forwards
    the top one unless asked, and the recorder would decode four times the pixels only to
    scale them down by two. LiveKit's middle layer is 360p under any top taller than that,
    so asking for it loses no pixel of the recording; it runs at 20 fps where the top runs
    at up to 30 (the composite is 25 fps), still the 20 fps lip-reading needs. A phone that
    steps down sends less and is recorded at what it sends, as before. True if asked.
    """
    if (
        publication.kind != rtc.TrackKind.KIND_VIDEO
        or not publication.simulcasted
        or min(publication.width, publication.height) <= tile_height
    ):
        return False
    publication.set_video_quality(rtc.VideoQuality.VIDEO_QUALITY_MEDIUM)
    return True


class _CountingRing(RingQueue[Any]):
    """The SDK's ring queue, telling ``dropped`` each frame it drops (it drops them silently)."""

    def __init__(self, capacity: int, dropped: DropSink) -> None:
        super().__init__(capacity)
        self._dropped = dropped

    def put(self, item: Any) -> None:
        if 0 < self._capacity <= len(self._queue):
            self._dropped(1)
        super().put(item)


def bounded_video_stream(
    track: rtc.Track, dropped: DropSink, *, capacity: int = VIDEO_STREAM_CAPACITY
) -> rtc.VideoStream:
    """An I420 ``VideoStream`` holding at most ``capacity`` frames, its drops counted."""
    stream = rtc.VideoStream(track, format=rtc.VideoBufferType.I420, capacity=capacity)
    # Swapped before the stream's task first runs (it starts at the next await), so no
    # frame goes through the SDK's own queue; livekit-rtc 1.2.1 names it `_queue`.
    stream._queue = _CountingRing(capacity, dropped)
    return stream


async def read_video(
    track: rtc.Track, identity: str, deliver: VideoSink, dropped: DropSink = lambda _n: None
) -> None:
    """Deliver each frame of ``track`` as I420 (or RGB if its size is odd) until it ends;
    frames the SDK's bounded queue drops while the event loop is busy go to ``dropped``."""
    stream = bounded_video_stream(track, dropped)
    try:
        async for event in stream:
            # libwebrtc stamps each frame with its render time on the monotonic clock,
            # already delayed to match the same participant's audio: use it, so a busy
            # event loop delivering frames late does not shift them in the recording.
            at = time.monotonic()
            if abs(event.timestamp_us / 1e6 - at) < _MAX_CLOCK_SKEW:
                at = event.timestamp_us / 1e6
            frame = event.frame
            w, h = frame.width, frame.height
            pixels: Pixels
            if w % 2 or h % 2:
                rgb = frame.convert(rtc.VideoBufferType.RGB24)
                pixels = np.frombuffer(rgb.data, np.uint8).reshape(h, w, 3).copy()
            else:
                # No copy: the SDK already copied the frame into a bytearray of its own,
                # which this view keeps alive.
                flat = np.frombuffer(frame.data, np.uint8)[: w * h * 3 // 2]
                pixels = flat.reshape(h * 3 // 2, w)
            deliver(identity, at, pixels)
    finally:
        await stream.aclose()


async def read_audio(track: rtc.Track, identity: str, deliver: AudioSink) -> None:
    """Deliver ``track`` as 48 kHz mono chunks of 20 ms until it ends."""
    stream = rtc.AudioStream(track, sample_rate=48_000, num_channels=1, frame_size_ms=20)
    # The SFU's audio is continuous (the receiver conceals losses), so samples are
    # placed by count from an anchor; arrival times only move the anchor: earlier when a
    # chunk arrives sooner than the count predicts (the first ones were delivered late),
    # later only when every chunk for a while has been late (the stream really paused).
    # A busy event loop delivering a burst late then cannot shift or smear the audio.
    anchor: float | None = None
    late: tuple[float, float] | None = None  # (since, earliest estimate) while late
    counted = 0
    try:
        async for event in stream:
            frame = event.frame
            rate = frame.sample_rate
            now = time.monotonic()
            estimate = now - (counted + frame.samples_per_channel) / rate
            if anchor is None or estimate <= anchor:
                anchor, late = estimate, None
            elif estimate > anchor + _AUDIO_STALL:
                late = (now, estimate) if late is None else (late[0], min(late[1], estimate))
                if now - late[0] > _AUDIO_PAUSE:
                    anchor, late = late[1], None
            else:
                late = None
            at = anchor + counted / rate
            counted += frame.samples_per_channel
            pcm = np.frombuffer(frame.data, np.int16).copy()
            deliver(identity, at, pcm, rate)
    finally:
        await stream.aclose()
