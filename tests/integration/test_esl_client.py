"""The ESL adapter against a real FreeSWITCH started with deploy/freeswitch/, and SIPp far ends.

Skipped (with the reason) when no FreeSWITCH binary is found: set DIALER_FREESWITCH to the
binary or put `freeswitch` on PATH. Everything runs on free 127.0.0.1 ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from dialer import pbx
from dialer.settings import PbxSettings
from esl_bridge.client import EslOptions, EslPbx
from rig.freeswitch import (
    free_port,
)
from rig.numbers import Behaviour, make_number
from tests.fixtures.freeswitch import FsRig

pytestmark = pytest.mark.rig


@dataclass
class Events:
    """Everything the adapter reported, in order, with a way to wait for a condition."""

    client: EslPbx
    seen: list[pbx.PbxEvent] = field(default_factory=list)

    async def until(
        self, pred: Callable[[pbx.PbxEvent], bool], within: float = 15.0
    ) -> pbx.PbxEvent:
        deadline = time.monotonic() + within
        checked = 0
        while True:
            self.seen += self.client.drain_ready()
            for event in self.seen[checked:]:
                if pred(event):
                    return event
            checked = len(self.seen)
            if time.monotonic() > deadline:
                raise AssertionError(f"no matching event; seen: {self.seen}")
            await asyncio.sleep(0.01)

    def of(self, channel_id: str) -> list[pbx.PbxEvent]:
        return [e for e in self.seen if getattr(e, "channel_id", None) == channel_id]

    def kinds(self, channel_id: str) -> list[str]:
        return [type(e).__name__ for e in self.of(channel_id)]


def is_(kind: type, channel_id: str) -> Callable[[pbx.PbxEvent], bool]:
    return lambda e: isinstance(e, kind) and getattr(e, "channel_id", None) == channel_id


@pytest.fixture
async def client(fs_rig: FsRig) -> AsyncIterator[EslPbx]:
    esl = EslPbx(fs_rig.pbx_settings())
    await esl.start()
    try:
        yield esl
    finally:
        await esl.close()


def new_id() -> str:
    return str(uuid.uuid4())


def customer(number: str, ring_timeout_s: float = 20.0) -> pbx.CustomerCall:
    return pbx.CustomerCall(
        channel_id=new_id(),
        trunk="trunk",
        number=number,
        caller_id="+15550000000",
        ring_timeout_s=ring_timeout_s,
    )


async def test_wrong_password_is_an_auth_error(fs_rig: FsRig) -> None:
    esl = EslPbx(fs_rig.pbx_settings(secret="not-the-password"))
    with pytest.raises(pbx.PbxAuthError, match="refused the event-socket password"):
        await esl.start()
    await esl.close()


async def test_nothing_listening_is_unavailable() -> None:
    port = free_port()  # free, so nothing listens there
    esl = EslPbx(PbxSettings(kind="freeswitch", port=port, secret="x", connect_timeout_s=2))
    with pytest.raises(pbx.PbxUnavailable, match="cannot connect"):
        await esl.start()
    await esl.close()


async def test_answered_call_bridged_to_a_nailed_up_agent(client: EslPbx) -> None:
    ev = Events(client)
    agent = pbx.AgentLeg(channel_id=new_id(), endpoint="agent1", ring_timeout_s=10)
    await client.originate_agent(agent)
    await ev.until(is_(pbx.Answered, agent.channel_id))

    call = customer(make_number(Behaviour.ANSWER, ring_s=0.5, talk_s=2.0, serial=1))
    await client.originate_customer(call)
    answered = await ev.until(is_(pbx.Answered, call.channel_id))
    await client.connect(call.channel_id, agent.channel_id)
    bridged = await ev.until(is_(pbx.Bridged, call.channel_id))
    assert isinstance(bridged, pbx.Bridged)
    assert bridged.peer_id == agent.channel_id
    assert bridged.at - answered.at < 0.5
    # FreeSWITCH updates its channel and call tables from a background SQL queue: a listing
    # right after an event may still show the state before it.
    await asyncio.sleep(0.5)
    live = {c.channel_id: c for c in await client.live_channels()}
    assert live[call.channel_id].state is pbx.ChannelState.UP
    assert live[call.channel_id].bridged_to == agent.channel_id
    assert live[agent.channel_id].bridged_to == call.channel_id

    # The far end hangs up after 2 s of talk; the agent's leg stays up, parked.
    hung = await ev.until(is_(pbx.HungUp, call.channel_id))
    assert isinstance(hung, pbx.HungUp)
    assert (hung.cause, hung.cause_text) == (16, "NORMAL_CLEARING")
    assert ev.kinds(call.channel_id) == [
        "OriginateAccepted",
        "Ringing",
        "Answered",
        "DialEnded",
        "Bridged",
        "Unbridged",
        "HungUp",
    ]
    await ev.until(is_(pbx.Unbridged, agent.channel_id))
    await asyncio.sleep(0.5)
    live = {c.channel_id: c for c in await client.live_channels()}
    assert call.channel_id not in live
    assert live[agent.channel_id].state is pbx.ChannelState.UP
    assert live[agent.channel_id].bridged_to is None

    # A second customer is bridged to the same agent leg.
    call2 = customer(make_number(Behaviour.ANSWER_HOLD, ring_s=0.3, serial=2))
    await client.originate_customer(call2)
    await ev.until(is_(pbx.Answered, call2.channel_id))
    await client.connect(call2.channel_id, agent.channel_id)
    await ev.until(is_(pbx.Bridged, call2.channel_id))
    # The agent's side leaves: the customer is hung up too (no abandon message after a call).
    await client.hangup(agent.channel_id)
    await ev.until(is_(pbx.HungUp, call2.channel_id))
    # the two legs' hang-up events come in either order
    await ev.until(is_(pbx.HungUp, agent.channel_id))
    assert "MessageStarted" not in ev.kinds(call2.channel_id)
    assert ev.kinds(agent.channel_id)[-1] == "HungUp"


async def test_busy(client: EslPbx) -> None:
    ev = Events(client)
    call = customer(make_number(Behaviour.BUSY, ring_s=0.3, serial=3))
    await client.originate_customer(call)
    hung = await ev.until(is_(pbx.HungUp, call.channel_id))
    assert isinstance(hung, pbx.HungUp)
    assert hung.cause == 17
    [ended] = [e for e in ev.of(call.channel_id) if isinstance(e, pbx.DialEnded)]
    assert ended.status is pbx.DialStatus.BUSY


async def test_no_answer(client: EslPbx) -> None:
    ev = Events(client)
    call = customer(make_number(Behaviour.NO_ANSWER, serial=4), ring_timeout_s=2)
    started = time.monotonic()
    await client.originate_customer(call)
    hung = await ev.until(is_(pbx.HungUp, call.channel_id))
    assert isinstance(hung, pbx.HungUp)
    assert hung.cause == 19
    # At least the ring time asked for, at most a second more (whole-second timer).
    assert 2.0 <= time.monotonic() - started < 3.5
    [ended] = [e for e in ev.of(call.channel_id) if isinstance(e, pbx.DialEnded)]
    assert ended.status is pbx.DialStatus.NOANSWER


async def test_carrier_failure(client: EslPbx) -> None:
    ev = Events(client)
    call = customer(make_number(Behaviour.FAIL, ring_s=0.2, serial=5))
    await client.originate_customer(call)
    hung = await ev.until(is_(pbx.HungUp, call.channel_id))
    assert isinstance(hung, pbx.HungUp)
    assert (hung.cause, hung.cause_text) == (41, "NORMAL_TEMPORARY_FAILURE")
    [ended] = [e for e in ev.of(call.channel_id) if isinstance(e, pbx.DialEnded)]
    assert ended.status is pbx.DialStatus.CONGESTION


async def test_unknown_trunk_fails_the_originate(client: EslPbx) -> None:
    ev = Events(client)
    call = pbx.CustomerCall(new_id(), "nosuchtrunk", "+15551234567", "+15550000000", 10)
    await client.originate_customer(call)
    failed = await ev.until(is_(pbx.OriginateFailed, call.channel_id))
    assert isinstance(failed, pbx.OriginateFailed)
    assert failed.reason == "INVALID_GATEWAY"


async def test_malformed_number_fails_only_that_attempt(client: EslPbx) -> None:
    ev = Events(client)
    call = customer("+1555 123 4567")
    await client.originate_customer(call)
    failed = await ev.until(is_(pbx.OriginateFailed, call.channel_id), within=1)
    assert isinstance(failed, pbx.OriginateFailed)
    assert "invalid originate: number must be" in failed.reason


async def test_cancel_while_ringing(client: EslPbx) -> None:
    ev = Events(client)
    call = customer(make_number(Behaviour.NO_ANSWER, serial=6))
    await client.originate_customer(call)
    await ev.until(is_(pbx.Ringing, call.channel_id))
    await client.hangup(call.channel_id)
    await ev.until(is_(pbx.HungUp, call.channel_id))
    [ended] = [e for e in ev.of(call.channel_id) if isinstance(e, pbx.DialEnded)]
    assert ended.status is pbx.DialStatus.CANCEL


async def test_hangup_right_after_the_originate_cancels_the_call(client: EslPbx) -> None:
    """The hang-up may come before FreeSWITCH created the channel: it is done on creation."""
    ev = Events(client)
    call = customer(make_number(Behaviour.NO_ANSWER, serial=10))
    await client.originate_customer(call)
    await client.hangup(call.channel_id)
    hung = await ev.until(is_(pbx.HungUp, call.channel_id), within=5)
    assert isinstance(hung, pbx.HungUp)
    assert "Answered" not in ev.kinds(call.channel_id)
    [ended] = [e for e in ev.of(call.channel_id) if isinstance(e, pbx.DialEnded)]
    assert ended.status is pbx.DialStatus.CANCEL


async def test_abandon_by_the_dialer_plays_the_message_at_once(client: EslPbx) -> None:
    ev = Events(client)
    call = customer(make_number(Behaviour.ANSWER_HOLD, ring_s=0.3, serial=7))
    await client.originate_customer(call)
    answered = await ev.until(is_(pbx.Answered, call.channel_id))
    await client.abandon(call.channel_id)  # right at the answer, as a dialer with no agent does
    message = await ev.until(is_(pbx.MessageStarted, call.channel_id))
    # Well before the dialplan's own 1.5 s hold timer would have played it.
    assert message.at - answered.at < 1.0
    hung = await ev.until(is_(pbx.HungUp, call.channel_id))
    assert isinstance(hung, pbx.HungUp)
    assert hung.cause == 16


async def test_unbridged_answer_is_abandoned_by_the_dialplan_within_two_seconds(
    client: EslPbx,
) -> None:
    ev = Events(client)
    call = customer(make_number(Behaviour.ANSWER_HOLD, ring_s=0.3, serial=8))
    await client.originate_customer(call)
    answered = await ev.until(is_(pbx.Answered, call.channel_id))
    message = await ev.until(is_(pbx.MessageStarted, call.channel_id))
    assert 1.4 <= message.at - answered.at < 2.0
    await ev.until(is_(pbx.HungUp, call.channel_id))


class CuttableProxy:
    """A TCP proxy to the event socket whose connections the test can cut (a network blip)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        # Once the client sends this, FreeSWITCH still gets it but its answers are dropped,
        # and the connection is cut a moment later: a command lost "in flight".
        self.cut_after: bytes | None = None
        self._blackhole = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.connections = 0

    async def listen(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop_listening(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._blackhole = False
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers |= {writer, up_writer}

        async def upstream() -> None:
            with contextlib.suppress(OSError):
                while data := await reader.read(65536):
                    up_writer.write(data)
                    if self.cut_after is not None and self.cut_after in data:
                        self.cut_after = None
                        self._blackhole = True
                        asyncio.get_running_loop().call_later(0.3, self.cut)
            up_writer.close()

        async def downstream() -> None:
            with contextlib.suppress(OSError):
                while data := await up_reader.read(65536):
                    if not self._blackhole:
                        writer.write(data)
            writer.close()

        await asyncio.gather(upstream(), downstream())

    def go_silent(self) -> None:
        """FreeSWITCH's bytes stop arriving, the TCP connection stays open (no RST, no FIN)."""
        self._blackhole = True

    def cut(self) -> None:
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()

    async def close(self) -> None:
        self.cut()
        await self.stop_listening()


async def test_reconnect_reconciles_and_never_resends_an_originate(fs_rig: FsRig) -> None:
    proxy = CuttableProxy(fs_rig.settings.esl_port)
    await proxy.listen()
    esl = EslPbx(fs_rig.pbx_settings(port=proxy.port), EslOptions(ping_every_s=60))
    await esl.start()
    ev = Events(esl)
    try:
        agent = pbx.AgentLeg(channel_id=new_id(), endpoint="agent2", ring_timeout_s=10)
        await esl.originate_agent(agent)
        await ev.until(is_(pbx.Answered, agent.channel_id))

        # The link drops right after the originate went out, before FreeSWITCH's reply.
        proxy.cut_after = b"bgapi originate"
        call = customer(make_number(Behaviour.ANSWER_HOLD, ring_s=1.0, serial=9))
        await esl.originate_customer(call)  # does not raise: sent, unconfirmed
        await ev.until(lambda e: isinstance(e, pbx.ConnectionLost))
        restored = await ev.until(lambda e: isinstance(e, pbx.ConnectionRestored))
        assert isinstance(restored, pbx.ConnectionRestored)
        live = {c.channel_id: c for c in restored.live}
        assert live[agent.channel_id].state is pbx.ChannelState.UP
        assert call.channel_id in live  # the call went out once, under our id
        assert proxy.connections == 2

        # The call goes on being reported on the new link, and can be connected.
        await ev.until(is_(pbx.Answered, call.channel_id))
        await esl.connect(call.channel_id, agent.channel_id)
        await ev.until(is_(pbx.Bridged, call.channel_id))
        numbers = [c for c in await esl.live_channels() if c.channel_id == call.channel_id]
        assert len(numbers) == 1
        await esl.hangup(call.channel_id)
        await ev.until(is_(pbx.HungUp, call.channel_id))
        await esl.hangup(agent.channel_id)
        await ev.until(is_(pbx.HungUp, agent.channel_id))
    finally:
        await esl.close()
        await proxy.close()


async def test_reconnect_backs_off_while_freeswitch_is_unreachable(fs_rig: FsRig) -> None:
    proxy = CuttableProxy(fs_rig.settings.esl_port)
    await proxy.listen()
    esl = EslPbx(fs_rig.pbx_settings(port=proxy.port), EslOptions(ping_every_s=60))
    await esl.start()
    ev = Events(esl)
    try:
        await proxy.stop_listening()  # reconnects now get "connection refused"
        proxy.cut()
        await ev.until(lambda e: isinstance(e, pbx.ConnectionLost))
        with pytest.raises(pbx.PbxUnavailable):
            await esl.live_channels()
        await asyncio.sleep(1.0)
        assert not esl.connected
        # Listen again on the same port: the adapter comes back by itself.
        await proxy.listen()
        restored = await ev.until(lambda e: isinstance(e, pbx.ConnectionRestored), within=5)
        assert isinstance(restored, pbx.ConnectionRestored)
        assert esl.connected
    finally:
        await esl.close()
        await proxy.close()


async def test_a_silent_link_is_found_by_the_ping_and_replaced(fs_rig: FsRig) -> None:
    proxy = CuttableProxy(fs_rig.settings.esl_port)
    await proxy.listen()
    options = EslOptions(ping_every_s=0.3, command_timeout_s=1.0)
    esl = EslPbx(fs_rig.pbx_settings(port=proxy.port), options)
    await esl.start()
    ev = Events(esl)
    try:
        proxy.go_silent()
        lost = await ev.until(lambda e: isinstance(e, pbx.ConnectionLost), within=5)
        assert isinstance(lost, pbx.ConnectionLost)
        assert "no reply" in lost.reason
        await ev.until(lambda e: isinstance(e, pbx.ConnectionRestored), within=5)
        assert proxy.connections == 2
        assert esl.connected
    finally:
        await esl.close()
        await proxy.close()
