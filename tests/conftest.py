"""Shared fixtures: a test network namespace, PostgreSQL, and the stack per database backend.

Every integration test runs twice, once on the embedded SQLite default and once on PostgreSQL.
"""

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.infra import headstart
from tests.support.netns import TestNet, create_testnet, destroy_testnet
from tests.support.postgres import (
    RunningPostgres,
    create_database,
    start_postgres,
    stop_postgres,
)
from tests.support.stack import Api, Stack, start_stack, stop_stack

BACKENDS = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def testnet() -> Iterator[TestNet]:
    net = create_testnet("suite")
    try:
        yield net
    finally:
        destroy_testnet(net)


@pytest.fixture(scope="session")
def postgres() -> Iterator[RunningPostgres]:
    pg = start_postgres()
    try:
        yield pg
    finally:
        stop_postgres(pg)


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'evr.sqlite3'}"
    pg: RunningPostgres = request.getfixturevalue("postgres")
    return create_database(pg, "evr_suite")


@pytest.fixture(scope="session")
async def stack(
    testnet: TestNet, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    port = 17880 if database_url.startswith("sqlite") else 17890
    s = await start_stack(
        net=testnet,
        database_url=database_url,
        workdir=tmp_path_factory.mktemp("sfu"),
        http_port=port,
    )
    try:
        yield s
    finally:
        await stop_stack(s)


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def api(http: aiohttp.ClientSession, stack: Stack) -> Api:
    return Api(http, stack)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The deploy modules run last: their hosts converge in the background meanwhile."""
    modules = {repo_root() / path for path in headstart.MODULES}
    items.sort(key=lambda item: Path(str(item.path)) in modules)  # stable: order kept otherwise


@pytest.fixture(scope="session", autouse=True)
def _deploy_head_start(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    """Start bringing up the selected deploy modules' hosts as the session's tests begin."""
    headstart.start_for(request.session.items, tmp_path_factory)
    try:
        yield
    finally:
        headstart.close_all()


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Shut the LiveKit SDK's native runtime down while the interpreter is whole.

    livekit.rtc disposes it from an atexit hook, during interpreter teardown; there its tokio
    workers sometimes abort the process ("panic in a function that cannot unwind", exit 134)
    after every test has passed. Disposing here, once the tests are over, keeps that teardown
    inside a live interpreter.
    """
    rtc = sys.modules.get("livekit.rtc._ffi_client")
    if rtc is not None and rtc.FfiClient._instance is not None:
        rtc.FfiClient._instance._dispose()
