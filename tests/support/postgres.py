"""A throw-away PostgreSQL server (Debian's), on loopback, for the test suite's own use.

Like a real deployment it has two roles: `evr_owner` owns each test database and runs its
migrations; `evr_runtime` is what the services connect as (rows only, no DDL), so the suite
runs with the rights production has. `create_database` hands out a migrated database as the
runtime role; `owner_url` gives the owner's URL of it (migration tests, an attacker's DBA).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from core import db

if TYPE_CHECKING:  # only for a type: loadtests and benchmarks import this module too
    import pytest

OWNER = "evr_owner"
RUNTIME = "evr_runtime"


@dataclass
class RunningPostgres:
    datadir: Path
    port: int
    migrated_template: str | None = None
    """A database migrated once, which `create_database` copies (faster than migrating)."""

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
                break
        except OSError:
            time.sleep(0.1)
    else:
        raise RuntimeError("PostgreSQL did not start")
    # As the Ansible role does (infra/ansible/roles/postgres): nobody but the owner creates
    # objects. Databases created later copy template1, so revoke there.
    _psql(pg, f"CREATE ROLE {OWNER} LOGIN; CREATE ROLE {RUNTIME} LOGIN")
    subprocess.run(
        _as_postgres(
            [_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(port), "-U", "postgres", "-d", "template1",
             "-c", "REVOKE CREATE ON SCHEMA public FROM PUBLIC"]
        ),
        check=True,
        capture_output=True,
    )  # fmt: skip
    return pg


def _psql(pg: RunningPostgres, sql: str) -> None:
    subprocess.run(
        _as_postgres(
            [_bin("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(pg.port), "-U", "postgres", "-d", "postgres", "-c", sql]
        ),
        check=True,
        capture_output=True,
    )  # fmt: skip


def create_empty_database(pg: RunningPostgres, name: str, *, template: str = "template1") -> str:
    """An empty database owned by the owner role (or a copy of ``template``); returns the
    owner's URL."""
    subprocess.run(
        _as_postgres(
            [_bin("createdb"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres",
             "-O", OWNER, "-T", template, name]
        ),
        check=True,
        capture_output=True,
    )  # fmt: skip
    return f"postgresql+asyncpg://{OWNER}@127.0.0.1:{pg.port}/{name}"


def owner_url(url: str) -> str:
    """The owner's URL of a test database given by its runtime URL (SQLite: the same)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return url
    return parsed.set(username=OWNER).render_as_string(hide_password=False)


def runtime_url(url: str) -> str:
    return make_url(url).set(username=RUNTIME).render_as_string(hide_password=False)


def create_database(pg: RunningPostgres, name: str) -> str:
    """A database migrated by the owner role; returns the runtime role's URL.

    The first call migrates a template database; every call copies it (tables, triggers,
    grants and all), which is much faster than running every revision again."""
    if pg.migrated_template is None:
        template = "evr_migrated_template"
        url = create_empty_database(pg, template)
        # In a thread of its own: callers may be inside a running event loop.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, db.migrate_as_owner(runtime_url(url), url)).result()
        pg.migrated_template = template
    return runtime_url(create_empty_database(pg, name, template=pg.migrated_template))


def stop_postgres(pg: RunningPostgres) -> None:
    subprocess.run(
        _as_postgres([_bin("pg_ctl"), "-D", str(pg.datadir), "-m", "immediate", "stop"]),
        check=False,
        capture_output=True,
    )
    shutil.rmtree(pg.datadir, ignore_errors=True)


def spy_on_asyncpg(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What asyncpg is asked to run from here on, the real methods still running: each
    `fetchrow` query (the pool's ping) and each transaction opened."""
    calls: list[str] = []
    real_fetchrow, real_transaction = asyncpg.Connection.fetchrow, asyncpg.Connection.transaction

    async def fetchrow(self: Any, query: str, *args: Any, **kw: Any) -> Any:
        calls.append(query)
        return await real_fetchrow(self, query, *args, **kw)

    def transaction(self: Any, **kw: Any) -> Any:
        calls.append("transaction")
        return real_transaction(self, **kw)

    monkeypatch.setattr(asyncpg.Connection, "fetchrow", fetchrow)
    monkeypatch.setattr(asyncpg.Connection, "transaction", transaction)
    return calls
