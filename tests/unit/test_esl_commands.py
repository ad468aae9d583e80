"""The FreeSWITCH API commands the adapter builds (pure)."""

from __future__ import annotations

import math

import pytest

from dialer.pbx import AbandonMessage, AgentLeg, AmdRequest, CustomerCall
from esl_bridge import commands

DP = commands.Dialplan()


def call(**overrides: object) -> CustomerCall:
    values: dict[str, object] = {
        "channel_id": "0b6f4a52-3c1e-4c53-9d7e-5b2b1c8f9a10",
        "trunk": "trunk",
        "number": "+155510050020001",
        "caller_id": "+15550000000",
        "ring_timeout_s": 20.0,
    }
    values.update(overrides)
    return CustomerCall(**values)  # type: ignore[arg-type]


def test_customer_originate() -> None:
    assert commands.originate_customer(call(), DP, "dialer_leg") == (
        "originate {origination_uuid=0b6f4a52-3c1e-4c53-9d7e-5b2b1c8f9a10,dialer_leg=customer,"
        "originate_timeout=21,origination_caller_id_number=+15550000000,"
        # From the answer on, not only once the dialplan sets it: a bridge can come first.
        "hangup_after_bridge=true}"
        "sofia/gateway/trunk/+155510050020001 dialer-customer XML dialer"
    )


def test_typed_values_become_the_dialplans_variables_and_cannot_override_ours() -> None:
    text = commands.originate_customer(
        call(lead_id=42, campaign_id=7, hold_s=1.9, message=AbandonMessage("+15550004321")),
        DP,
        "dialer_leg",
    )
    assert text.startswith(
        "originate {dialer_lead=42,dialer_campaign=7,dialer_hold_ms=1900,"
        "dialer_callback_digits=15550004321,origination_uuid=0b6f4a52-"
    )
    # The engine's Asterisk names are not sent: this dialplan reads its own.
    assert "DIALER_" not in text


def test_the_hold_in_seconds_becomes_the_dialplans_hold_in_ms() -> None:
    assert commands.hold_ms(1.9) == "1900"
    assert commands.hold_ms(0.0) == "0"
    assert commands.hold_ms(60.0) == "60000"


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf, 3600.0])
def test_a_bad_hold_fails_the_attempt(bad: float) -> None:
    with pytest.raises(ValueError, match="invalid hold time"):
        commands.originate_customer(call(hold_s=bad), DP, "dialer_leg")


def test_answering_machine_detection_is_refused_not_ignored() -> None:
    # The dialplan has none: a call asking for it fails rather than wait for a verdict that
    # never comes (the daemon refuses such a campaign at start, dialer/core/refusals.py).
    with pytest.raises(ValueError, match="answering-machine detection"):
        commands.originate_customer(call(amd=AmdRequest()), DP, "dialer_leg")


@pytest.mark.parametrize(("ring", "limit"), [(0.4, "2"), (2.0, "3"), (2.5, "4"), (30.0, "31")])
def test_ring_timeout_is_rounded_up_plus_one_second(ring: float, limit: str) -> None:
    assert f"originate_timeout={limit}," in commands.originate_customer(
        call(ring_timeout_s=ring), DP, "dialer_leg"
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"number": "+1555 1234"},
        {"number": "1555}&hangup"},
        {"number": ""},
        {"trunk": "trunk/../x"},
        {"trunk": "a b"},
        {"channel_id": "x y"},
        {"caller_id": "+1555\n0000"},
        {"caller_id": "+1555\x000000"},
        {"number": "+15550100@trunk"},
        {"trunk": "trunk\r\nApplication: System"},
        {"ring_timeout_s": 0.0},
        {"message": AbandonMessage("+1555 1234")},
        {"message": AbandonMessage("+15551234", "x}sofia/gateway/other/1")},
        {"message": AbandonMessage("+15551234", "a b")},
    ],
)
def test_values_that_would_change_the_command_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"invalid|contains|must be"):
        commands.originate_customer(call(**bad), DP, "dialer_leg")


def test_commas_in_values_are_escaped() -> None:
    assert commands.channel_variables({"a": "1,2"}) == "{a=1\\,2}"


def test_agent_originate_parks_after_bridge() -> None:
    leg = AgentLeg(channel_id="a-1", endpoint="agent1", ring_timeout_s=10)
    assert commands.originate_agent(leg, DP, "dialer_leg") == (
        "originate {origination_uuid=a-1,dialer_leg=agent,originate_timeout=11,"
        "park_after_bridge=true}user/agent1 dialer-agent XML dialer"
    )
    named = AgentLeg(channel_id="a-1", endpoint="agent1", ring_timeout_s=10, agent_id="7")
    assert commands.originate_agent(named, DP, "dialer_leg").startswith(
        "originate {dialer_agent=7,origination_uuid=a-1,"
    )


def test_agent_endpoint_as_a_dial_string() -> None:
    assert commands.agent_dial_string("agent7") == "user/agent7"
    # A dial string is never an endpoint: it could call anything through anything.
    for dial_string in (
        "sofia/dialer/agent1@127.0.0.1:5080",
        "user/agent1 &hangup",
        "sofia/gateway/trunk/+19005550100",
        "agent1@trunk",
    ):
        with pytest.raises(ValueError, match="agent endpoint"):
            commands.agent_dial_string(dial_string)


def test_bridge_transfer_kill() -> None:
    assert commands.bridge("c-1", "a-1") == "uuid_bridge c-1 a-1"
    assert commands.transfer_abandon("c-1", DP) == "uuid_transfer c-1 dialer-abandon XML dialer"
    assert commands.kill("c-1") == "uuid_kill c-1 NORMAL_CLEARING"
    assert commands.kill("c-1", "ORIGINATOR_CANCEL") == "uuid_kill c-1 ORIGINATOR_CANCEL"
    with pytest.raises(ValueError, match="channel id"):
        commands.kill("c-1 all")


def test_dialplan_names_are_checked() -> None:
    with pytest.raises(ValueError, match="dialplan context"):
        commands.Dialplan(context="dialer XML other")
