"""Progress of long evidence work (hashing and copying Masters) for someone at a terminal.

The library reports the bytes it hashes to the meter a caller installed with `reporting()`;
with none installed (the control plane, the recorder, scripts, pipes) a report costs one
context-variable read per 1 MiB chunk. Worker threads started with `asyncio.to_thread` see
the caller's meter, since they run in a copy of its context.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol, TextIO


class Meter(Protocol):
    def advance(self, nbytes: int) -> None: ...


_METER: ContextVar[Meter | None] = ContextVar("evidence_progress_meter", default=None)


def advance(nbytes: int) -> None:
    """Report `nbytes` more hashed or copied to the installed meter, if any."""
    meter = _METER.get()
    if meter is not None:
        meter.advance(nbytes)


@contextmanager
def reporting(meter: Meter) -> Iterator[None]:
    """Send the progress of the evidence work done inside the block to `meter`."""
    token = _METER.set(meter)
    try:
        yield
    finally:
        _METER.reset(token)


def _size(nbytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1000 or unit == "GB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    raise AssertionError("unreachable")


class TerminalProgress:
    """One status line ("verifying: 1.2 GB hashed, 310.4 MB/s"), redrawn in place at most
    every `interval` seconds and erased at the end, so the command's own output (on stdout,
    which scripts read) is unchanged."""

    def __init__(
        self,
        stream: TextIO,
        label: str,
        *,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stream, self._label, self._interval, self._clock = stream, label, interval, clock
        self._done = 0
        self._started = clock()
        self._drawn_at: float | None = None

    def advance(self, nbytes: int) -> None:
        self._done += nbytes
        now = self._clock()
        if self._drawn_at is None or now - self._drawn_at >= self._interval:
            self._drawn_at = now
            rate = self._done / max(now - self._started, 1e-6)
            self._stream.write(
                f"\r\033[K{self._label}: {_size(self._done)} hashed, {_size(rate)}/s"
            )
            self._stream.flush()

    def close(self) -> None:
        if self._drawn_at is not None:
            self._stream.write("\r\033[K")
            self._stream.flush()


@contextmanager
def on_terminal(stream: TextIO, label: str) -> Iterator[None]:
    """Show progress on `stream` only if it is a terminal; otherwise do nothing at all."""
    if not stream.isatty():
        yield
        return
    meter = TerminalProgress(stream, label)
    try:
        with reporting(meter):
            yield
    finally:
        meter.close()
