"""Alembic's environment: where the revisions run.

`core.db.migrate` hands in a connection already inside its transaction (Config attributes
"connection" and "on_version_apply"). The `alembic` command names the database itself:
`alembic -x url=postgresql+asyncpg://... upgrade head`, or add `--sql` to print the SQL of a
revision for review instead of running it.
"""

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import Connection

from core import db, schema

config = context.config


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("name the database: alembic -x url=<SQLAlchemy URL> ...")
    return url


def _run(connection: Connection, /, **options: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=schema.metadata,
        # SQLite alters a table by copying it; autogenerate writes such revisions in batch mode.
        render_as_batch=connection.dialect.name == "sqlite",
        **options,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_on_url(url: str) -> None:
    engine = db.create_engine(url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


def main() -> None:
    """Run the revisions the Alembic command asked for, online or as SQL text."""
    if context.is_offline_mode():
        context.configure(url=_url(), target_metadata=schema.metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is None:
        asyncio.run(_run_on_url(_url()))
        return
    _run(connection, on_version_apply=config.attributes.get("on_version_apply", ()))


main()
