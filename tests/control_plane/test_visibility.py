"""The visibility rule on its own: who sees which visit, and the list filter agreeing with it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, create_engine, insert, select

from control_plane.auth import Principal
from control_plane.visibility import can_see, can_see_evidence, visible_visits
from core import schema
from core.domain import OfficerRole

EAST, WEST = "EVR-EAST", "EVR-WEST"


def officer(name: str, unit: str, role: OfficerRole = OfficerRole.OFFICER) -> Principal:
    return Principal(
        officer_id=f"local:{name}", collar_number=name, display_name=name, unit=unit, role=role
    )


ALICE = officer("alice", EAST)
BOB = officer("bob", EAST)
CAROL = officer("carol", WEST)
SARGE = officer("sarge", EAST, OfficerRole.SUPERVISOR)
EVIDENCE = officer("evie", EAST, OfficerRole.EVIDENCE_MANAGER)
PRINCIPALS = (ALICE, BOB, CAROL, SARGE, EVIDENCE)

# Visit id -> (owner, unit the visit was created in). The sergeant's own visit is from a time
# in the west unit: their own visits stay theirs after a move.
VISITS = {
    "alice-east": (ALICE.officer_id, EAST),
    "carol-west": (CAROL.officer_id, WEST),
    "sarge-west": (SARGE.officer_id, WEST),
}

EXPECTED = {
    ALICE: {"alice-east"},
    BOB: set(),
    CAROL: {"carol-west"},
    SARGE: {"alice-east", "sarge-west"},
    EVIDENCE: set(),
}


def seen(principal: Principal) -> set[str]:
    return {
        vid
        for vid, (owner, unit) in VISITS.items()
        if can_see(principal, officer_id=owner, unit=unit)
    }


@pytest.mark.parametrize("principal", PRINCIPALS, ids=lambda p: p.collar_number)
def test_an_officer_sees_their_own_and_a_supervisor_their_units(principal: Principal) -> None:
    assert seen(principal) == EXPECTED[principal]


def test_another_units_supervisor_sees_none_of_this_units_visits() -> None:
    west_sarge = officer("wsarge", WEST, OfficerRole.SUPERVISOR)
    assert not can_see(west_sarge, officer_id=ALICE.officer_id, unit=EAST)
    assert can_see(west_sarge, officer_id=CAROL.officer_id, unit=WEST)


def test_an_evidence_manager_sees_every_visits_evidence_but_not_the_visits() -> None:
    for owner, unit in VISITS.values():
        assert can_see_evidence(EVIDENCE, officer_id=owner, unit=unit)
        assert not can_see(EVIDENCE, officer_id=owner, unit=unit)


def test_evidence_otherwise_follows_the_visit_rule() -> None:
    for principal in (ALICE, BOB, CAROL, SARGE):
        for owner, unit in VISITS.values():
            assert can_see_evidence(principal, officer_id=owner, unit=unit) == can_see(
                principal, officer_id=owner, unit=unit
            )


@pytest.fixture(scope="module")
def visits_table() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    schema.visits.create(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        for vid, (owner, unit) in VISITS.items():
            conn.execute(
                insert(schema.visits).values(
                    id=vid,
                    crime_reference="CR/1",
                    officer_id=owner,
                    officer_collar="1",
                    unit=unit,
                    scheduled_at=now,
                    contact_channel="sms",
                    contact_value="+447700900000",
                    status="offered",
                    created_at=now,
                    updated_at=now,
                )
            )
    yield engine
    engine.dispose()


@pytest.mark.parametrize("principal", PRINCIPALS, ids=lambda p: p.collar_number)
def test_the_list_filter_is_the_same_rule(visits_table: Engine, principal: Principal) -> None:
    v = schema.visits
    with visits_table.connect() as conn:
        listed = set(conn.execute(select(v.c.id).where(visible_visits(principal))).scalars())
    assert listed == seen(principal)
