"""Two real `evr serve` replicas on one PostgreSQL database: exactly one runs the periodic
jobs (control_plane/leader.py), the other takes over when it is killed, and a webhook
delivered to both is applied once."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from google.protobuf.json_format import MessageToJson
from livekit import api as lk

from sfu_config import generate_credentials, write_key_file
from tests.support.postgres import RunningPostgres, create_database
from tests.support.stack import bind_socket

WAIT = 60.0


@dataclass
class Replica:
    name: str
    port: int
    metrics_port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _config(tmp: Path, database_url: str) -> tuple[Path, str, str]:
    key, secret = generate_credentials()
    keys = tmp / "livekit-keys.yaml"
    write_key_file(keys, key, secret)
    # An SFU address where nothing listens: leadership needs no SFU, and the jobs it runs
    # treat an unreachable SFU as something to retry.
    closed = bind_socket("127.0.0.1")
    sfu_port = closed.getsockname()[1]
    closed.close()
    config = tmp / "evr.toml"
    config.write_text(
        "\n".join(
            [
                f'database_url = "{database_url}"',
                "[livekit]",
                f'key_file = "{keys}"',
                f'api_url = "http://127.0.0.1:{sfu_port}"',
                f'client_url = "ws://127.0.0.1:{sfu_port}"',
                "",
            ]
        )
    )
    return config, key, secret


def _start(name: str, config: Path, tmp: Path) -> Replica:
    sock, metrics = bind_socket("127.0.0.1"), bind_socket("127.0.0.1")
    port, metrics_port = sock.getsockname()[1], metrics.getsockname()[1]
    sock.close()
    metrics.close()
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "evr.cli", "serve", "--config", str(config)],
            env={
                **os.environ,
                "EVR_HOST": "127.0.0.1",
                "EVR_PORT": str(port),
                "EVR_METRICS_PORT": str(metrics_port),
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Replica(name, port, metrics_port, process, log)


async def _leader_gauge(session: aiohttp.ClientSession, replica: Replica) -> float | None:
    try:
        async with session.get(f"http://127.0.0.1:{replica.metrics_port}/metrics") as resp:
            text = await resp.text()
    except aiohttp.ClientError:
        return None
    for line in text.splitlines():
        if line.startswith("evr_leader "):
            return float(line.split()[1])
    return None


async def _until(session: aiohttp.ClientSession, replica: Replica, value: float) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if replica.process.poll() is not None:
            raise AssertionError(f"{replica.name} exited: {replica.log.read_text()[-2000:]}")
        if await _leader_gauge(session, replica) == value:
            return
        await asyncio.sleep(0.2)
    raise AssertionError(
        f"{replica.name}: evr_leader never {value}: {replica.log.read_text()[-2000:]}"
    )


@pytest.fixture
def replicas_db(postgres: RunningPostgres) -> str:
    return create_database(postgres, f"evr_replicas_{uuid.uuid4().hex[:8]}")


async def test_one_replica_leads_and_another_takes_over_when_it_dies(
    replicas_db: str, tmp_path: Path
) -> None:
    config, key, secret = _config(tmp_path, replicas_db)
    running: list[Replica] = []
    try:
        async with aiohttp.ClientSession() as session:
            a = _start("a", config, tmp_path)
            running.append(a)
            await _until(session, a, 1.0)
            b = _start("b", config, tmp_path)  # after a has migrated the database
            running.append(b)
            await _until(session, b, 0.0)
            # b keeps contending and keeps losing while a lives.
            await asyncio.sleep(3)
            assert await _leader_gauge(session, a) == 1.0
            assert await _leader_gauge(session, b) == 0.0

            # A webhook delivered (and retried) to both replicas at once is applied once.
            ev = lk.WebhookEvent(event="room_started", id=f"EV_{uuid.uuid4().hex}")
            ev.room.name = "not-a-visit-room"
            body = MessageToJson(ev)
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            auth = lk.AccessToken(key, secret).with_sha256(digest).to_jwt()

            async def post(r: Replica) -> object:
                async with session.post(
                    r.base + "/api/v1/livekit/webhook", data=body, headers={"Authorization": auth}
                ) as resp:
                    assert resp.status == 200, await resp.text()
                    return (await resp.json())["applied"]

            applied = await asyncio.gather(post(a), post(b), post(a), post(b))
            assert sorted(applied, key=bool) == [False, False, False, True]

            a.process.send_signal(signal.SIGKILL)
            a.process.wait(timeout=10)
            # PostgreSQL drops the dead session's lock; b takes the jobs over.
            await _until(session, b, 1.0)
    finally:
        for r in running:
            if r.process.poll() is None:
                r.process.terminate()
                r.process.wait(timeout=20)
