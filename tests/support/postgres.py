"""A throw-away PostgreSQL server (Debian's), on loopback, for the test suite's own use."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class RunningPostgres:
    datadir: Path
    port: int

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    @property
    def pid(self) -> int:
        """The postmaster's pid (its backends are its children), from postmaster.pid."""
        return int((self.datadir / "postmaster.pid").read_text().split("\n", 1)[0])


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is missing: run scripts/setup.sh")
    return found[-1]


def _as_postgres(argv: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI and developers here are root.
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_postgres() -> RunningPostgres:
    datadir = Path(tempfile.mkdtemp(prefix="evr-pg-"))
    if os.geteuid() == 0:
        shutil.chown(datadir, "postgres", "postgres")
    subprocess.run(
        _as_postgres(
            [_bin("initdb"), "-D", str(datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
    )
    port = _free_port()
    subprocess.run(
        _as_postgres(
            [
                _bin("pg_ctl"), "-D", str(datadir), "-l", str(datadir / "server.log"), "-w",
                "-o", f"-h 127.0.0.1 -p {port} -k {datadir} -c fsync=off",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )  # fmt: skip
    pg = RunningPostgres(datadir=datadir, port=port)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return pg
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("PostgreSQL did not start")


def create_database(pg: RunningPostgres, name: str) -> str:
    subprocess.run(
        _as_postgres(
            [_bin("createdb"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres", name]
        ),
        check=True,
        capture_output=True,
    )
    return pg.url(name)


def stop_postgres(pg: RunningPostgres) -> None:
    subprocess.run(
        _as_postgres([_bin("pg_ctl"), "-D", str(pg.datadir), "-m", "immediate", "stop"]),
        check=False,
        capture_output=True,
    )
    shutil.rmtree(pg.datadir, ignore_errors=True)
