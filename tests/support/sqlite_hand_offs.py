"""What core.sqlite_driver hands to aiosqlite's thread, for tests that assert where
statements run."""

import aiosqlite
import pytest

from core import sqlite_driver


def statements_handed_off(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """From this call on, the SQL of each statement handed to aiosqlite's thread, in order
    (commits, rollbacks and the connection's own calls are not statements)."""
    handed_off: list[object] = []
    real_execute = aiosqlite.Connection._execute

    async def counted(
        self: aiosqlite.Connection, fn: object, *args: object, **kwargs: object
    ) -> object:
        if fn is sqlite_driver._run:
            handed_off.append(args[1])
        return await real_execute(self, fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return handed_off
