"""Request bodies, validated by pydantic; their JSON Schemas feed the OpenAPI document."""

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import Column

from core import schema
from core.domain import Choice, ContactChannel, EligibilityItem, ParticipantRole

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
"""Times the service accepts. Near year 1 or 9999 an offset pushes the UTC instant off the
calendar (an OverflowError deep in storage); no visit is scheduled outside this range."""


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must include a timezone offset, e.g. 2026-11-28T14:00:00Z")
    try:
        in_utc = value.astimezone(UTC)
    except OverflowError:
        in_utc = None
    if in_utc is None or not EARLIEST <= in_utc < LATEST:
        raise ValueError(f"must fall between {EARLIEST.year} and {LATEST.year - 1} (UTC)")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


def _column_length(column: Column[Any]) -> int:
    length = getattr(column.type, "length", None)
    assert isinstance(length, int), column
    return length


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Contact(Strict):
    channel: ContactChannel
    value: str = Field(min_length=3, max_length=320, description="Mobile number or e-mail address")


class CreateVisit(Strict):
    crime_reference: str = Field(
        min_length=3,
        max_length=64,
        pattern=r"^[A-Za-z0-9/_\-]+$",
        description="The force's crime or incident reference",
    )
    scheduled_at: AwareDatetime
    contact: Contact


class RecordChoice(Strict):
    choice: Choice


class RecordEligibility(Strict):
    value: bool
    note: str = Field(default="", max_length=2000)


class SelfDeclaration(Strict):
    """What the victim confirms on the join page."""

    adult_or_guardian: bool
    offender_not_present: bool
    smartphone_with_video: bool
    safe_to_talk: bool | None = Field(
        default=None, description="Safe to talk now: recorded as an event, not an eligibility item"
    )


class CreateLink(Strict):
    role: ParticipantRole = ParticipantRole.VICTIM


class CloseVisit(Strict):
    # As long as the column it is stored in: PostgreSQL refuses longer, SQLite would not.
    reason: str = Field(min_length=1, max_length=_column_length(schema.visits.c.end_reason))


class EligibilityPath(Strict):
    item: EligibilityItem


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(ref_template="#/components/schemas/{model}")
