"""Run the real recorder (`evr recorder`) as a child process against a test stack.

It gets its own settings file, pointing at the stack's database, SFU and evidence store, so
it can be killed with SIGKILL and restarted like a production recorder.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from core.recording_settings import S3Settings
from sfu_config import write_key_file
from tests.support.stack import Stack

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0  # a loaded shared machine can take a minute to import and migrate


@dataclass
class RunningRecorder:
    name: str
    process: subprocess.Popen[bytes]
    metrics_url: str
    log_path: Path
    config_path: Path

    def log_lines(self) -> list[dict[str, Any]]:
        """The recorder's JSON log lines so far."""
        lines = []
        for raw in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                continue  # a line still being written, or a library's plain-text output
        return lines

    def logged(self, msg: str, visit_id: str) -> list[dict[str, Any]]:
        """This recorder's log lines saying ``msg`` about ``visit_id``."""
        return [
            line
            for line in self.log_lines()
            if line.get("msg") == msg and line.get("visit_id") == visit_id
        ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _key_file(stack: Stack, workdir: Path, *, bad_secret: bool) -> Path:
    if not bad_secret:
        return stack.sfu.config_path.parent / "livekit-keys.yaml"
    path = workdir / "wrong-livekit-keys.yaml"
    if not path.exists():
        write_key_file(path, stack.sfu.api_key, "x" * 48)
    return path


def s3_section(s3: S3Settings | None, workdir: Path) -> list[str]:
    """`[recording.s3]` lines for a settings file (the secret in a 0600 file), or none."""
    if s3 is None:
        return []
    secret = workdir / "s3-secret"
    secret.write_text(s3.secret_key)
    secret.chmod(0o600)
    return [
        "[recording.s3]",
        f'endpoint = "{s3.endpoint}"',
        f'bucket = "{s3.bucket}"',
        f'access_key = "{s3.access_key}"',
        f'secret_key_file = "{secret}"',
        f"secure = {'true' if s3.secure else 'false'}",
        f"min_retention_days = {s3.min_retention_days}",
    ]


def start_recorder(
    stack: Stack,
    workdir: Path,
    *,
    name: str,
    spool_dir: Path | None = None,
    segment_seconds: float = 30.0,
    bad_secret: bool = False,
    source: Path = REPO_ROOT,
) -> RunningRecorder:
    """Start `evr recorder` and wait until its /metrics answers; ``source`` is the tree it
    runs from (a benchmark may run another commit's recorder, e.g. a git worktree)."""
    workdir.mkdir(parents=True, exist_ok=True)
    rs = stack.settings.recording
    port = free_port()
    config = workdir / f"{name}.toml"
    config.write_text(
        "\n".join(
            [
                f'database_url = "{stack.settings.database_url}"',
                'log_level = "INFO"',
                "[livekit]",
                f'key_file = "{_key_file(stack, workdir, bad_secret=bad_secret)}"',
                # Every node of a cluster, as the control plane has them.
                f"api_urls = {json.dumps(list(stack.settings.livekit.node_urls))}",
                f'client_url = "{stack.settings.livekit.client_url}"',
                "[recording]",
                f'store_dir = "{rs.store_dir}"',
                f'spool_dir = "{spool_dir or rs.spool_dir}"',
                f'export_dir = "{rs.export_dir}"',
                f'signing_key = "{rs.signing_key}"',
                f"metrics_port = {port}",
                "heartbeat_interval = 0.5",
                f"stale_after = {rs.stale_after}",
                "poll_interval = 0.2",
                "retry_backoff = 1.0",
                f"segment_seconds = {segment_seconds}",
                # Room for jobs that earlier tests left on visits still open (an SFU that
                # drops an empty room no longer ends its visit), besides the test's own.
                "max_concurrent = 8",
                f'worker_id = "{name}"',
                *s3_section(rs.s3, workdir),
                "",
            ]
        )
    )
    log_path = workdir / f"{name}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "evr.cli", "recorder", "--config", str(config)],
            cwd=source,
            env={**os.environ, "PYTHONPATH": str(source)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    recorder = RunningRecorder(name, process, f"http://127.0.0.1:{port}/metrics", log_path, config)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"recorder exited {process.returncode}: {log_path.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return recorder
        except OSError:
            time.sleep(0.1)
    stop_recorder(recorder)
    raise RuntimeError(f"recorder not up after {START_TIMEOUT}s: {log_path.read_text()}")


def stop_recorder(recorder: RunningRecorder, *, kill: bool = False) -> None:
    """SIGKILL (a crash) or SIGTERM (a graceful stop, SIGKILL after 20 s)."""
    if recorder.process.poll() is not None:
        return
    if kill:
        recorder.process.send_signal(signal.SIGKILL)
        recorder.process.wait(timeout=10)
        return
    recorder.process.terminate()
    try:
        recorder.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        recorder.process.kill()
        recorder.process.wait(timeout=10)


async def scrape(session: aiohttp.ClientSession, recorder: RunningRecorder) -> str:
    async with session.get(recorder.metrics_url) as resp:
        assert resp.status == 200
        return await resp.text()


def metric(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in a Prometheus text exposition, or None if absent."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.compile(rf"^{re.escape(name)}(\{{(.*)\}})? (\S+)$")
    for line in text.splitlines():
        m = pattern.match(line)
        if m and (m.group(2) or "") == want:
            return float(m.group(3))
    return None


async def eventually(check: Any, *, timeout: float, interval: float = 0.2) -> Any:
    """Poll the async ``check`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")
