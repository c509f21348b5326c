"""SQLAlchemy's asyncpg adapter, with a pool pre-ping of one round trip instead of three.

`pool_pre_ping` (core.db) tests each connection as it leaves the pool, so a restarted
PostgreSQL costs no request an error. SQLAlchemy's ping is BEGIN, an empty query and
ROLLBACK (the transaction is for pgbouncer's transaction mode, which EVR does not use: the
control plane connects to PostgreSQL directly), so every request paid two round trips more
than it needs (issue 14). The empty query alone tells a live connection from a dead one
just the same.
"""

from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.dialects.postgresql.asyncpg import (
    AsyncAdapt_asyncpg_connection,
    AsyncAdapt_asyncpg_dbapi,
)
from sqlalchemy.util.concurrency import await_


class OneTripPingConnection(AsyncAdapt_asyncpg_connection):
    __slots__ = ()

    async def _async_ping(self) -> None:
        await self._connection.fetchrow(";")


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
        return connection
