"""Start the real livekit-server (and Redis) inside a test namespace.

The binary is the pinned build at `<repo>/.tools/bin/livekit-server` (scripts/setup.sh); there
is no fake SFU. Config comes from `sfu_config.render`, so the tests exercise the same profiles
that are deployed.
"""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sfu_config import Profile, SfuSettings, generate_credentials, render, write_key_file
from tests.support.netns import TestNet

__all__ = [
    "LIVEKIT_SERVER",
    "RunningRedis",
    "RunningSfu",
    "SfuStartError",
    "kill_sfu",
    "restart_sfu",
    "sfu_log_text",
    "start_redis",
    "start_sfu",
    "stop_redis",
    "stop_sfu",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
LIVEKIT_SERVER = REPO_ROOT / ".tools" / "bin" / "livekit-server"
START_TIMEOUT = 20.0
_POLL_INTERVAL = 0.1


class SfuStartError(RuntimeError):
    """The server exited or did not answer in time; the message ends with its log tail."""


@dataclass
class RunningSfu:
    url: str
    api_key: str
    api_secret: str
    metrics_url: str
    node_ip: str
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def ws_url(self) -> str:
        """Signalling URL for client SDKs."""
        return self.url.replace("http://", "ws://", 1)


@dataclass
class RunningRedis:
    address: str
    log_path: Path
    process: subprocess.Popen[bytes]


def start_sfu(
    *,
    net: TestNet,
    webhook_url: str,
    workdir: Path,
    profile: Profile = Profile.DEV,
    credentials: tuple[str, str] | None = None,
    config_patch: Mapping[str, Any] | None = None,
    **overrides: Any,
) -> RunningSfu:
    """Render `profile` for the namespace, write a fresh 0600 key file and run livekit-server
    in `net` until its HTTP endpoint answers. `credentials` (key, secret) replace the fresh
    ones: the nodes of one cluster share them (tests/support/cluster.py).

    `overrides` replace SfuSettings fields (e.g. turn_domain=..., redis_address=...);
    `config_patch` sets dotted keys of the rendered YAML that SfuSettings does not carry (a
    benchmark varying LiveKit's own settings, e.g. {"rtc.congestion_control.enabled": False}).
    Raises
    SfuStartError with the server log tail if it exits or does not answer within ~20 s.
    """
    if not LIVEKIT_SERVER.is_file():
        raise SfuStartError(f"{LIVEKIT_SERVER} is missing: run scripts/setup.sh")
    workdir.mkdir(parents=True, exist_ok=True)
    api_key, api_secret = credentials or generate_credentials()
    key_file = workdir / "livekit-keys.yaml"
    write_key_file(key_file, api_key, api_secret)
    settings = SfuSettings(
        node_ip=net.ns_ip,
        bind_addresses=(net.ns_ip,),
        key_file=key_file,
        webhook_api_key=api_key,
        webhook_url=webhook_url,
        log_level="debug",
    )
    settings = dataclasses.replace(settings, **overrides)
    config_path = workdir / f"livekit-{profile.value}.yaml"
    config = render(profile, settings)
    if config_patch:
        config = _patched(config, config_patch)
    config_path.write_text(config, encoding="utf-8")
    log_path = workdir / "livekit-server.log"
    process = _spawn(net, [str(LIVEKIT_SERVER), "--config", str(config_path)], log_path)
    sfu = RunningSfu(
        url=f"http://{net.ns_ip}:{settings.http_port}",
        api_key=api_key,
        api_secret=api_secret,
        metrics_url=f"http://{net.ns_ip}:{settings.prometheus_port}/metrics",
        node_ip=net.ns_ip,
        config_path=config_path,
        log_path=log_path,
        process=process,
    )
    try:
        _wait_until(sfu.process, sfu.log_path, lambda: _http_ok(sfu.url + "/"), "livekit-server")
    except BaseException:
        stop_sfu(sfu)
        raise
    return sfu


def stop_sfu(sfu: RunningSfu) -> None:
    """Terminate the server (SIGTERM, then SIGKILL after 10 s). Safe to call twice."""
    _stop(sfu.process)


def sfu_log_text(sfu: RunningSfu) -> str:
    """The server's combined stdout/stderr so far."""
    return sfu.log_path.read_text(encoding="utf-8", errors="replace")


def start_redis(*, net: TestNet, workdir: Path, port: int = 6379) -> RunningRedis:
    """Run a throw-away, persistence-free redis-server in `net`, bound to its ns address."""
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "redis.log"
    argv = [
        "redis-server",
        "--bind", net.ns_ip,
        "--port", str(port),
        # Reached from the root namespace over the veth, so not "loopback" to Redis; the
        # namespace itself is the isolation.
        "--protected-mode", "no",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(workdir),
    ]  # fmt: skip
    redis = RunningRedis(
        address=f"{net.ns_ip}:{port}", log_path=log_path, process=_spawn(net, argv, log_path)
    )
    try:
        _wait_until(redis.process, log_path, lambda: _redis_ping(net.ns_ip, port), "redis-server")
    except BaseException:
        stop_redis(redis)
        raise
    return redis


def stop_redis(redis: RunningRedis) -> None:
    """Terminate the Redis started by start_redis. Safe to call twice."""
    _stop(redis.process)


def kill_sfu(sfu: RunningSfu) -> None:
    """kill -9 the server, as a crash would, and reap it."""
    sfu.process.kill()
    sfu.process.wait(timeout=10)


def restart_sfu(sfu: RunningSfu, net: TestNet) -> None:
    """Run the same server again (same config, keys and ports) after it died; its log goes
    on in the same file. Raises SfuStartError as start_sfu does."""
    if sfu.process.poll() is None:
        raise SfuStartError("restart_sfu: the server is still running")
    argv = [str(LIVEKIT_SERVER), "--config", str(sfu.config_path)]
    sfu.process = _spawn(net, argv, sfu.log_path, append=True)
    _wait_until(sfu.process, sfu.log_path, lambda: _http_ok(sfu.url + "/"), "livekit-server")


def _spawn(
    net: TestNet, argv: list[str], log_path: Path, *, append: bool = False
) -> subprocess.Popen[bytes]:
    # `ip netns exec` execs the command, so the Popen pid is the server itself.
    with log_path.open("ab" if append else "wb") as log:
        return subprocess.Popen(
            ["ip", "netns", "exec", net.name, *argv],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _wait_until(process: subprocess.Popen[bytes], log_path: Path, ready: Any, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SfuStartError(f"{what} exited with {process.returncode}:\n{_tail(log_path)}")
        if ready():
            return
        time.sleep(_POLL_INTERVAL)
    raise SfuStartError(f"{what} not ready after {START_TIMEOUT:.0f}s:\n{_tail(log_path)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - fixed http URL
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _redis_ping(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _patched(config: str, patch: Mapping[str, Any]) -> str:
    """`config` with each dotted key of `patch` set (intermediate mappings created)."""
    doc: dict[str, Any] = yaml.safe_load(config)
    for dotted, value in patch.items():
        *parents, leaf = dotted.split(".")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return yaml.safe_dump(doc, sort_keys=False)
