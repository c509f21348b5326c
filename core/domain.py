"""Domain vocabulary: visit states and their transitions, roles, eligibility items."""

from enum import StrEnum


class VisitState(StrEnum):
    OFFERED = "offered"
    ACCEPTED_VIDEO = "accepted_video"
    CHOSE_IN_PERSON = "chose_in_person"
    WAITING = "waiting"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


TERMINAL_STATES = frozenset(
    {VisitState.CHOSE_IN_PERSON, VisitState.ENDED, VisitState.CANCELLED, VisitState.NO_SHOW}
)

# The victim may ask for an in-person visit at any point before the visit is over: the
# video route is victim-led, so CHOSE_IN_PERSON is reachable from every open state.
TRANSITIONS: dict[VisitState, frozenset[VisitState]] = {
    VisitState.OFFERED: frozenset(
        {VisitState.ACCEPTED_VIDEO, VisitState.CHOSE_IN_PERSON, VisitState.CANCELLED}
    ),
    VisitState.ACCEPTED_VIDEO: frozenset(
        {VisitState.WAITING, VisitState.CHOSE_IN_PERSON, VisitState.CANCELLED}
    ),
    VisitState.WAITING: frozenset(
        {
            VisitState.LIVE,
            VisitState.ENDED,
            VisitState.CHOSE_IN_PERSON,
            VisitState.CANCELLED,
            VisitState.NO_SHOW,
        }
    ),
    VisitState.LIVE: frozenset({VisitState.WAITING, VisitState.ENDED, VisitState.CHOSE_IN_PERSON}),
    VisitState.CHOSE_IN_PERSON: frozenset(),
    VisitState.ENDED: frozenset(),
    VisitState.CANCELLED: frozenset(),
    VisitState.NO_SHOW: frozenset(),
}

ROOM_STATES = frozenset({VisitState.WAITING, VisitState.LIVE})
"""States in which the visit has a LiveKit room."""


def can_transition(current: VisitState, target: VisitState) -> bool:
    return target in TRANSITIONS[current]


class OfficerRole(StrEnum):
    OFFICER = "officer"
    SUPERVISOR = "supervisor"
    EVIDENCE_MANAGER = "evidence_manager"
    """Digital evidence unit: may consult, export and decide retention of any evidence."""


class ParticipantRole(StrEnum):
    """Roles that join through a one-time link."""

    VICTIM = "victim"
    GUARDIAN = "guardian"
    INTERPRETER = "interpreter"


class TokenRole(StrEnum):
    OFFICER = "officer"
    VICTIM = "victim"
    GUARDIAN = "guardian"
    INTERPRETER = "interpreter"
    RECORDER = "recorder"


class EligibilityItem(StrEnum):
    """The force's conditions for the video route, each recorded with who and when."""

    RISK_ASSESSMENT_CLEAR = "risk_assessment_clear"
    """The risk assessment shows no immediate threat, risk or harm."""
    ADULT_OR_GUARDIAN = "adult_or_guardian"
    """The victim is 18 or over, or a parent or guardian takes part."""
    OFFENDER_NOT_PRESENT = "offender_not_present"
    SMARTPHONE_WITH_VIDEO = "smartphone_with_video"
    NETWORK_ADEQUATE = "network_adequate"
    """The connection can carry the call: set by the bandwidth check, or attested by the officer."""


# Items a victim may declare for themselves on the join page; the rest are the officer's.
SELF_DECLARABLE = frozenset(
    {
        EligibilityItem.ADULT_OR_GUARDIAN,
        EligibilityItem.OFFENDER_NOT_PRESENT,
        EligibilityItem.SMARTPHONE_WITH_VIDEO,
    }
)


class Choice(StrEnum):
    VIDEO = "video"
    IN_PERSON = "in_person"


class ContactChannel(StrEnum):
    SMS = "sms"
    EMAIL = "email"


class AuditAction(StrEnum):
    """DPA 2018 Part 3 s.62 logging categories."""

    COLLECTION = "collection"
    ALTERATION = "alteration"
    CONSULTATION = "consultation"
    DISCLOSURE = "disclosure"
    COMBINATION = "combination"
    ERASURE = "erasure"


def room_name_for(visit_id: str) -> str:
    """Room names carry the visit id only: no crime reference or personal data reaches the SFU."""
    return f"evr-{visit_id}"


def visit_id_from_room(room_name: str) -> str | None:
    return room_name.removeprefix("evr-") if room_name.startswith("evr-") else None
