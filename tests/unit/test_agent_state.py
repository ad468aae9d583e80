"""The agent state machine: one call at a time, pauses and log-outs wait for the work to end."""

from __future__ import annotations

import pytest

from dialer.domain.agent import (
    Agent,
    AgentState,
    Assign,
    CallEnded,
    IllegalAgentTransition,
    LegDown,
    LegUp,
    Login,
    Logout,
    Pause,
    Resume,
    WrapupDone,
)


def ready_agent() -> Agent:
    a = Agent("1", "agent1")
    a.handle(Login("leg-1", 0.0))
    assert a.state is AgentState.LOGGING_IN
    a.handle(LegUp(1.0))
    assert a.state is AgentState.READY
    return a


def test_call_cycle() -> None:
    a = ready_agent()
    a.handle(Assign("c1", 2.0))
    assert (a.state, a.call_id, a.since) == (AgentState.ON_CALL, "c1", 2.0)
    a.handle(CallEnded("c1", 60.0, talked=True))
    assert a.state is AgentState.WRAPUP
    a.handle(WrapupDone(75.0))
    assert a.state is AgentState.READY
    assert a.calls == 1


def test_never_two_calls_at_once() -> None:
    a = ready_agent()
    a.handle(Assign("c1", 2.0))
    with pytest.raises(IllegalAgentTransition):
        a.handle(Assign("c2", 2.1))
    assert a.call_id == "c1"
    assert a.state is AgentState.ON_CALL


def test_end_of_another_call_is_refused() -> None:
    a = ready_agent()
    a.handle(Assign("c1", 2.0))
    with pytest.raises(IllegalAgentTransition):
        a.handle(CallEnded("c9", 3.0, talked=True))
    assert a.state is AgentState.ON_CALL


def test_failed_bridge_returns_agent_to_ready_without_wrapup() -> None:
    a = ready_agent()
    a.handle(Assign("c1", 2.0))
    a.handle(CallEnded("c1", 2.1, talked=False))
    assert a.state is AgentState.READY


def test_pause_during_call_takes_effect_after_wrapup() -> None:
    a = ready_agent()
    a.handle(Assign("c1", 2.0))
    a.handle(Pause("coffee", 3.0))
    assert a.state is AgentState.ON_CALL
    a.handle(CallEnded("c1", 4.0, talked=True))
    a.handle(WrapupDone(5.0))
    assert a.state is AgentState.PAUSED
    assert a.pause_reason == "coffee"
    a.handle(Resume(6.0))
    assert a.state is AgentState.READY


def test_logout_during_wrapup_then_leg_down() -> None:
    a = ready_agent()
    a.handle(Assign("c1", 2.0))
    a.handle(CallEnded("c1", 4.0, talked=True))
    a.handle(Logout(4.5))
    a.handle(WrapupDone(5.0))
    assert a.state is AgentState.LOGGING_OUT
    a.handle(LegDown(5.1))
    assert a.state is AgentState.LOGGED_OUT
    assert a.leg_id is None


def test_lost_leg_logs_out_from_any_state() -> None:
    a = ready_agent()
    a.handle(Assign("c1", 2.0))
    a.handle(LegDown(3.0))
    assert a.state is AgentState.LOGGED_OUT
    assert a.call_id is None


def test_paused_agent_cannot_take_calls() -> None:
    a = ready_agent()
    a.handle(Pause("training", 2.0))
    with pytest.raises(IllegalAgentTransition):
        a.handle(Assign("c1", 2.5))
    assert a.state is AgentState.PAUSED


def test_logged_out_agent_ignores_nothing_silently() -> None:
    a = Agent("1", "agent1")
    with pytest.raises(IllegalAgentTransition):
        a.handle(LegUp(0.0))
    assert a.state is AgentState.LOGGED_OUT
