"""Statements taken on the call (issue 15): drafts and signed statements, the witness's
correction requests, and the index of sealed exhibits (statements, stills, uploads).

Revision ID: r15a_statements_exhibits
Revises: r12a_sessions_tokens
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "r15a_statements_exhibits"
down_revision: str | Sequence[str] | None = "r12a_sessions_tokens"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the three tables; nothing existing changes."""
    utc = sa.DateTime(timezone=True)
    op.create_table(
        "statements",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("visit_id", sa.String(36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("supersedes", sa.String(36), nullable=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.Column("shared_at", utc, nullable=True),
        sa.Column("signed_at", utc, nullable=True),
        sa.Column("signed_name", sa.String(200), nullable=True),
        sa.Column("signed_session_id", sa.String(36), nullable=True),
        sa.Column("text_sha256", sa.String(64), nullable=True),
        sa.Column("evidence_id", sa.String(36), nullable=True),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("visit_id", "number", name="uq_statement_number"),
    )
    op.create_table(
        "statement_corrections",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("statement_id", sa.String(36), nullable=False),
        sa.Column("identity", sa.String(100), nullable=False),
        sa.Column("at", utc, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("request", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["statement_id"], ["statements.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_statement_corrections_statement", "statement_corrections", ["statement_id"])
    op.create_table(
        "exhibits",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("visit_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("caption", sa.Text(), nullable=True),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("file_name", sa.String(100), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["visit_id"], ["visits.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_exhibits_visit", "exhibits", ["visit_id"])


def downgrade() -> None:
    """Drop the three tables (and with them every draft and the exhibit index)."""
    op.drop_index("ix_exhibits_visit", table_name="exhibits")
    op.drop_table("exhibits")
    op.drop_index("ix_statement_corrections_statement", table_name="statement_corrections")
    op.drop_table("statement_corrections")
    op.drop_table("statements")
