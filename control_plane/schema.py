"""Database tables (SQLAlchemy Core). The same definitions serve SQLite and PostgreSQL."""

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)

metadata = MetaData()


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite drops the zone on its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("applied_at", UtcDateTime(), nullable=False),
)

officers = Table(
    "officers",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("collar_number", String(32), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("unit", String(100), nullable=False),
    Column("role", String(20), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("officer_id", String(200), ForeignKey("officers.id"), nullable=False),
    # Only the SHA-256 of the token is kept: the token itself is shown once, at creation.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("label", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

visits = Table(
    "visits",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("crime_reference", String(64), nullable=False),
    Column("officer_id", String(200), nullable=False),
    Column("officer_collar", String(32), nullable=False),
    Column("unit", String(100), nullable=False),
    Column("scheduled_at", UtcDateTime(), nullable=False),
    # The one way to reach the victim; no name, address or date of birth is stored.
    Column("contact_channel", String(10), nullable=False),
    Column("contact_value", String(320), nullable=False),
    Column("status", String(20), nullable=False),
    Column("room_name", String(64), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("started_at", UtcDateTime(), nullable=True),
    Column("victim_joined_at", UtcDateTime(), nullable=True),
    Column("ended_at", UtcDateTime(), nullable=True),
    Column("end_reason", String(200), nullable=True),
    Index("ix_visits_officer", "officer_id"),
    Index("ix_visits_unit", "unit"),
    Index("ix_visits_status", "status"),
)

visit_events = Table(
    "visit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("visit_id", String(36), ForeignKey("visits.id"), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("detail", JSON, nullable=False),
    Index("ix_visit_events_visit", "visit_id"),
)

eligibility_records = Table(
    "eligibility_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("visit_id", String(36), ForeignKey("visits.id"), nullable=False),
    Column("item", String(40), nullable=False),
    Column("value", Boolean, nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Column("note", Text, nullable=False),
    Index("ix_eligibility_visit", "visit_id"),
)

join_links = Table(
    "join_links",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("visit_id", String(36), ForeignKey("visits.id"), nullable=False),
    Column("role", String(20), nullable=False),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
    Column("used_at", UtcDateTime(), nullable=True),
    Column("revoked_at", UtcDateTime(), nullable=True),
)

participant_sessions = Table(
    "participant_sessions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("visit_id", String(36), ForeignKey("visits.id"), nullable=False),
    Column("link_id", String(36), ForeignKey("join_links.id"), nullable=False),
    Column("role", String(20), nullable=False),
    Column("identity", String(100), nullable=False),
    Column("secret_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("expires_at", UtcDateTime(), nullable=False),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    # LiveKit retries a delivery with the same event id; the primary key makes applying idempotent.
    Column("event_id", String(100), primary_key=True),
    Column("event", String(50), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime(), nullable=False),
    Column("actor", String(200), nullable=False),
    # DPA 2018 s.62 categories: collection, alteration, consultation, disclosure, erasure.
    Column("action", String(20), nullable=False),
    Column("visit_id", String(36), nullable=True),
    Column("subject", String(100), nullable=False),
    Column("justification", Text, nullable=True),
    Column("recipients", Text, nullable=True),
    Column("detail", JSON, nullable=False),
    Index("ix_audit_visit", "visit_id"),
)
