"""The AMI adapter (`ami_bridge.client.AmiPbx`) on its own against the Asterisk rig: what the
campaign tests cannot aim at, because it depends on when an action meets a channel."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from ami_bridge.client import AmiPbx
from dialer import pbx
from rig import calls
from rig.ami import AmiClient, event, first
from rig.asterisk import Asterisk
from rig.numbers import Behaviour, make_number
from rig.sipp import Sipp
from tests.fixtures.pbx import rig_settings
from tests.fixtures.rig import AgentHeadsets, left_over_channels

pytestmark = pytest.mark.rig


@pytest.fixture
async def ami_pbx(asterisk: Asterisk) -> AsyncIterator[AmiPbx]:
    client = AmiPbx(rig_settings(asterisk, "postgresql://unused").pbx)
    await client.start()
    try:
        yield client
    finally:
        await client.close()


async def _ended(client: AmiPbx, ids: set[str], within_s: float) -> set[str]:
    """Wait until each of `ids` has its last event (HungUp or OriginateFailed); those without."""
    deadline = time.monotonic() + within_s
    left = set(ids)
    while left and time.monotonic() < deadline:
        for done in client.drain_ready():
            if isinstance(done, pbx.HungUp | pbx.OriginateFailed):
                left.discard(done.channel_id)
        await asyncio.sleep(0.02)
    return left


async def test_a_leg_hung_up_before_asterisk_made_its_channel_still_ends(
    asterisk: Asterisk, agent_headsets: AgentHeadsets, ami_pbx: AmiPbx
) -> None:
    # An agent logged out (or the daemon stopped) right after its headset was called: Asterisk
    # makes the channel of an Originate in a thread of its own, so a Hangup right behind the
    # Originate can find no channel yet. The leg must still end, not wait in the agent's
    # dialplan for the next hour.
    ids: set[str] = set()
    for endpoint in agent_headsets.endpoints(20):
        leg = pbx.AgentLeg(str(uuid.uuid4()), endpoint, 10.0, agent_id=endpoint)
        ids.add(leg.channel_id)
        await ami_pbx.originate_agent(leg)
        await ami_pbx.hangup(leg.channel_id)  # no error: the adapter keeps it for later
    assert await _ended(ami_pbx, ids, within_s=10.0) == set()
    assert await asyncio.to_thread(left_over_channels, asterisk, 3.0) == []


async def test_closing_right_after_such_a_hang_up_still_ends_the_leg(
    asterisk: Asterisk, agent_headsets: AgentHeadsets
) -> None:
    # The daemon's stop: the agents' legs are hung up, then the link is closed at once.
    client = AmiPbx(rig_settings(asterisk, "postgresql://unused").pbx)
    await client.start()
    try:
        for endpoint in agent_headsets.endpoints(10):
            leg = pbx.AgentLeg(str(uuid.uuid4()), endpoint, 10.0, agent_id=endpoint)
            await client.originate_agent(leg)
            await client.hangup(leg.channel_id)
    finally:
        await client.close()
    assert await asyncio.to_thread(left_over_channels, asterisk, 3.0) == []


async def test_a_customer_is_marked_bridged_only_by_a_bridge_that_succeeded(
    sipp_trunk: Sipp, agent_headsets: AgentHeadsets, ami: AmiClient, ami_pbx: AmiPbx
) -> None:
    # DIALER_BRIDGED=1 tells the dialplan "back from a bridge": hang up, no message. Set on a
    # customer the Bridge did not take (the agent's leg gone), the hold would end in a silent
    # hang-up instead of the abandon message; set before a Bridge that does take it, a customer
    # bridged before its dialplan started would hang up as soon as it came back to s,1.
    number = make_number(Behaviour.ANSWER_HOLD, ring_s=0.1, serial=90)
    customer, _ = await calls.originate_customer(ami, number, hold_s=5)
    await ami.wait_for(event("Newstate", customer, ChannelState="6"), 5)
    with pytest.raises(pbx.PbxError, match="Channel2 does not exist"):
        await ami_pbx.connect(customer, "no-such-agent-leg")
    got = await ami.request("Getvar", Channel=customer, Variable="DIALER_BRIDGED")
    assert (first(got, "Response"), first(got, "Value")) == ("Success", "")

    (endpoint,) = agent_headsets.endpoints(1)
    agent = await calls.login_agent(ami, endpoint)
    await ami_pbx.connect(customer, agent)
    await ami.wait_for(event("BridgeEnter", customer), 5)
    got = await ami.request("Getvar", Channel=customer, Variable="DIALER_BRIDGED")
    assert first(got, "Value") == "1"
    await ami.request("Hangup", Channel=agent, Cause="16")
    _, hangup = await ami.wait_for(event("Hangup", customer), 5)
    assert first(hangup, "Context") == "dialer-customer"
    assert not [m for m in ami.messages if event("UserEvent", customer)(m)]
