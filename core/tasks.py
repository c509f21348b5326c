"""Background task helpers shared by the services."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def stop_task(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait until it has finished; its cancellation is not re-raised."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
