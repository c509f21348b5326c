"""`evr up`: the embedded default stack on one machine (SQLite + a local livekit-server).

It writes its state under one folder (default ./var): the LiveKit key file (0600), the
rendered SFU config, the control-plane settings and the SQLite database. A second run reuses
them, so officers' tokens and visits survive restarts.

It says "EVR is up." only once the SFU, the control plane (/readyz) and the recorder all
answer; otherwise it names what failed, stops whatever it started and exits non-zero. A child
that dies later is restarted; one that keeps dying brings the whole stack down rather than
leave half of it running.
"""

import asyncio
import contextlib
import logging
import shutil
import signal
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
from core.settings import Settings, load_settings
from core.tasks import stop_task
from evr.children import Child, Port, StackError, check_ports_free
from sfu_config import Profile, SfuSettings, generate_credentials, render, write_key_file

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
# Each part gets this long to answer before `evr up` gives up on it.
START_TIMEOUT = 30.0


@dataclass(frozen=True, kw_only=True)
class StackOptions:
    state_dir: Path
    node_ip: str
    host: str
    port: int
    livekit_binary: Path
    # The SFU listens on sfu_port (signalling) and the four ports after it: ICE/TCP, media
    # (UDP), TURN (UDP) and metrics. A second stack on one machine needs its own block.
    sfu_port: int = 7880
    turn_relay_range: tuple[int, int] = (30000, 30100)
    recorder_metrics_port: int = 9465
    metrics_port: int = 9464
    """The control plane's management listener (/metrics)."""


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
    sfu_settings = _sfu_settings(opts, key_file, key)
    (state / "livekit.yaml").write_text(render(Profile.DEV, sfu_settings))
    (state / "evr.toml").write_text(
        "\n".join(
            [
                "# Written by `evr up`; edit the flags instead, it is rewritten each run.",
                f'host = "{opts.host}"',
                f"port = {opts.port}",
                f"metrics_port = {opts.metrics_port}",
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
                "[recording]",
                f"metrics_port = {opts.recorder_metrics_port}",
                "",
            ]
        )
    )
    return state


def _sfu_settings(opts: StackOptions, key_file: Path, key: str) -> SfuSettings:
    p = opts.sfu_port
    return SfuSettings(
        node_ip=opts.node_ip,
        bind_addresses=(opts.node_ip,),
        key_file=key_file,
        webhook_api_key=key,
        webhook_url=f"http://{_reachable(opts.host)}:{opts.port}/api/v1/livekit/webhook",
        http_port=p,
        rtc_tcp_port=p + 1,
        rtc_udp_port=p + 2,
        turn_udp_port=p + 3,
        prometheus_port=p + 4,
        turn_relay_range=opts.turn_relay_range,
    )


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


def _children(opts: StackOptions, state: Path, settings: Settings) -> tuple[Child, Child]:
    sfu = Child(
        name="livekit-server",
        argv=[str(opts.livekit_binary), "--config", str(state / "livekit.yaml")],
        log_path=state / "livekit-server.log",
        health_url=settings.livekit.api_url + "/",
    )
    rs = settings.recording
    # The evidential recorder is its own process: a crash there never takes the API down.
    recorder = Child(
        name="recorder",
        argv=[sys.executable, "-m", "evr.cli", "recorder", "--config", str(state / "evr.toml")],
        log_path=state / "recorder.log",
        health_url=f"http://{_reachable(rs.metrics_host)}:{rs.metrics_port}/healthz",
    )
    return sfu, recorder


def _ports(opts: StackOptions, settings: Settings) -> list[Port]:
    s = _sfu_settings(opts, opts.state_dir.resolve() / "livekit-keys.yaml", "-")
    ip = opts.node_ip
    rs = settings.recording
    return [
        Port("control plane (--port)", opts.host, opts.port),
        Port("control-plane metrics (--metrics-port)", settings.metrics_host, opts.metrics_port),
        Port("SFU signalling (--sfu-port)", ip, s.http_port),
        Port("SFU ICE/TCP (--sfu-port + 1)", ip, s.rtc_tcp_port),
        Port("SFU media (--sfu-port + 2)", ip, s.rtc_udp_port, udp=True),
        Port("SFU TURN (--sfu-port + 3)", ip, s.turn_udp_port, udp=True),
        Port("SFU metrics (--sfu-port + 4)", ip, s.prometheus_port),
        Port("recorder metrics (--recorder-metrics-port)", rs.metrics_host, rs.metrics_port),
    ]


async def _wait_ready(url: str, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last = "no answer"
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline:
            try:
                async with session.get(url, timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return
                    last = f"HTTP {resp.status}: {(await resp.text())[:300]}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                last = str(exc) or type(exc).__name__
            await asyncio.sleep(0.2)
    raise StackError(f"control plane not ready at {url} within {timeout:.0f} s ({last})")


async def _start(
    opts: StackOptions, settings: Settings, runner: web.AppRunner, children: tuple[Child, Child]
) -> None:
    """Bring up SFU, control plane and recorder; return once all three answer."""
    sfu, recorder = children
    check_ports_free(_ports(opts, settings))
    sfu.start()
    await sfu.wait_ready(START_TIMEOUT)
    await runner.setup()
    try:
        await web.TCPSite(runner, opts.host, opts.port).start()
    except OSError as exc:
        raise StackError(
            f"control plane: TCP port {opts.port} on {opts.host} is in use ({exc.strerror})"
        ) from None
    recorder.start()
    await recorder.wait_ready(START_TIMEOUT)
    await _wait_ready(f"http://{_reachable(opts.host)}:{opts.port}/readyz", START_TIMEOUT)


async def _supervise(children: tuple[Child, Child], stop: asyncio.Event) -> None:
    """Restart a child that died (the recorder resumes the statements it held); give up, and
    so stop everything, when one keeps dying."""
    while not stop.is_set():
        for child in children:
            if child.exited() is not None:
                await child.restart(START_TIMEOUT)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.5)


def _announce(settings: Settings, state: Path, token: str | None) -> None:
    base = settings.join.public_base_url
    rs = settings.recording
    print(f"EVR is up.\n  Officer console: {base}/console\n  API: {base}/api/v1/openapi.json")
    print(f"  SFU: {settings.livekit.client_url} (log: {state / 'livekit-server.log'})")
    print(f"  Recorder: metrics on http://{rs.metrics_host}:{rs.metrics_port}/metrics")
    if token:
        print("  Sign in as the duty supervisor (collar 0001) with this token, shown once:")
        print(f"    {token}")
    else:
        print("  Sign in with an existing token, or make one: evr token create --collar N")
    sys.stdout.flush()


async def run(opts: StackOptions) -> None:
    """Run the stack until SIGINT/SIGTERM. Raises StackError, having stopped whatever it
    started, when a part does not come up or keeps dying."""
    state = prepare(opts)
    settings = load_settings(state / "evr.toml", environ={})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(create_app(settings))
    children = _children(opts, state, settings)
    try:
        token = await _ensure_admin(settings.database_url)
        starting = asyncio.create_task(_start(opts, settings, runner, children))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            await stop_task(starting)
            return
        stopping.cancel()
        starting.result()
        _announce(settings, state, token)
        await _supervise(children, stop)
    finally:
        sfu, recorder = children
        # SIGTERM lets the recorder close its segments and hand its statements back.
        recorder.stop(grace=20)
        await runner.cleanup()
        sfu.stop(grace=10)
