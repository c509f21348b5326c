"""The officer's rank (issue 13): shown to the victim with the officer's name and collar
number, so a scam-wary person can check who is calling. Nullable: accounts made before it
(and officers known only from a sign-in token) show their name alone.

Revision ID: r13a_officer_rank
Revises: r15a_statements_exhibits
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "r13a_officer_rank"
down_revision: str | Sequence[str] | None = "r15a_statements_exhibits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("officers") as t:
        t.add_column(sa.Column("rank", sa.String(40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("officers") as t:
        t.drop_column("rank")
