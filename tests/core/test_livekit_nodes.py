"""The one node-order rule every LiveKit client follows (core.livekit_nodes): start at the node
that last answered, move on while a node cannot be reached, and stay where an answer came."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import pytest

from core.livekit_nodes import NodeList, signalling_url

A, B, C = "http://10.0.0.1:7880", "http://10.0.0.2:7880", "https://10.0.0.3:7880"


class Unreachable(Exception):
    pass


class Refused(Exception):
    """An answer from a reachable node (a bad token, say): the same on every node."""


def _attempts(
    down: set[str], tried: list[str], *, refuse: str | None = None
) -> Callable[[str], Awaitable[str]]:
    async def attempt(url: str) -> str:
        tried.append(url)
        if url in down:
            raise Unreachable(url)
        if url == refuse:
            raise Refused(url)
        return f"answer from {url}"

    return attempt


def test_signalling_url_is_the_api_url_as_websocket() -> None:
    assert signalling_url(A) == "ws://10.0.0.1:7880"
    assert signalling_url(C) == "wss://10.0.0.3:7880"


def test_order_starts_at_the_current_node_and_wraps() -> None:
    nodes = NodeList([A, B, C])
    assert nodes.current == A
    assert nodes.in_order() == [A, B, C]
    assert nodes.answered(C) is True
    assert nodes.in_order() == [C, A, B]
    assert nodes.answered(C) is False


def test_an_empty_or_repeated_list_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        NodeList([])
    with pytest.raises(ValueError, match="twice"):
        NodeList([A, B, A])


async def test_unreachable_nodes_are_passed_and_the_answering_one_becomes_current() -> None:
    nodes = NodeList([A, B, C])
    tried: list[str] = []
    told: list[tuple[str, bool]] = []
    result = await nodes.first_answer(
        _attempts({A, B}, tried),
        unreachable=(Unreachable,),
        on_unreachable=lambda url, _exc, last: told.append((url, last)),
    )
    assert result == f"answer from {C}"
    assert tried == [A, B, C]
    assert told == [(A, False), (B, False)]
    assert nodes.current == C

    # The next attempt starts where the answer came from: the dead nodes cost nothing more.
    tried.clear()
    await nodes.first_answer(_attempts({A, B}, tried), unreachable=(Unreachable,))
    assert tried == [C]


async def test_when_no_node_answers_the_last_error_propagates_and_the_place_stays() -> None:
    nodes = NodeList([A, B])
    nodes.answered(B)
    tried: list[str] = []
    told: list[tuple[str, bool]] = []
    with pytest.raises(Unreachable, match=re.escape(A)):
        await nodes.first_answer(
            _attempts({A, B}, tried),
            unreachable=(Unreachable,),
            on_unreachable=lambda url, _exc, last: told.append((url, last)),
        )
    assert tried == [B, A]
    assert told == [(B, False), (A, True)]
    assert nodes.current == B


async def test_an_answer_that_is_an_error_is_not_taken_to_the_next_node() -> None:
    nodes = NodeList([A, B])
    tried: list[str] = []
    with pytest.raises(Refused):
        await nodes.first_answer(_attempts(set(), tried, refuse=A), unreachable=(Unreachable,))
    assert tried == [A]
    assert nodes.current == A
