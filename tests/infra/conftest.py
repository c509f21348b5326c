"""Fixtures for the deploy tests: the converged deployments, brought up in the background
since the session started (tests/infra/headstart.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.infra import headstart
from tests.infra.deploy import PlayResult
from tests.infra.hosts import TestHost
from tests.infra.tls import TestTls
from tests.infra.topologies import Converged


@dataclass(frozen=True)
class Deployment:
    host: TestHost
    inventory: Path
    tls: TestTls
    vault: dict[str, str]
    first_run: PlayResult
    second_run: PlayResult
    check_run: PlayResult


def _taken(name: str) -> Iterator[Converged]:
    started = headstart.get(name)
    try:
        converged = started.result()
        assert converged.first_run.returncode == 0, converged.first_run.output[-8000:]
        yield converged
    finally:
        started.close()


@pytest.fixture(scope="module")
def all_in_one() -> Iterator[Deployment]:
    for c in _taken("all_in_one"):
        assert c.check_run is not None
        yield Deployment(
            host=c.hosts["evr-aio"],
            inventory=c.inventory,
            tls=c.tls,
            vault=c.vault,
            first_run=c.first_run,
            second_run=c.second_run,
            check_run=c.check_run,
        )


@pytest.fixture(scope="module")
def split_converged() -> Iterator[Converged]:
    yield from _taken("split")
