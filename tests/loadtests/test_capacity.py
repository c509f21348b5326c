"""The capacity report's CPU accounting: what the run started is never "other processes"."""

import pytest

from loadtests.capacity import HEADER, Level
from tests.support.postgres import RunningPostgres


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_the_database_the_run_started_has_its_own_column() -> None:
    cpu = {"machine": 2.0, "sfu": 0.1, "generator": 1.0, "control_plane": 0.1, "database": 0.3}
    level = Level(mode="without recorder", visits=1, cpu=cpu, load="1.0")
    assert level.others == pytest.approx(0.5)  # 2.0 - (0.1 + 1.0 + 0.1 + 0.3): the database is ours
    header = _cells(HEADER.splitlines()[0])
    row = dict(zip(header, _cells(level.row()), strict=True))
    assert (row["database cores"], row["other processes cores"]) == ("0.30", "0.50")


def test_sqlite_runs_show_no_database_figure() -> None:
    level = Level(mode="without recorder", visits=1, cpu={"machine": 1.0}, load="1.0")
    header = _cells(HEADER.splitlines()[0])
    assert dict(zip(header, _cells(level.row()), strict=True))["database cores"] == "-"


def test_the_postgres_pid_is_its_postmaster(postgres: RunningPostgres) -> None:
    with open(f"/proc/{postgres.pid}/cmdline", "rb") as f:
        argv0 = f.read().split(b"\0")[0]
    assert argv0.endswith(b"postgres"), argv0
