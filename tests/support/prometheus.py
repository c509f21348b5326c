"""A real Prometheus (Debian's /usr/bin/prometheus) for the test that runs the dashboards'
and the alerts' queries against live metrics.

It listens on 127.0.0.1 only, keeps its TSDB in a temporary folder, and scrapes only the
targets it is given (the control plane, the recorder and the SFU of the test).
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

PROMETHEUS = Path("/usr/bin/prometheus")
START_TIMEOUT = 20.0


class PrometheusError(RuntimeError):
    """Prometheus exited, did not start, or answered a query with an error."""


@dataclass
class RunningPrometheus:
    url: str
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def api(self, path: str, **params: str) -> Any:
        """GET `/api/v1/<path>` and return its `data`; raise PrometheusError on an error."""
        query = f"?{urllib.parse.urlencode(params)}" if params else ""
        try:
            with urllib.request.urlopen(  # noqa: S310 - fixed loopback http URL
                f"{self.url}/api/v1/{path}{query}", timeout=10
            ) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
        if body.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector (or scalar/string, as a one-item list)."""
        data = self.api("query", query=expr)
        result = data["result"]
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": result}]
        return list(result)

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def free_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_config(
    path: Path,
    *,
    jobs: Mapping[str, Sequence[str]],
    rule_files: Sequence[Path],
    interval: str = "1s",
) -> None:
    """A config scraping `jobs` ({job name: ["host:port", ...]}) every `interval`."""
    config = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
        },
        "rule_files": [str(p) for p in rule_files],
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": list(targets)}],
            }
            for job, targets in jobs.items()
        ],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")


def start_prometheus(config_path: Path, workdir: Path) -> RunningPrometheus:
    """Run Prometheus with `config_path` until it reports ready."""
    if not PROMETHEUS.is_file():
        raise PrometheusError(f"{PROMETHEUS} is missing: run scripts/setup.sh")
    port = free_loopback_port()
    log_path = workdir / "prometheus.log"
    argv = [
        str(PROMETHEUS),
        f"--config.file={config_path}",
        f"--storage.tsdb.path={workdir / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
        )
    prom = RunningPrometheus(f"http://127.0.0.1:{port}", config_path, log_path, process)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PrometheusError(f"prometheus exited {process.returncode}:\n{prom.log_tail()}")
        try:
            with urllib.request.urlopen(f"{prom.url}/-/ready", timeout=1) as resp:  # noqa: S310
                if resp.status == 200:
                    return prom
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    stop_prometheus(prom)
    raise PrometheusError(f"prometheus not ready after {START_TIMEOUT:.0f}s:\n{prom.log_tail()}")


def stop_prometheus(prom: RunningPrometheus) -> None:
    """SIGTERM, then SIGKILL after 10 s. Safe to call twice."""
    if prom.process.poll() is None:
        prom.process.terminate()
        try:
            prom.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            prom.process.kill()
            prom.process.wait(timeout=5)
