"""The gevent side of the media agents (loadtests/agent.py): start them, talk to them.

Everything here runs in Locust's gevent world: the agent is a child process started with
gevent's subprocess module, its stdout is read by one greenlet that hands each reply to the
greenlet waiting for it (a gevent AsyncResult), and no OS thread or asyncio loop is involved
on this side. The agents, which hold the asyncio loops and the SDK's native threads, never
import gevent.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import weakref
from typing import Any

import gevent
import gevent.event
import gevent.lock
from gevent import subprocess

from loadtests.agentkinds import REPO_ROOT, agent_argv


class AgentError(Exception):
    """The agent reported a failure, timed out, or exited."""


class AgentProcess:
    """One media agent child and the replies it owes: `python -m loadtests.agent` (kind
    "python": real encoding and decoding), or the Go agent (kind "go": pre-encoded files,
    RTP counted without decoding; same protocol, no connection check)."""

    def __init__(self, kind: str = "python") -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p
        )
        self.kind = kind
        self._proc = subprocess.Popen(
            agent_argv(kind),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._ids = itertools.count(1)
        self._pending: dict[int, gevent.event.AsyncResult] = {}
        self._write_lock = gevent.lock.Semaphore()
        self._reader = gevent.spawn(self._read)
        self.participants = 0

    @property
    def pid(self) -> int:
        return int(self._proc.pid)

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                reply = json.loads(line)
                waiter = self._pending.pop(int(reply["id"]))
            except (ValueError, KeyError, TypeError):
                continue  # a reply to a request that timed out, or noise
            waiter.set(reply)
        error = AgentError(f"media agent {self._proc.pid} exited")
        for waiter in self._pending.values():
            waiter.set_exception(error)
        self._pending.clear()

    def call(self, op: str, args: dict[str, Any] | None = None, *, timeout: float) -> Any:
        """Send one request and block this greenlet (only) until its reply; return the result.

        Raises AgentError with the agent's message on failure or after `timeout` seconds."""
        if self._proc.poll() is not None:
            raise AgentError(f"media agent {self._proc.pid} has exited")
        rid = next(self._ids)
        waiter = gevent.event.AsyncResult()
        self._pending[rid] = waiter
        line = json.dumps({"id": rid, "op": op, "args": args or {}}).encode() + b"\n"
        assert self._proc.stdin is not None
        try:
            with self._write_lock:
                self._proc.stdin.write(line)
                self._proc.stdin.flush()
            reply = waiter.get(timeout=timeout)
        except gevent.Timeout:
            raise AgentError(f"{op}: no reply from the media agent in {timeout:.0f}s") from None
        except OSError as exc:
            raise AgentError(f"{op}: media agent pipe: {exc}") from exc
        finally:
            self._pending.pop(rid, None)
        if not reply["ok"]:
            raise AgentError(reply["error"])
        return reply["result"]

    def close(self, *, timeout: float = 15.0) -> None:
        """EOF on stdin makes the agent leave every room and exit; kill it if it does not."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            with contextlib.suppress(OSError):
                self._proc.stdin.close()
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout=5)


class AgentPool:
    """The agents of one Locust process; a visit's participants share the least-busy agent."""

    def __init__(self, size: int, kind: str = "python") -> None:
        self.size = size
        self.kind = kind
        self._agents: list[AgentProcess] = []
        self._lock = gevent.lock.Semaphore()

    def _ensure(self) -> None:
        with self._lock:
            while len(self._agents) < self.size:
                agent = AgentProcess(self.kind)
                # Importing the SDK takes a moment; a ping waits until the agent is serving.
                agent.call("ping", timeout=60)
                self._agents.append(agent)

    def acquire(self, participants: int) -> AgentProcess:
        self._ensure()
        agent = min(self._agents, key=lambda a: a.participants)
        agent.participants += participants
        return agent

    def release(self, agent: AgentProcess, participants: int) -> None:
        agent.participants -= participants

    @property
    def pids(self) -> list[int]:
        return [a.pid for a in self._agents]

    def close(self) -> None:
        with self._lock:
            agents, self._agents = self._agents, []
        for agent in agents:
            agent.close()


_pools: weakref.WeakKeyDictionary[Any, dict[str, AgentPool]] = weakref.WeakKeyDictionary()


def pool_for(environment: Any, size: int, kind: str = "python") -> AgentPool:
    """The agent pool of `kind` of this Locust process (one per Environment and kind),
    created on first use."""
    pools = _pools.setdefault(environment, {})
    pool = pools.get(kind)
    if pool is None:
        pool = pools[kind] = AgentPool(size, kind)
    return pool


def close_pool(environment: Any) -> None:
    for pool in _pools.pop(environment, {}).values():
        pool.close()
