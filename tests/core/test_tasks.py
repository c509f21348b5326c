"""core.tasks.settle: a bounded wait that never cancels what it waits for."""

from __future__ import annotations

import asyncio
import gc

import pytest

from core.tasks import settle


async def test_settle_returns_true_when_the_awaitable_finishes_in_time() -> None:
    assert await settle(asyncio.sleep(0.01), timeout=5.0) is True


async def test_settle_swallows_what_a_finished_awaitable_raised() -> None:
    async def fails() -> None:
        raise RuntimeError("the SDK said no")

    assert await settle(fails(), timeout=5.0) is True


async def test_settle_gives_up_after_the_timeout_and_leaves_the_work_running() -> None:
    # The shape of the SDK's hang: a call that ignores cancellation and answers late.
    release = asyncio.Event()
    finished: list[str] = []

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # swallowed, as the hanging disconnect does
        finished.append("done")

    task = asyncio.ensure_future(stubborn())
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await settle(task, timeout=0.2) is False
    assert 0.2 <= loop.time() - started < 2.0
    # Not cancelled: it is still running, and finishes on its own later.
    assert not task.done()
    assert not task.cancelled()
    release.set()
    await asyncio.wait({task}, timeout=5.0)
    assert finished == ["done"]


async def test_an_abandoned_failure_is_not_reported_as_never_retrieved(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = asyncio.Event()

    async def fails_late() -> None:
        await release.wait()
        raise RuntimeError("late failure")

    task = asyncio.ensure_future(fails_late())
    assert await settle(task, timeout=0.05) is False
    release.set()
    await asyncio.wait({task}, timeout=5.0)
    del task
    gc.collect()
    await asyncio.sleep(0)
    assert "never retrieved" not in caplog.text
