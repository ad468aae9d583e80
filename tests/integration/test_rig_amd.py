"""Answering-machine detection on the real rig: deploy/asterisk/extensions.conf's AMD branch
with deploy/asterisk/amd.conf, and the SIPp trunk playing espeak-ng speech (rig/audio.py).

A customer originated with DIALER_AMD=1 runs AMD() once answered and reports the verdict in
UserEvent DialerAmd; a person (HUMAN, NOTSURE) then waits to be bridged as any customer does, a
machine is hung up or, with DIALER_MACHINE_MESSAGE, left that message after its greeting. Without
DIALER_AMD=1 nothing changes. Raw AMI, as the daemon sees it.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from rig import audio, calls
from rig.ami import AmiClient, Headers, event, first
from rig.asterisk import Asterisk
from rig.numbers import CAUSE_HANGUP_IN_DIALPLAN_APP, Behaviour, make_number, parse_number
from rig.sipp import Sipp
from tests.fixtures.rig import AgentHeadsets

pytestmark = pytest.mark.rig

MESSAGE = "dialer/abandon"
"""The machine message the tests leave: the deploy's abandon message (3.8 s)."""
MESSAGE_S = 3.8
BUDGET_S = 2.0
"""Answer to agent: a person's AMD verdict must come well within this."""


@pytest.fixture(autouse=True, scope="module")
def _rig_taken_first(asterisk: Asterisk) -> None:
    """Start (or wait for) Asterisk before the SIPp fixtures bind their ports: Asterisk waits
    while another session holds the rig, SIPp would fail at once on a port in use."""


async def originate(
    ami: AmiClient,
    number: str,
    *,
    hold_s: float = 5.0,
    amd: str | None = "1",
    message: str | None = None,
) -> str:
    """Originate a customer call as the daemon does with AMD; returns its channel id."""
    channel_id = str(uuid.uuid4())
    variables = [f"DIALER_ATTEMPT=att-{channel_id[:8]}", f"DIALER_HOLD={hold_s}"]
    if amd is not None:
        variables.append(f"DIALER_AMD={amd}")
    if message is not None:
        variables.append(f"DIALER_MACHINE_MESSAGE={message}")
    response = await ami.request(
        "Originate",
        Channel=f"PJSIP/{number}@trunk",
        Context="dialer-customer",
        Exten="s",
        Priority="1",
        Timeout="10000",
        CallerID=calls.CALLER_ID,
        Async="true",
        ChannelId=channel_id,
        Variable=variables,
    )
    assert first(response, "Response") == "Success"
    return channel_id


async def answered(ami: AmiClient, channel_id: str, start: int = 0) -> float:
    index, _ = await ami.wait_for(event("Newstate", channel_id, ChannelState="6"), 10, start)
    return ami.times[index]


async def verdict(ami: AmiClient, channel_id: str, start: int = 0) -> tuple[float, Headers]:
    """When DialerAmd came, and the event."""
    index, message = await ami.wait_for(
        event("UserEvent", channel_id, UserEvent="DialerAmd"), 10, start
    )
    return ami.times[index], message


def user_events(ami: AmiClient, channel_id: str, start: int = 0) -> list[str]:
    return [
        first(m, "UserEvent") for m in ami.messages[start:] if event("UserEvent", channel_id)(m)
    ]


PASSING = frozenset({"AppDial2", "Set", "GotoIf", "Goto", "UserEvent"})
"""Applications a channel only passes through on its way to Wait, Playback or AMD."""


async def application_of(ami: AmiClient, channel_id: str) -> tuple[str, str, str]:
    """(Context, Application, ApplicationData) the channel waits in now.

    Events come before the channel has moved on: Newstate Up while it still runs AppDial2 in the
    trunk's context, a UserEvent while the snapshot still names the GotoIf before it. Ask again
    for a moment until it shows an application it stays in.
    """
    for _ in range(50):
        _, listed = await ami.request_list("CoreShowChannels")
        (mine,) = [m for m in listed if first(m, "Uniqueid") == channel_id]
        if first(mine, "Application") not in PASSING:
            break
        await asyncio.sleep(0.01)
    return first(mine, "Context"), first(mine, "Application"), first(mine, "ApplicationData")


async def hang_up(ami: AmiClient, channel_id: str) -> None:
    await ami.request("Hangup", Channel=channel_id, Cause="16")
    await ami.wait_for(event("Hangup", channel_id), 5)


async def test_hello_is_a_person_within_the_budget_then_held(
    sipp_trunk: Sipp, ami: AmiClient
) -> None:
    hello = audio.ensure(audio.HELLO)
    number = make_number(Behaviour.AMD_HUMAN, ring_s=0.2, serial=100)
    customer = await originate(ami, number, hold_s=0.6, message=MESSAGE)
    answered_at = await answered(ami, customer)
    decided_at, amd = await verdict(ami, customer)
    assert first(amd, "Status") == parse_number(number).expected.amd_status == "HUMAN"
    assert first(amd, "Cause") == "HUMAN-600-600"
    assert first(amd, "Attempt") == f"att-{customer[:8]}"
    # The verdict needs the hello and then after_greeting_silence (0.6 s) of silence.
    assert hello.speech_end_s + 0.55 <= decided_at - answered_at <= BUDGET_S - 0.3
    assert await application_of(ami, customer) == ("dialer-customer", "Wait", "0.6")
    # Nobody bridges it: the usual fail-safe plays the abandon message after the hold.
    index, abandon = await ami.wait_for(event("UserEvent", customer, UserEvent="DialerMessage"), 5)
    assert first(abandon, "Reason") == "timeout"
    assert 0.5 <= ami.times[index] - decided_at <= 1.0
    assert "DialerMachineMessage" not in user_events(ami, customer)
    await hang_up(ami, customer)


async def test_greeting_is_a_machine_hung_up_at_once(sipp_trunk: Sipp, ami: AmiClient) -> None:
    number = make_number(Behaviour.AMD_MACHINE, ring_s=0.2, serial=101)
    customer = await originate(ami, number)
    answered_at = await answered(ami, customer)
    decided_at, amd = await verdict(ami, customer)
    assert first(amd, "Status") == parse_number(number).expected.amd_status == "MACHINE"
    assert first(amd, "Cause").startswith(("MAXWORDS-", "LONGGREETING-"))
    assert decided_at - answered_at <= 3.0
    index, hangup = await ami.wait_for(event("Hangup", customer), 5)
    assert first(hangup, "Cause") == str(parse_number(number).expected.cause) == "16"
    assert first(hangup, "Context") == "dialer-customer"
    assert ami.times[index] - decided_at < 0.3
    assert user_events(ami, customer) == ["DialerAmd"]


async def test_machine_is_left_the_message_after_its_beep(sipp_trunk: Sipp, ami: AmiClient) -> None:
    greeting = audio.ensure(audio.GREETING)
    assert greeting.beep_end_s is not None
    number = make_number(Behaviour.AMD_MACHINE, ring_s=0.2, serial=102)
    customer = await originate(ami, number, message=MESSAGE)
    answered_at = await answered(ami, customer)
    _, amd = await verdict(ami, customer)
    assert first(amd, "Status") == "MACHINE"
    # The message waits for 1.5 s of silence (DIALER_MACHINE_SILENCE): after the beep, not in
    # the pauses of the greeting.
    index, started = await ami.wait_for(
        event("UserEvent", customer, UserEvent="DialerMachineMessage"), 20
    )
    started_at = ami.times[index]
    assert first(started, "Attempt") == f"att-{customer[:8]}"
    assert first(started, "WaitStatus") == "SILENCE"
    assert greeting.beep_end_s + 1.4 <= started_at - answered_at <= greeting.beep_end_s + 2.5
    assert await application_of(ami, customer) == ("dialer-customer", "Playback", MESSAGE)
    index, hangup = await ami.wait_for(event("Hangup", customer), 10)
    assert first(hangup, "Cause") == "16"
    assert MESSAGE_S - 0.5 <= ami.times[index] - started_at <= MESSAGE_S + 1.0
    assert user_events(ami, customer) == ["DialerAmd", "DialerMachineMessage"]


async def test_person_bridged_to_an_agent_hangs_up_normally(
    sipp_trunk: Sipp, agent_headsets: AgentHeadsets, ami: AmiClient
) -> None:
    (endpoint,) = agent_headsets.endpoints(1)
    agent = await calls.login_agent(ami, endpoint)
    start = len(ami.messages)
    # Says hello, and hangs up (BYE) 3 s after the answer, while talking to the agent.
    number = make_number(Behaviour.AMD_HUMAN, ring_s=0.2, talk_s=3.0, serial=103)
    customer = await originate(ami, number, message=MESSAGE)
    answered_at = await answered(ami, customer, start)
    _, amd = await verdict(ami, customer, start)
    assert first(amd, "Status") == "HUMAN"
    await calls.bridge(ami, customer, agent)
    index, _ = await ami.wait_for(event("BridgeEnter", customer), 5, start)
    assert ami.times[index] - answered_at < BUDGET_S
    await ami.wait_for(event("BridgeEnter", agent), 5, start)
    index, hangup = await ami.wait_for(event("Hangup", customer), 10, start)
    assert first(hangup, "Cause") == str(parse_number(number).expected.cause) == "16"
    assert 2.5 <= ami.times[index] - answered_at <= 4.0
    await ami.wait_for(event("BridgeLeave", agent), 5, start)
    await asyncio.sleep(0.3)
    assert user_events(ami, customer, start) == ["DialerAmd"]
    assert not [m for m in ami.messages[start:] if event("Hangup", agent)(m)]
    assert (await application_of(ami, agent))[:2] == ("dialer-agent", "Wait")
    await hang_up(ami, agent)


async def test_person_left_by_the_agent_hears_no_message(
    sipp_trunk: Sipp, agent_headsets: AgentHeadsets, ami: AmiClient
) -> None:
    """After a conversation neither message plays, even with DIALER_MACHINE_MESSAGE set."""
    (endpoint,) = agent_headsets.endpoints(1)
    agent = await calls.login_agent(ami, endpoint)
    start = len(ami.messages)
    number = make_number(Behaviour.AMD_HUMAN, ring_s=0.2, serial=104)
    customer = await originate(ami, number, hold_s=1.0, message=MESSAGE)
    await verdict(ami, customer, start)
    await calls.bridge(ami, customer, agent)
    await ami.wait_for(event("BridgeEnter", agent), 5, start)
    await asyncio.sleep(1.5)  # longer than the hold: the fail-safe must not fire either
    await ami.request("Hangup", Channel=agent, Cause="16")
    _, hangup = await ami.wait_for(event("Hangup", customer), 5, start)
    assert first(hangup, "Cause") == "16"
    assert first(hangup, "Context") == "dialer-customer"
    assert user_events(ami, customer, start) == ["DialerAmd"]


async def test_bridge_during_amd_cuts_it_short_without_verdict_or_message(
    sipp_trunk: Sipp, agent_headsets: AgentHeadsets, ami: AmiClient
) -> None:
    """The daemon should wait for DialerAmd; if it bridges earlier anyway, AMD() stops, and when
    the bridge ends the customer is hung up: no late DialerAmd, no message."""
    (endpoint,) = agent_headsets.endpoints(1)
    agent = await calls.login_agent(ami, endpoint)
    start = len(ami.messages)
    number = make_number(Behaviour.AMD_HUMAN, ring_s=0.2, serial=108)
    customer = await originate(ami, number, message=MESSAGE)
    await answered(ami, customer, start)
    await asyncio.sleep(0.3)  # AMD() is listening to the hello
    await calls.bridge(ami, customer, agent)
    await ami.wait_for(event("BridgeEnter", agent), 5, start)
    await asyncio.sleep(1.5)  # past the moment AMD() would have decided
    await ami.request("Hangup", Channel=agent, Cause="16")
    _, hangup = await ami.wait_for(event("Hangup", customer), 5, start)
    assert first(hangup, "Cause") == "16"
    assert user_events(ami, customer, start) == []


async def test_redirect_during_amd_plays_the_abandon_message_at_once(
    sipp_trunk: Sipp, ami: AmiClient
) -> None:
    number = make_number(Behaviour.AMD_HUMAN, ring_s=0.2, serial=109)
    customer = await originate(ami, number, message=MESSAGE)
    await answered(ami, customer)
    await asyncio.sleep(0.3)
    sent_at = ami.elapsed()
    assert first(await calls.abandon(ami, customer), "Response") == "Success"
    index, abandon = await ami.wait_for(event("UserEvent", customer, UserEvent="DialerMessage"), 5)
    assert first(abandon, "Reason") == "dialer"
    assert ami.times[index] - sent_at < 0.5
    assert user_events(ami, customer) == ["DialerMessage"]
    await hang_up(ami, customer)


async def test_callee_hanging_up_during_amd_gets_no_verdict(
    sipp_trunk: Sipp, ami: AmiClient
) -> None:
    """AMD() sees the hang-up (AMDSTATUS HANGUP), and Asterisk runs nothing after it."""
    number = make_number(Behaviour.ANSWER, ring_s=0.2, talk_s=0.5, serial=105)
    customer = await originate(ami, number, message=MESSAGE)
    answered_at = await answered(ami, customer)
    index, hangup = await ami.wait_for(event("Hangup", customer), 5)
    assert first(hangup, "Cause") == str(CAUSE_HANGUP_IN_DIALPLAN_APP)
    assert 0.4 <= ami.times[index] - answered_at <= 1.0
    assert user_events(ami, customer) == []


async def test_line_without_audio_is_notsure_and_held(sipp_trunk: Sipp, ami: AmiClient) -> None:
    """No RTP at all (ANSWER_SILENT sends nothing): AMD cannot count silence it does not hear,
    so total_analysis_time (3.5 s) ends it as NOTSURE, and NOTSURE waits for an agent."""
    number = make_number(Behaviour.ANSWER_SILENT, ring_s=0.2, serial=106)
    customer = await originate(ami, number, hold_s=0.5, message=MESSAGE)
    answered_at = await answered(ami, customer)
    decided_at, amd = await verdict(ami, customer)
    assert first(amd, "Status") == "NOTSURE"
    assert first(amd, "Cause").startswith("TOOLONG-")
    assert 3.3 <= decided_at - answered_at <= 4.0
    assert (await application_of(ami, customer))[:2] == ("dialer-customer", "Wait")
    await ami.wait_for(event("UserEvent", customer, UserEvent="DialerMessage"), 5)
    await hang_up(ami, customer)


@pytest.mark.parametrize("amd", [None, "0", "yes"])
async def test_without_amd_the_customer_is_held_at_once(
    sipp_trunk: Sipp, ami: AmiClient, amd: str | None
) -> None:
    number = make_number(Behaviour.AMD_HUMAN, ring_s=0.2, serial=107)
    customer = await originate(ami, number, hold_s=0.8, amd=amd, message=MESSAGE)
    answered_at = await answered(ami, customer)
    assert await application_of(ami, customer) == ("dialer-customer", "Wait", "0.8")
    index, abandon = await ami.wait_for(event("UserEvent", customer, UserEvent="DialerMessage"), 5)
    assert first(abandon, "Reason") == "timeout"
    assert 0.7 <= ami.times[index] - answered_at <= 1.5
    assert user_events(ami, customer) == ["DialerMessage"]
    await hang_up(ami, customer)


async def test_decisions_hold_with_calls_at_once(sipp_trunk: Sipp, ami: AmiClient) -> None:
    """Four people and four machines answered together: one SIPp media socket streams all
    eight, and each call gets its own verdict."""
    start = len(ami.messages)
    numbers = [
        make_number(behaviour, ring_s=0.2, serial=serial)
        for serial, behaviour in enumerate([Behaviour.AMD_HUMAN, Behaviour.AMD_MACHINE] * 4, 110)
    ]
    ids = [await originate(ami, number, hold_s=5) for number in numbers]
    verdicts = await asyncio.gather(*(verdict(ami, channel_id, start) for channel_id in ids))
    for number, (_, amd) in zip(numbers, verdicts, strict=True):
        assert first(amd, "Status") == parse_number(number).expected.amd_status, number
    for number, channel_id in zip(numbers, ids, strict=True):
        if parse_number(number).behaviour is Behaviour.AMD_HUMAN:
            await hang_up(ami, channel_id)
        else:
            await ami.wait_for(event("Hangup", channel_id), 5, start)
