"""The child processes of `evr up`: started, health-checked, restarted and stopped.

A child is ready when its health URL answers 200; a child that exits before then fails with
the last lines of its log, so `evr up` can say why (e.g. "bind: address already in use").
"""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

log = logging.getLogger(__name__)

# More than this many restarts of one child within RESTART_WINDOW seconds means it cannot run
# here: `evr up` then stops everything rather than flap or leave half a stack.
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0


class StackError(RuntimeError):
    """Something `evr up` needs did not come up; the message names it and why."""


@dataclass(frozen=True)
class Port:
    """A port `evr up` will listen on, named for the error message when it is taken."""

    what: str
    host: str
    port: int
    udp: bool = False


def check_ports_free(ports: list[Port]) -> None:
    """Raise StackError naming the first port something else already listens on."""
    for p in ports:
        kind = socket.SOCK_DGRAM if p.udp else socket.SOCK_STREAM
        with socket.socket(socket.AF_INET, kind) as sock:
            if not p.udp:
                # Matches what the servers do, so a port in TIME_WAIT is not reported as taken.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((p.host, p.port))
            except OSError as exc:
                proto = "UDP" if p.udp else "TCP"
                raise StackError(
                    f"{p.what}: {proto} port {p.port} on {p.host} is in use ({exc.strerror}); "
                    "stop what holds it or choose other ports (evr up --help)"
                ) from None


def log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass
class Child:
    """One supervised process: `argv` logging to `log_path`, healthy when `health_url` is 200."""

    name: str
    argv: list[str]
    log_path: Path
    health_url: str
    process: subprocess.Popen[bytes] | None = None
    restarts: deque[float] = field(default_factory=deque)

    def start(self) -> None:
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def exited(self) -> int | None:
        """The exit code if the process has ended, else None."""
        return None if self.process is None else self.process.poll()

    async def wait_ready(self, timeout: float) -> None:
        """Wait until the health URL answers 200; StackError if the child exits or is late."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        async with aiohttp.ClientSession() as session:
            while loop.time() < deadline:
                code = self.exited()
                if code is not None:
                    raise StackError(
                        f"{self.name} exited ({code}) while starting; its log "
                        f"({self.log_path}) ends:\n{log_tail(self.log_path)}"
                    )
                try:
                    async with session.get(
                        self.health_url, timeout=aiohttp.ClientTimeout(total=1)
                    ) as resp:
                        if resp.status == 200:
                            return
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.2)
        raise StackError(
            f"{self.name} did not answer on {self.health_url} within {timeout:.0f} s; its log "
            f"({self.log_path}) ends:\n{log_tail(self.log_path)}"
        )

    async def restart(self, timeout: float) -> None:
        """Start the child again after it died; StackError once it keeps dying."""
        now = time.monotonic()
        while self.restarts and now - self.restarts[0] > RESTART_WINDOW:
            self.restarts.popleft()
        if len(self.restarts) >= MAX_RESTARTS:
            raise StackError(
                f"{self.name} died {len(self.restarts) + 1} times within "
                f"{RESTART_WINDOW:.0f} s; its log ({self.log_path}) ends:\n"
                f"{log_tail(self.log_path)}"
            )
        self.restarts.append(now)
        log.error("%s exited (%s); restarting it", self.name, self.exited())
        print(f"evr up: {self.name} exited ({self.exited()}); restarting it", flush=True)
        self.start()
        await self.wait_ready(timeout)
        print(f"evr up: {self.name} is back", flush=True)

    def stop(self, grace: float) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds. Safe to call twice."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
