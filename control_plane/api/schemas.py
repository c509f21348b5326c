"""Request bodies, validated by pydantic; their JSON Schemas feed the OpenAPI document."""

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from core.domain import Choice, ContactChannel, EligibilityItem, ParticipantRole


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("must include a timezone offset, e.g. 2026-11-28T14:00:00Z")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


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
    reason: str = Field(min_length=1, max_length=500)


class EligibilityPath(Strict):
    item: EligibilityItem


def schema_of(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(ref_template="#/components/schemas/{model}")
