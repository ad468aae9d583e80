"""Record AMI transcripts from the real rig into tests/data/ami/ (format: rig/transcripts.py).

    .venv/bin/python scripts/rig/record_ami.py [SCENARIO ...]    (root; default: all)

Starts the rig (Asterisk from the chroot with deploy/asterisk, the SIPp trunk and headsets),
and for each scenario opens a fresh AMI connection on the deploy `dialer` account, records every
message in and out until the scenario is over, and writes one .jsonl file. The dialplan contract
exercised here is the one described in deploy/asterisk/README.md. Prints a summary with the
latencies seen.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from rig import calls, sipp
from rig.ami import AmiClient, Headers, event, first
from rig.asterisk import Asterisk
from rig.numbers import Behaviour, make_number
from rig.transcripts import TRANSCRIPT_DIR, Writer

SETTLE_S = 0.5
"""How long to keep recording after a scenario's last expected event (trailing events)."""
AMD_MESSAGE = "dialer/abandon"
"""The message left on answering machines in the amd_* scenarios (deploy/asterisk/sounds/
dialer/abandon.wav, 3.8 s; not the abandon message, which [dialer-abandon] builds from parts)."""


@dataclass
class Scene:
    """One recording: the AMI connection, its writer, and the numbers worth reporting."""

    ami: AmiClient
    writer: Writer
    asterisk: Asterisk
    timings: dict[str, float] = field(default_factory=dict)
    cleanup: list[str] = field(default_factory=list)

    def new_id(self, role: str) -> str:
        channel_id = str(uuid.uuid4())
        self.writer.meta.setdefault("ids", {})[role] = channel_id
        return channel_id

    async def originate_customer(
        self, role: str, number: str, timeout_ms: int = 30000, hold_s: float | None = None
    ) -> str:
        channel_id = self.new_id(role)
        self.writer.meta.setdefault("numbers", {})[role] = number
        await calls.originate_customer(
            self.ami,
            number,
            channel_id=channel_id,
            timeout_ms=timeout_ms,
            hold_s=hold_s,
            attempt=f"att-{role}",
        )
        return channel_id

    async def originate_amd(
        self, role: str, number: str, *, hold_s: float = 5.0, message: str | None = None
    ) -> str:
        """A customer originated with DIALER_AMD=1 (and DIALER_MACHINE_MESSAGE if given)."""
        channel_id = self.new_id(role)
        self.writer.meta.setdefault("numbers", {})[role] = number
        variables = [f"DIALER_ATTEMPT=att-{role}", f"DIALER_HOLD={hold_s}", "DIALER_AMD=1"]
        if message is not None:
            variables.append(f"DIALER_MACHINE_MESSAGE={message}")
        await self.ami.request(
            "Originate",
            Channel=f"PJSIP/{number}@trunk",
            Context="dialer-customer",
            Exten="s",
            Priority="1",
            Timeout="30000",
            CallerID=calls.CALLER_ID,
            Async="true",
            ChannelId=channel_id,
            Variable=variables,
        )
        return channel_id

    async def user_event(self, channel_id: str, name: str, wait_s: float = 30.0) -> Headers:
        _, message = await self.ami.wait_for(event("UserEvent", channel_id, UserEvent=name), wait_s)
        return message

    async def login_agent(self, role: str = "agent", endpoint: str = "agent1") -> str:
        channel_id = self.new_id(role)
        self.cleanup.append(channel_id)
        return await calls.login_agent(self.ami, endpoint, channel_id=channel_id)

    async def answered(self, channel_id: str, wait_s: float = 15.0) -> float:
        await self.ami.wait_for(event("Newstate", channel_id, ChannelState="6"), wait_s)
        return self.ami.elapsed()

    async def bridge(self, customer: str, agent: str) -> None:
        """What the daemon does: Bridge, then (if it succeeded) mark the customer as bridged."""
        await calls.bridge(self.ami, customer, agent)

    async def hangup_of(self, channel_id: str, wait_s: float = 30.0) -> Headers:
        _, message = await self.ami.wait_for(event("Hangup", channel_id), wait_s)
        return message

    async def settle(self) -> None:
        await asyncio.sleep(SETTLE_S)


Scenario = Callable[[Scene], Awaitable[None]]


async def agent_login(scene: Scene) -> None:
    """An agent's leg: Originate to PJSIP/agent1 into dialer-agent, answered, waiting."""
    start = scene.ami.elapsed()
    await scene.login_agent()
    scene.timings["originate_to_agent_ready_ms"] = (scene.ami.elapsed() - start) * 1000
    await scene.settle()


async def answered_bridged(scene: Scene) -> None:
    """Answered after 0.5 s of ring, bridged to the agent's leg, the customer hangs up after 2 s
    of talk (BYE from the trunk). The agent's leg goes back to waiting."""
    agent = await scene.login_agent()
    number = make_number(Behaviour.ANSWER, ring_s=0.5, talk_s=2.0, serial=1)
    start = scene.ami.elapsed()
    customer = await scene.originate_customer("customer", number, hold_s=5)
    answered = await scene.answered(customer)
    await scene.bridge(customer, agent)
    await scene.ami.wait_for(event("BridgeEnter", agent))
    bridged = scene.ami.elapsed()
    scene.timings["originate_to_answer_ms"] = (answered - start) * 1000
    scene.timings["answer_to_bridge_ms"] = (bridged - answered) * 1000
    await scene.hangup_of(customer)
    await scene.settle()


async def answered_bridged_agent_hangup(scene: Scene) -> None:
    """Answered, bridged, then the agent's leg is hung up (AMI Hangup): the customer leaves the
    bridge, its dialplan sees DIALER_BRIDGED=1 and hangs up without the message."""
    agent = await scene.login_agent()
    number = make_number(Behaviour.ANSWER_HOLD, ring_s=0.3, serial=2)
    customer = await scene.originate_customer("customer", number, hold_s=5)
    await scene.answered(customer)
    await scene.bridge(customer, agent)
    await scene.ami.wait_for(event("BridgeEnter", agent))
    await asyncio.sleep(1.0)
    scene.cleanup.remove(agent)
    await scene.ami.request("Hangup", Channel=agent, Cause="16")
    await scene.hangup_of(customer)
    await scene.settle()


async def busy(scene: Scene) -> None:
    """486 Busy Here after 0.3 s of ring."""
    customer = await scene.originate_customer(
        "customer", make_number(Behaviour.BUSY, ring_s=0.3, serial=3)
    )
    await scene.hangup_of(customer)
    await scene.ami.wait_for(event("OriginateResponse"))
    await scene.settle()


async def ring_out(scene: Scene) -> None:
    """Rings until the Originate Timeout (3000 ms) runs out; Asterisk CANCELs."""
    customer = await scene.originate_customer(
        "customer", make_number(Behaviour.NO_ANSWER, serial=4), timeout_ms=3000
    )
    await scene.hangup_of(customer)
    await scene.ami.wait_for(event("OriginateResponse"))
    await scene.settle()


async def failure_503(scene: Scene) -> None:
    """503 Service Unavailable after 0.3 s of ring (a carrier failure)."""
    customer = await scene.originate_customer(
        "customer", make_number(Behaviour.FAIL, ring_s=0.3, serial=5)
    )
    await scene.hangup_of(customer)
    await scene.ami.wait_for(event("OriginateResponse"))
    await scene.settle()


async def not_found_404(scene: Scene) -> None:
    """A number the trunk does not know: 404 Not Found at once."""
    customer = await scene.originate_customer("customer", "+15559000000001")
    await scene.hangup_of(customer)
    await scene.ami.wait_for(event("OriginateResponse"))
    await scene.settle()


async def redirect_abandon(scene: Scene) -> None:
    """Answered; the daemon has no agent and sends Redirect to dialer-abandon at once: the
    UserEvent DialerMessage, the message ("Sorry we missed you", "please call us back on" and
    the caller ID's 11 digits, about 12 s), then the dialplan hangs up."""
    number = make_number(Behaviour.ANSWER, ring_s=0.3, talk_s=30.0, serial=6)
    customer = await scene.originate_customer("customer", number, hold_s=5)
    await scene.answered(customer)
    start = scene.ami.elapsed()
    await calls.abandon(scene.ami, customer)
    await scene.ami.wait_for(event("UserEvent", customer, UserEvent="DialerMessage"))
    scene.timings["redirect_to_message_ms"] = (scene.ami.elapsed() - start) * 1000
    await scene.hangup_of(customer)
    await scene.settle()


async def failsafe_abandon(scene: Scene) -> None:
    """Answered and never bridged (as if the daemon were gone): after DIALER_HOLD_DEFAULT
    (1.5 s) the dialplan itself plays the abandon message (about 12 s, the caller ID's digits as
    the call-back number) and hangs up."""
    number = make_number(Behaviour.ANSWER_HOLD, ring_s=0.3, serial=7)
    customer = await scene.originate_customer("customer", number)
    answered = await scene.answered(customer)
    await scene.ami.wait_for(event("UserEvent", customer, UserEvent="DialerMessage"))
    scene.timings["answer_to_failsafe_message_ms"] = (scene.ami.elapsed() - answered) * 1000
    await scene.hangup_of(customer)
    await scene.settle()


async def customer_hangup_while_waiting(scene: Scene) -> None:
    """Answered, and the customer hangs up (BYE) 0.5 s later, before anyone bridged it."""
    number = make_number(Behaviour.ANSWER, ring_s=0.3, talk_s=0.5, serial=8)
    customer = await scene.originate_customer("customer", number, hold_s=5)
    await scene.hangup_of(customer)
    await scene.settle()


async def core_show_channels(scene: Scene) -> None:
    """CoreShowChannels with live calls: an agent's leg bridged to a customer, an answered
    customer waiting to be bridged, a customer still ringing, and an idle agent's leg."""
    agent = await scene.login_agent("agent", "agent1")
    await scene.login_agent("agent_idle", "agent2")
    bridged = await scene.originate_customer(
        "customer_bridged", make_number(Behaviour.ANSWER_HOLD, ring_s=0.2, serial=9), hold_s=20
    )
    await scene.answered(bridged)
    await scene.bridge(bridged, agent)
    await scene.ami.wait_for(event("BridgeEnter", agent))
    waiting = await scene.originate_customer(
        "customer_waiting", make_number(Behaviour.ANSWER_HOLD, ring_s=0.2, serial=10), hold_s=20
    )
    await scene.answered(waiting)
    ringing = await scene.originate_customer(
        "customer_ringing", make_number(Behaviour.NO_ANSWER, serial=11), timeout_ms=20000
    )
    await scene.ami.wait_for(event("Newstate", ringing, ChannelState="5"))
    await asyncio.sleep(0.2)
    await scene.ami.request_list("CoreShowChannels")
    await scene.settle()
    scene.writer.recording = False
    for channel_id in (bridged, waiting, ringing):
        await scene.ami.request("Hangup", Channel=channel_id)


async def originate_unknown_endpoint(scene: Scene) -> None:
    """Originate to an endpoint that does not exist (PJSIP/agent999): no channel at all."""
    channel_id = scene.new_id("agent")
    await scene.ami.request(
        "Originate",
        Channel="PJSIP/agent999",
        Context="dialer-agent",
        Exten="s",
        Priority="1",
        Timeout="5000",
        Async="true",
        ChannelId=channel_id,
    )
    await scene.ami.wait_for(event("OriginateResponse"))
    await scene.settle()


async def bridge_gone_channel(scene: Scene) -> None:
    """A Bridge naming a customer channel that no longer exists (it hung up): refused, no Setvar."""
    agent = await scene.login_agent()
    gone = scene.new_id("customer")
    await scene.bridge(gone, agent)
    await scene.settle()


async def amd_human(scene: Scene) -> None:
    """AMD on: the callee says "Hello?" then is silent; AMD says HUMAN (UserEvent DialerAmd),
    the daemon bridges it to the agent's leg, and the callee hangs up (BYE) 4 s after the
    answer. The agent's leg goes back to waiting."""
    agent = await scene.login_agent()
    number = make_number(Behaviour.AMD_HUMAN, ring_s=0.5, talk_s=4.0, serial=20)
    customer = await scene.originate_amd("customer", number, message=AMD_MESSAGE)
    answered = await scene.answered(customer)
    await scene.user_event(customer, "DialerAmd")
    decided = scene.ami.elapsed()
    await scene.bridge(customer, agent)
    await scene.ami.wait_for(event("BridgeEnter", agent))
    scene.timings["answer_to_amd_ms"] = (decided - answered) * 1000
    scene.timings["answer_to_bridge_ms"] = (scene.ami.elapsed() - answered) * 1000
    await scene.hangup_of(customer)
    await scene.settle()


async def amd_machine_hangup(scene: Scene) -> None:
    """AMD on, no machine message: the callee plays a voicemail greeting; AMD says MACHINE and
    the dialplan hangs up at once."""
    number = make_number(Behaviour.AMD_MACHINE, ring_s=0.5, serial=21)
    customer = await scene.originate_amd("customer", number)
    answered = await scene.answered(customer)
    await scene.user_event(customer, "DialerAmd")
    scene.timings["answer_to_amd_ms"] = (scene.ami.elapsed() - answered) * 1000
    await scene.hangup_of(customer)
    scene.timings["answer_to_hangup_ms"] = (scene.ami.elapsed() - answered) * 1000
    await scene.settle()


async def amd_machine_message(scene: Scene) -> None:
    """AMD on with DIALER_MACHINE_MESSAGE: MACHINE, then the dialplan waits for 1.5 s of silence
    (the greeting and its beep are over), sends UserEvent DialerMachineMessage, plays the
    message (3.8 s) and hangs up."""
    number = make_number(Behaviour.AMD_MACHINE, ring_s=0.5, serial=22)
    customer = await scene.originate_amd("customer", number, message=AMD_MESSAGE)
    answered = await scene.answered(customer)
    await scene.user_event(customer, "DialerAmd")
    scene.timings["answer_to_amd_ms"] = (scene.ami.elapsed() - answered) * 1000
    await scene.user_event(customer, "DialerMachineMessage")
    started = scene.ami.elapsed()
    scene.timings["answer_to_machine_message_ms"] = (started - answered) * 1000
    await scene.hangup_of(customer)
    scene.timings["message_to_hangup_ms"] = (scene.ami.elapsed() - started) * 1000
    await scene.settle()


async def amd_hangup_during(scene: Scene) -> None:
    """AMD on, and the callee hangs up (BYE) 0.5 s after answering, while AMD() listens: no
    DialerAmd at all, only the Hangup."""
    number = make_number(Behaviour.ANSWER, ring_s=0.5, talk_s=0.5, serial=23)
    customer = await scene.originate_amd("customer", number, message=AMD_MESSAGE)
    await scene.hangup_of(customer)
    await scene.settle()


async def amd_notsure(scene: Scene) -> None:
    """AMD on, and the line sends no audio at all: after total_analysis_time (3.5 s) AMD says
    NOTSURE, the call waits as a person would (DIALER_HOLD 0.5 s here), nobody bridges it, and
    the fail-safe plays the abandon message (about 12 s)."""
    number = make_number(Behaviour.ANSWER_HOLD, ring_s=0.5, serial=24)
    customer = await scene.originate_amd("customer", number, hold_s=0.5, message=AMD_MESSAGE)
    answered = await scene.answered(customer)
    await scene.user_event(customer, "DialerAmd")
    scene.timings["answer_to_amd_ms"] = (scene.ami.elapsed() - answered) * 1000
    await scene.hangup_of(customer)
    await scene.settle()


SCENARIOS: dict[str, Scenario] = {
    "agent_login": agent_login,
    "answered_bridged": answered_bridged,
    "answered_bridged_agent_hangup": answered_bridged_agent_hangup,
    "busy": busy,
    "ring_out": ring_out,
    "failure_503": failure_503,
    "not_found_404": not_found_404,
    "redirect_abandon": redirect_abandon,
    "failsafe_abandon": failsafe_abandon,
    "customer_hangup_while_waiting": customer_hangup_while_waiting,
    "core_show_channels": core_show_channels,
    "originate_unknown_endpoint": originate_unknown_endpoint,
    "bridge_gone_channel": bridge_gone_channel,
    "amd_human": amd_human,
    "amd_machine_hangup": amd_machine_hangup,
    "amd_machine_message": amd_machine_message,
    "amd_hangup_during": amd_hangup_during,
    "amd_notsure": amd_notsure,
}


async def record(name: str, scenario: Scenario, asterisk: Asterisk, version: str) -> Scene:
    doc = (scenario.__doc__ or "").split("\n\n")[0]
    writer = Writer(
        name,
        {
            "scenario": name,
            "description": " ".join(doc.split()),
            "asterisk": version,
            "recorded": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "account": asterisk.credentials.username,
            "ids": {},
        },
    )
    ami = await AmiClient.connect(
        asterisk.credentials.host, asterisk.credentials.port, recorder=writer
    )
    scene = Scene(ami, writer, asterisk)
    try:
        login = await ami.login(asterisk.credentials.username, asterisk.credentials.secret)
        if first(login, "Response") != "Success":
            raise RuntimeError(f"login refused: {login}")
        await ami.wait_for(event("FullyBooted"), 5)
        await scenario(scene)
        writer.recording = False
        for channel_id in scene.cleanup:
            await ami.request("Hangup", Channel=channel_id)
        await asyncio.sleep(0.3)
    finally:
        await ami.close()
    path = writer.save()
    print(f"{name}: {len(writer.lines)} messages -> {path.relative_to(TRANSCRIPT_DIR.parents[2])}")
    return scene


async def record_failed_login(asterisk: Asterisk, version: str) -> None:
    """A login with a wrong secret: an error after about a second, then Asterisk hangs up."""
    writer = Writer(
        "login_failed",
        {
            "scenario": "login_failed",
            "description": "Login with a wrong secret for the dialer account.",
            "asterisk": version,
            "recorded": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "account": asterisk.credentials.username,
            "ids": {},
        },
    )
    ami = await AmiClient.connect(
        asterisk.credentials.host, asterisk.credentials.port, recorder=writer
    )
    try:
        await ami.login(asterisk.credentials.username, "wrong-secret")
        closed = await ami.wait_closed(5)
        writer.meta["closed_by_asterisk_after_s"] = round(ami.elapsed(), 3) if closed else None
    finally:
        await ami.close()
    writer.save()
    print(f"login_failed: {len(writer.lines)} messages, closed by Asterisk: {closed}")


async def main_async(names: list[str], asterisk: Asterisk) -> dict[str, dict[str, float]]:
    version = asterisk.version()
    timings: dict[str, dict[str, float]] = {}
    for name in names:
        if name == "login_failed":
            await record_failed_login(asterisk, version)
            continue
        scene = await record(name, SCENARIOS[name], asterisk, version)
        if scene.timings:
            timings[name] = scene.timings
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    choices = [*SCENARIOS, "login_failed"]
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", help=", ".join(choices))
    args = parser.parse_args()
    names: list[str] = args.scenarios or choices
    unknown = sorted(set(names) - set(choices))
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)}")
    asterisk = Asterisk()
    trunk = sipp.trunk()
    headsets = sipp.headsets()
    try:
        boot = asterisk.start()
        print(f"asterisk booted in {boot:.2f} s")
        trunk.start()
        headsets.start()
        timings: dict[str, Any] = asyncio.run(main_async(names, asterisk))
    finally:
        trunk.stop()
        headsets.stop()
        asterisk.stop()
    for name, values in timings.items():
        shown = ", ".join(f"{key}={value:.1f}" for key, value in values.items())
        print(f"  {name}: {shown}")
    for agent in (trunk, headsets):
        stats = agent.stats()
        print(
            f"sipp {agent.name}: {stats.incoming_calls} calls, {stats.successful_calls} "
            f"successful, {stats.failed_calls} failed"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
