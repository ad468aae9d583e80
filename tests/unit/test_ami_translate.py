"""AMI -> PBX events -> call results, replayed from transcripts recorded on the Asterisk 22 rig.

Each transcript in tests/data/ami/ is every message one AMI session saw during one scenario
(scripts/rig/record_ami.py). Replaying the incoming events through `AmiTranslator` and the
call state machine must give the result Asterisk really produced.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ami_bridge.translate import AmiTranslator, live_channel, peers_by_bridge
from dialer import pbx
from dialer.domain.call import Abandon, AssignAgent, CallAttempt, CallState, Originate
from dialer.domain.results import CallResult

DATA = Path(__file__).resolve().parents[1] / "data" / "ami"


def load(name: str) -> tuple[dict[str, Any], list[tuple[float, dict[str, Any]]]]:
    lines = (DATA / f"{name}.jsonl").read_text().splitlines()
    meta = json.loads(lines[0])["meta"]
    incoming = []
    for line in lines[1:]:
        rec = json.loads(line)
        if rec.get("dir") == "in":
            incoming.append((float(rec["t"]), rec["headers"]))
    return meta, incoming


def replay(name: str) -> tuple[dict[str, Any], list[pbx.PbxEvent]]:
    """Translate a transcript's incoming messages as the client does: events through
    `event`, an Originate's final OriginateResponse through `originate_response`."""
    meta, incoming = load(name)
    tr = AmiTranslator()
    out: list[pbx.PbxEvent] = []
    for t, headers in incoming:
        if headers.get("Event") == "OriginateResponse":
            out += tr.originate_response(headers, headers.get("Uniqueid", ""), t)
        elif "Event" in headers:
            out += tr.event(headers, t)
    return meta, out


def drive(call_id: str, events: list[pbx.PbxEvent], agent_leg: str | None = None) -> CallAttempt:
    """Feed one channel's events to a call attempt, acting as the engine does at answer."""
    call = CallAttempt(call_id, lead_id=1)
    call.handle(Originate(0.0))
    for e in events:
        if getattr(e, "channel_id", None) != call_id:
            continue
        state = call.handle(e)  # type: ignore[arg-type]
        if state is CallState.ANSWERED and agent_leg is not None:
            call.handle(AssignAgent("1", e.at))
    return call


@pytest.mark.parametrize(
    ("scenario", "result", "cause"),
    [
        ("busy", CallResult.BUSY, 17),
        ("ring_out", CallResult.NO_ANSWER, 19),
        ("failure_503", CallResult.FAILED, 34),
        ("not_found_404", CallResult.INVALID, None),
    ],
)
def test_unanswered_outcomes(scenario: str, result: CallResult, cause: int | None) -> None:
    meta, events = replay(scenario)
    call = drive(meta["ids"]["customer"], events)
    assert call.state is CallState.ENDED
    assert call.result is result
    if cause is not None:
        assert call.cause == cause
    assert call.answered_at is None


def test_busy_is_not_ended_by_the_early_originate_failure() -> None:
    # Asterisk sends OriginateResponse (Reason 0) before DialEnd BUSY and Hangup 17.
    meta, events = replay("busy")
    cid = meta["ids"]["customer"]
    kinds = [type(e).__name__ for e in events if getattr(e, "channel_id", None) == cid]
    assert kinds.index("OriginateFailed") < kinds.index("DialEnded") < kinds.index("HungUp")
    assert drive(cid, events).result is CallResult.BUSY


def test_unknown_endpoint_fails_without_a_channel() -> None:
    _meta, events = replay("originate_unknown_endpoint")
    # The only thing Asterisk says is a failed OriginateResponse for our id.
    assert [type(e) for e in events] == [pbx.OriginateFailed]
    cid = events[0].channel_id  # type: ignore[union-attr]
    call = drive(cid, events)
    assert call.result is CallResult.FAILED


def test_answered_and_bridged_to_agent() -> None:
    meta, events = replay("answered_bridged")
    cid = meta["ids"]["customer"]
    agent = meta["ids"]["agent"]
    bridged = [e for e in events if isinstance(e, pbx.Bridged)]
    assert {(b.channel_id, b.peer_id) for b in bridged} == {(cid, agent), (agent, cid)}
    call = drive(cid, events, agent_leg=agent)
    assert call.result is CallResult.CONNECTED
    assert call.answer_to_agent_ms is not None
    assert 0 < call.answer_to_agent_ms < 100  # the rig bridged it within a few ms
    assert call.ringing_at is not None
    assert call.ringing_at < call.answered_at  # type: ignore[operator]


def test_agent_hangup_ends_a_connected_call() -> None:
    meta, events = replay("answered_bridged_agent_hangup")
    cid = meta["ids"]["customer"]
    call = drive(cid, events, agent_leg=meta["ids"]["agent"])
    assert call.result is CallResult.CONNECTED
    agent_hangups = [
        e for e in events if isinstance(e, pbx.HungUp) and e.channel_id == meta["ids"]["agent"]
    ]
    assert len(agent_hangups) == 1


def test_redirected_abandon_hears_the_message() -> None:
    meta, events = replay("redirect_abandon")
    cid = meta["ids"]["customer"]
    call = CallAttempt(cid, lead_id=1)
    call.handle(Originate(0.0))
    for e in events:
        if getattr(e, "channel_id", None) != cid:
            continue
        if call.handle(e) is CallState.ANSWERED:  # type: ignore[arg-type]
            call.handle(Abandon(e.at))
    assert call.result is CallResult.ABANDONED
    assert call.message_at is not None and call.answered_at is not None
    assert call.message_at - call.answered_at < 2.0
    assert not call.hold_expired


def test_dialplan_fail_safe_abandon() -> None:
    meta, events = replay("failsafe_abandon")
    call = drive(meta["ids"]["customer"], events)
    assert call.result is CallResult.ABANDONED
    assert call.hold_expired  # nobody acted: the dialplan played the message by itself
    assert call.message_at is not None and call.answered_at is not None
    assert 1.0 < call.message_at - call.answered_at < 2.0


def test_customer_hangs_up_while_waiting() -> None:
    meta, events = replay("customer_hangup_while_waiting")
    call = drive(meta["ids"]["customer"], events)
    assert call.result is CallResult.ABANDONED
    assert call.message_at is None


def test_agent_login_leg_answers() -> None:
    _meta, events = replay("agent_login")
    answered = [e for e in events if isinstance(e, pbx.Answered)]
    assert len(answered) == 1
    assert not any(isinstance(e, pbx.HungUp) for e in events)


def test_core_show_channels_lists_live_channels() -> None:
    _meta, incoming = load("core_show_channels")
    live = [c for _t, h in incoming if (c := live_channel(h)) is not None]
    assert len(live) == 5
    states = {c.name.split("-")[0]: c.state for c in live}
    assert states["PJSIP/agent1"] is pbx.ChannelState.UP
    ringing = [c for c in live if c.state is pbx.ChannelState.RINGING]
    assert len(ringing) == 1 and ringing[0].name.startswith("PJSIP/trunk")
    assert all(len(c.channel_id) == 36 for c in live)  # our ChannelId UUIDs


def test_bridge_state_is_forgotten_on_hangup() -> None:
    tr = AmiTranslator()
    tr.event({"Event": "BridgeEnter", "BridgeUniqueid": "b", "Uniqueid": "x"}, 0.0)
    out = tr.event({"Event": "BridgeEnter", "BridgeUniqueid": "b", "Uniqueid": "y"}, 0.1)
    assert {type(e) for e in out} == {pbx.Bridged}
    tr.event({"Event": "Hangup", "Uniqueid": "x", "Cause": "16"}, 0.2)
    # A new channel entering the same bridge pairs with y, not the gone x.
    out = tr.event({"Event": "BridgeEnter", "BridgeUniqueid": "b", "Uniqueid": "z"}, 0.3)
    assert pbx.Bridged("z", "y", 0.3) in out


def test_hangup_during_the_message_keeps_the_requested_cause() -> None:
    # Seen on the Asterisk 22 rig: a callee who hangs up during Playback gives
    # SoftHangupRequest Cause 16, then Hangup Cause 0.
    tr = AmiTranslator()
    assert tr.event({"Event": "SoftHangupRequest", "Uniqueid": "c1", "Cause": "16"}, 1.0) == []
    [gone] = tr.event(
        {"Event": "Hangup", "Uniqueid": "c1", "Cause": "0", "Cause-txt": "Unknown"}, 1.1
    )
    assert gone == pbx.HungUp("c1", 16, "Normal Clearing", 1.1)
    # The request is forgotten with the channel, and a Hangup's own cause always wins.
    [again] = tr.event(
        {"Event": "Hangup", "Uniqueid": "c1", "Cause": "0", "Cause-txt": "Unknown"}, 2.0
    )
    assert again.cause == 0
    tr.event({"Event": "HangupRequest", "Uniqueid": "c2", "Cause": "16"}, 3.0)
    [busy] = tr.event(
        {"Event": "Hangup", "Uniqueid": "c2", "Cause": "17", "Cause-txt": "User busy"}, 3.1
    )
    assert (busy.cause, busy.cause_text) == (17, "User busy")


def test_live_channels_name_their_peer_not_their_bridge() -> None:
    up = pbx.ChannelState.UP
    channels = [
        pbx.LiveChannel("cust", "PJSIP/trunk-1", up, "bridge-1"),
        pbx.LiveChannel("leg", "PJSIP/agent1-2", up, "bridge-1"),
        pbx.LiveChannel("idle", "PJSIP/agent2-3", up, None),
        pbx.LiveChannel("alone", "PJSIP/agent3-4", up, "bridge-2"),
    ]
    assert [c.bridged_to for c in peers_by_bridge(channels)] == ["leg", "cust", None, "bridge-2"]
