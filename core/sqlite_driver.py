"""SQLAlchemy's aiosqlite adapter, with one hand-off to aiosqlite's thread per statement.

The stock adapter makes four (open a cursor, execute, fetch, close), each a queue put, a
thread wake-up and an event-loop wake-up: about two thirds of a statement's CPU cost in the
control plane (issue 14; BENCHMARKS.md, control-plane overhead). Here the thread runs all
four at once and hands back the rows, description, rowcount and lastrowid. Transactions,
commits, rollbacks, errors and the connection's own calls are the stock adapter's.

It leans on two private parts of aiosqlite 0.22 (`Connection._execute`, `_conn`), as
SQLAlchemy's own adapter leans on `_tx`; aiosqlite is pinned in requirements.lock, and
tests/core/test_sqlite_driver.py fails if they move.
"""

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

Outcome = tuple[Any, list[Any], int, int | None]
"""description, rows, rowcount and lastrowid of one executed statement."""


def _run(conn: aiosqlite.Connection, operation: str, parameters: Any, many: bool) -> Outcome:
    """One statement, start to finish, on aiosqlite's thread."""
    cursor = conn._conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        # Read after the rows: an UPDATE ... RETURNING counts its rows as they are fetched.
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement runs in one hand-off; its results are kept here."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")
    # Nothing to close on aiosqlite's side: the sqlite3 cursor is closed on its thread.
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # The stock __init__ opens an aiosqlite cursor (a hand-off); this one opens none.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._rows = collections.deque()
        self._soft_closed_memoized = EMPTY_DICT
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1  # the DB-API default, which sqlite3's cursor has too

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            return await_(self._execute_one_hop(operation, parameters, many=False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        try:
            return await_(self._execute_one_hop(operation, seq_of_parameters, many=True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _execute_one_hop(self, operation: Any, parameters: Any, *, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            conn: aiosqlite.Connection = self._connection  # type: ignore[assignment]
            outcome: Outcome = await conn._execute(  # type: ignore[no-untyped-call]
                _run, conn, operation, parameters, many
            )
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneHopCursor  # type: ignore[assignment]


class OneHopDbapi(AsyncAdapt_aiosqlite_dbapi):
    """The DB-API module SQLAlchemy's aiosqlite dialect is given (`create_engine(module=)`),
    so the URL stays `sqlite+aiosqlite://`."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        connection = self.aiosqlite.connect(*arg, **kw)
        # As the stock adapter: a forgotten connection's thread must not hold up exit.
        connection._thread.daemon = True
        return OneHopConnection(self, await_(connection))
