"""Trust (issue 12, finding 4): the audit log becomes a hash chain, and signed checkpoints of
the audit and custody chains' heads get their own append-only table.

`audit_log` gains `seq`, `prev_hash` and `hash` (core.audit); the rows already there are
linked into the chain in `id` order, with the append-only trigger lifted for that alone.
`audit_chain_head` is the one row every append updates first: it hands out the next `seq`
and serialises appenders (a row lock on PostgreSQL, the write lock on SQLite).
`audit_checkpoints` (core.checkpoints) is append-only like the logs.

The columns stay nullable: SQLite could only make them NOT NULL by copying the table.
Verification (`evr audit verify`) treats a null as a broken entry.

Revision ID: r12b_audit_chain
Revises: r13a_officer_rank
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core import audit, schema

revision: str = "r12b_audit_chain"
down_revision: str | Sequence[str] | None = "r13a_officer_rank"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64


def _sqlite() -> bool:
    return op.get_context().dialect.name == "sqlite"


def _audit_update_trigger(*, enable: bool) -> None:
    if not _sqlite():
        verb = "ENABLE" if enable else "DISABLE"
        op.execute(f"ALTER TABLE audit_log {verb} TRIGGER audit_log_append_only")
    elif enable:
        op.execute(
            "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
        )
    else:
        op.execute("DROP TRIGGER audit_log_no_update")


def _link_existing_rows() -> None:
    a = schema.audit_log
    conn = op.get_bind()
    prev = GENESIS
    seq = 0
    # Reads through core.schema so `at` comes back as aware UTC, exactly as the code hashes it.
    rows = conn.execute(
        sa.select(
            a.c.id,
            a.c.at,
            a.c.actor,
            a.c.action,
            a.c.visit_id,
            a.c.subject,
            a.c.justification,
            a.c.recipients,
            a.c.detail,
        ).order_by(a.c.id)
    ).mappings()
    for row in list(rows):
        seq += 1
        entry = audit.link(seq=seq, prev_hash=prev, **{k: v for k, v in row.items() if k != "id"})
        conn.execute(
            sa.update(a)
            .where(a.c.id == row["id"])
            .values(seq=entry.seq, prev_hash=entry.prev_hash, hash=entry.hash)
        )
        prev = entry.hash
    conn.execute(sa.insert(schema.audit_chain_head).values(id=1, seq=seq, hash=prev))


def _append_only(table: str) -> None:
    if _sqlite():
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
        return
    op.execute(
        f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{table} is append-only'; END $$"
    )
    op.execute(
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
    )


def upgrade() -> None:
    """Add the chain columns, link the existing rows, create the head and checkpoint tables."""
    op.add_column("audit_log", sa.Column("seq", sa.Integer(), nullable=True))
    for name in ("prev_hash", "hash"):
        op.add_column("audit_log", sa.Column(name, sa.String(64), nullable=True))
    op.create_index("uq_audit_log_seq", "audit_log", ["seq"], unique=True)
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_audit_chain_head_one_row"),
        sa.PrimaryKeyConstraint("id"),
    )
    if op.get_context().as_sql:
        # `alembic upgrade --sql` prints SQL for review and can read no rows: the head starts
        # empty, and rows already there stay out of the chain (verification names them).
        op.execute(sa.insert(schema.audit_chain_head).values(id=1, seq=0, hash=GENESIS))
    else:
        _audit_update_trigger(enable=False)
        _link_existing_rows()
        _audit_update_trigger(enable=True)
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("key_id", sa.String(64), nullable=False),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    _append_only("audit_checkpoints")


def downgrade() -> None:
    """Undo `upgrade`: the chain columns, head and checkpoints go."""
    if _sqlite():
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER audit_checkpoints_no_{verb}")
    else:
        op.execute("DROP TRIGGER audit_checkpoints_append_only ON audit_checkpoints")
        op.execute("DROP FUNCTION audit_checkpoints_append_only()")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_chain_head")
    op.drop_index("uq_audit_log_seq", "audit_log")
    # SQLite >= 3.35 drops a column in place, so the table's triggers stay.
    for name in ("hash", "prev_hash", "seq"):
        op.drop_column("audit_log", name)
