"""Background task helpers shared by the services."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any


async def stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has finished; its cancellation is not re-raised."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def settle(awaitable: Awaitable[Any], timeout: float) -> bool:
    """Wait up to `timeout` seconds for `awaitable`, never cancelling it; True if it finished.

    For the LiveKit SDK's calls: cancelling one can leave its native side answering a request
    Python gave up on, and a cancelled `disconnect` has been seen never to finish. One that
    does not finish in time is left to run, and whatever it raises later is dropped."""
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.add_done_callback(_drop_outcome)
        return False
    with contextlib.suppress(asyncio.CancelledError, Exception):
        task.result()
    return True


def _drop_outcome(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved
