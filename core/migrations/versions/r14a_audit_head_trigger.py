"""Control-plane overhead (issue 14): the audit chain's head takes its hash from the entry
appended, by trigger, instead of by a second UPDATE from the appender.

An append was three statements (take the next seq, insert the entry, set the head's hash);
it is now two, and on PostgreSQL one round trip fewer for every audited write. The trigger
moves the head only to the entry whose seq the head handed out, so a row inserted outside
the chain leaves the head where it was and `evr audit verify` still names the mismatch.

Revision ID: r14a_audit_head_trigger
Revises: r12b_audit_chain
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "r14a_audit_head_trigger"
down_revision: str | Sequence[str] | None = "r12b_audit_chain"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MOVE_HEAD = "UPDATE audit_chain_head SET hash = NEW.hash WHERE id = 1 AND seq = NEW.seq;"


def upgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute(
            f"CREATE TRIGGER audit_log_moves_head AFTER INSERT ON audit_log BEGIN {_MOVE_HEAD} END"
        )
        return
    op.execute(
        "CREATE FUNCTION audit_log_moves_head() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN {_MOVE_HEAD} RETURN NULL; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_log_moves_head AFTER INSERT ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION audit_log_moves_head()"
    )


def downgrade() -> None:
    if op.get_context().dialect.name == "sqlite":
        op.execute("DROP TRIGGER audit_log_moves_head")
        return
    op.execute("DROP TRIGGER audit_log_moves_head ON audit_log")
    op.execute("DROP FUNCTION audit_log_moves_head()")
