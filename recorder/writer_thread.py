"""The thread that owns one statement's :class:`evidence.writer.StatementWriter`.

Encoding and writing block, so they happen off the event loop; one thread per statement
keeps every push in arrival order. The event loop only enqueues, stamped with the
``time.monotonic()`` of capture, which also tells how far behind real time the writer is.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from evidence.writer import Pcm, Pixels, SegmentInfo, StatementWriter, WriterConfig
from recorder.job_store import ClaimLostError
from recorder.states import ProblemReason, is_disk_full

# Bytes of video a writer may have queued (all participants together) before new frames are
# dropped: ~5 s of two 640x360 tiles at 20 fps, ~110 s of the soak's 160x120 at 10 fps. A
# writer behind real time otherwise holds every frame it has not encoded yet. Audio is
# never dropped: the statement is the words. (A 100-frame bound dropped the flashes of
# tests/recorder/test_statement.py's sync test at load ~25: too tight for short lags.)
MAX_QUEUED_VIDEO_BYTES = 64 << 20


class _Kind(StrEnum):
    VIDEO = "video"
    AUDIO = "audio"
    ROLL = "roll"  # a new writer (so a new segment) for a new set of participants
    PAUSE = "pause"  # close the writer: no media until the next roll (a gap)
    TICK = "tick"  # let the writer advance time while no media arrives


@dataclass
class _Item:
    kind: _Kind
    at: float  # time.monotonic() of capture
    identity: str = ""
    data: Any = None


class WriterThread(threading.Thread):
    """Owns the StatementWriter of one job: every push happens here, in arrival order.

    At most ``max_queued_video_bytes`` of video wait to be written; a frame pushed beyond that
    is dropped and counted in ``video_dropped`` (the composite repeats the last picture, as
    for any gap between frames). Audio, rolls and pauses always queue.

    ``lag`` is how far behind real time the item being written was captured. A fatal error
    (full disk) stops the thread and is kept in ``fatal`` for the job to report. Once
    ``fenced`` is set (the job lost its claim, or a segment callback found it lost), the
    thread writes nothing more: the open segment is dropped unfinished, so no trailer, no
    close and no database write follow; the new holder works from its own copy.
    """

    def __init__(
        self,
        recording_id: str,
        *,
        spool: Path,
        config: WriterConfig,
        first_index: int,
        on_segment_open: Callable[[int, str, datetime], None],
        on_segment_closed: Callable[[SegmentInfo], None],
        max_queued_video_bytes: int = MAX_QUEUED_VIDEO_BYTES,
    ) -> None:
        super().__init__(name=f"writer-{recording_id[:8]}", daemon=True)
        self.recording_id = recording_id
        self.spool = spool
        self.config = config
        self.first_index = first_index
        self.on_segment_open = on_segment_open
        self.on_segment_closed = on_segment_closed
        self.items: queue.Queue[_Item | None] = queue.Queue()
        self.max_queued_video_bytes = max_queued_video_bytes
        self.video_dropped = 0  # only the event loop writes it
        self._video_queued = 0  # bytes; both threads change it: under the queue's own lock
        self.lag = 0.0
        self.fatal: tuple[ProblemReason, str] | None = None
        self.fenced = threading.Event()
        self.bytes_before = 0
        self._writer: StatementWriter | None = None
        self._t0 = 0.0
        self._busy_since: float | None = None

    # -- called from the event loop -------------------------------------------------------------

    def push_video(self, identity: str, at: float, pixels: Pixels) -> bool:
        """Queue a frame, or drop it (counted) while the writer has its fill of video; True if
        queued."""
        with self.items.mutex:
            full = self._video_queued + pixels.nbytes > self.max_queued_video_bytes
            if not full:
                self._video_queued += pixels.nbytes
        if full:
            self.video_dropped += 1
            return False
        self.items.put(_Item(_Kind.VIDEO, at, identity, pixels))
        return True

    def push_audio(self, identity: str, at: float, pcm: Pcm, rate: int) -> None:
        self.items.put(_Item(_Kind.AUDIO, at, identity, (pcm, rate)))

    def roll(self, participants: list[str], started_at: datetime) -> None:
        """Close the current writer and start one for ``participants`` from now."""
        self.items.put(_Item(_Kind.ROLL, time.monotonic(), data=(participants, started_at)))

    def pause(self) -> None:
        """Close the current writer (ending its segment) and write nothing until `roll`."""
        self.items.put(_Item(_Kind.PAUSE, time.monotonic()))

    def tick(self) -> None:
        self.items.put(_Item(_Kind.TICK, time.monotonic()))

    def fence(self) -> None:
        """Stop at once, writing nothing more (another recorder holds the statement now)."""
        self.fenced.set()
        self.items.put(None)

    def finish(self) -> None:
        """Write what is queued, close the writer (and its segment), then end the thread."""
        self.items.put(None)

    def current_lag(self) -> float:
        """Seconds between now and the capture of the oldest item not yet written."""
        with self.items.mutex:
            head = self.items.queue[0] if self.items.queue else None
        oldest = head.at if head is not None else self._busy_since
        return 0.0 if oldest is None else max(0.0, time.monotonic() - oldest)

    @property
    def bytes_written(self) -> int:
        writer = self._writer
        return self.bytes_before + (writer.bytes_written if writer is not None else 0)

    # -- the thread -----------------------------------------------------------------------------

    def run(self) -> None:
        try:
            while (item := self.items.get()) is not None and not self.fenced.is_set():
                if item.kind is _Kind.VIDEO:
                    with self.items.mutex:
                        self._video_queued -= item.data.nbytes
                self._busy_since = item.at
                self._handle(item)
                self._busy_since = None
            if self.fenced.is_set():
                self._abandon_writer()
                return
            self._close_writer()
        except ClaimLostError:
            self.fenced.set()
            self._abandon_writer()
        except Exception as exc:
            reason = ProblemReason.DISK_FULL if is_disk_full(exc) else ProblemReason.CRASHED
            self.fatal = (reason, f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(Exception):
                self._abandon_writer()

    def _handle(self, item: _Item) -> None:
        if item.kind is _Kind.ROLL:
            self._close_writer()
            participants, started_at = item.data
            self._t0 = item.at
            self._writer = StatementWriter(
                self.spool,
                participants=participants,
                started_at=started_at,
                title=f"EVR statement {self.recording_id}",
                config=self.config,
                first_index=self.first_index,
                on_segment_open=self.on_segment_open,
                on_segment_closed=self.on_segment_closed,
            )
            return
        if item.kind is _Kind.PAUSE:
            self._close_writer()
            return
        writer = self._writer
        if writer is None:
            return
        ts = item.at - self._t0
        if ts < 0:
            return  # captured before this writer began (a participant just joined)
        if item.kind is _Kind.VIDEO:
            writer.push_video(item.identity, item.data, ts)
        elif item.kind is _Kind.AUDIO:
            pcm, rate = item.data
            writer.push_audio(item.identity, pcm, rate, ts)
        else:
            writer.advance_to(ts)
        self.lag = max(0.0, time.monotonic() - item.at)

    def _close_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            self.bytes_before += writer.bytes_written

    def _abandon_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            self.bytes_before += writer.bytes_written
            writer.abort()
