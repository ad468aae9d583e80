"""The dialplan contract of deploy/asterisk/extensions.conf, on the real rig: our ChannelId is
the channel's Uniqueid and every action takes it; agents' legs survive one customer after
another; a bridged customer never hears the abandon message; an unbridged one always does."""

from __future__ import annotations

import pytest

from rig import calls
from rig.ami import AmiClient, event, first
from rig.asterisk import Asterisk
from rig.numbers import Behaviour, make_number
from rig.sipp import Sipp
from tests.fixtures.rig import AgentHeadsets

pytestmark = pytest.mark.rig


async def test_channel_id_is_the_uniqueid_everywhere(
    sipp_trunk: Sipp, ami: AmiClient, asterisk: Asterisk
) -> None:
    number = make_number(Behaviour.ANSWER_HOLD, ring_s=0.2, serial=30)
    channel_id, _ = await calls.originate_customer(ami, number, hold_s=5, attempt="attempt-30")
    _, created = await ami.wait_for(event("Newchannel", channel_id), 5)
    assert first(created, "Channel").startswith("PJSIP/trunk-")
    _, answered = await ami.wait_for(event("OriginateResponse", channel_id), 5)
    assert first(answered, "Response") == "Success"
    assert first(answered, "Reason") == "4"
    _, up = await ami.wait_for(event("Newstate", channel_id, ChannelState="6"), 5)
    assert first(up, "ChanVariable") == "DIALER_ATTEMPT=attempt-30"
    # Setvar, Getvar and Hangup all take the Uniqueid in place of the channel name.
    assert (
        first(await ami.request("Setvar", Channel=channel_id, Variable="X", Value="1"), "Response")
        == "Success"
    )
    got = await ami.request("Getvar", Channel=channel_id, Variable="DIALER_HOLD")
    assert first(got, "Value") == "5"
    _, listed = await ami.request_list("CoreShowChannels")
    mine = [m for m in listed if first(m, "Uniqueid") == channel_id]
    assert len(mine) == 1
    assert first(mine[0], "Application") == "Wait"
    assert first(mine[0], "Context") == "dialer-customer"
    assert (
        first(await ami.request("Hangup", Channel=channel_id, Cause="16"), "Response") == "Success"
    )
    _, hangup = await ami.wait_for(event("Hangup", channel_id), 5)
    assert first(hangup, "Cause") == "16"


async def test_agent_leg_is_bridged_to_customers_in_turn(
    sipp_trunk: Sipp, agent_headsets: AgentHeadsets, ami: AmiClient
) -> None:
    (endpoint,) = agent_headsets.endpoints(1)
    agent = await calls.login_agent(ami, endpoint)
    for serial in range(3):
        start = len(ami.messages)
        number = make_number(Behaviour.ANSWER, ring_s=0.2, talk_s=0.5, serial=40 + serial)
        customer, _ = await calls.originate_customer(ami, number, hold_s=5)
        await ami.wait_for(event("Newstate", customer, ChannelState="6"), 5, start)
        await calls.bridge(ami, customer, agent)
        _, entered = await ami.wait_for(event("BridgeEnter", agent), 5, start)
        _, customer_in = await ami.wait_for(event("BridgeEnter", customer), 5, start)
        assert first(entered, "BridgeUniqueid") == first(customer_in, "BridgeUniqueid")
        _, hangup = await ami.wait_for(event("Hangup", customer), 5, start)
        assert first(hangup, "Cause") == "16"
        await ami.wait_for(event("BridgeLeave", agent), 5, start)
        messages = ami.messages[start:]
        assert not [m for m in messages if event("UserEvent", customer)(m)]
        assert not [m for m in messages if event("Hangup", agent)(m)]
    _, listed = await ami.request_list("CoreShowChannels")
    (leg,) = [m for m in listed if first(m, "Uniqueid") == agent]
    assert (first(leg, "Context"), first(leg, "Application")) == ("dialer-agent", "Wait")
    await ami.request("Hangup", Channel=agent, Cause="16")
    await ami.wait_for(event("Hangup", agent), 5)


async def test_customer_left_alone_when_the_agent_hangs_up_is_hung_up_without_message(
    sipp_trunk: Sipp, agent_headsets: AgentHeadsets, ami: AmiClient
) -> None:
    (endpoint,) = agent_headsets.endpoints(1)
    agent = await calls.login_agent(ami, endpoint)
    number = make_number(Behaviour.ANSWER_HOLD, ring_s=0.2, serial=50)
    start = len(ami.messages)
    customer, _ = await calls.originate_customer(ami, number, hold_s=5)
    await ami.wait_for(event("Newstate", customer, ChannelState="6"), 5, start)
    await calls.bridge(ami, customer, agent)
    await ami.wait_for(event("BridgeEnter", agent), 5, start)
    await ami.request("Hangup", Channel=agent, Cause="16")
    _, hangup = await ami.wait_for(event("Hangup", customer), 5, start)
    assert first(hangup, "Cause") == "16"
    assert first(hangup, "Context") == "dialer-customer"
    assert not [m for m in ami.messages[start:] if event("UserEvent", customer)(m)]


async def test_customers_bridged_on_the_answer_are_hung_up_when_their_agent_hangs_up(
    sipp_trunk: Sipp, agent_headsets: AgentHeadsets, ami: AmiClient
) -> None:
    """The daemon bridges on the answer, which can come before the customer's dialplan has
    started: such a channel comes back from the bridge to s,1 (not yet running) or s,2 (running,
    before its first step), not after the Wait. With a Set before the Wait, 5 of 80 customers sat
    out their whole hold (5 s here) in silence after their agent hung up; 40 tries here."""
    (endpoint,) = agent_headsets.endpoints(1)
    late: list[tuple[int, float]] = []
    for serial in range(40):
        agent = await calls.login_agent(ami, endpoint)
        number = make_number(Behaviour.ANSWER_HOLD, ring_s=0.1, serial=200 + serial)
        start = len(ami.messages)
        customer, _ = await calls.originate_customer(ami, number, hold_s=5)
        await ami.wait_for(event("Newstate", customer, ChannelState="6"), 5, start)
        await calls.bridge(ami, customer, agent)
        await ami.wait_for(event("BridgeEnter", agent), 5, start)
        sent_at = ami.elapsed()
        await ami.request("Hangup", Channel=agent, Cause="16")
        index, hangup = await ami.wait_for(event("Hangup", customer), 10, start)
        if ami.times[index] - sent_at > 1.0:
            late.append((serial, round(ami.times[index] - sent_at, 2)))
        # Also when it was bridged before leaving the trunk's context (dialer-inbound).
        assert (first(hangup, "Context"), first(hangup, "Cause")) == ("dialer-customer", "16")
        assert not [m for m in ami.messages[start:] if event("UserEvent", customer)(m)]
        await ami.wait_for(event("Hangup", agent), 5, start)
    assert late == []


async def test_customer_back_from_a_bridge_before_its_dialplan_started_hangs_up_at_once(
    sipp_trunk: Sipp, ami: AmiClient
) -> None:
    """What such a customer meets when its bridge ends: s,1 with DIALER_BRIDGED=1 (the Setvar
    follows a successful Bridge). Originating with the variable already set puts a channel in
    exactly that place: no hold, no message, a hang-up."""
    number = make_number(Behaviour.ANSWER_HOLD, ring_s=0.1, serial=80)
    customer, _ = await calls.originate_customer(
        ami, number, hold_s=5, variables={"DIALER_BRIDGED": "1"}
    )
    index, _ = await ami.wait_for(event("Newstate", customer, ChannelState="6"), 5)
    answered_at = ami.times[index]
    index, hangup = await ami.wait_for(event("Hangup", customer), 10)
    assert ami.times[index] - answered_at < 0.5
    assert first(hangup, "Cause") == "16"
    assert first(hangup, "Context") == "dialer-customer"
    assert not [m for m in ami.messages if event("UserEvent", customer)(m)]


async def test_unbridged_customer_hears_the_message_after_the_hold_time(
    sipp_trunk: Sipp, ami: AmiClient
) -> None:
    """The fail-safe: nobody bridges or redirects, the dialplan plays the message itself."""
    number = make_number(Behaviour.ANSWER_HOLD, ring_s=0.2, serial=60)
    customer, _ = await calls.originate_customer(ami, number, hold_s=0.8)
    index, _ = await ami.wait_for(event("Newstate", customer, ChannelState="6"), 5)
    answered_at = ami.times[index]
    index, message = await ami.wait_for(event("UserEvent", customer, UserEvent="DialerMessage"), 5)
    assert first(message, "Reason") == "timeout"
    assert first(message, "Attempt") == customer
    assert 0.7 <= ami.times[index] - answered_at <= 1.5
    index, hangup = await ami.wait_for(event("Hangup", customer), 30)
    assert first(hangup, "Cause") == "16"
    # The whole message, then the dialplan's hang-up: "Sorry we missed you.", "Please call us
    # back on" and the 11 digits of the caller ID (rig.calls.CALLER_ID), about 11-12 s
    # (test_rig_abandon_message.py checks what is said).
    assert 8.0 <= ami.times[index] - answered_at - 0.8 <= 16.0


async def test_redirect_plays_the_message_at_once(sipp_trunk: Sipp, ami: AmiClient) -> None:
    number = make_number(Behaviour.ANSWER_HOLD, ring_s=0.2, serial=70)
    customer, _ = await calls.originate_customer(ami, number, hold_s=10)
    await ami.wait_for(event("Newstate", customer, ChannelState="6"), 5)
    sent_at = ami.elapsed()
    response = await calls.abandon(ami, customer)
    assert first(response, "Response") == "Success"
    index, message = await ami.wait_for(event("UserEvent", customer, UserEvent="DialerMessage"), 5)
    assert first(message, "Reason") == "dialer"
    assert first(message, "Context") == "dialer-abandon"
    assert ami.times[index] - sent_at < 0.5
    # (The fail-safe test above waits for the dialplan's own hang-up after the message.)
    await ami.request("Hangup", Channel=customer, Cause="16")
    _, hangup = await ami.wait_for(event("Hangup", customer), 10)
    assert first(hangup, "Cause") == "16"


async def test_bridge_of_a_vanished_customer_is_an_error(
    agent_headsets: AgentHeadsets, ami: AmiClient
) -> None:
    (endpoint,) = agent_headsets.endpoints(1)
    agent = await calls.login_agent(ami, endpoint)
    bridged = await calls.bridge(ami, "no-such-channel-id", agent)
    assert first(bridged, "Response") == "Error"
    assert first(bridged, "Message") == "Channel1 does not exist: no-such-channel-id"
    await ami.request("Hangup", Channel=agent, Cause="16")
    await ami.wait_for(event("Hangup", agent), 5)
