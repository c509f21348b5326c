"""Baseline: the schema the hand-rolled migrations 1 to 6 made, triggers included.

A database made by them is stamped at this revision instead of running it (core.db). The
audit and custody logs are append-only in the database itself: triggers refuse UPDATE and
DELETE on both backends, so not even a bug or a stray console session can rewrite them.

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = ("audit_log", "custody_log")


def _utc() -> sa.DateTime:
    # core.schema.UtcDateTime stores through this type; the revision stays frozen if it changes.
    return sa.DateTime(timezone=True)


def _visit_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["visit_id"], ["visits.id"])


def _officers_and_visits() -> None:
    op.create_table(
        "officers",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("collar_number", sa.String(32), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("unit", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("officer_id", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("revoked_at", _utc(), nullable=True),
        sa.ForeignKeyConstraint(["officer_id"], ["officers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "visits",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("crime_reference", sa.String(64), nullable=False),
        sa.Column("officer_id", sa.String(200), nullable=False),
        sa.Column("officer_collar", sa.String(32), nullable=False),
        sa.Column("unit", sa.String(100), nullable=False),
        sa.Column("scheduled_at", _utc(), nullable=False),
        sa.Column("contact_channel", sa.String(10), nullable=False),
        sa.Column("contact_value", sa.String(320), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("room_name", sa.String(64), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("started_at", _utc(), nullable=True),
        sa.Column("victim_joined_at", _utc(), nullable=True),
        sa.Column("ended_at", _utc(), nullable=True),
        sa.Column("end_reason", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_visits_officer", "visits", ["officer_id"])
    op.create_index("ix_visits_unit", "visits", ["unit"])
    op.create_index("ix_visits_status", "visits", ["status"])
    op.create_table(
        "visit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("visit_id", sa.String(36), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        _visit_fk(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_visit_events_visit", "visit_events", ["visit_id"])
    op.create_table(
        "eligibility_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("visit_id", sa.String(36), nullable=False),
        sa.Column("item", sa.String(40), nullable=False),
        sa.Column("value", sa.Boolean(), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", _utc(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        _visit_fk(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_eligibility_visit", "eligibility_records", ["visit_id"])


def _joining() -> None:
    op.create_table(
        "join_links",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("visit_id", sa.String(36), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.Column("used_at", _utc(), nullable=True),
        sa.Column("revoked_at", _utc(), nullable=True),
        _visit_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
    )
    op.create_table(
        "participant_sessions",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("visit_id", sa.String(36), nullable=False),
        sa.Column("link_id", sa.String(36), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("identity", sa.String(100), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(["link_id"], ["join_links.id"]),
        _visit_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("secret_hash"),
    )
    op.create_table(
        "consent_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("visit_id", sa.String(36), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("identity", sa.String(100), nullable=False),
        sa.Column("consented", sa.Boolean(), nullable=False),
        sa.Column("notice_version", sa.String(40), nullable=False),
        sa.Column("recorded_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["participant_sessions.id"]),
        _visit_fk(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_consent_visit", "consent_records", ["visit_id"])
    op.create_table(
        "bandwidth_checks",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("visit_id", sa.String(36), nullable=False),
        sa.Column("session_id", sa.String(36), nullable=False),
        sa.Column("identity", sa.String(100), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("finished_at", _utc(), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("video_preset", sa.String(8), nullable=True),
        sa.Column("uplink_kbps", sa.Float(), nullable=True),
        sa.Column("downlink_kbps", sa.Float(), nullable=True),
        sa.Column("rtt_ms", sa.Float(), nullable=True),
        sa.Column("measurements", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["participant_sessions.id"]),
        _visit_fk(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_bandwidth_checks_visit", "bandwidth_checks", ["visit_id", "finished_at"])
    op.create_table(
        "webhook_events",
        sa.Column("event_id", sa.String(100), nullable=False),
        sa.Column("event", sa.String(50), nullable=False),
        sa.Column("received_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )


def _recording() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("visit_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", _utc(), nullable=False),
        sa.Column("stop_requested_by", sa.String(200), nullable=True),
        sa.Column("stop_requested_at", _utc(), nullable=True),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("claimed_at", _utc(), nullable=True),
        sa.Column("heartbeat_at", _utc(), nullable=True),
        sa.Column("retry_at", _utc(), nullable=True),
        sa.Column("start_timeout", sa.Float(), nullable=False),
        sa.Column("stale_after", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", _utc(), nullable=True),
        sa.Column("ended_at", _utc(), nullable=True),
        sa.Column("sealed_at", _utc(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("problem_reason", sa.String(20), nullable=True),
        sa.Column("lag_seconds", sa.Float(), nullable=True),
        sa.Column("participants", sa.JSON(), nullable=False),
        sa.Column("gaps", sa.JSON(), nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=True),
        sa.Column("key_id", sa.String(64), nullable=True),
        sa.Column("traceparent", sa.String(55), nullable=True),
        _visit_fk(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recordings_visit", "recordings", ["visit_id"])
    op.create_index("ix_recordings_status", "recordings", ["status"])
    op.create_table(
        "recording_segments",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("recording_id", sa.String(36), nullable=False),
        sa.Column("seg_index", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("host", sa.String(200), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("start", _utc(), nullable=False),
        sa.Column("end", _utc(), nullable=True),
        sa.Column("sha256", sa.String(64), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("recording_id", "seg_index", name="uq_recording_segment"),
    )
    op.create_table(
        "recording_consents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("visit_id", sa.String(36), nullable=False),
        sa.Column("identity", sa.String(100), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("text_version", sa.String(40), nullable=False),
        sa.Column("method", sa.String(20), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        _visit_fk(),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_recording_consents_visit", "recording_consents", ["visit_id"])


def _programme() -> None:
    op.create_table(
        "visit_feedback",
        sa.Column("visit_id", sa.String(36), nullable=False),
        sa.Column("identity", sa.String(100), nullable=False),
        sa.Column("recommend", sa.Boolean(), nullable=False),
        sa.Column("satisfaction", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("given_at", _utc(), nullable=False),
        sa.CheckConstraint("satisfaction BETWEEN 1 AND 5", name="ck_visit_feedback_satisfaction"),
        _visit_fk(),
        sa.PrimaryKeyConstraint("visit_id"),
    )
    op.create_table(
        "visit_outcomes",
        sa.Column("visit_id", sa.String(36), nullable=False),
        sa.Column("arrest_or_interview", sa.Boolean(), nullable=False),
        sa.Column("charge_or_caution", sa.Boolean(), nullable=False),
        sa.Column("victim_withdrew", sa.Boolean(), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", _utc(), nullable=False),
        _visit_fk(),
        sa.PrimaryKeyConstraint("visit_id"),
    )


def _logs() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("visit_id", sa.String(36), nullable=True),
        sa.Column("subject", sa.String(100), nullable=False),
        sa.Column("justification", sa.Text(), nullable=True),
        sa.Column("recipients", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_audit_visit", "audit_log", ["visit_id"])
    op.create_table(
        "custody_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("evidence_id", sa.String(128), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("evidence_id", "seq", name="uq_custody_seq"),
    )


def _create_append_only(table: str) -> None:
    if op.get_context().dialect.name == "sqlite":
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


def _drop_append_only(table: str) -> None:
    if op.get_context().dialect.name == "sqlite":
        for verb in ("update", "delete"):
            op.execute(f"DROP TRIGGER {table}_no_{verb}")
        return
    op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    op.execute(f"DROP FUNCTION {table}_append_only()")


def upgrade() -> None:
    """Create every table, index and append-only trigger."""
    _officers_and_visits()
    _joining()
    _recording()
    _programme()
    _logs()
    for table in APPEND_ONLY:
        _create_append_only(table)


def downgrade() -> None:
    """Drop everything `upgrade` made, the logs included: an empty database is left."""
    for table in APPEND_ONLY:
        _drop_append_only(table)
    for table in (
        "custody_log",
        "audit_log",
        "visit_outcomes",
        "visit_feedback",
        "recording_consents",
        "recording_segments",
        "recordings",
        "webhook_events",
        "bandwidth_checks",
        "consent_records",
        "participant_sessions",
        "join_links",
        "eligibility_records",
        "visit_events",
        "visits",
        "api_tokens",
        "officers",
    ):
        op.drop_table(table)
