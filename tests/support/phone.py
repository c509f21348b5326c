"""A phone in a network namespace of its own, reaching the running stack over a veth: what the
connection-check tests shape, drop packets on, and run the check client inside."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from tests.support.netns import (
    TestNet,
    create_testnet,
    destroy_testnet,
    route_between,
    unroute_between,
)
from tests.support.stack import Stack, bind_socket


@dataclass
class Phone:
    net: TestNet
    base_url: str


@asynccontextmanager
async def phone_namespace(stack: Stack, testnet: TestNet, name: str) -> AsyncIterator[Phone]:
    """A namespace routed to the SFU's, with the control plane also listening on its veth."""
    net = create_testnet(name)
    try:
        route_between(net, testnet)
        sock = bind_socket(net.host_ip)
        site = web.SockSite(stack.runner, sock)
        await site.start()
        try:
            yield Phone(net, f"http://{net.host_ip}:{sock.getsockname()[1]}")
        finally:
            await site.stop()
    finally:
        unroute_between(net, testnet)
        destroy_testnet(net)
