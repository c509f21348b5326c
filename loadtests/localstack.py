"""A whole EVR stack on this machine for load runs: the real livekit-server in a network
namespace of its own (libwebrtc ignores loopback) and the control plane on the host end of
its veth pair, on SQLite. Traffic never leaves the machine.

    sudo .venv/bin/python -m loadtests.localstack      # prints --host and the officer tokens

It reuses the test suite's launchers (tests/support), so load runs and tests start the same
components the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import signal
import tempfile
from collections.abc import AsyncIterator, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.support.netns import TestNet, create_testnet, destroy_testnet
from tests.support.postgres import create_database, start_postgres, stop_postgres
from tests.support.recorder import RunningRecorder, start_recorder, stop_recorder
from tests.support.stack import Stack, start_stack, stop_stack

T = TypeVar("T")


@dataclass(frozen=True)
class LocalStack:
    net: TestNet
    stack: Stack
    recorder: RunningRecorder | None = None
    database_pid: int | None = None
    """The PostgreSQL server this stack started; None on SQLite (in-process)."""

    @property
    def host(self) -> str:
        """The control plane's base URL, for Locust's --host."""
        return self.stack.base_url

    @property
    def officer_tokens(self) -> str:
        """Comma-separated officer API tokens, for --officer-tokens."""
        return ",".join(self.stack.tokens[name] for name in ("alice", "bob", "carol"))

    @property
    def sfu_pid(self) -> int:
        return int(self.stack.sfu.process.pid)

    @property
    def recorder_pid(self) -> int | None:
        return None if self.recorder is None else int(self.recorder.process.pid)


@contextlib.asynccontextmanager
async def local_stack(
    workdir: Path,
    *,
    tag: str = "load",
    http_port: int = 17980,
    recorder: bool = False,
    postgres: bool = False,
    sfu_options: Mapping[str, Any] | None = None,
) -> AsyncIterator[LocalStack]:
    """Start a namespace, the SFU, the control plane (on SQLite, or a throw-away PostgreSQL
    with `postgres`) and, with `recorder`, the recorder worker (`evr recorder`); tear all of
    it down on exit."""
    with contextlib.ExitStack() as cleanup:
        database_pid = None
        if postgres:
            pg = start_postgres()
            cleanup.callback(stop_postgres, pg)
            database_url = create_database(pg, "evr_load")
            database_pid = pg.pid
        else:
            database_url = f"sqlite+aiosqlite:///{workdir / 'evr.sqlite3'}"
        async with _stack(
            workdir, tag, http_port, database_url, recorder=recorder, sfu_options=sfu_options
        ) as ls:
            yield dataclasses.replace(ls, database_pid=database_pid)


@contextlib.asynccontextmanager
async def _stack(
    workdir: Path,
    tag: str,
    http_port: int,
    database_url: str,
    *,
    recorder: bool,
    sfu_options: Mapping[str, Any] | None = None,
) -> AsyncIterator[LocalStack]:
    net = create_testnet(tag)
    try:
        stack = await start_stack(
            net=net,
            database_url=database_url,
            workdir=workdir / "sfu",
            http_port=http_port,
            sfu_options=sfu_options,
        )
        try:
            rec = start_recorder(stack, workdir / "recorder", name="load") if recorder else None
            try:
                yield LocalStack(net=net, stack=stack, recorder=rec)
            finally:
                if rec is not None:
                    stop_recorder(rec)
        finally:
            await stop_stack(stack)
    finally:
        destroy_testnet(net)


def run_cancellable(main: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, with SIGTERM (e.g. from `timeout`) cancelling `main` like Ctrl-C does, so
    the stack's teardown runs and no namespace or server is left behind."""

    async def runner() -> T:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await main

    return asyncio.run(runner())


async def _serve(workdir: Path, *, recorder: bool, postgres: bool) -> None:
    async with local_stack(workdir, recorder=recorder, postgres=postgres) as ls:
        print(f"--host {ls.host}")
        print(f"EVR_OFFICER_TOKENS={ls.officer_tokens}")
        print("Ctrl-C stops the stack.", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--workdir", type=Path, help="state directory (default: a temp dir)")
    parser.add_argument("--recorder", action="store_true", help="also run `evr recorder`")
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL, not SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="evr-load-") as tmp:
        workdir = args.workdir or Path(tmp)
        run_cancellable(_serve(workdir, recorder=args.recorder, postgres=args.postgres))


if __name__ == "__main__":
    main()
