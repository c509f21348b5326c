"""StatementWriter: playable segments, A/V sync, crash tolerance and resume."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from core.evidence_errors import RecorderError
from evidence.hashing import hash_file
from evidence.writer import SegmentInfo, StatementWriter, existing_segment_indices
from tests.evidence.media import FAST, STARTED_AT, decoded_duration, feed, grey_frame, record

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory) -> list[SegmentInfo]:
    """3 s statement, 2 s segments, with a flash and a click at the same instant."""
    return record(tmp_path_factory.mktemp("marked"), 3.0, flash_at=2.4, click_at=2.4)


def ffprobe(path: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            "ffprobe",
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            str(path),
        ],
        capture_output=True,
        check=True,
        text=True,
    )
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_segments_play_in_ffprobe_and_pyav(marked: list[SegmentInfo]) -> None:
    assert [s.name for s in marked] == ["segment-00001.mp4", "segment-00002.mp4"]
    total = 0.0
    for segment in marked:
        probe = ffprobe(segment.path)
        streams = probe["streams"]
        assert isinstance(streams, list)
        assert sorted(s["codec_name"] for s in streams) == ["aac", "h264"]
        video = next(s for s in streams if s["codec_type"] == "video")
        assert (video["width"], video["height"]) == (1280, 360)
        tags = probe["format"]["tags"]
        assert tags["creation_time"] == segment.start.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
        video_s, audio_s = decoded_duration(segment.path)
        assert abs(video_s - segment.duration) < 0.1
        assert abs(audio_s - segment.duration) < 0.1
        total += video_s
    assert abs(total - 3.0) <= 1.0
    assert marked[0].start == STARTED_AT
    assert marked[1].start == STARTED_AT + timedelta(seconds=2)
    assert abs(sum(s.duration for s in marked) - 3.0) < 0.05


def _x264_options(path: Path) -> dict[str, str]:
    """The settings x264 wrote into the stream's first keyframe (its SEI text)."""
    data = path.read_bytes()
    start = data.index(b"options: ") + len(b"options: ")
    text = data[start : data.index(b"\x00", start)].decode("ascii", "replace")
    return dict(item.split("=", 1) for item in text.split() if "=" in item)


def test_the_composite_is_encoded_by_one_x264_thread_at_the_configured_quality(
    marked: list[SegmentInfo],
) -> None:
    for segment in marked:
        options = _x264_options(segment.path)
        assert options["threads"] == "1"
        assert options["rc"] == "crf"
        assert float(options["crf"]) == FAST.x264_crf
        assert options["keyint"] == str(round(FAST.keyframe_seconds * FAST.fps))
        # ultrafast: CAVLC and one reference frame, its cheapest search.
        assert (options["cabac"], options["ref"]) == ("0", "1")


def test_hash_and_size_taken_while_writing_match_the_file(marked: list[SegmentInfo]) -> None:
    for segment in marked:
        digest = hash_file(segment.path)
        assert (digest.sha256, digest.size) == (segment.sha256, segment.bytes)


def test_audio_and_video_in_sync_within_100ms(marked: list[SegmentInfo]) -> None:
    path = marked[1].path  # the marks are at 2.4 s, i.e. 0.4 s into segment 2
    flash = click = None
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            luma = frame.to_ndarray(format="gray")
            if flash is None and luma[:, :640].mean() > 200:
                flash = frame.time
        container.seek(0)
        for sound in container.decode(audio=0):
            samples = np.abs(sound.to_ndarray()).max(axis=0)
            loud = np.flatnonzero(samples > 0.3)
            if click is None and loud.size:
                click = sound.time + loud[0] / sound.sample_rate
    assert flash is not None
    assert click is not None
    assert abs(flash - 0.4) < 0.1
    assert abs(click - flash) <= 0.1


def test_missing_video_is_a_placeholder_and_missing_audio_is_silence(tmp_path: Path) -> None:
    writer = StatementWriter(
        tmp_path, participants=["officer", "victim"], started_at=STARTED_AT, config=FAST
    )
    for i in range(25):  # only the officer ever sends video, nobody sends audio
        writer.push_video("officer", grey_frame(200), i / 25)
    [segment] = writer.close()
    with av.open(str(segment.path)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="gray")
        assert frame[:, 100:540].mean() > 150  # officer tile
        # Placeholder grey (Y=48, i.e. ~37 in full range): neither black nor a held frame.
        assert 25 < frame[:, 740:1180].mean() < 50
        container.seek(0)
        audio = np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)
    assert np.abs(audio).max() < 1e-3


def test_timestamps_not_arrival_count_drive_the_clock(tmp_path: Path) -> None:
    writer = StatementWriter(tmp_path, participants=["officer"], started_at=STARTED_AT, config=FAST)
    for i in range(10):  # 10 frames spread over 1.8 s (a 5 fps feed)
        writer.push_video("officer", grey_frame(90), i * 0.2)
    writer.advance_to(2.0)
    [segment] = writer.close()
    assert segment.duration == pytest.approx(2.0)


def test_resume_continues_segment_numbering(tmp_path: Path) -> None:
    first = record(tmp_path, 0.6)
    assert [s.index for s in first] == [1]
    first_sha256 = hashlib.sha256(first[0].path.read_bytes()).hexdigest()
    writer = StatementWriter(
        tmp_path,
        participants=["officer", "victim"],
        started_at=STARTED_AT + timedelta(seconds=30),
        config=FAST,
    )
    assert writer.first_index == 2
    feed(writer, seconds=0.6)
    [resumed] = writer.close()
    assert resumed.name == "segment-00002.mp4"
    assert resumed.start == STARTED_AT + timedelta(seconds=30)
    assert first_sha256 == first[0].sha256  # the hash recorded when it was written
    assert hashlib.sha256(first[0].path.read_bytes()).hexdigest() == first_sha256  # untouched
    assert existing_segment_indices(tmp_path) == [1, 2]


def test_rejects_unknown_participants_and_bad_timestamps(tmp_path: Path) -> None:
    writer = StatementWriter(tmp_path, participants=["officer"], started_at=STARTED_AT, config=FAST)
    with pytest.raises(RecorderError, match="unknown participant"):
        writer.push_video("intruder", grey_frame(1), 0.0)
    with pytest.raises(RecorderError, match="timestamp"):
        writer.push_video("officer", grey_frame(1), float("nan"))
    assert writer.close() == []


CRASHING_WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from evidence.writer import StatementWriter
    from tests.evidence.media import FAST, STARTED_AT, feed
    writer = StatementWriter(Path(sys.argv[1]), participants=["officer", "victim"],
                             started_at=STARTED_AT, config=FAST)
    feed(writer, seconds=1.8)
    print("pushed", flush=True)
    time.sleep(60)
    """
)


def test_killed_writer_leaves_completed_fragments_playable(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_WRITER, str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "pushed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    partial = tmp_path / "segment-00001.mp4"
    # 1.8 s pushed, 0.25 s reorder window, 0.5 s fragments: >= 1.0 s must survive.
    video_s, audio_s = decoded_duration(partial)
    assert video_s >= 1.0
    assert audio_s >= 1.0
    probe = ffprobe(partial)
    assert sorted(s["codec_name"] for s in probe["streams"]) == ["aac", "h264"]
    # And a resumed writer numbers after the crashed segment.
    resumed = StatementWriter(
        tmp_path, participants=["officer"], started_at=STARTED_AT, config=FAST
    )
    assert resumed.first_index == 2


def i420(width: int, height: int, y: int, u: int = 128, v: int = 128) -> np.ndarray[Any, Any]:
    """A packed I420 frame (as the recorder gets it from the SFU) of one colour."""
    luma = np.full((height, width), y, np.uint8)
    chroma = np.concatenate(
        [np.full((height // 4, width), u, np.uint8), np.full((height // 4, width), v, np.uint8)]
    )
    return np.concatenate([luma, chroma])


def test_each_tile_shows_its_frame_scaled_or_not_and_follows_changes(tmp_path: Path) -> None:
    """A frame already at the tile's size (640x360: the layer the recorder asks the SFU for)
    is placed as it is, a 720p one is scaled to fill the tile, a 4:3 one that follows it has
    black bars beside it (none of the 720p picture left there), and a feed that stops becomes
    the placeholder until it resumes."""
    one_segment = dataclasses.replace(FAST, segment_seconds=5.0)
    writer = StatementWriter(
        tmp_path, participants=["officer", "victim"], started_at=STARTED_AT, config=one_segment
    )
    officer = i420(640, 360, 200, u=60, v=200)
    officer[:360, :320] = 60  # left half dark: where its edge lands shows it was not scaled
    for i in range(100):  # 4 s at 25 fps; the officer's feed stops from 1.0 s to 3.6 s
        t = i / 25
        if t < 1.0 or t >= 3.6:
            writer.push_video("officer", officer, t)
        victim = i420(1280, 720, 100) if t < 1.0 else grey_frame(180, 320, 240)
        writer.push_video("victim", victim, t)
    [segment] = writer.close()
    frames = {}
    with av.open(str(segment.path)) as container:
        for frame in container.decode(video=0):
            frames[round(frame.time * 25)] = frame.to_ndarray(format="yuv420p")

    def luma(n: int, x: int) -> float:
        return float(frames[n][:360, x].mean())

    def chroma(n: int, x: int) -> tuple[float, float]:
        u, v = frames[n][360:450].reshape(180, 640), frames[n][450:].reshape(180, 640)
        return float(u[:, x // 2].mean()), float(v[:, x // 2].mean())

    # 0.5 s: the officer unscaled (edge at x=320); the victim's 720p frame fills its tile.
    assert abs(luma(12, 300) - 60) < 6
    assert abs(luma(12, 340) - 200) < 6
    assert chroma(12, 500) == pytest.approx((60, 200), abs=6)
    assert all(abs(luma(12, x) - 100) < 6 for x in (650, 960, 1270))
    # 2.0 s: the victim's 4:3 frame, 480 wide, with black bars; the officer's frame held.
    assert abs(luma(50, 660) - 16) < 6
    assert abs(luma(50, 1270) - 16) < 6
    assert abs(luma(50, 960) - 171) < 6  # RGB grey 180 is Y 171 in video range
    assert abs(luma(50, 340) - 200) < 6
    # 3.4 s: the officer's last frame is 2.4 s old (held 2 s at most): the placeholder.
    assert all(abs(luma(85, x) - 48) < 6 for x in (10, 300, 340, 630))
    assert chroma(85, 340) == pytest.approx((128, 128), abs=6)
    # 3.9 s: the officer is back, as before.
    assert abs(luma(97, 300) - 60) < 6
    assert abs(luma(97, 340) - 200) < 6
