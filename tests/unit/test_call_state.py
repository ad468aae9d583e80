"""The call attempt state machine, driven by the event sequences the Asterisk rig produces."""

from __future__ import annotations

import pytest

from dialer import pbx
from dialer.domain.call import (
    Abandon,
    AssignAgent,
    CallAttempt,
    CallState,
    Cancel,
    IllegalCallTransition,
    Originate,
)
from dialer.domain.results import CallResult

CID = "c1"


def run(*events: object) -> CallAttempt:
    call = CallAttempt(CID, lead_id=7)
    for e in events:
        call.handle(e)  # type: ignore[arg-type]
    return call


def test_answered_and_connected_call() -> None:
    call = run(
        Originate(0.0),
        pbx.OriginateAccepted(CID, 0.01),
        pbx.Ringing(CID, 0.2),
        pbx.Answered(CID, 3.0),
        pbx.DialEnded(CID, pbx.DialStatus.ANSWER, 3.0),
        AssignAgent("4", 3.001),
        pbx.Bridged(CID, "leg", 3.015),
        pbx.Unbridged(CID, 30.0),
        pbx.HungUp(CID, 16, "Normal Clearing", 30.0),
    )
    assert call.state is CallState.ENDED
    assert call.result is CallResult.CONNECTED
    assert call.agent_id == "4"
    assert call.answer_to_agent_ms == pytest.approx(15.0)
    assert (call.ringing_at, call.answered_at, call.ended_at) == (0.2, 3.0, 30.0)


def test_busy_comes_from_dial_status_not_originate_response() -> None:
    # Asterisk 22 for a 486: DialEnd BUSY, Hangup 17, and OriginateResponse Failure (reason 0)
    # after the channel existed: the result is busy, not failed.
    call = run(
        Originate(0.0),
        pbx.OriginateAccepted(CID, 0.01),
        pbx.DialEnded(CID, pbx.DialStatus.BUSY, 0.05),
        pbx.HungUp(CID, 17, "User busy", 0.05),
        pbx.OriginateFailed(CID, "reason 0", 0.06),
    )
    assert call.result is CallResult.BUSY
    assert call.cause == 17


@pytest.mark.parametrize(
    ("status", "cause", "expected"),
    [
        (pbx.DialStatus.NOANSWER, 19, CallResult.NO_ANSWER),
        (pbx.DialStatus.CONGESTION, 34, CallResult.FAILED),
        (pbx.DialStatus.CHANUNAVAIL, 20, CallResult.UNAVAILABLE),
        (None, 17, CallResult.BUSY),
        (None, 19, CallResult.NO_ANSWER),
        (None, 38, CallResult.FAILED),
    ],
)
def test_unanswered_results(
    status: pbx.DialStatus | None, cause: int, expected: CallResult
) -> None:
    events: list[object] = [Originate(0.0), pbx.OriginateAccepted(CID, 0.01), pbx.Ringing(CID, 0.1)]
    if status is not None:
        events.append(pbx.DialEnded(CID, status, 5.0))
    events.append(pbx.HungUp(CID, cause, "x", 5.0))
    assert run(*events).result is expected


def test_originate_refused_before_any_channel_is_failed() -> None:
    call = run(Originate(0.0), pbx.OriginateFailed(CID, "no such endpoint", 0.01))
    assert call.state is CallState.ENDED
    assert call.result is CallResult.FAILED
    assert call.failure_reason == "no such endpoint"


def test_originate_never_sent_is_cancelled() -> None:
    call = run(Originate(0.0), Cancel(0.0), pbx.OriginateFailed(CID, "not connected", 0.0))
    assert call.result is CallResult.CANCELLED


def test_answered_without_agent_is_abandoned_after_message() -> None:
    call = run(
        Originate(0.0),
        pbx.Answered(CID, 2.0),
        Abandon(2.0),
        pbx.MessageStarted(CID, 2.05),
        pbx.HungUp(CID, 16, "Normal Clearing", 6.0),
    )
    assert call.result is CallResult.ABANDONED
    assert call.message_at == 2.05
    assert not call.hold_expired


def test_dialplan_fail_safe_message_is_abandoned() -> None:
    call = run(Originate(0.0), pbx.Answered(CID, 2.0), pbx.MessageStarted(CID, 3.5))
    assert call.state is CallState.ABANDONING
    assert call.hold_expired
    call.handle(pbx.HungUp(CID, 16, "", 7.0))
    assert call.result is CallResult.ABANDONED


def test_callee_hangs_up_while_waiting_for_agent_counts_as_abandoned() -> None:
    call = run(Originate(0.0), pbx.Answered(CID, 2.0), pbx.HungUp(CID, 16, "", 2.5))
    assert call.result is CallResult.ABANDONED


def test_bridge_failure_then_abandon() -> None:
    call = run(Originate(0.0), pbx.Answered(CID, 1.0), AssignAgent("1", 1.0), Abandon(1.1))
    assert call.state is CallState.ABANDONING
    call.handle(pbx.HungUp(CID, 16, "", 4.0))
    assert call.result is CallResult.ABANDONED


def test_illegal_transition_raises_and_changes_nothing() -> None:
    call = run(Originate(0.0), pbx.Ringing(CID, 0.1))
    with pytest.raises(IllegalCallTransition):
        call.handle(AssignAgent("1", 0.2))  # not answered yet
    assert call.state is CallState.RINGING
    assert call.agent_id is None
    with pytest.raises(IllegalCallTransition):
        call.handle(pbx.Bridged(CID, "leg", 0.3))
    assert call.state is CallState.RINGING


def test_events_after_the_end_are_absorbed() -> None:
    call = run(Originate(0.0), pbx.HungUp(CID, 17, "User busy", 0.1))
    assert call.result is CallResult.BUSY
    call.handle(pbx.OriginateFailed(CID, "late", 0.2))
    call.handle(pbx.DialEnded(CID, pbx.DialStatus.BUSY, 0.2))
    assert call.result is CallResult.BUSY
    assert call.ended_at == 0.1


def test_cancel_while_ringing_ends_cancelled_on_hangup() -> None:
    call = run(Originate(0.0), pbx.Ringing(CID, 0.1), Cancel(5.0), pbx.HungUp(CID, 16, "", 5.1))
    assert call.result is CallResult.CANCELLED


def test_queued_cancel_ends_immediately() -> None:
    call = run(Cancel(1.0))
    assert call.state is CallState.ENDED
    assert call.result is CallResult.CANCELLED


def amd_call() -> CallAttempt:
    call = CallAttempt(CID, lead_id=7, amd=True)
    for e in (Originate(0.0), pbx.Ringing(CID, 0.1), pbx.Answered(CID, 1.0)):
        call.handle(e)
    assert call.state is CallState.SCREENING
    return call


def test_amd_human_goes_on_to_an_agent() -> None:
    call = amd_call()
    call.handle(pbx.MachineDetected(CID, False, "HUMAN", "HUMAN-800-800", 2.3))
    assert call.state is CallState.ANSWERED
    assert (call.human_at, call.amd_status) == (2.3, "HUMAN")
    call.handle(AssignAgent("1", 2.31))
    call.handle(pbx.Bridged(CID, "leg", 2.32))
    call.handle(pbx.HungUp(CID, 16, "", 9.0))
    assert call.result is CallResult.CONNECTED


def test_amd_not_sure_counts_as_a_person() -> None:
    call = amd_call()
    call.handle(pbx.MachineDetected(CID, False, "NOTSURE", "TOOLONG-5000", 6.0))
    assert call.state is CallState.ANSWERED


def test_amd_machine_left_a_message_is_counted_apart() -> None:
    call = amd_call()
    call.handle(pbx.MachineDetected(CID, True, "MACHINE", "MAXWORDS-3-2", 2.8))
    assert call.state is CallState.MACHINE
    call.handle(pbx.MessageStarted(CID, 9.0))
    call.handle(pbx.HungUp(CID, 16, "", 14.0))
    assert call.result is CallResult.MACHINE
    assert not call.result.answered  # not a live answer: not in the abandonment rate
    assert call.message_at == 9.0


def test_hangup_during_detection_is_abandoned() -> None:
    call = amd_call()
    call.handle(pbx.HungUp(CID, 16, "", 1.5))
    assert call.result is CallResult.ABANDONED


def test_no_amd_answer_is_never_screened() -> None:
    call = run(Originate(0.0), pbx.Answered(CID, 1.0))
    assert call.state is CallState.ANSWERED
    with pytest.raises(IllegalCallTransition):
        call.handle(pbx.MachineDetected(CID, True, "MACHINE", "x", 2.0))
    assert call.state is CallState.ANSWERED


def test_a_late_verdict_cannot_turn_a_person_into_a_machine() -> None:
    call = amd_call()
    call.handle(pbx.MachineDetected(CID, False, "HUMAN", "x", 2.0))
    with pytest.raises(IllegalCallTransition):
        call.handle(pbx.MachineDetected(CID, True, "MACHINE", "x", 2.1))
    assert call.state is CallState.ANSWERED
