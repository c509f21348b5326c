"""Hot statements compiled once per dialect and run on the driver's own cursor.

SQLAlchemy's per-statement execution (execution context, parameter processing, result
set-up, events) cost about 0.2 ms a statement on the control plane's busiest paths, a third
of a join code's exchange (issue 14, BENCHMARKS.md). A `DriverStatement` keeps SQLAlchemy
for what it is good at, building the SQL for each database and the types' conversions, and
skips the rest: it compiles its statement once per dialect and runs it on the DB-API cursor
of the caller's connection, inside the caller's transaction.

The same conversions SQLAlchemy would apply run here (each type's dialect implementation's
bind and result processors), so a row written or read this way is the row
`Connection.execute` would write or read; driver errors are raised as SQLAlchemy's own
exception classes. Only statements built once at import time belong here: plain INSERT,
UPDATE and SELECT with named bound parameters, no executemany.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.types import TypeEngine

from core.sqlite_driver import mark_point_read

Processor = Callable[[Any], Any]
_CONSTANT = object()


@dataclass(frozen=True)
class _Bind:
    """One positional parameter: a caller's value by `key`, or a constant compiled in."""

    key: str | None
    process: Processor | None
    constant: Any = _CONSTANT


@dataclass
class _Plan:
    sql: str
    binds: tuple[_Bind, ...]
    keys: tuple[str, ...]
    types: tuple[TypeEngine[Any], ...]
    # Made at the first execution: some drivers' conversions depend on the type code the
    # database reports for the column (asyncpg's numbers), as in SQLAlchemy's own.
    # Only the columns that have a conversion, by position.
    results: tuple[tuple[int, Processor], ...] | None = None


class DriverStatement:
    """A statement built once, run on the caller's (synchronous) connection: from code run
    by `AsyncConnection.run_sync`, inside its transaction."""

    def __init__(self, statement: Executable, *, point_read: bool = False) -> None:
        """`point_read`: a SELECT that looks up a row or a few by key, which SQLite may run
        on the event loop's thread (core.sqlite_driver). Never a scan or a list."""
        if not isinstance(statement, ClauseElement):
            raise TypeError("a DriverStatement needs a Core statement")
        self._statement = statement
        self._point_read = point_read
        self._plans: dict[str, _Plan] = {}

    def _plan(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is not None:
            return plan
        compiled = self._statement.compile(dialect=dialect)
        if not isinstance(compiled, SQLCompiler):
            raise TypeError("a DriverStatement needs a SQL statement")
        binds = []
        for name in compiled.positiontup or ():
            bind = compiled.binds[name]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.required:
                binds.append(_Bind(bind.key, process))
            else:  # a literal of the statement itself, such as the 1 of `seq + 1`
                value = bind.effective_value
                binds.append(_Bind(None, None, process(value) if process else value))
        columns = list(getattr(self._statement, "exported_columns", ()))
        keys = tuple(str(column.key) for column in columns)
        types = tuple(column.type.dialect_impl(dialect) for column in columns)
        plan = _Plan(compiled.string, tuple(binds), keys, types)
        if self._point_read and dialect.name == "sqlite":
            mark_point_read(plan.sql)
        self._plans[dialect.name] = plan
        return plan

    def rows(
        self, conn: Connection, params: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """Run it; the rows it returns (RETURNING or SELECT), converted, as tuples."""
        plan = self._plan(conn.dialect)
        given = params or {}
        values = [
            bind.constant
            if bind.key is None
            else (bind.process(given[bind.key]) if bind.process else given[bind.key])
            for bind in plan.binds
        ]
        if not conn.in_transaction():
            # As `Connection.execute` would: the statements of one `engine.connect()` share a
            # transaction, and on SQLite one snapshot (core.db's BEGIN, run by the begin
            # event). SQLAlchemy's own guard, so the BEGIN run inside that event does not
            # begin again.
            conn._autobegin()
        dbapi = conn.connection.dbapi_connection
        if dbapi is None:
            raise RuntimeError("the connection was closed")
        cursor = dbapi.cursor()
        try:
            cursor.execute(plan.sql, values)
            # Only the statement's own columns: PostgreSQL's INSERTs also return the key
            # SQLAlchemy asks for on its own (implicit RETURNING), which nobody here reads.
            fetched: Sequence[Sequence[Any]] = cursor.fetchall() if plan.keys else ()
            if plan.keys and plan.results is None:
                processors = (
                    kind.result_processor(conn.dialect, described[1])
                    for kind, described in zip(plan.types, cursor.description, strict=True)
                )
                plan.results = tuple(
                    (position, process)
                    for position, process in enumerate(processors)
                    if process is not None
                )
        except conn.dialect.loaded_dbapi.Error as error:
            raise DBAPIError.instance(
                plan.sql,
                values,
                error,
                conn.dialect.loaded_dbapi.Error,
                hide_parameters=True,
                dialect=conn.dialect,
            ) from error
        finally:
            cursor.close()
        converted = []
        for row in fetched:
            cells = list(row)
            for position, process in plan.results or ():
                cells[position] = process(cells[position])
            converted.append(tuple(cells))
        return converted

    def mappings(
        self, conn: Connection, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """`rows`, each keyed by its column's key (its label, where labelled)."""
        rows = self.rows(conn, params)
        keys = self._plans[conn.dialect.name].keys  # made by `rows`
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def first(
        self, conn: Connection, params: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The first of `mappings`, or None: for lookups of one row."""
        found = self.mappings(conn, params)
        return found[0] if found else None

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns nothing."""
        self.rows(conn, params)
