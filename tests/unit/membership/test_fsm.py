"""The member state table: complete, and the properties the election relies on."""

from __future__ import annotations

import itertools

import pytest

from lbd.membership.fsm import TABLE, Emit, Input, MemberState, transition


def test_table_is_complete() -> None:
    assert set(TABLE) == set(itertools.product(MemberState, Input))


@pytest.mark.parametrize(("state", "what"), list(itertools.product(MemberState, Input)))
def test_events_match_liveness_changes(state: MemberState, what: Input) -> None:
    step = transition(state, what)
    if state.live and not step.state.live:
        assert step.emit in (Emit.DOWN, Emit.LEFT)
    if not state.live and step.state.live:
        assert step.emit is Emit.UP
    if step.emit is Emit.NONE:
        assert state.live == step.state.live


def test_only_a_new_life_leaves_left() -> None:
    for what in Input:
        assert transition(MemberState.LEFT, what).state is (
            MemberState.ALIVE if what is Input.NEW_LIFE else MemberState.LEFT
        )


def test_timeouts_never_make_a_member_live() -> None:
    for state in MemberState:
        for what in (Input.SUSPECT_TIMEOUT, Input.FAILURE_TIMEOUT):
            assert not transition(state, what).state.live or state.live
