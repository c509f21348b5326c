"""`evr up` brings up the embedded default (SQLite + a local livekit-server + the recorder),
says so only once all three answer, restarts a child that dies, and tells you how to sign
in; a second run reuses the same state. Every port it opens is a free one picked here, so
two stacks run side by side."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT = 90.0


@dataclass(frozen=True)
class Ports:
    port: int
    sfu_port: int
    recorder_metrics_port: int
    metrics_port: int
    relay: tuple[int, int]

    def argv(self) -> list[str]:
        return [
            "--port", str(self.port),
            "--sfu-port", str(self.sfu_port),
            "--recorder-metrics-port", str(self.recorder_metrics_port),
            "--metrics-port", str(self.metrics_port),
            "--turn-relay-range", f"{self.relay[0]}-{self.relay[1]}",
        ]  # fmt: skip


def _is_free(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_ports(taken: set[int] | None = None) -> Ports:
    """A block of eight ports free for TCP and UDP, below the ephemeral range so no client
    socket grabs one meanwhile; the TURN relay range sits just above it (bound only on use)."""
    taken = taken if taken is not None else set()
    for _ in range(200):
        base = random.randrange(20000, 30000, 10)
        block = range(base, base + 8)
        if not taken.intersection(block) and all(_is_free(p) for p in block):
            taken.update(range(base, base + 10))
            return Ports(base, base + 1, base + 6, base + 7, (base + 100, base + 120))
    raise RuntimeError("no free block of ports")


@dataclass
class Up:
    """A running `evr up`, its output drained by a thread so the pipe never fills."""

    proc: subprocess.Popen[str]
    ports: Ports
    lines: list[str] = field(default_factory=list)
    drain: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.ports.port}"

    def wait_line(self, pred: Callable[[str], bool], timeout: float = START_TIMEOUT) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if pred(line):
                    return line
            if self.proc.poll() is not None and not any(pred(x) for x in self.lines):
                raise AssertionError(f"evr up exited ({self.proc.returncode}): {self.lines}")
            time.sleep(0.1)
        raise AssertionError(f"no such line within {timeout} s: {self.lines}")

    def children(self) -> dict[str, int]:
        """Child pids by what they run: 'livekit-server' or 'recorder'."""
        task = Path(f"/proc/{self.proc.pid}/task")
        pids = [int(p) for t in task.iterdir() for p in (t / "children").read_text().split()]
        found: dict[str, int] = {}
        for pid in pids:
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except FileNotFoundError:
                continue
            name = "livekit-server" if cmd[0].endswith(b"livekit-server") else "recorder"
            found[name] = pid
        return found

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout=timeout)
        if self.drain is not None:
            self.drain.join(timeout=10)
        return code

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout=40)


def up(state: Path, ports: Ports) -> Up:
    proc = subprocess.Popen(
        [sys.executable, "-m", "evr.cli", "up", "--state-dir", str(state), *ports.argv()],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = Up(proc, ports)

    def drain() -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                running.lines.append(line.rstrip())

    running.drain = threading.Thread(target=drain, daemon=True)
    running.drain.start()
    return running


def _get(url: str, token: str | None = None) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback http only
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
        return resp.status, json.loads(resp.read())


def _answers(url: str) -> bool:
    try:
        return _get(url)[0] == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _wait(cond: Callable[[], bool], what: str, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s: {what}")


def _token(stack: Up) -> str:
    stack.wait_line(lambda x: x.startswith("  Sign in"))
    line = stack.wait_line(lambda x: x.startswith("    evr_"))
    return line.strip()


def test_two_stacks_side_by_side_and_a_restart_reuses_the_state(tmp_path: Path) -> None:
    taken: set[int] = set()
    first, second = free_ports(taken), free_ports(taken)
    a = up(tmp_path / "a", first)
    b = up(tmp_path / "b", second)
    try:
        tokens = []
        for stack in (a, b):
            assert stack.wait_line(lambda x: "EVR is up" in x) == "EVR is up."
            token = _token(stack)
            assert re.fullmatch(r"evr_[A-Za-z0-9_\-]{40,}", token), stack.lines
            assert _get(stack.base + "/readyz")[0] == 200  # the database and the real SFU
            status, me = _get(stack.base + "/api/v1/me", token)
            assert (status, me["role"]) == (200, "supervisor")
            # The recorder is up too, on the port it was given.
            rec = f"http://127.0.0.1:{stack.ports.recorder_metrics_port}/healthz"
            assert _get(rec)[0] == 200
            tokens.append(token)

        # A third stack on ports already in use says which one and gives up, starting nothing.
        clash = up(tmp_path / "c", first)
        assert clash.wait(timeout=60) == 1
        clash.wait_line(lambda x: f"port {first.port}" in x and "in use" in x)
        assert not any("EVR is up" in x for x in clash.lines)
    finally:
        assert a.stop() == 0
        assert b.stop() == 0

    assert oct((tmp_path / "a" / "livekit-keys.yaml").stat().st_mode & 0o777) == "0o600"
    a = up(tmp_path / "a", first)
    try:
        line = a.wait_line(lambda x: x.startswith("  Sign in"))
        assert "existing token" in line  # no second admin, no new secret printed
        assert _get(a.base + "/api/v1/me", tokens[0])[0] == 200
    finally:
        assert a.stop() == 0


def test_a_port_in_use_is_named_and_nothing_is_left_running(tmp_path: Path) -> None:
    ports = free_ports()
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", ports.sfu_port))
    holder.listen()
    try:
        stack = up(tmp_path / "var", ports)
        assert stack.wait(timeout=60) == 1
        stack.wait_line(lambda x: "SFU signalling" in x and f"port {ports.sfu_port}" in x)
        assert not any("EVR is up" in x for x in stack.lines)
    finally:
        holder.close()
    assert _is_free(ports.port)
    assert _is_free(ports.recorder_metrics_port)
    assert _is_free(ports.metrics_port)


def test_a_child_that_dies_is_restarted(tmp_path: Path) -> None:
    stack = up(tmp_path / "var", free_ports())
    try:
        stack.wait_line(lambda x: "EVR is up" in x)
        before = stack.children()
        assert set(before) == {"livekit-server", "recorder"}, before
        healthz = f"http://127.0.0.1:{stack.ports.recorder_metrics_port}/healthz"

        os.kill(before["recorder"], signal.SIGKILL)
        stack.wait_line(lambda x: "recorder is back" in x)
        assert stack.children()["recorder"] != before["recorder"]
        assert _get(healthz)[0] == 200

        os.kill(before["livekit-server"], signal.SIGKILL)
        stack.wait_line(lambda x: "livekit-server is back" in x)
        assert stack.children()["livekit-server"] != before["livekit-server"]
        _wait(lambda: _answers(stack.base + "/readyz"), "the control plane sees the new SFU")
        after = stack.children()
    finally:
        assert stack.stop() == 0
    # Stopping takes every child with it.
    for pid in after.values():
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), pid


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True
