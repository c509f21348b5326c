"""Throttling join-code attempts: failed attempts per client address and overall.

A join code is 256 random bits, so guessing one is hopeless; the limit is there so that
nobody can hammer the endpoint (to enumerate, or to flood the database and the logs) and so
that an attempt shows up as a metric and a log line. Only failures count (a wrong, used,
revoked or expired code): a victim opening their link is never slowed by other people's
mistakes unless the overall budget is spent, which is itself the alarm. While a client, or
everyone, is over budget every attempt is refused with 429 and `Retry-After`, a valid code
too, until the oldest failure leaves the window.

The counts live in the process: each control plane replica limits on its own.
"""

import math
import time
from collections import deque
from collections.abc import Callable

from control_plane.errors import EvrError


class TooManyRequests(EvrError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: float, scope: str) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(message, details={"retry_after_seconds": seconds})
        self.retry_after = seconds
        self.scope = scope
        """Which budget is spent: "client" or "total"."""


_MESSAGE = "too many attempts with join links that do not work; wait a minute and try again"


class FailureWindow:
    """Failures in the last `window` seconds, per client and in total. Both queues only
    grow while under their limit, so memory is bounded by `total` entries."""

    def __init__(
        self,
        *,
        per_client: int,
        total: int,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._per_client = per_client
        self._total = total
        self._window = window
        self._clock = clock
        self._all: deque[float] = deque()
        self._clients: dict[str, deque[float]] = {}

    def _prune(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self._window:
            times.popleft()

    def attempt(self, client: str) -> float:
        """Start an attempt: raise `TooManyRequests` if this client, or everyone together, is
        over budget; else count it as failed until `succeeded` says otherwise (so attempts
        racing each other cannot all slip under the limit). Return its stamp."""
        now = self._clock()
        self._prune(self._all, now)
        mine = self._clients.get(client, deque())
        self._prune(mine, now)
        if len(mine) >= self._per_client:
            raise TooManyRequests(
                _MESSAGE, retry_after=mine[0] + self._window - now, scope="client"
            )
        if len(self._all) >= self._total:
            raise TooManyRequests(
                _MESSAGE, retry_after=self._all[0] + self._window - now, scope="total"
            )
        self._all.append(now)
        mine.append(now)
        self._clients[client] = mine
        if len(self._clients) > 2 * self._total:
            self._sweep(now)
        return now

    def succeeded(self, client: str, stamp: float) -> None:
        """The attempt worked: it no longer counts against anyone."""
        for times in (self._all, self._clients.get(client)):
            if times is not None and stamp in times:
                times.remove(stamp)

    def _sweep(self, now: float) -> None:
        for client in list(self._clients):
            times = self._clients[client]
            self._prune(times, now)
            if not times:
                del self._clients[client]
