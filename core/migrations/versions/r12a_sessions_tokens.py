"""Trust (issue 12): revocable participant sessions, expiring API tokens, consent bound to
the session that gave it, and webhook creation times for ordering.

Revision ID: r12a_sessions_tokens
Revises: 0001
Create Date: 2026-11-29
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "r12a_sessions_tokens"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the columns. Existing sessions stay live until they expire; existing API tokens
    are given 90 days from the upgrade."""
    utc = sa.DateTime(timezone=True)
    with op.batch_alter_table("participant_sessions") as t:
        t.add_column(sa.Column("revoked_at", utc, nullable=True))
    with op.batch_alter_table("api_tokens") as t:
        t.add_column(sa.Column("expires_at", utc, nullable=True))
    # Tokens made before expiry existed get 90 days from the upgrade, then every token expires.
    tokens = sa.table("api_tokens", sa.column("expires_at", utc))
    op.execute(
        tokens.update()
        .where(tokens.c.expires_at.is_(None))
        .values(expires_at=datetime.now(UTC) + timedelta(days=90))
    )
    with op.batch_alter_table("api_tokens") as t:
        t.alter_column("expires_at", existing_type=utc, nullable=False)
    with op.batch_alter_table("recording_consents") as t:
        t.add_column(sa.Column("session_id", sa.String(36), nullable=True))
    with op.batch_alter_table("webhook_events") as t:
        t.add_column(sa.Column("created_at", sa.BigInteger(), nullable=True))
        t.add_column(sa.Column("visit_id", sa.String(36), nullable=True))
        t.add_column(sa.Column("identity", sa.String(100), nullable=True))
    op.create_index("ix_webhook_events_identity", "webhook_events", ["visit_id", "identity"])


def downgrade() -> None:
    """Undo `upgrade` exactly."""
    op.drop_index("ix_webhook_events_identity", "webhook_events")
    with op.batch_alter_table("webhook_events") as t:
        t.drop_column("identity")
        t.drop_column("visit_id")
        t.drop_column("created_at")
    with op.batch_alter_table("recording_consents") as t:
        t.drop_column("session_id")
    with op.batch_alter_table("api_tokens") as t:
        t.drop_column("expires_at")
    with op.batch_alter_table("participant_sessions") as t:
        t.drop_column("revoked_at")
