"""Media on the rig: the SIPp headsets and carrier send RTP for the whole call, so Asterisk's RTP
timeouts (deploy/asterisk/pjsip.conf: 120 s on agents, 60 s on the trunk) leave live calls alone.

Waiting two minutes per test is too long, so these tests dial the rig's short-timeout endpoints
(rig/asterisk.py RigOverlay: the deploy's templates with rtp_timeout of a few seconds). Each
test runs a control beside the real call, a leg that sends no RTP (a silent headset, a silent
callee), and shows that the control is hung up for lack of RTP at the timeout while the call
that streams outlives it several times over: the short timeout is in force, and media is what
keeps the leg.

How much RTP Asterisk received on a channel is CHANNEL(rtcp,rxcount), read with AMI Getvar:
chan_pjsip counts every RTP packet, RTCP or not (SIPp sends no RTCP).
"""

from __future__ import annotations

import asyncio

import pytest

from rig import calls
from rig.ami import AmiClient, event, first
from rig.asterisk import SHORT_RTP_AGENT, SHORT_RTP_SILENT_AGENT, SHORT_RTP_TRUNK, Asterisk
from rig.numbers import Behaviour, make_number
from rig.sipp import Sipp
from tests.fixtures.rig import AgentHeadsets

pytestmark = pytest.mark.rig

PACKETS_PER_S = 50
"""G.711 in 20 ms packets, as SIPp streams payload type 0."""
OUTLIVE = 3
"""A streaming leg must still be up after this many RTP timeouts."""
AST_CAUSE_REQUESTED_CHAN_UNAVAIL = "44"
"""The Hangup cause chan_pjsip sets when it disconnects a channel for lack of RTP."""


@pytest.fixture(autouse=True, scope="module")
def _rig_taken_first(asterisk: Asterisk) -> None:
    """Start (or wait for) Asterisk before the SIPp fixtures bind their ports."""


async def rx_packets(ami: AmiClient, channel_id: str) -> int:
    """RTP packets Asterisk has received on the channel so far."""
    response = await ami.request("Getvar", Channel=channel_id, Variable="CHANNEL(rtcp,rxcount)")
    assert first(response, "Response") == "Success", response
    return int(first(response, "Value") or 0)


async def receives_rtp(ami: AmiClient, channel_id: str, over_s: float = 2.0) -> int:
    """Packets received on the channel during `over_s`."""
    before = await rx_packets(ami, channel_id)
    await asyncio.sleep(over_s)
    return await rx_packets(ami, channel_id) - before


async def dropped_for_lack_of_rtp(
    ami: AmiClient, channel_id: str, up_at: float, timeout_s: int, start: int
) -> float:
    """Wait for the channel's Hangup by the RTP timeout; returns seconds from `up_at`."""
    index, hangup = await ami.wait_for(event("Hangup", channel_id), timeout_s + 3, start)
    assert first(hangup, "Cause") == AST_CAUSE_REQUESTED_CHAN_UNAVAIL, hangup
    return ami.times[index] - up_at


def hung_up(ami: AmiClient, channel_id: str, start: int) -> bool:
    return any(event("Hangup", channel_id)(m) for m in ami.messages[start:])


async def hang_up(ami: AmiClient, channel_id: str) -> None:
    start = len(ami.messages)
    await ami.request("Hangup", Channel=channel_id, Cause="16")
    await ami.wait_for(event("Hangup", channel_id), 5, start)


async def test_nailed_up_agent_leg_carries_media_and_outlives_the_rtp_timeout(
    asterisk: Asterisk, agent_headsets: AgentHeadsets, ami: AmiClient
) -> None:
    timeout_s = asterisk.overlay.short_rtp_timeout_s
    start = len(ami.messages)
    talking, silent = await asyncio.gather(
        calls.login_agent(ami, SHORT_RTP_AGENT), calls.login_agent(ami, SHORT_RTP_SILENT_AGENT)
    )
    up_at = ami.elapsed()
    received = await receives_rtp(ami, talking)
    assert received >= 0.8 * 2 * PACKETS_PER_S, received
    assert await rx_packets(ami, silent) == 0

    dropped_after = await dropped_for_lack_of_rtp(ami, silent, up_at, timeout_s, start)
    assert timeout_s - 1 <= dropped_after <= timeout_s + 2, dropped_after

    await asyncio.sleep(max(0.0, OUTLIVE * timeout_s - (ami.elapsed() - up_at)))
    assert not hung_up(ami, talking, start), "the streaming agent leg was hung up"
    assert await receives_rtp(ami, talking, 1.0) >= 0.8 * PACKETS_PER_S
    await hang_up(ami, talking)


async def test_customer_talking_to_an_agent_outlives_the_rtp_timeout(
    asterisk: Asterisk, sipp_trunk: Sipp, agent_headsets: AgentHeadsets, ami: AmiClient
) -> None:
    """Two customers on the short-timeout trunk, each bridged to an agent as the daemon does:
    one sends RTP (ANSWER_HOLD), the control sends none (ANSWER_SILENT)."""
    timeout_s = asterisk.overlay.short_rtp_timeout_s
    start = len(ami.messages)
    numbers = {
        "talking": make_number(Behaviour.ANSWER_HOLD, ring_s=0.1, serial=900),
        "silent": make_number(Behaviour.ANSWER_SILENT, ring_s=0.1, serial=901),
    }
    agents = await asyncio.gather(*(calls.login_agent(ami, SHORT_RTP_AGENT) for _ in numbers))
    customers = {}
    for name, number in numbers.items():
        customer, response = await calls.originate_customer(
            ami, number, hold_s=60, trunk=SHORT_RTP_TRUNK
        )
        assert first(response, "Response") == "Success", response
        customers[name] = customer
    talking, silent = customers["talking"], customers["silent"]
    up_at = {}
    for customer, agent in zip((talking, silent), agents, strict=True):
        index, _ = await ami.wait_for(event("Newstate", customer, ChannelState="6"), 10, start)
        up_at[customer] = ami.times[index]
        bridged = await calls.bridge(ami, customer, agent)
        assert first(bridged, "Response") == "Success", bridged
        if customer == talking:
            received = await receives_rtp(ami, talking)
            assert received >= 0.8 * 2 * PACKETS_PER_S, received
    assert await rx_packets(ami, silent) == 0

    dropped_after = await dropped_for_lack_of_rtp(ami, silent, up_at[silent], timeout_s, start)
    assert timeout_s - 1 <= dropped_after <= timeout_s + 2, dropped_after

    await asyncio.sleep(max(0.0, OUTLIVE * timeout_s - (ami.elapsed() - up_at[talking])))
    assert not hung_up(ami, talking, start), "the streaming customer was hung up"
    assert not any(hung_up(ami, agent, start) for agent in agents), "an agent leg was hung up"
    assert await receives_rtp(ami, talking, 1.0) >= 0.8 * PACKETS_PER_S
    # Still talking to its agent: both in one bridge.
    _, listed = await ami.request_list("CoreShowChannels")
    bridge_of = {first(m, "Uniqueid"): first(m, "BridgeId") for m in listed}
    assert bridge_of[talking] and bridge_of[talking] == bridge_of[agents[0]], bridge_of
    for channel in (talking, *agents):
        await hang_up(ami, channel)
