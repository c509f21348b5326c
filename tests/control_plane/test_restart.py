"""After kill -9 of the control plane mid-visit and a restart, the visit is intact.

The control plane runs here as the deployed process would (`evr serve --config FILE`), and
its officer account and token are made with the CLI.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.postgres import RunningPostgres, create_database
from tests.support.stack import Stack, bind_socket

PY = sys.executable


def _evr(*args: str, config: Path) -> str:
    out = subprocess.run(
        [PY, "-m", "evr.cli", *args, "--config", str(config)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout.strip()


@pytest.fixture
def fresh_database(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> Iterator[str]:
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'restart.sqlite3'}"
    else:
        pg: RunningPostgres = request.getfixturevalue("postgres")
        yield create_database(pg, f"evr_restart_{uuid.uuid4().hex[:8]}")


async def _wait_ready(
    session: aiohttp.ClientSession, base: str, proc: subprocess.Popen[bytes]
) -> None:
    for _ in range(200):
        assert proc.poll() is None, "control plane exited"
        try:
            async with session.get(base + "/readyz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise TimeoutError("control plane did not become ready")


async def test_visit_state_and_audit_survive_kill_9(
    stack: Stack, fresh_database: str, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    sock = bind_socket(stack.settings.host)
    port = sock.getsockname()[1]
    sock.close()
    key_file = stack.sfu.config_path.parent / "livekit-keys.yaml"
    config = tmp_path / "evr.toml"
    config.write_text(
        f'host = "{stack.settings.host}"\nport = {port}\ndatabase_url = "{fresh_database}"\n'
        f'[livekit]\nkey_file = "{key_file}"\napi_url = "{stack.sfu.url}"\n'
    )
    _evr("officer-add", "--collar", "4242", "--name", "PC Test", "--unit", "EVR", config=config)
    token = _evr("token-create", "--collar", "4242", config=config)
    headers = {"Authorization": f"Bearer {token}"}
    base = f"http://{stack.settings.host}:{port}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def serve() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [PY, "-m", "evr.cli", "serve", "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )

    proc = serve()
    try:
        await _wait_ready(http, base, proc)
        async with http.post(
            base + "/api/v1/visits",
            headers=headers,
            json={
                "crime_reference": "CR/KILL/9",
                "scheduled_at": "2026-11-28T10:00:00Z",
                "contact": {"channel": "email", "value": "victim@example.org"},
            },
        ) as resp:
            assert resp.status == 201
            vid = (await resp.json())["id"]
        await http.post(
            f"{base}/api/v1/visits/{vid}/choice", headers=headers, json={"choice": "video"}
        )
        for item in ("risk_assessment_clear", "adult_or_guardian", "offender_not_present",
                     "smartphone_with_video", "network_adequate"):  # fmt: skip
            await http.put(
                f"{base}/api/v1/visits/{vid}/eligibility/{item}",
                headers=headers,
                json={"value": True},
            )
        async with http.post(f"{base}/api/v1/visits/{vid}/start", headers=headers) as resp:
            assert resp.status == 200
            before = await resp.json()
        async with http.get(f"{base}/api/v1/visits/{vid}/audit", headers=headers) as resp:
            audit_before = (await resp.json())["entries"]

        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        proc = serve()
        await _wait_ready(http, base, proc)

        async with http.get(f"{base}/api/v1/visits/{vid}", headers=headers) as resp:
            after = await resp.json()
        async with http.get(f"{base}/api/v1/visits/{vid}/audit", headers=headers) as resp:
            audit_after = (await resp.json())["entries"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    assert after["status"] == "waiting"
    assert after["room_name"] == before["room_name"]
    assert after["eligibility"] == before["eligibility"]
    assert after["contact"] == {"channel": "email", "value": "victim@example.org"}
    # Everything logged before the kill is still there, in order; the restart only appends.
    assert audit_after[: len(audit_before)] == audit_before
    # After the restart only the two reads are appended (the visit and its audit trail are
    # both consultations of personal data, DPA 2018 s.62).
    appended = audit_after[len(audit_before) :]
    assert [e["action"] for e in appended] == ["consultation", "consultation"]


async def test_serve_runs_on_uvloop_and_sigterm_shuts_it_down_cleanly(
    stack: Stack, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    sock = bind_socket(stack.settings.host)
    port = sock.getsockname()[1]
    sock.close()
    key_file = stack.sfu.config_path.parent / "livekit-keys.yaml"
    config = tmp_path / "evr.toml"
    config.write_text(
        f'host = "{stack.settings.host}"\nport = {port}\n'
        f'database_url = "sqlite+aiosqlite:///{tmp_path / "t.sqlite3"}"\n'
        f'[livekit]\nkey_file = "{key_file}"\napi_url = "{stack.sfu.url}"\n'
    )
    proc = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child under test
        [PY, "-m", "evr.cli", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        await _wait_ready(http, f"http://{stack.settings.host}:{port}", proc)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.stdout is not None
    with proc.stdout:
        out = proc.stdout.read().decode()
    assert "Traceback" not in out
    (start,) = (json.loads(line) for line in out.splitlines() if '"serve.started"' in line)
    assert start["event_loop"] == "uvloop"
