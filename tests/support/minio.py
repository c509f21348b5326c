"""The real MinIO server (built by scripts/setup.sh from its Go module) in a test namespace.

It runs inside the test network namespace, so whatever it might try to reach, it can only
reach this machine; update checks and call-home are switched off as well.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tests.support.netns import TestNet

REPO_ROOT = Path(__file__).resolve().parents[2]
MINIO = REPO_ROOT / ".tools" / "bin" / "minio"
START_TIMEOUT = 30.0


@dataclass
class RunningMinio:
    endpoint: str
    access_key: str
    secret_key: str
    log_path: Path
    process: subprocess.Popen[bytes]


def start_minio(
    net: TestNet,
    workdir: Path,
    *,
    port: int = 19000,
    credentials: tuple[str, str] | None = None,
    append: bool = False,
) -> RunningMinio:
    """Start MinIO on the namespace's address and wait until it reports itself live.
    `credentials` (access, secret) default to fresh ones; `append` continues the log."""
    if not MINIO.is_file():
        raise RuntimeError(f"{MINIO} is missing: run scripts/setup.sh")
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    access, secret = credentials or ("evr-test", secrets.token_urlsafe(24))
    env = {
        **os.environ,
        "MINIO_ROOT_USER": access,
        "MINIO_ROOT_PASSWORD": secret,
        "MINIO_UPDATE": "off",
        "MINIO_CALLHOME_ENABLE": "off",
        "MINIO_BROWSER": "off",
    }
    log_path = workdir / "minio.log"
    address = f"{net.ns_ip}:{port}"
    with log_path.open("ab" if append else "wb") as log:
        process = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                net.name,
                str(MINIO),
                "server",
                "--quiet",
                "--address",
                address,
                "--console-address",
                f"{net.ns_ip}:{port + 1}",
                str(data),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = RunningMinio(address, access, secret, log_path, process)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"minio exited {process.returncode}: {log_path.read_text()}")
        try:
            url = f"http://{address}/minio/health/live"
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return running
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    stop_minio(running)
    raise RuntimeError(f"minio not live after {START_TIMEOUT}s: {log_path.read_text()}")


def restart_minio(minio: RunningMinio, net: TestNet, workdir: Path) -> RunningMinio:
    """Start MinIO again after it stopped: same address, data folder and credentials
    (`workdir` as given to start_minio)."""
    if minio.process.poll() is None:
        raise RuntimeError("restart_minio: the server is still running")
    port = int(minio.endpoint.rsplit(":", 1)[1])
    return start_minio(
        net, workdir, port=port, credentials=(minio.access_key, minio.secret_key), append=True
    )


def stop_minio(minio: RunningMinio) -> None:
    if minio.process.poll() is None:
        minio.process.terminate()
        try:
            minio.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            minio.process.kill()
            minio.process.wait(timeout=5)
