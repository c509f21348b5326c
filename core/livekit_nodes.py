"""Which LiveKit node to reach first, and the next when one cannot be reached.

The nodes of a cluster share Redis, so any node serves any room: it relays to the node that
hosts it. Everything that reaches LiveKit follows one rule (control_plane.sfu's API calls, the
connection check's observer, the recorder's joins): start at the node that last answered,
and while a node cannot be reached try each other one in turn, in the configured order; the
first that answers is where the next attempt starts. One `NodeList` per process keeps that
place, so one lost node costs one failed attempt, not one per call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

Unreachable = Callable[[str, BaseException, bool], None]
"""Told of each node that could not be reached: (url, error, whether it was the last to try)."""


def signalling_url(api_url: str) -> str:
    """A node's signalling (WebSocket) URL on the internal network: its API URL as ws/wss."""
    return api_url.replace("http", "ws", 1)


class NodeList:
    """The configured nodes (`LiveKitSettings.node_urls`) and the one that last answered."""

    def __init__(self, urls: Sequence[str]) -> None:
        if not urls:
            raise ValueError("at least one LiveKit node is needed")
        if len(set(urls)) != len(urls):
            raise ValueError("a LiveKit node is listed twice")
        self._urls = tuple(urls)
        self._current = 0

    @property
    def urls(self) -> tuple[str, ...]:
        return self._urls

    @property
    def current(self) -> str:
        """The node tried first (the last one that answered; the first configured at start)."""
        return self._urls[self._current]

    def in_order(self) -> list[str]:
        """Every node once: the current one, then the others in configured order, wrapping."""
        n = len(self._urls)
        return [self._urls[(self._current + step) % n] for step in range(n)]

    def answered(self, url: str) -> bool:
        """`url` answered: it is tried first from now on. True if that moved the place."""
        index = self._urls.index(url)
        moved = index != self._current
        self._current = index
        return moved

    async def first_answer(
        self,
        attempt: Callable[[str], Awaitable[T]],
        *,
        unreachable: tuple[type[BaseException], ...],
        on_unreachable: Unreachable | None = None,
    ) -> T:
        """`attempt(url)` on each node in turn (`in_order`) while it raises one of
        `unreachable`; the first result is returned and its node becomes the current one.
        The last node's error propagates. Any other error is an answer and propagates at once
        (a refusal from a reachable node would be the same on every node).
        """
        order = self.in_order()
        for step, url in enumerate(order):
            last = step == len(order) - 1
            try:
                result = await attempt(url)
            except unreachable as exc:
                if on_unreachable is not None:
                    on_unreachable(url, exc, last)
                if last:
                    raise
                continue
            self.answered(url)
            return result
        raise AssertionError("unreachable")  # the loop returns or raises
