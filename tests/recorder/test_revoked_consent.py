"""The recorder counts only consents that still stand (issue 12 leftover): one given on the
join page by a session that a newer link has since revoked does not let the recorder take
that identity's media, nor is it written into the manifest. Real databases, both backends."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from core import db, schema
from recorder.job_store import JobStore


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = db.create_engine(database_url)
    await db.migrate(engine)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _visit_with_consents(engine: AsyncEngine) -> tuple[str, dict[str, str]]:
    now = datetime.now(UTC)
    vid = str(uuid.uuid4())
    victim = f"victim:{vid}"
    async with engine.begin() as conn:
        await conn.execute(
            insert(schema.visits).values(
                id=vid, crime_reference="CR/1/26", officer_id="officer:local:1001",
                officer_collar="1001", unit="North", scheduled_at=now, contact_channel="sms",
                contact_value="+447700900000", status="live", created_at=now, updated_at=now,
            )
        )  # fmt: skip
        sessions = {"old": str(uuid.uuid4()), "new": str(uuid.uuid4())}
        for name, revoked in (("old", now - timedelta(minutes=5)), ("new", None)):
            link = str(uuid.uuid4())
            await conn.execute(
                insert(schema.join_links).values(
                    id=link, visit_id=vid, role="victim", code_hash=uuid.uuid4().hex * 2,
                    created_by="officer:local:1001", created_at=now,
                    expires_at=now + timedelta(hours=1), revoked_at=revoked,
                )
            )  # fmt: skip
            await conn.execute(
                insert(schema.participant_sessions).values(
                    id=sessions[name], visit_id=vid, link_id=link, role="victim",
                    identity=victim, secret_hash=uuid.uuid4().hex * 2, created_at=now,
                    expires_at=now + timedelta(hours=4), revoked_at=revoked,
                )
            )  # fmt: skip
        for identity, session, method in (
            (victim, sessions["old"], "self"),  # given by the session a new link replaced
            (f"guardian:{vid}", None, "officer"),  # taken by the officer: stands
        ):
            await conn.execute(
                insert(schema.recording_consents).values(
                    visit_id=vid, identity=identity, at=now, text_version="v1",
                    method=method, recorded_by="officer:local:1001", session_id=session,
                )
            )  # fmt: skip
    return vid, sessions


async def test_a_revoked_sessions_consent_is_refused(engine: AsyncEngine) -> None:
    vid, sessions = await _visit_with_consents(engine)
    jobs = JobStore(engine, worker_id="rec-test", stale_after=5, retry_backoff=1)
    assert [c["identity"] for c in await jobs.consents(vid)] == [f"guardian:{vid}"]
    # Consent from the session that holds the identity now counts.
    async with engine.begin() as conn:
        await conn.execute(
            insert(schema.recording_consents).values(
                visit_id=vid, identity=f"victim:{vid}", at=datetime.now(UTC),
                text_version="v1", method="self", recorded_by=f"victim:{vid}",
                session_id=sessions["new"],
            )
        )  # fmt: skip
    assert [c["identity"] for c in await jobs.consents(vid)] == [
        f"guardian:{vid}",
        f"victim:{vid}",
    ]
