"""The synthetic participant's audio pump never holds the event loop.

LiveKit's AudioSource.capture_frame paces the pump only while its queue is full; once the
room is gone it returns without suspending. The pump must still yield and be cancellable,
or a whole test process stalls (seen in the fault suite after an SFU node was lost).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, cast

from livekit import rtc

from loadtests.media import SAMPLE_RATE, SyntheticParticipant


class NeverWaits:
    """A source whose capture_frame completes without suspending, as after a disconnect."""

    def __init__(self) -> None:
        self.frames = 0

    async def capture_frame(self, _frame: Any) -> None:
        self.frames += 1


async def test_the_audio_pump_yields_and_is_cancelled_when_capture_never_waits() -> None:
    source = NeverWaits()
    person = SyntheticParticipant(rgb=(0, 0, 0))
    pump = asyncio.create_task(person._pump_audio(cast(rtc.AudioSource, source)))
    ticks = 0
    started = time.perf_counter()
    while time.perf_counter() - started < 0.5:
        await asyncio.sleep(0.01)  # only returns if the pump lets the loop run
        ticks += 1
    pump.cancel()
    done, _ = await asyncio.wait({pump}, timeout=2)
    assert pump in done, "the pump did not honour cancel()"
    assert ticks >= 10, ticks
    # Paced: about 1 s of queue ahead plus the 0.5 s elapsed, not a flood of frames.
    elapsed = time.perf_counter() - started
    assert source.frames * 0.02 <= elapsed + 1.2, (source.frames, elapsed, SAMPLE_RATE)
