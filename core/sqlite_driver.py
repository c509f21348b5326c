"""SQLAlchemy's aiosqlite adapter, with at most one hand-off to aiosqlite's thread per
statement, and none inside a write transaction.

The stock adapter makes four (open a cursor, execute, fetch, close), each a queue put, a
thread wake-up and an event-loop wake-up: about two thirds of a statement's CPU cost in the
control plane (issue 14; BENCHMARKS.md, control-plane overhead). Here the thread runs all
four at once and hands back the rows, description, rowcount and lastrowid.

Where each statement runs:
- On the loop's own thread, where it takes microseconds, less than waking the thread:
  a writer's statements once its BEGIN IMMEDIATE has returned (nothing can make them wait
  for a lock any more, and writes go into the page cache); a reader's BEGIN (deferred, it
  takes no lock) and its ROLLBACK (which only lets go of its snapshot).
- Tried there first with no busy timeout: a writer's BEGIN IMMEDIATE, and reads that look
  up a row or a few by key (core.driver_sql's `point_read`). When no other connection
  holds a lock they need, as nearly always, they run at once; when one does, SQLite
  answers "busy" at once and the statement goes to aiosqlite's thread to wait there.
- On aiosqlite's thread, every call that can wait: COMMIT (fsync, with
  `synchronous=FULL`), a writer's ROLLBACK, and every other read.
Write transactions are short by the code base's rule (core.db), so the loop is never held
for long. Transactions, errors and the connection's own calls are the stock adapter's.

It leans on two private parts of aiosqlite 0.22 (`Connection._execute`, `_conn`), as
SQLAlchemy's own adapter leans on `_tx`, and on that adapter's `_execute_mutex`; both are
pinned in requirements.lock, and tests/core/test_sqlite_driver.py fails if they move.
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

BEGIN_WRITER = "BEGIN IMMEDIATE"
"""The statement core.db starts a write transaction with."""
BEGIN_READER = "BEGIN"
"""The statement core.db starts a read transaction with: deferred, so it locks nothing."""

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a SQLite writer waits for another's write lock before "database is locked".
Write transactions are short (no network call while one is open), so a wait this long means
a stuck process, not contention."""

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


_POINT_READS: set[str] = set()


def mark_point_read(sql: str) -> None:
    """Let this SELECT run on the loop's thread, outside a writer too: a lookup by key of a
    row or a few (core.driver_sql's `point_read`), which reads a handful of cached pages in
    less time than a hand-off takes."""
    _POINT_READS.add(sql)


def _without_waiting(conn: aiosqlite.Connection, operation: str, parameters: Any) -> Outcome | None:
    """The statement on the calling thread with no busy timeout; None if SQLite answers
    "busy" (another connection holds a lock it needs), for the caller to wait on
    aiosqlite's thread instead."""
    db = conn._conn
    db.execute("PRAGMA busy_timeout=0")
    try:
        return _run(conn, operation, parameters, False)
    except sqlite3.OperationalError as exc:
        # The extended code's low byte: SQLITE_BUSY_RECOVERY and the like are busy too.
        if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
            raise
        return None
    finally:
        db.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


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
        adapt: OneHopConnection = self._adapt_connection  # type: ignore[assignment]
        conn: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        adapt.committed = False
        outcome: Outcome | None = None
        if not adapt._execute_mutex.locked():
            if (adapt.writing and conn._conn.in_transaction) or operation == BEGIN_READER:
                outcome = _run(conn, operation, parameters, many)
            elif operation == BEGIN_WRITER or operation in _POINT_READS:
                outcome = _without_waiting(conn, operation, parameters)
        if outcome is None:
            async with adapt._execute_mutex:
                outcome = await conn._execute(  # type: ignore[no-untyped-call]
                    _run, conn, operation, parameters, many
                )
        if operation == BEGIN_WRITER:
            adapt.writing = True
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    """`writing` is true from a successful `BEGIN IMMEDIATE` to the commit or rollback that
    ends it; the cursor also checks that SQLite is still in the transaction (an I/O error
    can end it early). `committed` is true from a commit that returned to the next
    statement: the pool's rollback as the connection goes back then has nothing to end
    (sqlite3 would not send it either) and is not handed to the thread."""

    __slots__ = ("committed", "writing")
    _cursor_cls = OneHopCursor  # type: ignore[assignment]

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self.writing = False
        self.committed = False

    def commit(self) -> None:
        self.writing = False
        super().commit()
        self.committed = True

    def rollback(self) -> None:
        writing, self.writing = self.writing, False
        if self.committed:
            return
        if not writing and not self._execute_mutex.locked() and self._connection._connection:
            # A reader's rollback only lets go of its snapshot: nothing to wait for.
            try:
                self._connection._conn.rollback()
            except Exception as error:
                self._handle_exception(error)
            return
        super().rollback()

    def close(self) -> None:
        self.writing = False
        super().close()


class OneHopDbapi(AsyncAdapt_aiosqlite_dbapi):
    """The DB-API module SQLAlchemy's aiosqlite dialect is given (`create_engine(module=)`),
    so the URL stays `sqlite+aiosqlite://`."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        # A writer's statements run on the loop's thread, the rest on aiosqlite's; never at
        # once, as each connection's statements are awaited one by one.
        kw["check_same_thread"] = False
        connection = self.aiosqlite.connect(*arg, **kw)
        # As the stock adapter: a forgotten connection's thread must not hold up exit.
        connection._thread.daemon = True
        return OneHopConnection(self, await_(connection))
