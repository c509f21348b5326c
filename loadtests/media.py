"""A synthetic LiveKit participant: publishes a known camera pattern and a tone, counts what
it receives. Used by the integration tests and the load tests, over the real media path.

The video is a solid colour per participant with the frame number in the first pixel row,
so a receiver can tell whose video it got; the audio is a sine tone per participant.
"""

import asyncio
import contextlib
import math
import time
from dataclasses import dataclass, field

import numpy as np
from livekit import rtc

WIDTH, HEIGHT, FPS = 320, 240, 15
SAMPLE_RATE, AUDIO_FRAME_MS = 48000, 20


@dataclass
class Received:
    video_frames: int = 0
    audio_frames: int = 0
    first_video_at: float | None = None
    last_rgb: tuple[int, int, int] | None = None
    video_size: tuple[int, int] | None = None


@dataclass
class SyntheticParticipant:
    """Connects with a token minted by the control plane and plays a synthetic camera and mic."""

    rgb: tuple[int, int, int]
    tone_hz: float = 440.0
    width: int = WIDTH
    height: int = HEIGHT
    fps: int = FPS
    max_bitrate: int = 300_000
    room: rtc.Room = field(default_factory=rtc.Room)
    received: dict[str, Received] = field(default_factory=dict)
    connected_at: float | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def connect(self, url: str, token: str, *, timeout: float = 20.0) -> float:
        """Connect; return the join time in seconds."""
        self.room.on("track_subscribed", self._on_track)
        start = time.perf_counter()
        await asyncio.wait_for(self.room.connect(url, token), timeout)
        self.connected_at = time.perf_counter()
        return self.connected_at - start

    async def publish(
        self,
        *,
        video: bool = True,
        audio: bool = True,
        source: "rtc.TrackSource.ValueType" = rtc.TrackSource.SOURCE_CAMERA,
    ) -> None:
        if video:
            vsource = rtc.VideoSource(self.width, self.height)
            track = rtc.LocalVideoTrack.create_video_track("camera", vsource)
            opts = rtc.TrackPublishOptions(
                source=source,
                simulcast=False,
                video_encoding=rtc.VideoEncoding(
                    max_bitrate=self.max_bitrate, max_framerate=self.fps
                ),
            )
            await self.room.local_participant.publish_track(track, opts)
            self._tasks.append(asyncio.create_task(self._pump_video(vsource)))
        if audio:
            asource = rtc.AudioSource(SAMPLE_RATE, 1)
            atrack = rtc.LocalAudioTrack.create_audio_track("mic", asource)
            aopts = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
            await self.room.local_participant.publish_track(atrack, aopts)
            self._tasks.append(asyncio.create_task(self._pump_audio(asource)))

    async def _pump_video(self, source: rtc.VideoSource) -> None:
        frame = np.empty((self.height, self.width, 4), dtype=np.uint8)
        frame[:, :, 0], frame[:, :, 1], frame[:, :, 2], frame[:, :, 3] = (*self.rgb, 255)
        n = 0
        interval = 1 / self.fps
        while True:
            buf = rtc.VideoFrame(self.width, self.height, rtc.VideoBufferType.RGBA, frame.tobytes())
            source.capture_frame(buf)
            n += 1
            await asyncio.sleep(interval)

    async def _pump_audio(self, source: rtc.AudioSource) -> None:
        samples = SAMPLE_RATE * AUDIO_FRAME_MS // 1000
        t = 0
        while True:
            af = rtc.AudioFrame.create(SAMPLE_RATE, 1, samples)
            data = np.frombuffer(af.data, dtype=np.int16)
            idx = np.arange(t, t + samples)
            data[:] = (8000 * np.sin(2 * math.pi * self.tone_hz * idx / SAMPLE_RATE)).astype(
                np.int16
            )
            t += samples
            await source.capture_frame(af)

    def _on_track(
        self, track: rtc.Track, _pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        stats = self.received.setdefault(participant.identity, Received())
        if track.kind == rtc.TrackKind.KIND_VIDEO:
            self._tasks.append(asyncio.create_task(self._read_video(track, stats)))
        elif track.kind == rtc.TrackKind.KIND_AUDIO:
            self._tasks.append(asyncio.create_task(self._read_audio(track, stats)))

    async def _read_video(self, track: rtc.Track, stats: Received) -> None:
        stream = rtc.VideoStream(track, format=rtc.VideoBufferType.RGBA)
        async for event in stream:
            stats.video_frames += 1
            if stats.first_video_at is None:
                stats.first_video_at = time.perf_counter()
            f = event.frame
            stats.video_size = (f.width, f.height)
            px = np.frombuffer(f.data, dtype=np.uint8).reshape(f.height, f.width, 4)
            centre = px[f.height // 2, f.width // 2]
            stats.last_rgb = (int(centre[0]), int(centre[1]), int(centre[2]))

    async def _read_audio(self, track: rtc.Track, stats: Received) -> None:
        stream = rtc.AudioStream(track)
        async for _event in stream:
            stats.audio_frames += 1

    async def wait_for_media(
        self, identity: str, *, video: int = 5, audio: int = 5, timeout: float = 20
    ) -> Received:
        """Wait until `video` frames and `audio` frames arrived from `identity`."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            got = self.received.get(identity)
            if got and got.video_frames >= video and got.audio_frames >= audio:
                return got
            await asyncio.sleep(0.1)
        raise TimeoutError(f"media from {identity} did not arrive: {self.received.get(identity)}")

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        await self.room.disconnect()
