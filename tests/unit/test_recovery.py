"""What a call closed or adopted without its daemon becomes, and a process's identity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dialer.core.records import WallClock, progress_of
from dialer.domain import agent as ag
from dialer.domain import call as cl
from dialer.domain.identity import ProcessIdentity, check_name, name_of
from dialer.domain.recovery import PbxRecord, recorded_result, result_without_hangup
from dialer.domain.results import CallResult
from dialer.rules.retry import ResultRule, retry_rules
from dialer.store.retry import DEFAULT_POLICY

T0 = datetime(2026, 12, 7, 18, 15, 2, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("outcome", "answered", "expected"),
    [
        (CallResult.CONNECTED, True, CallResult.CONNECTED),
        (CallResult.ABANDONED, True, CallResult.ABANDONED),
        (CallResult.MACHINE, True, CallResult.MACHINE),
        (None, True, CallResult.ABANDONED),  # answered, never given to an agent
        (None, False, CallResult.UNKNOWN),  # no evidence of an answer
    ],
)
def test_result_without_hangup(
    outcome: CallResult | None, answered: bool, expected: CallResult
) -> None:
    assert result_without_hangup(outcome, answered) is expected


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        # Asterisk's CDR (cdr_pgsql)
        ("NO ANSWER", CallResult.NO_ANSWER),
        ("BUSY", CallResult.BUSY),
        ("CONGESTION", CallResult.FAILED),
        ("FAILED", CallResult.FAILED),
        # FreeSWITCH's hang-up cause (mod_cdr_pg_csv), read as on the event socket
        ("NO_ANSWER", CallResult.NO_ANSWER),  # originate_timeout while ringing
        ("NO_USER_RESPONSE", CallResult.UNAVAILABLE),  # a 480: it never rang
        ("USER_BUSY", CallResult.BUSY),
        ("CALL_REJECTED", CallResult.DECLINED),  # a 603: the person refused the call
        ("NORMAL_TEMPORARY_FAILURE", CallResult.FAILED),  # a 503
        ("UNALLOCATED_NUMBER", CallResult.INVALID),  # a 404
        ("ORIGINATOR_CANCEL", CallResult.UNKNOWN),  # a cancel nobody the dialer knows made
        ("NORMAL_CLEARING", CallResult.UNKNOWN),
        # nothing that tells
        ("", CallResult.UNKNOWN),
        ("no answer", CallResult.UNKNOWN),
    ],
)
def test_the_pbx_record_of_an_unanswered_call(disposition: str, expected: CallResult) -> None:
    assert recorded_result(disposition) is expected
    record = PbxRecord(answered_at=None, disposition=disposition, ended_at=T0)
    assert result_without_hangup(None, False, record) is expected
    answered = PbxRecord(answered_at=T0, disposition=disposition, ended_at=T0)
    assert result_without_hangup(None, False, answered) is CallResult.ABANDONED


def test_only_outcomes_known_before_the_hangup_are_evidence() -> None:
    with pytest.raises(ValueError, match="busy"):
        result_without_hangup(CallResult.BUSY, False)


def test_unknown_is_never_retried_sooner_than_a_no_answer() -> None:
    assert DEFAULT_POLICY.rule(CallResult.UNKNOWN) == DEFAULT_POLICY.rule(CallResult.NO_ANSWER)
    later = ResultRule(retry_after=timedelta(hours=6))
    rules = retry_rules({CallResult.NO_ANSWER: later})
    assert rules[CallResult.UNKNOWN] == later
    with pytest.raises(ValueError, match="follows the rule for 'no_answer'"):
        retry_rules({CallResult.UNKNOWN: ResultRule(retry_after=timedelta(0))})


def test_identity_is_new_at_every_start_and_knows_its_predecessors() -> None:
    first = ProcessIdentity.new("dialer-1", T0)
    second = ProcessIdentity.new("dialer-1", T0 + timedelta(seconds=30))
    assert first.owner == "dialer-1#20261207T181502.123Z"
    assert first.owner != second.owner
    assert second.is_predecessor(first.owner)
    assert not second.is_predecessor(second.owner)
    assert not second.is_predecessor(ProcessIdentity.new("dialer-10", T0).owner)
    assert not second.is_predecessor("dialer-2#20261207T181502.123Z")
    assert name_of(first.owner) == "dialer-1"
    assert second.is_predecessor("dialer-1")  # a plain name from before identities


@pytest.mark.parametrize("bad", ["", "a#b", "two words", "tab\there", "x" * 101, "nl\n"])
def test_daemon_name_grammar(bad: str) -> None:
    with pytest.raises(ValueError, match="daemon name"):
        check_name(bad)


def _adopted(**kw: object) -> cl.CallAttempt:
    call = cl.CallAttempt("c1", 7)
    fields: dict[str, object] = {
        "originated_at": 1.0,
        "ringing_at": 2.0,
        "answered_at": None,
        "connected_at": None,
        "agent_id": None,
        "outcome": None,
        "bridged": False,
        "at": 30.0,
    }
    fields.update(kw)
    call.handle(cl.Adopt(**fields))  # type: ignore[arg-type]
    return call


def test_adopted_calls_resume_where_their_evidence_puts_them() -> None:
    talking = _adopted(answered_at=3.0, connected_at=3.1, agent_id="4", bridged=True)
    assert (talking.state, talking.agent_id) == (cl.CallState.CONNECTED, "4")
    talking.handle(cl.pbx.HungUp("c1", 16, "normal", 90.0))
    assert talking.result is CallResult.CONNECTED
    waiting = _adopted(answered_at=3.0)
    assert waiting.state is cl.CallState.ABANDONING
    waiting.handle(cl.pbx.HungUp("c1", 16, "normal", 31.0))
    assert waiting.result is CallResult.ABANDONED
    assert _adopted(outcome=CallResult.MACHINE, answered_at=3.0).state is cl.CallState.MACHINE
    ringing = _adopted()
    assert ringing.state is cl.CallState.RINGING
    ringing.handle(cl.pbx.Answered("c1", 32.0))
    assert ringing.state is cl.CallState.ANSWERED  # followed on: an agent may still take it
    assert _adopted(ringing_at=None).state is cl.CallState.ORIGINATING
    with pytest.raises(cl.IllegalCallTransition):
        ringing.handle(cl.Adopt(1.0, None, None, None, None, None, False, 33.0))


def test_adopted_agent_leg_is_ready_or_on_its_call() -> None:
    idle = ag.Agent("4", "agent4")
    assert idle.handle(ag.Adopt("leg-1", None, 5.0)) is ag.AgentState.READY
    assert idle.leg_id == "leg-1"
    busy = ag.Agent("5", "agent5")
    assert busy.handle(ag.Adopt("leg-2", "c1", 5.0)) is ag.AgentState.ON_CALL
    assert busy.handle(ag.CallEnded("c1", 9.0, talked=True)) is ag.AgentState.WRAPUP
    with pytest.raises(ag.IllegalAgentTransition):
        busy.handle(ag.Adopt("leg-3", None, 10.0))


def test_progress_of_a_call_in_flight() -> None:
    clock = WallClock(0.0)
    call = cl.CallAttempt("0f2b8a52-1d34-4f0e-9a37-3f6a3b1c2d4e", 7)
    call.handle(cl.Originate(1.0))
    assert progress_of(call, clock) is None  # nothing to say before the first ring
    call.handle(cl.pbx.Ringing(call.channel_id, 2.0))
    call.handle(cl.pbx.Answered(call.channel_id, 5.0))
    call.handle(cl.AssignAgent("12", 5.01))
    call.handle(cl.pbx.Bridged(call.channel_id, "leg", 5.02))
    p = progress_of(call, clock)
    assert p is not None
    assert (p.ring_at, p.answer_at, p.agent_connect_at) == (
        clock.at(2.0),
        clock.at(5.0),
        clock.at(5.02),
    )
    assert (p.agent_id, p.answer_to_agent_ms, p.outcome) == (12, 20, CallResult.CONNECTED)
    assert clock.core_time(clock.at(5.02)) == pytest.approx(5.02)
    call.handle(cl.pbx.HungUp(call.channel_id, 16, "normal", 60.0))
    assert progress_of(call, clock) is None  # the end record says it all
