"""`evr up` brings up the embedded default (SQLite + a local livekit-server) and tells you how
to sign in; a second run reuses the same state."""

import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.support.stack import bind_socket


def _get(url: str, token: str | None = None) -> tuple[int, dict[str, object]]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    req = urllib.request.Request(url, headers=headers)  # noqa: S310 - loopback http only
    with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310 - loopback only
        return resp.status, json.loads(resp.read())


def _up(state: Path, port: int) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "evr.cli",
            "up",
            "--state-dir",
            str(state),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line.rstrip())
        if line.startswith("  Sign in"):
            if "token, shown once" in line:
                lines.append(proc.stdout.readline().strip())
            break
    return proc, lines


def _stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=20)
    assert proc.stdout is not None
    proc.stdout.close()
    return code


def test_evr_up_serves_the_stack_and_survives_a_restart(tmp_path: Path) -> None:
    sock = bind_socket("127.0.0.1")
    port = sock.getsockname()[1]
    sock.close()
    state = tmp_path / "var"

    proc, lines = _up(state, port)
    try:
        assert lines[0] == "EVR is up.", lines
        token = lines[-1]
        assert re.fullmatch(r"evr_[A-Za-z0-9_\-]{40,}", token), lines
        base = f"http://127.0.0.1:{port}"
        assert _get(base + "/readyz")[0] == 200  # the database and the real SFU answer
        status, me = _get(base + "/api/v1/me", token)
        assert (status, me["role"]) == (200, "supervisor")
    finally:
        assert _stop(proc) == 0

    assert oct((state / "livekit-keys.yaml").stat().st_mode & 0o777) == "0o600"
    proc, lines = _up(state, port)
    try:
        assert "existing token" in lines[-1]  # no second admin, no new secret printed
        assert _get(f"http://127.0.0.1:{port}/api/v1/me", token)[0] == 200
    finally:
        assert _stop(proc) == 0
