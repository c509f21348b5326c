"""The rolling upgrade as the deploy tests drive it: a next release that carries one more
migration, and infra/ansible/upgrade.yml run while a visit is polled through the load balancer.

The added migration makes "migrations ran" observable (alembic_version moves to it and its
table exists) and binding: the services of the new release connect as the runtime role, which
cannot migrate, so they would not start on a schema that `evr migrate` had not brought to it.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from tests.infra.deploy import PlayResult, run_playbook
from tests.infra.hosts import TestHost

__all__ = [
    "PROBE_REVISION",
    "PROBE_TABLE",
    "UPGRADE_VERSION",
    "Answer",
    "probe_migration",
    "psql",
    "upgrade_while_polling",
]

UPGRADE_VERSION = "0.1.1"
PROBE_REVISION = "deploy_upgrade_probe"
PROBE_TABLE = "deploy_upgrade_probe"

_MIGRATION = '''"""The deploy test's next release: one revision more than the deployed schema.

Revision ID: {revision}
Revises: {down}
"""

import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("{table}", sa.Column("release", sa.String(32), primary_key=True))


def downgrade() -> None:
    op.drop_table("{table}")
'''


def probe_migration(down_revision: str) -> dict[str, bytes]:
    """The wheel entry of a migration chained after `down_revision` (the deployed head)."""
    source = _MIGRATION.format(revision=PROBE_REVISION, down=down_revision, table=PROBE_TABLE)
    return {f"core/migrations/versions/{PROBE_REVISION}.py": source.encode()}


def psql(host: TestHost, sql: str) -> list[str]:
    """Rows of `sql` on the host's evr database, as PostgreSQL's superuser (unaligned)."""
    out = host.run("runuser", "-u", "postgres", "--", "psql", "-d", "evr", "-XAtc", sql)
    return out.stdout.split()


@dataclass(frozen=True)
class Answer:
    """One poll of the API through the load balancer while the upgrade ran."""

    at: float
    status: int | str  # the HTTP status, or the client error's name when none came
    body: str
    visit_status: str | None


async def upgrade_while_polling(
    inventory: Path, release: Path, url: str, headers: dict[str, str], ca: Path
) -> tuple[PlayResult, list[Answer]]:
    """Run upgrade.yml with `release` as the artifacts; GET `url` every 0.2 s until it has
    ended, and once more after."""
    play = asyncio.create_task(
        asyncio.to_thread(
            run_playbook, inventory, "upgrade.yml", "-e", f"evr_app_artifacts_local_dir={release}"
        )
    )
    answers: list[Answer] = []
    context = ssl.create_default_context(cafile=str(ca))
    # A new connection each time, as separate clients would make.
    connector = aiohttp.TCPConnector(ssl=context, force_close=True)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:

        async def poll() -> None:
            at = time.monotonic()
            try:
                async with http.get(url, headers=headers) as r:
                    body = await r.text()
                    visit = (await r.json())["status"] if r.status == 200 else None
                    answers.append(Answer(at, r.status, body[:300], visit))
            except (TimeoutError, aiohttp.ClientError) as exc:
                answers.append(Answer(at, type(exc).__name__, str(exc)[:300], None))

        while not play.done():
            await poll()
            await asyncio.sleep(0.2)
        await poll()
    return await play, answers
