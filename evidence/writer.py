"""Compose a statement call into segmented, crash-tolerant H.264/AAC fragmented MP4.

The recorder participant decodes each remote track and pushes raw frames here with a
timestamp in seconds since the statement started. Timestamps, never arrival counts,
drive the output clock: the composite is rendered at a fixed frame rate, each output frame
shows every participant's latest frame at that instant, and audio is mixed into a single
48 kHz timeline at the sample position its timestamp names. So audio and video stay in
sync however unevenly the SFU delivers them.

Not thread-safe and CPU-bound: run one writer per statement in a worker thread.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from core.evidence_errors import RecorderError
from core.utc import utc_iso
from evidence.hashing import HashingFileWriter

SEGMENT_PATTERN = re.compile(r"^segment-(\d{5})\.mp4$")
_BLACK_Y, _NEUTRAL_UV, _PLACEHOLDER_Y = 16, 128, 48
_MAX_PARTICIPANTS = 4
# Within this distance a participant's audio chunk is butted against its previous one:
# network jitter must not turn into clicks or gaps in the mix.
_AUDIO_JITTER_SECONDS = 0.04

Pixels = npt.NDArray[np.uint8]
Pcm = npt.NDArray[np.int16]


def segment_name(index: int) -> str:
    """File name of segment ``index`` (1-based); sorts lexically in recording order."""
    return f"segment-{index:05d}.mp4"


def existing_segment_indices(directory: Path) -> list[int]:
    """Indices of segments already in ``directory`` (e.g. from before a crash), sorted."""
    if not directory.exists():
        return []
    found = (SEGMENT_PATTERN.match(p.name) for p in directory.iterdir())
    return sorted(int(m.group(1)) for m in found if m)


@dataclass(frozen=True)
class WriterConfig:
    """Output format and timing policy of a :class:`StatementWriter`."""

    width: int = 1280
    height: int = 360
    fps: int = 25
    sample_rate: int = 48_000
    segment_seconds: float = 300.0
    # Keyframe interval = fragment length = the most a crash can lose.
    keyframe_seconds: float = 1.0
    # How long to wait for late media before rendering an instant; caps recorder latency.
    reorder_seconds: float = 0.25
    # A stalled feed shows its last frame this long, then a placeholder: a frozen image
    # held indefinitely would misrepresent who was visibly present.
    video_hold_seconds: float = 2.0
    # ultrafast, one thread (issue 14, BENCHMARKS.md "recorder at 720p"): at the same CRF
    # its picture is closer to what the recorder was given than superfast's (luma PSNR
    # +1.7 dB) for a quarter more bytes and about 40 % less writer CPU. One thread per
    # statement because a recorder host's cores are shared by many statements: x264's
    # sliced threads spent CPU on splitting a frame that no one waits for.
    x264_preset: str = "ultrafast"
    x264_threads: int = 1
    x264_crf: int = 23
    audio_bitrate: int = 96_000

    def __post_init__(self) -> None:
        if self.width % 4 or self.height % 4 or self.width <= 0 or self.height <= 0:
            raise ValueError("output width and height must be positive multiples of 4")
        if self.fps <= 0 or self.sample_rate % self.fps:
            raise ValueError("sample_rate must be a positive multiple of fps")
        if self.x264_threads < 0:
            raise ValueError("x264_threads must be 0 (x264 chooses) or more")
        if self.keyframe_seconds <= 0 or self.segment_seconds < self.keyframe_seconds:
            raise ValueError("segment_seconds must be at least keyframe_seconds (> 0)")

    @property
    def frames_per_segment(self) -> int:
        return max(1, round(self.segment_seconds * self.fps))

    @property
    def samples_per_frame(self) -> int:
        return self.sample_rate // self.fps


@dataclass(frozen=True)
class SegmentInfo:
    """A finished segment as written: hash and size were computed while writing."""

    index: int
    path: Path
    sha256: str
    bytes: int
    start: datetime
    end: datetime
    hashed: str = "capture"
    """"capture" (hashed while writing) or "recovery" (hashed after the writer crashed)."""

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def duration(self) -> float:
        """Seconds of composite media in the segment."""
        return (self.end - self.start).total_seconds()


@dataclass
class _Tile:
    x: int
    y: int
    width: int
    height: int


@dataclass
class _Participant:
    tile: _Tile
    pending: list[tuple[float, Pixels]] = field(default_factory=list)
    shown_ts: float | None = None
    planes: tuple[Pixels, Pixels, Pixels, int, int] | None = None
    next_audio_sample: int | None = None
    painted: bool = False  # the canvas's tile has been drawn at least once
    drawn: tuple[Pixels, Pixels, Pixels, int, int] | None = None
    """What the canvas's tile shows once painted: ``planes`` as drawn, None: the placeholder."""


@dataclass
class _Segment:
    index: int
    first_frame: int
    sink: HashingFileWriter
    container: av.container.OutputContainer
    video: av.VideoStream
    audio: av.AudioStream
    frames: int = 0


def _grid(count: int, width: int, height: int) -> list[_Tile]:
    cols = count if count <= 3 else 2
    rows = math.ceil(count / cols)
    tile_w, tile_h = (width // cols) & ~3, (height // rows) & ~3
    return [_Tile((i % cols) * tile_w, (i // cols) * tile_h, tile_w, tile_h) for i in range(count)]


def _to_i420(frame: Pixels, width: int, height: int) -> tuple[Pixels, Pixels, Pixels]:
    """Scale an RGB (h, w, 3) or packed I420 (h*3/2, w) array to I420 planes."""
    if frame.ndim == 3 and frame.shape[2] == 3:
        src = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
    elif frame.ndim == 2 and frame.shape[0] % 3 == 0 and frame.shape[1] % 2 == 0:
        src = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="yuv420p")
    else:
        raise RecorderError(f"unsupported frame shape {frame.shape}: need RGB or I420")
    flat = np.asarray(src.reformat(width, height, "yuv420p").to_ndarray(), np.uint8).ravel()
    luma, chroma = width * height, (width // 2) * (height // 2)
    return (
        flat[:luma].reshape(height, width),
        flat[luma : luma + chroma].reshape(height // 2, width // 2),
        flat[luma + chroma : luma + 2 * chroma].reshape(height // 2, width // 2),
    )


def _to_mono_float(pcm: Pcm, sample_rate: int, out_rate: int) -> npt.NDArray[np.float32]:
    if pcm.dtype != np.int16 or pcm.ndim not in (1, 2):
        raise RecorderError("audio must be int16 shaped (samples,) or (samples, channels)")
    mono = pcm.astype(np.float32) if pcm.ndim == 1 else pcm.astype(np.float32).mean(axis=1)
    if sample_rate == out_rate or mono.size == 0:
        return mono
    # Linear interpolation: the recorder asks the SFU for 48 kHz, so this is a fallback.
    count = round(mono.size * out_rate / sample_rate)
    positions = np.arange(count, dtype=np.float64) * (sample_rate / out_rate)
    resampled = np.interp(positions, np.arange(mono.size), mono)
    return np.asarray(resampled, dtype=np.float32)


class StatementWriter:
    """Write one statement's composite recording as numbered, independently playable segments.

    Each segment is H.264 + AAC in fragmented MP4 (``frag_keyframe+empty_moov``, flushed at
    every fragment) written through :class:`HashingFileWriter`, so a crash leaves every
    completed fragment playable and every closed segment has a hash taken at acquisition.
    A new writer for a directory that already holds segments continues their numbering
    (resume after a crash or reconnection), or starts at ``first_index`` if that is higher;
    recording the gap is the caller's job. ``on_segment_open(index, name, start)`` runs just
    before a segment file is created and ``on_segment_closed(info)`` once it is fsynced, so a
    recorder can persist both before writing on.
    """

    def __init__(
        self,
        directory: Path,
        *,
        participants: Sequence[str],
        started_at: datetime,
        title: str = "EVR statement",
        config: WriterConfig | None = None,
        first_index: int = 1,
        on_segment_open: Callable[[int, str, datetime], None] | None = None,
        on_segment_closed: Callable[[SegmentInfo], None] | None = None,
    ) -> None:
        if not 1 <= len(participants) <= _MAX_PARTICIPANTS:
            raise RecorderError(f"between 1 and {_MAX_PARTICIPANTS} participants are supported")
        if len(set(participants)) != len(participants):
            raise RecorderError("participant identities must be unique")
        utc_iso(started_at)  # validates: timestamps in evidence are UTC only
        self.config = config or WriterConfig()
        self.directory = directory
        self.started_at = started_at
        self.title = title
        directory.mkdir(parents=True, exist_ok=True)
        existing = existing_segment_indices(directory)
        self.first_index = max(first_index, (existing[-1] + 1) if existing else 1)
        self._on_open = on_segment_open
        self._on_closed = on_segment_closed
        tiles = _grid(len(participants), self.config.width, self.config.height)
        self._participants = {p: _Participant(t) for p, t in zip(participants, tiles, strict=True)}
        self._horizon = 0.0  # latest media instant seen (seconds since started_at)
        self._next_frame = 0  # output frame counter since started_at
        self._mix = np.zeros(0, np.float32)  # audio not yet encoded, from _mix_base
        self._mix_base = 0
        # The composite, kept between output frames: a tile is redrawn only when what it
        # shows changes (at most the participant's frame rate), not on every output frame.
        cfg = self.config
        luma, chroma = cfg.width * cfg.height, (cfg.width // 2) * (cfg.height // 2)
        self._canvas = np.empty(luma + 2 * chroma, np.uint8)
        self._canvas[:luma], self._canvas[luma:] = _BLACK_Y, _NEUTRAL_UV
        self._canvas_y = self._canvas[:luma].reshape(cfg.height, cfg.width)
        self._canvas_u = self._canvas[luma : luma + chroma].reshape(cfg.height // 2, cfg.width // 2)
        self._canvas_v = self._canvas[luma + chroma :].reshape(cfg.height // 2, cfg.width // 2)
        self._segment: _Segment | None = None
        self._done: list[SegmentInfo] = []
        self._closed = False
        self.late_audio_samples = 0  # dropped because their instant was already encoded

    # -- input -------------------------------------------------------------------------

    def push_video(self, participant: str, frame: Pixels, ts: float) -> None:
        """Queue a decoded frame (RGB ``(h, w, 3)`` or I420 ``(h*3/2, w)``) shown from ``ts``."""
        state = self._state(participant, ts)
        state.pending.append((ts, frame))
        self._advance(ts)

    def push_audio(self, participant: str, pcm: Pcm, sample_rate: int, ts: float) -> None:
        """Mix int16 PCM (``(n,)`` mono or ``(n, channels)``) starting at instant ``ts``."""
        state = self._state(participant, ts)
        samples = _to_mono_float(pcm, sample_rate, self.config.sample_rate)
        position = round(ts * self.config.sample_rate)
        expected = state.next_audio_sample
        jitter = _AUDIO_JITTER_SECONDS * self.config.sample_rate
        if expected is not None and abs(position - expected) <= jitter:
            position = expected
        state.next_audio_sample = position + samples.size
        if position < self._mix_base:
            late = min(samples.size, self._mix_base - position)
            self.late_audio_samples += late
            samples, position = samples[late:], position + late
        offset = position - self._mix_base
        if offset + samples.size > self._mix.size:
            self._mix = np.concatenate(
                [self._mix, np.zeros(offset + samples.size - self._mix.size, np.float32)]
            )
        self._mix[offset : offset + samples.size] += samples
        self._advance(ts + samples.size / self.config.sample_rate)

    def advance_to(self, ts: float) -> None:
        """Declare that time has reached ``ts`` even if nobody sent media (all feeds lost)."""
        self._advance(ts)

    def close(self) -> list[SegmentInfo]:
        """Render everything received, finish the open segment and return all segments."""
        if not self._closed:
            self._closed = True
            self._render_until(math.ceil(round(self._horizon * self.config.fps, 6)))
            self._finish_segment()
        return list(self._done)

    def abort(self) -> None:
        """Stop writing at once: the open segment's file is closed unfinished (no trailer,
        no ``on_segment_closed``), as a crash would leave it. For a recorder that found
        another has taken its statement over (fenced): it must write nothing more."""
        self._closed = True
        segment, self._segment = self._segment, None
        if segment is not None:
            segment.sink.abort()
            # Free the muxer; its trailer can no longer reach the file (the fd is closed).
            with contextlib.suppress(Exception):
                segment.container.close()

    @property
    def bytes_written(self) -> int:
        """Bytes handed to the kernel so far, over every segment of this writer."""
        current = self._segment.sink.bytes_written if self._segment is not None else 0
        return sum(s.bytes for s in self._done) + current

    @property
    def segments(self) -> list[SegmentInfo]:
        """Segments finished so far."""
        return list(self._done)

    # -- internals -----------------------------------------------------------------------

    def _state(self, participant: str, ts: float) -> _Participant:
        if self._closed:
            raise RecorderError("writer is closed")
        if not math.isfinite(ts) or ts < 0:
            raise RecorderError(f"timestamp must be a finite number of seconds >= 0, got {ts}")
        try:
            return self._participants[participant]
        except KeyError:
            raise RecorderError(f"unknown participant {participant!r}") from None

    def _advance(self, ts: float) -> None:
        self._horizon = max(self._horizon, ts)
        ready = self._horizon - self.config.reorder_seconds
        # Render frame n only once its whole interval [n/fps, (n+1)/fps) is past the window.
        self._render_until(math.floor(ready * self.config.fps))

    def _render_until(self, end_frame: int) -> None:
        cfg = self.config
        while self._next_frame < end_frame:
            n = self._next_frame
            if self._segment is None or self._segment.frames >= cfg.frames_per_segment:
                self._finish_segment()
                self._segment = self._open_segment(n)
            segment = self._segment
            video = av.VideoFrame.from_ndarray(self._compose(n / cfg.fps), format="yuv420p")
            video.pts = n - segment.first_frame
            video.time_base = Fraction(1, cfg.fps)
            segment.container.mux(segment.video.encode(video))
            segment.container.mux(segment.audio.encode(self._audio_frame(n - segment.first_frame)))
            segment.frames += 1
            self._next_frame += 1

    def _audio_frame(self, frame_in_segment: int) -> av.AudioFrame:
        spf = self.config.samples_per_frame
        chunk = np.zeros(spf, np.float32)
        take = min(spf, self._mix.size)
        chunk[:take] = self._mix[:take]
        self._mix = self._mix[take:]
        self._mix_base += spf
        pcm = np.clip(np.rint(chunk), -32768, 32767).astype(np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
        frame.sample_rate = self.config.sample_rate
        frame.pts = frame_in_segment * spf
        frame.time_base = Fraction(1, self.config.sample_rate)
        return frame

    def _compose(self, at: float) -> Pixels:
        cfg = self.config
        for state in self._participants.values():
            self._select_frame(state, at)
            stale = state.shown_ts is None or at - state.shown_ts > cfg.video_hold_seconds
            shown = None if stale else state.planes
            if not state.painted or shown is not state.drawn:
                self._draw(state.tile, shown)
                state.painted, state.drawn = True, shown
        # from_ndarray copies: the encoder never sees the canvas change under it.
        return self._canvas.reshape(-1, cfg.width)

    def _draw(self, tile: _Tile, planes: tuple[Pixels, Pixels, Pixels, int, int] | None) -> None:
        """Paint ``tile``: the placeholder (None), or a frame centred on black."""
        x, y, w, h = tile.x, tile.y, tile.width, tile.height
        cy, cu, cv = self._canvas_y, self._canvas_u, self._canvas_v
        if planes is None:
            cy[y : y + h, x : x + w] = _PLACEHOLDER_Y
            cu[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = _NEUTRAL_UV
            cv[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = _NEUTRAL_UV
            return
        py, pu, pv, ox, oy = planes
        ph, pw = py.shape
        if (pw, ph) != (w, h):  # the frame does not fill the tile: black bars around it
            cy[y : y + h, x : x + w] = _BLACK_Y
            cu[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = _NEUTRAL_UV
            cv[y // 2 : (y + h) // 2, x // 2 : (x + w) // 2] = _NEUTRAL_UV
        cy[oy : oy + ph, ox : ox + pw] = py
        cu[oy // 2 : (oy + ph) // 2, ox // 2 : (ox + pw) // 2] = pu
        cv[oy // 2 : (oy + ph) // 2, ox // 2 : (ox + pw) // 2] = pv

    def _select_frame(self, state: _Participant, at: float) -> None:
        # Latest frame due by ``at``; a frame arriving after its instant was rendered is
        # shown from the next output frame rather than dropped.
        due = [item for item in state.pending if item[0] <= at + 1e-9]
        if not due:
            return
        ts, frame = max(due, key=lambda item: item[0])
        state.pending = [item for item in state.pending if item[0] > at + 1e-9]
        if state.shown_ts is not None and ts < state.shown_ts:
            return
        tile, (ih, iw) = state.tile, frame.shape[:2]
        if frame.ndim == 2:
            ih = ih * 2 // 3
        scale = min(tile.width / iw, tile.height / ih)
        w, h = max(2, int(iw * scale) & ~1), max(2, int(ih * scale) & ~1)
        ox = tile.x + ((tile.width - w) // 2 & ~1)
        oy = tile.y + ((tile.height - h) // 2 & ~1)
        if frame.ndim == 2 and (w, h) == (iw, ih):
            # Already I420 at the tile's size (the SFU sends the layer that fills it, see
            # recorder/media.py): the planes are views of the frame, with no scaling or copy.
            flat = frame.reshape(-1)
            luma, chroma = w * h, (w // 2) * (h // 2)
            state.planes = (
                flat[:luma].reshape(h, w),
                flat[luma : luma + chroma].reshape(h // 2, w // 2),
                flat[luma + chroma : luma + 2 * chroma].reshape(h // 2, w // 2),
                ox,
                oy,
            )
        else:
            state.planes = (*_to_i420(frame, w, h), ox, oy)
        state.shown_ts = ts

    def _open_segment(self, first_frame: int) -> _Segment:
        cfg = self.config
        index = self.first_index + len(self._done)
        start = self.started_at + timedelta(seconds=first_frame / cfg.fps)
        if self._on_open is not None:
            self._on_open(index, segment_name(index), start)
        sink = HashingFileWriter(self.directory / segment_name(index))
        try:
            container = av.open(
                sink,
                mode="w",
                format="mp4",
                container_options={
                    # empty_moov + a fragment per keyframe: playable up to the last
                    # complete fragment if the process dies; flush so it reaches the disk.
                    "movflags": "frag_keyframe+empty_moov+default_base_moof",
                    "flush_packets": "1",
                },
            )
            container.metadata["creation_time"] = utc_iso(start)
            container.metadata["title"] = f"{self.title} segment {index}"
            container.metadata["comment"] = f"composite; segment start {utc_iso(start)}"
            gop = max(1, round(cfg.keyframe_seconds * cfg.fps))
            video = container.add_stream(
                "libx264",
                rate=cfg.fps,
                options={
                    "preset": cfg.x264_preset,
                    "crf": str(cfg.x264_crf),
                    # zerolatency: no B-frames or lookahead, so packets leave promptly.
                    "tune": "zerolatency",
                    "x264-params": (
                        f"keyint={gop}:min-keyint={gop}:scenecut=0:threads={cfg.x264_threads}"
                    ),
                },
            )
            video.width, video.height, video.pix_fmt = cfg.width, cfg.height, "yuv420p"
            video.codec_context.time_base = Fraction(1, cfg.fps)
            audio = container.add_stream("aac", rate=cfg.sample_rate)
            audio.codec_context.layout = "mono"
            audio.codec_context.bit_rate = cfg.audio_bitrate
        except (av.FFmpegError, ValueError) as exc:
            sink.abort()
            raise RecorderError(f"cannot open segment {sink.path.name}: {exc}") from exc
        return _Segment(index, first_frame, sink, container, video, audio)

    def _finish_segment(self) -> None:
        segment, self._segment = self._segment, None
        if segment is None:
            return
        segment.container.mux(segment.video.encode(None))
        segment.container.mux(segment.audio.encode(None))
        segment.container.close()
        digest = segment.sink.close()
        fps = self.config.fps
        info = SegmentInfo(
            index=segment.index,
            path=digest.path,
            sha256=digest.sha256,
            bytes=digest.size,
            start=self.started_at + timedelta(seconds=segment.first_frame / fps),
            end=self.started_at + timedelta(seconds=(segment.first_frame + segment.frames) / fps),
        )
        self._done.append(info)
        if self._on_closed is not None:
            self._on_closed(info)
