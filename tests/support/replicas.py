"""Two real `evr serve` replicas on one PostgreSQL database, behind Debian's HAProxy.

The HAProxy config is the one the Ansible load_balancer role writes
(infra/ansible/roles/load_balancer/templates/haproxy.cfg.j2), minus TLS: round robin for the
API, and the connection check's requests hashed on the participant's session (the bearer
token) so that one check is served by one replica from its start to its verdict
(docs/operations.md, "The connection check across replicas"). Everything listens on free
ports on the host end of the test namespace's veth, where the SFU's webhooks reach HAProxy.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from control_plane.auth import add_officer, create_api_token
from core import db
from core.recording_settings import S3Settings
from core.settings import Settings
from tests.support.netns import TestNet
from tests.support.recorder import s3_section
from tests.support.sfu import RunningSfu, start_sfu, stop_sfu
from tests.support.stack import (
    OFFICERS,
    Stack,
    bind_socket,
    recording_settings_for,
    settings_for,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120.0
"""Generous: on the shared test machine a Python process can take half a minute to import."""
HEALTH_INTERVAL_MS = 1000
"""HAProxy's /readyz probe period here; a dead replica is out after 3 failed probes. Each
probe may take up to 3 s (`timeout check`): on the loaded test machine /readyz can take
longer than the interval, and a probe that times out must not take a live replica out."""


@dataclass
class Replica:
    name: str
    port: int
    metrics_port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@dataclass
class RunningHAProxy:
    port: int
    config_path: Path
    log_path: Path
    process: subprocess.Popen[bytes]


@dataclass
class ReplicaSet:
    """What tests/support/stack.Api and tests/support/recorder.start_recorder need of a stack,
    with `base_url` at HAProxy."""

    base_url: str
    sfu: RunningSfu
    settings: Settings
    """The settings every replica was started with (their own ports aside)."""
    replicas: list[Replica]
    haproxy: RunningHAProxy
    config_path: Path
    tokens: dict[str, str] = field(default_factory=dict)
    owns_sfu: bool = True

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    @property
    def metrics_url(self) -> str:
        """The first live replica's management listener (each replica has its own)."""
        live = next(r for r in self.replicas if r.process.poll() is None)
        return f"http://{self.settings.host}:{live.metrics_port}"


def haproxy_config(*, host: str, port: int, servers: list[tuple[str, str, int]]) -> str:
    """The load_balancer role's HAProxy config for plain HTTP on `host:port`."""
    lines = "\n".join(
        f"    server {name} {addr}:{sport} check inter {HEALTH_INTERVAL_MS}ms fall 3 rise 2"
        for name, addr, sport in servers
    )
    return f"""\
global
    maxconn 2000
    log stdout format raw local0

defaults
    log global
    mode http
    # Which replica served what, when: "<unix time> <server> <status> <method> <uri>".
    log-format "%Ts %s %ST %HM %HU"
    option forwardfor
    # A request whose connection to a dead replica is refused goes to another one: only
    # requests already sent to a replica when it dies fail.
    option redispatch
    retries 2
    timeout connect 2s
    timeout check 3s
    timeout client 60s
    timeout server 60s

frontend evr_http
    bind {host}:{port}
    use_backend evr_check if {{ path_beg /api/v1/participant/check }}
    default_backend evr_api

backend evr_api
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
{lines}

backend evr_check
    balance hdr(Authorization)
    hash-type consistent
    no option http-buffer-request
    option httpchk GET /readyz
    http-check expect status 200
{lines}
"""


def _replica_config(path: Path, settings: Settings, key_file: Path) -> None:
    rs = settings.recording
    path.write_text(
        "\n".join(
            [
                f'database_url = "{settings.database_url}"',
                'log_level = "INFO"',
                # The leader's reconciler as often as the in-process test stack would allow.
                "reconcile_interval = 2.0",
                "[livekit]",
                f'key_file = "{key_file}"',
                f'api_url = "{settings.livekit.api_url}"',
                f'client_url = "{settings.livekit.client_url}"',
                "[join]",
                f'public_base_url = "{settings.join.public_base_url}"',
                f"token_ttl_seconds = {int(settings.join.token_ttl.total_seconds())}",
                "[recording]",
                f'store_dir = "{rs.store_dir}"',
                f'spool_dir = "{rs.spool_dir}"',
                f'export_dir = "{rs.export_dir}"',
                f'signing_key = "{rs.signing_key}"',
                f"start_timeout = {rs.start_timeout}",
                f"stale_after = {rs.stale_after}",
                *s3_section(rs.s3, path.parent),
                "",
            ]
        )
    )


def start_replica(name: str, replicas: ReplicaSet, workdir: Path) -> Replica:
    """Start one more `evr serve` on a free port (not yet behind HAProxy unless its port is
    one HAProxy already lists) and wait until its /readyz answers 200."""
    host = replicas.settings.host
    sock, metrics = bind_socket(host), bind_socket(host)
    port, metrics_port = sock.getsockname()[1], metrics.getsockname()[1]
    sock.close()
    metrics.close()
    return _spawn_replica(
        name, host, port, metrics_port, config=replicas.config_path, workdir=workdir
    )


def _spawn_replica(
    name: str, host: str, port: int, metrics_port: int, *, config: Path, workdir: Path
) -> Replica:
    log_path = workdir / f"{name}.log"
    with log_path.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "evr.cli", "serve", "--config", str(config)],
            cwd=REPO_ROOT,
            env={
                **os.environ,
                "PYTHONPATH": str(REPO_ROOT),
                "EVR_HOST": host,
                "EVR_PORT": str(port),
                "EVR_METRICS_HOST": host,
                "EVR_METRICS_PORT": str(metrics_port),
            },
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    replica = Replica(name, port, metrics_port, log_path, process)
    _wait_ready(replica, f"http://{host}:{port}/readyz")
    return replica


def _wait_ready(replica: Replica, url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if replica.process.poll() is not None:
            raise RuntimeError(f"{replica.name} exited: {replica.log_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:  # noqa: S310 - test URL
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    stop_replica(replica)
    raise RuntimeError(f"{replica.name} not ready: {replica.log_text()[-3000:]}")


def served_by(lb: RunningHAProxy) -> list[tuple[str, int, str, str]]:
    """Every request HAProxy has logged so far: (server, status, method, uri)."""
    return [row[1:] for row in logged(lb)]


def logged(lb: RunningHAProxy) -> list[tuple[int, str, int, str, str]]:
    """Every request HAProxy has logged so far: (unix time, server, status, method, uri)."""
    rows = []
    for line in lb.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split(" ")
        if len(parts) == 5 and parts[0].isdigit() and parts[2].lstrip("-").isdigit():
            rows.append((int(parts[0]), parts[1], int(parts[2]), parts[3], parts[4]))
    return rows


def as_stack(rs: ReplicaSet) -> Stack:
    """`rs` where a Stack is asked for: it has every attribute that tests/support/stack.Api,
    tests/recorder/statement.py and tests/support/recorder.start_recorder read (base_url,
    headers, metrics_url, settings, sfu), but no in-process `app`."""
    return cast(Stack, rs)


def restart_replica(rs: ReplicaSet, replica: Replica, workdir: Path) -> Replica:
    """Start a dead replica again on its ports (so HAProxy's entry for it applies again)."""
    if replica.process.poll() is None:
        raise RuntimeError(f"restart_replica: {replica.name} is still running")
    again = _spawn_replica(
        replica.name,
        rs.settings.host,
        replica.port,
        replica.metrics_port,
        config=rs.config_path,
        workdir=workdir,
    )
    rs.replicas[rs.replicas.index(replica)] = again
    return again


def kill_replica(replica: Replica) -> None:
    """kill -9, as a crash would, and reap it."""
    if replica.process.poll() is None:
        replica.process.send_signal(signal.SIGKILL)
        replica.process.wait(timeout=10)


def stop_replica(replica: Replica) -> None:
    if replica.process.poll() is None:
        replica.process.terminate()
        try:
            replica.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            kill_replica(replica)


def _start_haproxy(
    workdir: Path, host: str, sock_port: int, servers: list[tuple[str, str, int]]
) -> RunningHAProxy:
    config_path = workdir / "haproxy.cfg"
    config_path.write_text(haproxy_config(host=host, port=sock_port, servers=servers))
    subprocess.run(["haproxy", "-c", "-q", "-f", str(config_path)], check=True)
    log_path = workdir / "haproxy.log"
    with log_path.open("wb") as out:
        # -db: stay in the foreground, so the Popen is HAProxy itself.
        process = subprocess.Popen(
            ["haproxy", "-db", "-f", str(config_path)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    lb = RunningHAProxy(sock_port, config_path, log_path, process)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"haproxy exited: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://{host}:{sock_port}/readyz", timeout=1) as resp:
                if resp.status == 200:
                    return lb
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    stop_haproxy(lb)
    raise RuntimeError(f"haproxy not forwarding: {log_path.read_text()[-2000:]}")


def stop_haproxy(lb: RunningHAProxy) -> None:
    if lb.process.poll() is None:
        lb.process.terminate()
        try:
            lb.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            lb.process.kill()
            lb.process.wait(timeout=5)


def _free_port(host: str) -> int:
    sock = bind_socket(host)
    port: int = sock.getsockname()[1]
    sock.close()
    return port


async def start_replicas(
    *,
    net: TestNet,
    database_url: str,
    workdir: Path,
    sfu_port: int,
    count: int = 2,
    s3: S3Settings | None = None,
    sfu: RunningSfu | None = None,
    lb_port: int | None = None,
    stale_after: float | None = None,
) -> ReplicaSet:
    """An SFU in `net`, `count` `evr serve` replicas on `database_url` (PostgreSQL) and
    HAProxy in front of them. The SFU's webhooks go to HAProxy. The database is migrated
    and the OFFICERS (tests/support/stack.py) created before the replicas start. With `s3`,
    evidence is sealed into that bucket (recorders started with start_recorder follow).
    With `sfu` (e.g. a cluster node, whose webhooks already go to `lb_port` on
    `net.host_ip`), no SFU is started here and stop_replicas leaves it alone. `stale_after`
    replaces the seconds after which a silent recorder is replaced (recorders follow)."""
    host = net.host_ip
    owns_sfu = sfu is None
    if lb_port is None:
        lb_port = _free_port(host)
    if sfu is None:
        sfu = start_sfu(
            net=net,
            webhook_url=f"http://{host}:{lb_port}/api/v1/livekit/webhook",
            workdir=workdir,
            http_port=sfu_port,
            rtc_tcp_port=sfu_port + 1,
            rtc_udp_port=sfu_port + 2,
            prometheus_port=sfu_port + 3,
            turn_udp_port=sfu_port + 4,
        )
    running: list[Replica] = []
    try:
        settings = settings_for(
            sfu,
            host=host,
            port=lb_port,
            database_url=database_url,
            recording=dataclasses.replace(
                base := recording_settings_for(workdir),
                s3=s3,
                stale_after=base.stale_after if stale_after is None else stale_after,
            ),
        )
        tokens: dict[str, str] = {}
        engine = db.create_engine(database_url)
        try:
            await db.migrate(engine)
            for who, (collar, unit, role) in OFFICERS.items():
                await add_officer(
                    engine, collar_number=collar, display_name=who, unit=unit, role=role
                )
                tokens[who] = await create_api_token(engine, collar_number=collar, label="test")
        finally:
            await engine.dispose()
        config = workdir / "evr.toml"
        _replica_config(config, settings, sfu.config_path.parent / "livekit-keys.yaml")
        for i in range(count):
            name = f"cp{i + 1}"
            running.append(
                _spawn_replica(
                    name, host, _free_port(host), _free_port(host), config=config, workdir=workdir
                )
            )
        lb = _start_haproxy(workdir, host, lb_port, [(r.name, host, r.port) for r in running])
    except BaseException:
        for r in running:
            stop_replica(r)
        if owns_sfu:
            stop_sfu(sfu)
        raise
    return ReplicaSet(
        base_url=f"http://{host}:{lb_port}",
        sfu=sfu,
        settings=settings,
        replicas=running,
        haproxy=lb,
        config_path=config,
        tokens=tokens,
        owns_sfu=owns_sfu,
    )


def stop_replicas(rs: ReplicaSet) -> None:
    stop_haproxy(rs.haproxy)
    for r in rs.replicas:
        stop_replica(r)
    if rs.owns_sfu:
        stop_sfu(rs.sfu)
