"""Database tables (SQLAlchemy Core). The same definitions serve SQLite and PostgreSQL."""

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
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


officers = Table(
    "officers",
    metadata,
    Column("id", String(200), primary_key=True),
    Column("collar_number", String(32), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("unit", String(100), nullable=False),
    Column("role", String(20), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # Shown to the victim with the name (revision r13a); null for older accounts.
    Column("rank", String(40), nullable=True),
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
    # Every token expires (revision r12a gave older tokens 90 days from the upgrade).
    Column("expires_at", UtcDateTime(), nullable=False),
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
    # Set when a newer link replaces this participant or the visit closes: the session gets 401.
    Column("revoked_at", UtcDateTime(), nullable=True),
)

consent_records = Table(
    "consent_records",
    metadata,
    # The victim's consent to the call, given on the join page: who, when, and to which notice.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("visit_id", String(36), ForeignKey("visits.id"), nullable=False),
    Column("session_id", String(36), ForeignKey("participant_sessions.id"), nullable=False),
    Column("identity", String(100), nullable=False),
    Column("consented", Boolean, nullable=False),
    Column("notice_version", String(40), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
    Index("ix_consent_visit", "visit_id"),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    # LiveKit retries a delivery with the same event id; the primary key makes applying idempotent.
    Column("event_id", String(100), primary_key=True),
    Column("event", String(50), nullable=False),
    Column("received_at", UtcDateTime(), nullable=False),
    # LiveKit's own creation time (s), with whom it was about: a participant event older than
    # one already applied for the same participant is recorded but not acted on.
    Column("created_at", BigInteger, nullable=True),
    Column("visit_id", String(36), nullable=True),
    Column("identity", String(100), nullable=True),
    Index("ix_webhook_events_identity", "visit_id", "identity"),
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
    # The hash chain (core.audit, revision r12b): nullable only because SQLite cannot add a
    # NOT NULL column in place; every append sets them and verification refuses a null.
    Column("seq", Integer, nullable=True),
    Column("prev_hash", String(64), nullable=True),
    Column("hash", String(64), nullable=True),
    Index("ix_audit_visit", "visit_id"),
    Index("uq_audit_log_seq", "seq", unique=True),
)

audit_chain_head = Table(
    "audit_chain_head",
    metadata,
    # One row: the audit chain's last seq and hash. Each append updates it first, which
    # serialises appenders (row lock on PostgreSQL, write lock on SQLite).
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Integer, nullable=False),
    Column("hash", String(64), nullable=False),
    CheckConstraint("id = 1", name="ck_audit_chain_head_one_row"),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    # Signed checkpoints of both chains' heads (core.checkpoints); append-only by trigger.
    # `body` is the canonical JSON that was signed, kept as text so it verifies byte for byte.
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("body", Text, nullable=False),
    Column("hash", String(64), nullable=False),
    Column("key_id", String(64), nullable=False),
    Column("public_key", Text, nullable=False),
    Column("signature", String(128), nullable=False),
)

# Evidential recording (migration 3). A recording row is both the recorder's job (claimed by
# one worker at a time, kept alive by its heartbeat) and the evidence item: its id is the
# evidence id in the store and the custody log.
recordings = Table(
    "recordings",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("visit_id", String(36), ForeignKey("visits.id"), nullable=False),
    # requested -> recording -> stopping -> sealing -> sealed; or failed.
    Column("status", String(20), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", UtcDateTime(), nullable=False),
    Column("stop_requested_by", String(200), nullable=True),
    Column("stop_requested_at", UtcDateTime(), nullable=True),
    Column("claimed_by", String(200), nullable=True),
    Column("claimed_at", UtcDateTime(), nullable=True),
    Column("heartbeat_at", UtcDateTime(), nullable=True),
    Column("retry_at", UtcDateTime(), nullable=True),
    # The control plane's promise, fixed when the statement is requested: unclaimed after
    # start_timeout s, or a heartbeat older than stale_after s, shows as not secured.
    Column("start_timeout", Float, nullable=False),
    Column("stale_after", Float, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("started_at", UtcDateTime(), nullable=True),
    Column("ended_at", UtcDateTime(), nullable=True),
    Column("sealed_at", UtcDateTime(), nullable=True),
    Column("problem", Text, nullable=True),
    Column("problem_reason", String(20), nullable=True),
    Column("lag_seconds", Float, nullable=True),
    Column("participants", JSON, nullable=False),
    Column("gaps", JSON, nullable=False),
    Column("manifest_sha256", String(64), nullable=True),
    Column("key_id", String(64), nullable=True),
    # W3C traceparent of the request that asked for the recording: the recorder continues
    # that trace (core.telemetry.RecordingSpans). Added by migration 6.
    Column("traceparent", String(55), nullable=True),
    Index("ix_recordings_visit", "visit_id"),
    Index("ix_recordings_status", "status"),
)

recording_segments = Table(
    "recording_segments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("recording_id", String(36), ForeignKey("recordings.id"), nullable=False),
    Column("seg_index", Integer, nullable=False),
    Column("name", String(40), nullable=False),
    Column("host", String(200), nullable=False),
    # open (being written), closed (hashed at capture), recovered (hashed after a crash), lost.
    Column("state", String(10), nullable=False),
    Column("start", UtcDateTime(), nullable=False),
    Column("end", UtcDateTime(), nullable=True),
    Column("sha256", String(64), nullable=True),
    Column("bytes", BigInteger, nullable=True),
    UniqueConstraint("recording_id", "seg_index", name="uq_recording_segment"),
)

recording_consents = Table(
    "recording_consents",
    metadata,
    # Consent to the statement being recorded: whose, when, to which notice, and how given.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("visit_id", String(36), ForeignKey("visits.id"), nullable=False),
    Column("identity", String(100), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("text_version", String(40), nullable=False),
    Column("method", String(20), nullable=False),
    Column("recorded_by", String(200), nullable=False),
    # The participant session that gave it (method "self"): a revoked session's consent no
    # longer counts. Null for consent taken by an officer.
    Column("session_id", String(36), nullable=True),
    Index("ix_recording_consents_visit", "visit_id"),
)

custody_log = Table(
    "custody_log",
    metadata,
    # Hash-linked chain per evidence item (core.custody); append-only by trigger, and
    # the unique (evidence_id, seq) stops two writers forking a chain.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("evidence_id", String(128), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("event", String(20), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("reason", Text, nullable=False),
    Column("details", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("evidence_id", "seq", name="uq_custody_seq"),
)

bandwidth_checks = Table(
    "bandwidth_checks",
    metadata,
    # One row per finished connection check (control_plane.bandwidth): the verdict and the
    # server's own measurements, kept on the visit for the officer and as network statistics.
    Column("id", String(36), primary_key=True),
    Column("visit_id", String(36), ForeignKey("visits.id"), nullable=False),
    Column("session_id", String(36), ForeignKey("participant_sessions.id"), nullable=False),
    Column("identity", String(100), nullable=False),
    Column("role", String(20), nullable=False),
    Column("started_at", UtcDateTime(), nullable=False),
    Column("finished_at", UtcDateTime(), nullable=False),
    Column("verdict", String(20), nullable=False),
    Column("video_preset", String(8), nullable=True),
    Column("uplink_kbps", Float, nullable=True),
    Column("downlink_kbps", Float, nullable=True),
    Column("rtt_ms", Float, nullable=True),
    Column("measurements", JSON, nullable=False),
    Index("ix_bandwidth_checks_visit", "visit_id", "finished_at"),
)

# Programme outcomes (migration 6): what the force reports publicly. One row per visit in
# each table; the metrics recompute their totals from these at every scrape.
visit_feedback = Table(
    "visit_feedback",
    metadata,
    # The primary key makes feedback once per visit, even when two submissions race.
    Column("visit_id", String(36), ForeignKey("visits.id"), primary_key=True),
    Column("identity", String(100), nullable=False),
    Column("recommend", Boolean, nullable=False),
    Column("satisfaction", Integer, nullable=False),
    Column("comment", Text, nullable=True),
    Column("given_at", UtcDateTime(), nullable=False),
    CheckConstraint("satisfaction BETWEEN 1 AND 5", name="ck_visit_feedback_satisfaction"),
)

visit_outcomes = Table(
    "visit_outcomes",
    metadata,
    Column("visit_id", String(36), ForeignKey("visits.id"), primary_key=True),
    Column("arrest_or_interview", Boolean, nullable=False),
    Column("charge_or_caution", Boolean, nullable=False),
    Column("victim_withdrew", Boolean, nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("recorded_at", UtcDateTime(), nullable=False),
)

# Written statements, stills and the victim's uploads (issue 15, revision r15a).
statements = Table(
    "statements",
    metadata,
    # A statement being drafted, then signed. Once signed its row never changes again (the
    # sealed exhibit is the record); a correction is a new statement that `supersedes` it.
    Column("id", String(36), primary_key=True),
    Column("visit_id", String(36), ForeignKey("visits.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("supersedes", String(36), nullable=True),
    Column("language", String(16), nullable=False),
    Column("text", Text, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("status", String(10), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("shared_at", UtcDateTime(), nullable=True),
    Column("signed_at", UtcDateTime(), nullable=True),
    Column("signed_name", String(200), nullable=True),
    Column("signed_session_id", String(36), nullable=True),
    Column("text_sha256", String(64), nullable=True),
    Column("evidence_id", String(36), nullable=True),
    UniqueConstraint("visit_id", "number", name="uq_statement_number"),
)

statement_corrections = Table(
    "statement_corrections",
    metadata,
    # What the witness asked to change, on their phone, before signing.
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("statement_id", String(36), ForeignKey("statements.id"), nullable=False),
    Column("identity", String(100), nullable=False),
    Column("at", UtcDateTime(), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("request", Text, nullable=False),
    Index("ix_statement_corrections_statement", "statement_id"),
)

exhibits = Table(
    "exhibits",
    metadata,
    # Sealed evidence that is not a recording; `id` is its evidence id in the store.
    Column("id", String(36), primary_key=True),
    Column("visit_id", String(36), ForeignKey("visits.id"), nullable=False),
    Column("kind", String(10), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("caption", Text, nullable=True),
    Column("media_type", String(100), nullable=False),
    Column("file_name", String(100), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("manifest_sha256", String(64), nullable=False),
    Column("key_id", String(64), nullable=False),
    Index("ix_exhibits_visit", "visit_id"),
)
