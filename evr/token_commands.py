"""`evr token-create|token-list|token-revoke`: local officers' API tokens.

A token is shown once, at creation, and stored hashed; it expires (90 days unless `--days`
says otherwise, at most a year). The list never shows a token, only its id, whose it is and
its state; revoking by id takes effect on the very next request (`LocalAuthenticator` reads
the row every time).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from control_plane.auth import (
    TOKEN_TTL,
    create_api_token,
    list_api_tokens,
    revoke_api_token,
)
from core import db
from core.settings import load_settings

WithConfig = Callable[[argparse.ArgumentParser], argparse.ArgumentParser]


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], with_config: WithConfig
) -> None:
    """Add the token commands to the `evr` parser."""
    create = with_config(sub.add_parser("token-create", help="mint an API token for an officer"))
    create.add_argument("--collar", required=True)
    create.add_argument("--label", default="api")
    create.add_argument(
        "--days",
        type=int,
        default=TOKEN_TTL.days,
        help=f"days until it expires (default {TOKEN_TTL.days}, at most 365)",
    )
    create.set_defaults(func=_run(_create))
    listing = with_config(sub.add_parser("token-list", help="list API tokens (never the tokens)"))
    listing.add_argument("--collar", help="only this officer's tokens")
    listing.set_defaults(func=_run(_list))
    revoke = with_config(sub.add_parser("token-revoke", help="revoke an API token by its id"))
    revoke.add_argument("--id", required=True, dest="token_id", help="as token-list shows it")
    revoke.set_defaults(func=_run(_revoke))


def _run(
    command: Callable[[AsyncEngine, argparse.Namespace], Awaitable[None]],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        settings = load_settings(Path(args.config) if args.config else None)

        async def with_engine() -> None:
            engine = db.create_engine(settings.database_url)
            try:
                await db.migrate(engine)
                await command(engine, args)
            finally:
                await engine.dispose()

        asyncio.run(with_engine())
        return 0

    return run


async def _create(engine: AsyncEngine, args: argparse.Namespace) -> None:
    token = await create_api_token(
        engine, collar_number=args.collar, label=args.label, ttl=timedelta(days=args.days)
    )
    print(token)


async def _list(engine: AsyncEngine, args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    print("id\tcollar\tlabel\tcreated\texpires\tstate")
    for t in await list_api_tokens(engine, collar_number=args.collar):
        print(
            f"{t.id}\t{t.collar_number}\t{t.label}\t{t.created_at.isoformat(timespec='seconds')}"
            f"\t{t.expires_at.isoformat(timespec='seconds')}\t{t.state(now)}"
        )


async def _revoke(engine: AsyncEngine, args: argparse.Namespace) -> None:
    await revoke_api_token(engine, args.token_id)
    print(f"revoked {args.token_id}")
