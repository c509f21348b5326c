"""SQLAlchemy's asyncpg adapter, with a pool pre-ping that costs a round trip only when one
can tell something.

`pool_pre_ping` (core.db) tests each connection as it leaves the pool, so a restarted
PostgreSQL costs no request an error. SQLAlchemy's ping is BEGIN, an empty query and
ROLLBACK on every checkout (the transaction is for pgbouncer's transaction mode, which EVR
does not use: the control plane connects to PostgreSQL directly). Here:

- a connection whose socket the server has closed (a restart or a terminated backend sends
  its FIN, which the event loop has already read) is known dead without asking;
- a connection that came back to the pool less than `QUIET_BEFORE_PING` ago is not asked:
  the server answered on it just now, and a server that has gone since without closing its
  sockets (a host lost, a network cut) would not answer a ping either;
- one quiet for longer is asked with one empty query, not three statements.

So on a busy control plane a checkout costs no round trip, and every request one to three
fewer than SQLAlchemy's (issue 14). What is given up: a request that checks out a connection
in the instant between the server closing it and the loop reading the close fails as a
disconnect (503), and SQLAlchemy then replaces the whole pool.
"""

import time
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.dialects.postgresql.asyncpg import (
    AsyncAdapt_asyncpg_connection,
    AsyncAdapt_asyncpg_dbapi,
)
from sqlalchemy.util.concurrency import await_

QUIET_BEFORE_PING = 5.0
"""Seconds a pooled connection may rest before its checkout asks the server (one query)."""


class OneTripPingConnection(AsyncAdapt_asyncpg_connection):
    __slots__ = ("returned_at",)
    returned_at: float

    async def _async_ping(self) -> None:
        if self._connection.is_closed():
            # The dialect's is_disconnect asks is_closed() too, so the pool reconnects.
            raise asyncpg.exceptions.ConnectionDoesNotExistError(
                "the server closed this pooled connection"
            )
        if time.monotonic() - self.returned_at < QUIET_BEFORE_PING:
            return
        await self._connection.fetchrow(";")


def mark_returned(dbapi_connection: Any, _record: Any) -> None:
    """The pool's checkin listener (core.db): when the connection last worked."""
    if isinstance(dbapi_connection, OneTripPingConnection):
        dbapi_connection.returned_at = time.monotonic()


class OneTripPingDbapi(AsyncAdapt_asyncpg_dbapi):
    """The DB-API module SQLAlchemy's asyncpg dialect is given (`create_engine(module=)`),
    so the URL stays `postgresql+asyncpg://`."""

    def __init__(self) -> None:
        super().__init__(asyncpg)  # type: ignore[no-untyped-call]

    def connect(self, *arg: Any, **kw: Any) -> OneTripPingConnection:
        # As the stock adapter's connect, with this module's connection class.
        creator_fn = kw.pop("async_creator_fn", self.asyncpg.connect)
        cache_size = kw.pop("prepared_statement_cache_size", 100)
        name_func = kw.pop("prepared_statement_name_func", None)
        connection: OneTripPingConnection = await_(
            OneTripPingConnection.create(
                self,
                creator_fn(*arg, **kw),
                prepared_statement_cache_size=cache_size,
                prepared_statement_name_func=name_func,
            )
        )
        connection.returned_at = time.monotonic()
        return connection
