"""The visit lifecycle: in person is always reachable until the visit is over."""

from core.domain import TERMINAL_STATES, TRANSITIONS, VisitState, can_transition


def test_in_person_is_reachable_from_every_open_state() -> None:
    for state in VisitState:
        if state not in TERMINAL_STATES:
            assert can_transition(state, VisitState.CHOSE_IN_PERSON), state


def test_terminal_states_are_final() -> None:
    for state in TERMINAL_STATES:
        assert TRANSITIONS[state] == frozenset()


def test_a_visit_goes_live_only_from_waiting() -> None:
    sources = {s for s in VisitState if can_transition(s, VisitState.LIVE)}
    assert sources == {VisitState.WAITING}
