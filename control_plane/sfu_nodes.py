"""Whether each configured LiveKit node is alive, seen from this control plane replica.

A node that dies leaves its rooms listed in Redis, so listing rooms cannot tell that it is
gone (docs/operations.md). What can be observed is the node itself: every replica asks each
node in `livekit.api_urls` for `GET /` (livekit-server answers 200 "OK") every few seconds
and exports `evr_sfu_node_up{node}`; a node that had answered and then misses
`DOWN_AFTER` probes in a row counts once in `evr_sfu_node_losses_total{node}` and is logged.
EVRSFUNodeDown alerts on the gauge. Every replica probes (not only the leader): the view is
cheap, and a replica cut off from a node is worth knowing about too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence

import aiohttp
from aiohttp import web

from control_plane.keys import HTTP, METRICS, SETTINGS
from control_plane.metrics import Metrics
from core.tasks import stop_task

log = logging.getLogger(__name__)

PROBE_INTERVAL = 2.0
PROBE_TIMEOUT = 2.0
DOWN_AFTER = 2
"""Probes missed in a row before a node counts as down: one slow answer on a busy host is not
a lost node."""


class NodeProbe:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        urls: Sequence[str],
        metrics: Metrics,
        *,
        timeout: float = PROBE_TIMEOUT,
    ) -> None:
        self._session = session
        self._urls = list(urls)
        self._metrics = metrics
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._missed = dict.fromkeys(self._urls, 0)
        self._up: dict[str, bool | None] = dict.fromkeys(self._urls)
        """None until the first verdict: a node never seen up is down, but was not lost."""
        for url in self._urls:  # exported at 0, so the first loss is an increase
            metrics.sfu_node_losses.labels(node=url)

    async def _answers(self, url: str) -> bool:
        try:
            async with self._session.get(url.rstrip("/") + "/", timeout=self._timeout) as resp:
                await resp.read()
                return resp.status == 200
        except (aiohttp.ClientError, TimeoutError):
            return False

    async def check_once(self) -> dict[str, bool]:
        """Probe every node once; return which count as up now."""
        answers = await asyncio.gather(*(self._answers(url) for url in self._urls))
        for url, ok in zip(self._urls, answers, strict=True):
            self._missed[url] = 0 if ok else self._missed[url] + 1
            if ok:
                self._set(url, up=True)
            elif self._missed[url] >= DOWN_AFTER or self._up[url] is None:
                self._set(url, up=False)
        return {url: bool(self._up[url]) for url in self._urls}

    def _set(self, url: str, *, up: bool) -> None:
        was = self._up[url]
        self._up[url] = up
        self._metrics.sfu_node_up.labels(node=url).set(1 if up else 0)
        if was and not up:
            self._metrics.sfu_node_losses.labels(node=url).inc()
            log.error("LiveKit node %s stopped answering: lost from the cluster", url)
        elif was is False and up:
            log.warning("LiveKit node %s answers again", url)
        elif was is None and not up:
            log.error("LiveKit node %s does not answer", url)

    async def run(self, interval: float) -> None:
        while True:
            await self.check_once()
            await asyncio.sleep(interval)


def node_probe_ctx(
    interval: float = PROBE_INTERVAL,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """Cleanup context running the probe for the app's lifetime, on every replica."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        probe = NodeProbe(app[HTTP], app[SETTINGS].livekit.node_urls, app[METRICS])
        task = asyncio.create_task(probe.run(interval), name="sfu-node-probe")
        yield
        await stop_task(task)

    return ctx
