"""`evr`: one entry point for the stack and its admin tasks."""

import argparse
import asyncio
import gc
import sys
from collections.abc import Sequence
from pathlib import Path

import uvloop
from aiohttp import web

from control_plane.app import create_app
from control_plane.auth import add_officer
from control_plane.errors import EvrError
from core import db, logs
from core.domain import OfficerRole
from core.settings import Settings, SettingsError, load_settings
from evr import audit_commands, lifecycle, recording_commands, token_commands
from evr.children import StackError
from evr.stack import StackOptions, livekit_binary, run


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(Path(args.config) if args.config else None)


def settle_heap() -> None:
    """Move what start-up built (modules, the app, its services), which lives as long as the
    process, out of the garbage collector's way: a full collection then scans only what
    requests made. Unfrozen, one took about 80-110 ms, a stall for every request in flight
    (issue 14; BENCHMARKS.md, `benchmarks.gc_pause`)."""
    gc.collect()
    gc.freeze()


def _serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    logs.configure(settings.log_level)
    app = create_app(settings)

    async def announce(_app: web.Application) -> None:
        settle_heap()
        lifecycle.started("serve", settings, listen=f"{settings.host}:{settings.port}")

    app.on_startup.append(announce)
    # run_app turns SIGTERM into a graceful shutdown that runs every cleanup context. uvloop's
    # event loop and transports cost about 5 % less CPU per request than asyncio's (issue 14).
    loop = uvloop.new_event_loop()
    web.run_app(app, host=settings.host, port=settings.port, print=None, loop=loop)
    lifecycle.stopped("serve")
    return 0


async def _with_engine(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "migrate":
        # The only command that connects as the schema's owner, when one is configured.
        await db.migrate_as_owner(settings.database_url, settings.database_owner_url)
        print("database is up to date")
        return 0
    engine = db.create_engine(settings.database_url)
    try:
        await db.migrate(engine)
        if args.command == "officer-add":
            officer_id = await add_officer(
                engine,
                collar_number=args.collar,
                display_name=args.name,
                unit=args.unit,
                role=OfficerRole(args.role),
                rank=args.rank,
            )
            print(f"created officer {officer_id}")
    finally:
        await engine.dispose()
    return 0


def _db_command(args: argparse.Namespace) -> int:
    return asyncio.run(_with_engine(_settings(args), args))


def _up(args: argparse.Namespace) -> int:
    logs.configure("WARNING")
    opts = StackOptions(
        state_dir=Path(args.state_dir),
        node_ip=args.node_ip,
        host=args.host,
        port=args.port,
        livekit_binary=livekit_binary(),
        sfu_port=args.sfu_port,
        turn_relay_range=args.turn_relay_range,
        recorder_metrics_port=args.recorder_metrics_port,
        metrics_port=args.metrics_port,
    )
    try:
        asyncio.run(run(opts))
    except StackError as exc:
        print(f"evr up: {exc}", file=sys.stderr)
        return 1
    return 0


def _port_range(text: str) -> tuple[int, int]:
    start, sep, end = text.partition("-")
    if not (sep and start.isdigit() and end.isdigit()):
        raise argparse.ArgumentTypeError(f"expected START-END, got {text!r}")
    return int(start), int(end)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evr", description="Enhanced Video Response platform")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="bring up the embedded stack (SQLite + local SFU)")
    up.add_argument("--state-dir", default="var", help="where keys, configs and the database live")
    up.add_argument(
        "--node-ip",
        default="127.0.0.1",
        help="address phones reach the SFU on (set your LAN address to test from a phone)",
    )
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8080)
    up.add_argument(
        "--sfu-port",
        type=int,
        default=7880,
        help="SFU signalling port; ICE/TCP, media (UDP), TURN (UDP) and metrics use the next four",
    )
    up.add_argument(
        "--turn-relay-range",
        type=_port_range,
        default=(30000, 30100),
        metavar="START-END",
        help="UDP ports the SFU's TURN relays from",
    )
    up.add_argument("--recorder-metrics-port", type=int, default=9465)
    up.add_argument("--metrics-port", type=int, default=9464, help="the control plane's /metrics")
    up.set_defaults(func=_up)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", help="settings file (TOML); EVR_* variables override it")
        return p

    with_config(sub.add_parser("serve", help="run the control plane")).set_defaults(func=_serve)
    with_config(sub.add_parser("migrate", help="apply database migrations")).set_defaults(
        func=_db_command
    )
    officer = with_config(sub.add_parser("officer-add", help="create a local officer account"))
    officer.add_argument("--collar", required=True)
    officer.add_argument("--name", required=True)
    officer.add_argument("--rank", help='shown to the victim before the name, e.g. "PC"')
    officer.add_argument("--unit", required=True)
    officer.add_argument("--role", choices=[r.value for r in OfficerRole], default="officer")
    officer.set_defaults(func=_db_command)
    token_commands.register(sub, with_config)
    # `evr recorder` and `evr evidence verify|export` (issue 4) live with the recorder.
    recording_commands.register(sub, with_config)
    audit_commands.register(sub, with_config)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.func(args)
    except (SettingsError, EvrError, db.MigrationRightsError) as exc:
        print(f"evr: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
