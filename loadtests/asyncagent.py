"""A media agent (the Go one, loadtests/mediaagent, or loadtests/agent.py) driven from plain
asyncio, for the smoke test and the benchmarks. Locust drives the same processes through
loadtests/agentclient.py.

The agent speaks loadtests/agent.py's protocol (one JSON object per line each way)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import Sequence
from typing import Any

from loadtests.agentkinds import GO_AGENT, MEDIA_DIR, agent_argv


class AsyncAgentError(Exception):
    """The agent answered with an error, did not answer in time, or exited."""


class AsyncAgent:
    """One running agent. `prefix` (e.g. ["taskset", "-c", "1"]) wraps its command line."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, *, prefix: Sequence[str] = (), kind: str = "go") -> AsyncAgent:
        if kind == "go" and not (GO_AGENT.is_file() and MEDIA_DIR.is_dir()):
            raise AsyncAgentError(f"{GO_AGENT} or {MEDIA_DIR} is missing: run scripts/setup.sh")
        proc = await asyncio.create_subprocess_exec(
            *prefix,
            *agent_argv(kind),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=1 << 20,
        )
        agent = cls(proc)
        await agent.call("ping", timeout=60)
        return agent

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            with contextlib.suppress(ValueError, KeyError, TypeError):
                reply = json.loads(line)
                future = self._pending.pop(int(reply["id"]))
                if not future.done():
                    future.set_result(reply)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(AsyncAgentError(f"media agent {self.pid} exited"))

    async def call(self, op: str, args: dict[str, Any] | None = None, *, timeout: float) -> Any:
        """Send one request and return its result; raise AsyncAgentError on failure."""
        rid = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"id": rid, "op": op, "args": args or {}}).encode())
        self.proc.stdin.write(b"\n")
        try:
            await self.proc.stdin.drain()
            reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise AsyncAgentError(f"{op}: no reply in {timeout:.0f}s") from None
        finally:
            self._pending.pop(rid, None)
        if not reply["ok"]:
            raise AsyncAgentError(f"{op}: {reply['error']}")
        return reply["result"]

    async def close(self, timeout: float = 15.0) -> None:
        """EOF on stdin: every participant leaves and the agent exits (killed if it does not)."""
        if self.proc.stdin is not None and not self.proc.stdin.is_closing():
            self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), timeout)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader
