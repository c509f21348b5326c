"""`evr up`: the embedded default stack on one machine (SQLite + a local livekit-server).

It writes its state under one folder (default ./var): the LiveKit key file (0600), the
rendered SFU config, the control-plane settings and the SQLite database. A second run reuses
them, so officers' tokens and visits survive restarts.
"""

import asyncio
import contextlib
import logging
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web
from sqlalchemy import select

from control_plane.app import create_app
from control_plane.auth import add_officer, create_api_token
from core import db, schema
from core.domain import OfficerRole
from core.settings import load_settings
from sfu_config import Profile, SfuSettings, generate_credentials, render, write_key_file

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, kw_only=True)
class StackOptions:
    state_dir: Path
    node_ip: str
    host: str
    port: int
    livekit_binary: Path


def livekit_binary() -> Path:
    local = REPO_ROOT / ".tools" / "bin" / "livekit-server"
    if local.exists():
        return local
    found = shutil.which("livekit-server")
    if found is None:
        raise SystemExit("livekit-server not found: run ./scripts/setup.sh first")
    return Path(found)


def prepare(opts: StackOptions) -> Path:
    """Write (once) the key file and (each time) the SFU and control-plane configs."""
    state = opts.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    key_file = state / "livekit-keys.yaml"
    if not key_file.exists():
        write_key_file(key_file, *generate_credentials())
    key = key_file.read_text().split(":", 1)[0].strip()
    sfu_settings = SfuSettings(
        node_ip=opts.node_ip,
        bind_addresses=(opts.node_ip,),
        key_file=key_file,
        webhook_api_key=key,
        webhook_url=f"http://{_reachable(opts.host)}:{opts.port}/api/v1/livekit/webhook",
    )
    (state / "livekit.yaml").write_text(render(Profile.DEV, sfu_settings))
    (state / "evr.toml").write_text(
        "\n".join(
            [
                "# Written by `evr up`; edit the flags instead, it is rewritten each run.",
                f'host = "{opts.host}"',
                f"port = {opts.port}",
                f'database_url = "sqlite+aiosqlite:///{state / "evr.sqlite3"}"',
                "",
                "[livekit]",
                f'key_file = "{key_file}"',
                f'api_url = "http://{opts.node_ip}:{sfu_settings.http_port}"',
                f'client_url = "ws://{opts.node_ip}:{sfu_settings.http_port}"',
                "",
                "[join]",
                f'public_base_url = "http://{_reachable(opts.host)}:{opts.port}"',
                "",
            ]
        )
    )
    return state


def _reachable(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104


async def _ensure_admin(database_url: str) -> str | None:
    """On first run, create a supervisor account and return a token for it."""
    engine = db.create_engine(database_url)
    try:
        await db.migrate(engine)
        async with engine.connect() as conn:
            any_officer = await conn.scalar(select(schema.officers.c.id).limit(1))
        if any_officer:
            return None
        await add_officer(
            engine,
            collar_number="0001",
            display_name="Duty supervisor",
            unit="EVR",
            role=OfficerRole.SUPERVISOR,
        )
        return await create_api_token(engine, collar_number="0001", label="created by evr up")
    finally:
        await engine.dispose()


async def _wait_for_sfu(url: str, sfu: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Wait until livekit-server answers HTTP, so the control plane starts against a live SFU."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline:
            if sfu.poll() is not None:
                raise SystemExit(f"livekit-server exited ({sfu.returncode}); see its log")
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=1)):
                    return
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(0.2)
    raise SystemExit(f"livekit-server did not answer on {url} within {timeout:.0f} s")


def _start_recorder(state: Path) -> subprocess.Popen[bytes]:
    """The evidential recorder, as its own process (a crash there never takes the API down)."""
    argv = [sys.executable, "-m", "evr.cli", "recorder", "--config"]
    with (state / "recorder.log").open("ab") as out:
        return subprocess.Popen(
            [*argv, str(state / "evr.toml")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop_child(child: subprocess.Popen[bytes]) -> None:
    # SIGTERM lets the recorder close its segments and hand its statements back.
    child.terminate()
    try:
        child.wait(timeout=20)
    except subprocess.TimeoutExpired:
        child.kill()


async def run(opts: StackOptions) -> None:
    state = prepare(opts)
    settings = load_settings(state / "evr.toml", environ={})
    token = await _ensure_admin(settings.database_url)
    sfu_log = (state / "livekit-server.log").open("ab")
    sfu = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, started once
        [str(opts.livekit_binary), "--config", str(state / "livekit.yaml")],
        stdout=sfu_log,
        stderr=subprocess.STDOUT,
    )
    runner = web.AppRunner(create_app(settings))
    recorder: subprocess.Popen[bytes] | None = None
    try:
        await _wait_for_sfu(settings.livekit.api_url, sfu)
        await runner.setup()
        await web.TCPSite(runner, opts.host, opts.port).start()
        base = settings.join.public_base_url
        print(f"EVR is up.\n  Officer console: {base}/console\n  API: {base}/api/v1/openapi.json")
        print(f"  SFU: {settings.livekit.client_url} (log: {state / 'livekit-server.log'})")
        recorder = _start_recorder(state)
        rs = settings.recording
        print(f"  Recorder: metrics on http://{rs.metrics_host}:{rs.metrics_port}/metrics")
        if token:
            print("  Sign in as the duty supervisor (collar 0001) with this token, shown once:")
            print(f"    {token}")
        else:
            print("  Sign in with an existing token, or make one: evr token create --collar N")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        while not stop.is_set():
            if sfu.poll() is not None:
                raise SystemExit(f"livekit-server exited ({sfu.returncode}); see its log")
            if recorder.poll() is not None:
                # A recorder that died is restarted at once: it resumes any statement it held.
                log.error("recorder exited; restarting it", extra={"code": recorder.returncode})
                recorder = _start_recorder(state)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
    finally:
        if recorder is not None:
            _stop_child(recorder)
        await runner.cleanup()
        sfu.terminate()
        try:
            sfu.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sfu.kill()
        sfu_log.close()
