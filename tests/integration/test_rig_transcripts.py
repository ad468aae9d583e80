"""The recorded AMI transcripts in tests/data/ami/ are complete and say what the rig showed.

These read files only (no rig needed); they keep the fixtures of the AMI translation layer
honest: if a transcript is re-recorded and Asterisk behaves differently, this fails.
"""

from __future__ import annotations

import pytest

from rig.numbers import EXPECTED, NOT_FOUND, parse_number
from rig.transcripts import TRANSCRIPT_DIR, Transcript, load

NAMES = sorted(path.stem for path in TRANSCRIPT_DIR.glob("*.jsonl"))


def test_every_scenario_the_lead_needs_is_recorded() -> None:
    assert {
        "agent_login",
        "answered_bridged",
        "busy",
        "ring_out",
        "failure_503",
        "redirect_abandon",
        "failsafe_abandon",
        "core_show_channels",
    } <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_transcript_is_well_formed(name: str) -> None:
    transcript = load(name)
    assert transcript.meta["scenario"] == name
    assert transcript.meta["asterisk"].startswith("Asterisk 22.")
    times = [line.t for line in transcript.lines]
    assert times == sorted(times)
    login = transcript.lines[0]
    assert (login.dir, login.get("Action"), login.get("Secret")) == ("out", "Login", "********")
    # Every id the recorder chose shows up as a Uniqueid in what Asterisk sent.
    seen = {line.get("Uniqueid") or line.get("DestUniqueid") for line in transcript.received()}
    assert set(transcript.ids.values()) <= seen | {
        line.get("Channel1") for line in transcript.lines if line.dir == "out"
    }


def _hangup_cause(transcript: Transcript, role: str) -> str:
    (hangup,) = [
        line for line in transcript.events("Hangup") if line.get("Uniqueid") == transcript.ids[role]
    ]
    return hangup.get("Cause")


def _dial_ends(transcript: Transcript, role: str) -> list[str]:
    return [
        line.get("DialStatus")
        for line in transcript.events("DialEnd")
        if line.get("DestUniqueid") == transcript.ids[role]
    ]


@pytest.mark.parametrize("name", ["busy", "ring_out", "failure_503", "not_found_404"])
def test_unanswered_outcomes_match_rig_numbers(name: str) -> None:
    transcript = load(name)
    number = transcript.meta["numbers"]["customer"]
    try:
        expected = parse_number(number).expected
    except ValueError:
        expected = NOT_FOUND
    assert _dial_ends(transcript, "customer") == ([expected.dial_end] if expected.dial_end else [])
    assert _hangup_cause(transcript, "customer") == str(expected.cause)
    (originate,) = transcript.events("OriginateResponse")
    assert originate.get("Uniqueid") == transcript.ids["customer"]
    assert originate.get("Reason") == str(expected.originate_reason)


def test_answered_and_bridged() -> None:
    transcript = load("answered_bridged")
    customer, agent = transcript.ids["customer"], transcript.ids["agent"]
    assert _dial_ends(transcript, "customer") == ["ANSWER"]
    enters = transcript.events("BridgeEnter")
    assert {line.get("Uniqueid") for line in enters} == {customer, agent}
    assert len({line.get("BridgeUniqueid") for line in enters}) == 1
    assert _hangup_cause(transcript, "customer") == str(
        EXPECTED[parse_number(transcript.meta["numbers"]["customer"]).behaviour].cause
    )
    # The agent's leg survives the customer's hang-up.
    assert not [line for line in transcript.events("Hangup") if line.get("Uniqueid") == agent]


@pytest.mark.parametrize(
    ("name", "reason"), [("redirect_abandon", "dialer"), ("failsafe_abandon", "timeout")]
)
def test_abandon_message_is_announced_then_hung_up(name: str, reason: str) -> None:
    transcript = load(name)
    (message,) = transcript.events("UserEvent")
    assert message.get("UserEvent") == "DialerMessage"
    assert message.get("Reason") == reason
    assert message.get("Uniqueid") == transcript.ids["customer"]
    (hangup,) = transcript.events("Hangup")
    assert hangup.get("Cause") == "16"
    # The abandon message in parts: "sorry we missed you", "please call us back on" and the
    # call-back number's digits (here the caller ID's 11): about 12 s, then the hang-up.
    assert 9.0 < hangup.t - message.t < 16.0


def test_core_show_channels_lists_every_live_channel() -> None:
    transcript = load("core_show_channels")
    items = {line.get("Uniqueid"): line for line in transcript.events("CoreShowChannel")}
    assert set(items) == set(transcript.ids.values())
    ids = transcript.ids
    bridge = items[ids["customer_bridged"]].get("BridgeId")
    assert bridge
    assert items[ids["agent"]].get("BridgeId") == bridge
    assert items[ids["customer_waiting"]].get("Application") == "Wait"
    assert items[ids["customer_ringing"]].get("ChannelState") == "5"
    assert items[ids["agent_idle"]].get("Context") == "dialer-agent"
    (complete,) = transcript.events("CoreShowChannelsComplete")
    assert complete.get("ListItems") == str(len(items))
