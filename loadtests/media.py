"""A synthetic LiveKit participant: publishes a known camera pattern and a tone, counts what
it receives. Used by the integration tests and the load tests, over the real media path.

The video is a solid colour per participant, so a receiver can tell whose video it got; the
audio is a sine tone per participant.
"""

import asyncio
import contextlib
import functools
import itertools
import math
import time
from dataclasses import dataclass, field

import numpy as np
from livekit import rtc

WIDTH, HEIGHT, FPS = 320, 240, 15
SAMPLE_RATE, AUDIO_FRAME_MS = 48000, 20
# The sync mark's click: a 20 ms burst at a pitch no tone uses, easy to find after Opus/AAC.
CLICK_SAMPLES, CLICK_HZ = SAMPLE_RATE // 50, 3000.0


NOISE_FRAMES = 16
DISCONNECT_TIMEOUT = 10.0  # seconds a participant's close waits for the SDK's disconnect
AUDIO_STALL = 0.02  # seconds behind real time that mean the mic's queue ran dry
SYNC_SLACK = 0.02  # seconds late a sync mark's flash may be captured and still count


@functools.cache
def camera_frames(width: int, height: int, rgb: tuple[int, int, int], noise: int) -> list[bytes]:
    """RGBA frames of `rgb`, each with its own noise when `noise` > 0. Cached and shared by
    every participant of a process (capture_frame copies the buffer), to spare memory."""
    frame = np.empty((height, width, 4), dtype=np.uint8)
    frame[:, :, 0], frame[:, :, 1], frame[:, :, 2], frame[:, :, 3] = (*rgb, 255)
    if noise <= 0:
        return [frame.tobytes()]
    rng = np.random.default_rng(sum(rgb))
    out = []
    for _ in range(NOISE_FRAMES):
        grain = rng.integers(-noise, noise + 1, size=(height, width, 1), dtype=np.int16)
        noisy = frame.astype(np.int16)
        noisy[:, :, :3] += grain
        out.append(np.clip(noisy, 0, 255).astype(np.uint8).tobytes())
    return out


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
    noise: int = 0
    """Amplitude of per-frame noise over the colour. A flat colour encodes to a few kbps;
    load runs add noise so the encoder spends its bitrate the way a real camera does."""
    inspect_pixels: bool = True
    """Convert received video to RGBA and sample its colour; load runs switch this off to
    spend the generator's CPU on the media path rather than on pixel checks."""
    marker: float | None = None
    """A `time.perf_counter()` instant at which the camera flashes white (0.25 s) and the
    mic clicks (20 ms at CLICK_HZ), together: a sync mark for recordings. Set it >= 1 s ahead."""
    flash_late: float | None = None
    """Seconds after `marker` at which the flash's first frame was captured (a busy loop)."""
    audio_stalled_at: float | None = None
    """Where the mic's queue first ran dry (a `perf_counter` instant on its planned timeline):
    every later sample is heard later than planned, by an amount this side cannot know. A
    click at or after it (`sync_mark_doubtful`) is not where the plan put it."""
    room: rtc.Room = field(default_factory=rtc.Room)
    received: dict[str, Received] = field(default_factory=dict)
    connect_started: float | None = None
    connected_at: float | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def connect(self, url: str, token: str, *, timeout: float = 20.0) -> float:
        """Connect; return the join time in seconds."""
        self.room.on("track_subscribed", self._on_track)
        self.connect_started = time.perf_counter()
        # The SDK's own timeout: cancelling Room.connect from outside makes its FFI side panic
        # when the join completes later. wait_for is only a backstop should that one hang.
        options = rtc.RoomOptions(connect_timeout=timeout)
        await asyncio.wait_for(self.room.connect(url, token, options), timeout + 10)
        self.connected_at = time.perf_counter()
        return self.connected_at - self.connect_started

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

    def sync_mark_doubtful(self) -> str | None:
        """Why the sync mark may not have been sent as planned (None: it was): a busy loop
        captured the flash late, or the mic's queue ran dry before the click."""
        m = self.marker
        if m is None:
            return None
        if self.flash_late is None or self.flash_late > SYNC_SLACK:
            return f"flash captured {self.flash_late} s after the mark"
        if self.audio_stalled_at is not None and self.audio_stalled_at <= m:
            return "the mic's queue ran dry before the click"
        return None

    async def _pump_video(self, source: rtc.VideoSource) -> None:
        frames = camera_frames(self.width, self.height, self.rgb, self.noise)
        interval = 1 / self.fps
        due = time.perf_counter()
        white = camera_frames(self.width, self.height, (255, 255, 255), 0)[0]
        for n in itertools.count():
            now = time.perf_counter()
            m = self.marker
            # A quarter-second flash: an encoder dropping a frame under load cannot erase it, and
            # its onset is still within one frame interval of the marker.
            flash = m is not None and m - 0.002 <= now < m + max(2 / self.fps, 0.25)
            if flash and m is not None and self.flash_late is None:
                self.flash_late = max(0.0, now - m)
            data = white if flash else frames[n % len(frames)]
            buf = rtc.VideoFrame(self.width, self.height, rtc.VideoBufferType.RGBA, data)
            source.capture_frame(buf)
            # Pace against a deadline, not a fixed sleep, so a busy loop does not lower the fps.
            due += interval
            if m is not None and now < m < due:
                due = m  # capture the flash on the marker instant itself, not up to a frame late
            await asyncio.sleep(max(0.0, due - time.perf_counter()))

    async def _pump_audio(self, source: rtc.AudioSource) -> None:
        samples = SAMPLE_RATE * AUDIO_FRAME_MS // 1000
        t = 0
        # The source plays its queue out in real time from the first frame, so sample n is
        # heard at started + n / SAMPLE_RATE however far ahead this loop runs.
        started = time.perf_counter()
        while True:
            # Queued so far: audio up to started + t / SAMPLE_RATE. Already past that instant,
            # the queue ran dry; before the click is queued, that delays the click.
            queued_until = started + t / SAMPLE_RATE
            if self.audio_stalled_at is None and time.perf_counter() - queued_until > AUDIO_STALL:
                self.audio_stalled_at = queued_until
            af = rtc.AudioFrame.create(SAMPLE_RATE, 1, samples)
            data = np.frombuffer(af.data, dtype=np.int16)
            idx = np.arange(t, t + samples)
            data[:] = (8000 * np.sin(2 * math.pi * self.tone_hz * idx / SAMPLE_RATE)).astype(
                np.int16
            )
            if self.marker is not None:
                at = idx - round((self.marker - started) * SAMPLE_RATE)
                beep = (at >= 0) & (at < CLICK_SAMPLES)
                data[beep] = (
                    20000 * np.sin(2 * math.pi * CLICK_HZ * at[beep] / SAMPLE_RATE)
                ).astype(np.int16)
            t += samples
            await source.capture_frame(af)
            # capture_frame paces us only while its queue is full; once the room is gone it
            # returns at once without suspending, and this loop would hold the event loop
            # forever (a stalled test process, and a cancel() that never lands). Yield, and
            # stay no further ahead of real time than the source's queue (1 s) would keep us.
            ahead = started + t / SAMPLE_RATE - time.perf_counter()
            await asyncio.sleep(max(0.0, ahead - 1.0))

    def _on_track(
        self, track: rtc.Track, _pub: rtc.RemoteTrackPublication, participant: rtc.RemoteParticipant
    ) -> None:
        stats = self.received.setdefault(participant.identity, Received())
        if track.kind == rtc.TrackKind.KIND_VIDEO:
            self._tasks.append(asyncio.create_task(self._read_video(track, stats)))
        elif track.kind == rtc.TrackKind.KIND_AUDIO:
            self._tasks.append(asyncio.create_task(self._read_audio(track, stats)))

    async def _read_video(self, track: rtc.Track, stats: Received) -> None:
        if not self.inspect_pixels:
            async for event in rtc.VideoStream(track):
                stats.video_frames += 1
                if stats.first_video_at is None:
                    stats.first_video_at = time.perf_counter()
                stats.video_size = (event.frame.width, event.frame.height)
            return
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
        # Bounded: after a dead SFU or a cancelled join the SDK's disconnect has been seen never
        # to answer, and one stuck participant must not hold up a test run or a Locust user.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.room.disconnect(), DISCONNECT_TIMEOUT)
