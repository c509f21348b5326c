"""Synthetic call media shared by the recording tests (small, so tests stay fast)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from evidence.writer import SegmentInfo, StatementWriter, WriterConfig

STARTED_AT = datetime(2024, 5, 1, 9, 30, 0, tzinfo=UTC)
# The recorder's own encoder settings, in short segments and fragments.
FAST = WriterConfig(segment_seconds=2.0, keyframe_seconds=0.5)
SAMPLE_RATE = 48_000
CHUNK = 960  # 20 ms, as WebRTC delivers audio


def grey_frame(level: int, width: int = 320, height: int = 180) -> npt.NDArray[np.uint8]:
    """An RGB frame of one grey level."""
    return np.full((height, width, 3), level, np.uint8)


def feed(
    writer: StatementWriter,
    *,
    seconds: float,
    start: float = 0.0,
    flash_at: float | None = None,
    click_at: float | None = None,
) -> None:
    """Push ``seconds`` of officer video (25 fps), victim video (20 fps) and both audios.

    A white officer frame at ``flash_at`` and a loud victim audio burst at ``click_at``
    give tests a marker to find in each decoded stream.
    """
    rng = np.random.default_rng(7)
    events: list[tuple[float, str]] = []
    events += [(start + i / 25, "officer-video") for i in range(round(seconds * 25))]
    events += [(start + i / 20, "victim-video") for i in range(round(seconds * 20))]
    chunks = round(seconds * SAMPLE_RATE / CHUNK)
    events += [(start + i * CHUNK / SAMPLE_RATE, "audio") for i in range(chunks)]
    for ts, kind in sorted(events):
        if kind == "officer-video":
            flash = flash_at is not None and abs(ts - flash_at) < 1e-6
            writer.push_video("officer", grey_frame(255 if flash else 60), ts)
        elif kind == "victim-video":
            writer.push_video("victim", grey_frame(120), ts)
        else:
            quiet = rng.integers(-50, 50, CHUNK).astype(np.int16)
            victim = quiet.copy()
            if click_at is not None and abs(ts - click_at) < 1e-6:
                victim[:] = 20_000
            writer.push_audio("officer", quiet, SAMPLE_RATE, ts)
            writer.push_audio("victim", victim, SAMPLE_RATE, ts)


def record(directory: Path, seconds: float, **marks: float) -> list[SegmentInfo]:
    """Record a whole synthetic statement and return its segments."""
    writer = StatementWriter(
        directory, participants=["officer", "victim"], started_at=STARTED_AT, config=FAST
    )
    feed(writer, seconds=seconds, **marks)
    return writer.close()


def decoded_duration(path: Path) -> tuple[float, float]:
    """(video seconds, audio seconds) actually decodable from ``path``."""
    video = audio = 0.0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0, audio=0):
            if isinstance(frame, av.VideoFrame) and frame.time is not None:
                video = max(video, frame.time + 1 / 25)
            elif isinstance(frame, av.AudioFrame) and frame.time is not None:
                audio = max(audio, frame.time + frame.samples / frame.sample_rate)
    return video, audio
