"""The pure core on virtual time: one input at a time, the commands it gives, nothing else (no
loop, no sleeps). What the driver does with those commands is shown on the rig."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TypeVar

import pytest

from dialer import pbx
from dialer.core import commands as cmd
from dialer.core import inputs as ev
from dialer.core.machine import Core
from dialer.core.records import WallClock
from dialer.domain import agent as ag
from dialer.domain.results import CallResult
from dialer.pacing.base import (
    MIN_RING_S,
    AgentWork,
    CallOutcome,
    Pacer,
    PacingDecision,
    PacingSnapshot,
)
from dialer.pacing.ratio import PowerPacer
from dialer.settings import DialerSettings
from dialer.store.records import Campaign, CampaignStatus, LeasedLead, PacingMode, Trunk

T = TypeVar("T")
NOW = datetime(2030, 1, 1, tzinfo=UTC)
TRUNK = Trunk(1, "carrier", max_channels=30, max_cps=50.0, dial_prefix="", endpoint="carrier")


def campaign(*, amd: bool = False) -> Campaign:
    return Campaign(
        1, "c1", CampaignStatus.RUNNING, PacingMode.POWER, "+15550000000", 1, 25.0, 3, 5.0,
        1.0, NOW, NOW, amd_enabled=amd,
    )  # fmt: skip


def lead(lead_id: int) -> LeasedLead:
    return LeasedLead(lead_id, 1, 1, f"+1555000{lead_id:04d}", "UTC", 0, 0, {}, NOW)


class Harness:
    """A core with two agents on campaign 1, its commands kept; ids are predictable."""

    def __init__(
        self,
        agents: int = 2,
        ratio: float = 1.0,
        pacer: Pacer | None = None,
        amd: bool = False,
        capabilities: frozenset[pbx.Capability] = frozenset(pbx.Capability),
    ) -> None:
        ids = (str(uuid.UUID(int=n)) for n in itertools.count(1))
        self.core = Core(
            DialerSettings(),
            WallClock(1_900_000_000.0),
            capabilities=capabilities,
            pacer_factory=lambda _c: pacer or PowerPacer(ratio),
            owner="test#1",
            new_id=lambda: next(ids),
        )
        self.now = 0.0
        self.out: list[cmd.Command] = []
        team = [(i, f"agent{i}") for i in range(1, agents + 1)]
        self.feed(ev.LoadCampaign(campaign(amd=amd), TRUNK, team))

    def feed(self, event: ev.Input, at: float | None = None) -> list[cmd.Command]:
        if at is not None:
            self.now = at
        got = self.core.handle(event, self.now)
        self.out.extend(got)
        return got

    def ready_agents(self) -> None:
        """Dial on; every agent's headset answers."""
        self.feed(ev.StartDialing())
        for c in self.of(cmd.CallAgent):
            self.feed(pbx.Answered(c.leg.channel_id, self.now))

    def of(self, kind: type[T], got: Sequence[cmd.Command] | None = None) -> list[T]:
        return [c for c in (self.out if got is None else got) if isinstance(c, kind)]

    def dial(self, n: int) -> list[cmd.Dial]:
        """Lease `n` leads; the calls the core dials with them."""
        self.feed(ev.LeadsLeased(1, [lead(i) for i in range(1, n + 1)]))
        return self.of(cmd.Dial)

    def dial_ready(self, n: int) -> list[cmd.Dial]:
        self.ready_agents()
        return self.dial(n)

    def answer(self, call_id: str, at: float) -> list[cmd.Command]:
        self.feed(pbx.Ringing(call_id, at - 3.0), at - 3.0)
        return self.feed(pbx.Answered(call_id, at), at)


def test_an_answer_goes_to_the_agent_who_waited_longest() -> None:
    h = Harness(agents=2)
    h.ready_agents()
    leg_of = {c.agent_id: c.leg.channel_id for c in h.of(cmd.CallAgent)}
    dials = h.dial(2)
    assert len(dials) == 2  # power 1.0: a call per ready agent
    got = h.answer(dials[0].call.channel_id, 10.0)
    bridge = h.of(cmd.Bridge, got)
    assert bridge == [cmd.Bridge(dials[0].call.channel_id, leg_of["1"], "1")]
    got = h.feed(pbx.Bridged(dials[0].call.channel_id, leg_of["1"], 10.02), 10.02)
    [progress] = h.of(cmd.WriteProgress, got)
    assert progress.record.agent_id == 1
    assert progress.record.answer_to_agent_ms == 20
    assert progress.record.outcome is CallResult.CONNECTED


def test_a_call_ended_after_talk_is_written_connected_and_the_agent_wraps_up() -> None:
    h = Harness(agents=1)
    h.ready_agents()
    [dial] = h.dial(1)
    cid = dial.call.channel_id
    h.answer(cid, 10.0)
    [bridge] = h.of(cmd.Bridge)
    h.feed(pbx.Bridged(cid, bridge.leg_id, 10.01), 10.01)
    got = h.feed(pbx.HungUp(cid, 16, "Normal Clearing", 70.0), 70.0)
    [end] = h.of(cmd.WriteEnd, got)
    assert end.record.result is CallResult.CONNECTED
    assert end.record.agent_id == 1
    assert h.of(cmd.StartTimer, got) == [
        cmd.StartTimer(cmd.TimerKey(cmd.TimerKind.WRAPUP, "1"), 75.0)
    ]
    _, agent = h.core.find_agent("1")
    assert agent.state is ag.AgentState.WRAPUP
    h.feed(ev.TimerFired(cmd.TimerKey(cmd.TimerKind.WRAPUP, "1")), 75.0)
    assert agent.state is ag.AgentState.READY


def test_with_no_agent_free_the_abandon_message_starts_within_two_seconds() -> None:
    h = Harness(agents=1, ratio=2.0)
    h.ready_agents()
    first, second = h.dial(2)
    h.answer(first.call.channel_id, 10.0)  # takes the only agent
    got = h.answer(second.call.channel_id, 10.5)
    [hold] = h.of(cmd.StartTimer, got)
    assert hold.key == cmd.TimerKey(cmd.TimerKind.HOLD, second.call.channel_id)
    assert hold.at - 10.5 <= 2.0  # the legal limit from answer to agent or message
    got = h.feed(ev.TimerFired(hold.key), hold.at)
    assert h.of(cmd.PlayAbandonMessage, got) == [cmd.PlayAbandonMessage(second.call.channel_id)]
    got = h.feed(pbx.HungUp(second.call.channel_id, 16, "", hold.at + 9), hold.at + 9)
    [end] = h.of(cmd.WriteEnd, got)
    assert end.record.result is CallResult.ABANDONED
    assert h.core.campaigns[1].abandonment.counts(h.now)[0].abandoned == 1


def test_an_agent_freed_while_a_call_waits_takes_it_and_the_hold_timer_goes() -> None:
    h = Harness(agents=1, ratio=2.0)
    h.ready_agents()
    first, second = h.dial(2)
    h.answer(first.call.channel_id, 10.0)
    [bridge] = h.of(cmd.Bridge)
    h.feed(pbx.Bridged(first.call.channel_id, bridge.leg_id, 10.01), 10.01)
    h.answer(second.call.channel_id, 10.5)
    h.feed(pbx.HungUp(first.call.channel_id, 16, "", 10.8), 10.8)
    h.feed(ev.EndWrapup("1"), 11.0)  # the agent gave the result at once
    hold = cmd.TimerKey(cmd.TimerKind.HOLD, second.call.channel_id)
    assert cmd.CancelTimer(hold) in h.out
    assert h.of(cmd.Bridge)[-1].call_id == second.call.channel_id
    assert h.feed(ev.TimerFired(hold), 12.0) == []  # cancelled: nothing happens


def test_no_verdict_from_machine_detection_in_time_is_a_person() -> None:
    h = Harness(agents=1, amd=True)
    h.ready_agents()
    [dial] = h.dial(1)
    got = h.answer(dial.call.channel_id, 10.0)
    assert h.of(cmd.Bridge, got) == []  # screening first
    [screen] = h.of(cmd.StartTimer, got)
    assert screen.key == cmd.TimerKey(cmd.TimerKind.SCREEN, dial.call.channel_id)
    got = h.feed(ev.TimerFired(screen.key), screen.at)
    assert [b.call_id for b in h.of(cmd.Bridge, got)] == [dial.call.channel_id]


def test_a_lead_refused_right_before_its_originate_ends_not_dialed() -> None:
    h = Harness(agents=1)
    h.ready_agents()
    [dial] = h.dial(1)
    got = h.feed(ev.DialRefused(dial.call.channel_id, "on a do-not-call list"), 1.0)
    [end] = h.of(cmd.WriteEnd, got)
    assert end.record.result is CallResult.CANCELLED  # never dialed: not an attempt
    assert end.record.cause_text == "not dialed: on a do-not-call list"
    assert h.core.live_calls() == 0


def test_a_refused_control_changes_nothing() -> None:
    h = Harness(agents=1)
    h.ready_agents()
    _, agent = h.core.find_agent("1")
    before = agent.state
    with pytest.raises(ag.IllegalAgentTransition):
        h.feed(ev.LoginAgent("1"))  # already logged in
    with pytest.raises(KeyError):
        h.feed(ev.LoginAgent("99"))
    assert agent.state is before


def test_no_new_call_while_records_cannot_be_written_or_after_stop() -> None:
    h = Harness(agents=2)
    h.ready_agents()
    h.feed(ev.RecordsFailing(True))
    assert h.dial(2) == []
    h.feed(ev.RecordsFailing(False))
    assert len(h.of(cmd.Dial, h.feed(ev.Tick(), 1.0))) == 2
    h2 = Harness(agents=2)
    h2.ready_agents()
    h2.feed(ev.StopDialing())
    assert h2.dial(2) == []


class TakeBack:
    """A pacer that dials and takes back what the test says."""

    def __init__(self, dial: int) -> None:
        self.dial = dial
        self.cancel = 0

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        return PacingDecision(dial=self.dial, level=1.0, reason="test", cancel=self.cancel)

    def observe_call(self, outcome: CallOutcome) -> None: ...

    def observe_work(self, work: AgentWork) -> None: ...


def test_calls_are_taken_back_longest_ringing_first_never_before_the_minimum() -> None:
    pacer = TakeBack(dial=3)
    h = Harness(agents=1, pacer=pacer)
    h.ready_agents()
    dials = h.dial(3)
    assert len(dials) == 3
    pacer.dial = 0
    for n, d in enumerate(dials):
        h.feed(pbx.Ringing(d.call.channel_id, 1.0 + n), 1.0 + n)
    pacer.cancel = 2
    h.feed(ev.Tick(), 1.0 + MIN_RING_S - 0.1)
    assert h.of(cmd.Hangup) == []  # none has rung the minimum yet
    got = h.feed(ev.Tick(), 2.0 + MIN_RING_S)
    # the first two have rung 15 s or more; the third not yet
    assert h.of(cmd.Hangup, got) == [
        cmd.Hangup(dials[0].call.channel_id),
        cmd.Hangup(dials[1].call.channel_id),
    ]
    got = h.feed(pbx.HungUp(dials[0].call.channel_id, 16, "", 18.0), 18.0)
    [end] = h.of(cmd.WriteEnd, got)
    assert end.record.result is CallResult.NO_ANSWER


def test_the_call_to_place_carries_typed_values_not_dialplan_variables() -> None:
    h = Harness(agents=1, amd=True)
    h.ready_agents()
    [dial] = h.dial(1)
    call = dial.call
    assert (call.lead_id, call.campaign_id, call.caller_id) == (1, 1, "+15550000000")
    assert call.hold_s == 1.5  # the campaign's 1.0 s and 0.5 s behind the core's own timer
    assert call.amd == pbx.AmdRequest(machine_message="")
    # No call-back number of its own: the message says the caller ID.
    assert call.message == pbx.AbandonMessage(callback_number="+15550000000", name_prompt="")
    [plain] = Harness(agents=1).dial_ready(1)
    assert plain.call.amd is None


def test_a_campaign_needing_a_capability_its_pbx_lacks_is_not_dialed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness(agents=1, amd=True, capabilities=frozenset())
    assert h.core.campaigns == {}  # loaded at start-up: refused
    h.ready_agents()
    assert h.of(cmd.CallAgent) == [] and h.dial(1) == []
    assert h.of(cmd.ReleaseLeads) == [cmd.ReleaseLeads([1])]
    h.feed(ev.AddCampaign(campaign(amd=True), TRUNK, [(1, "agent1")]))  # started: refused too
    assert h.core.campaigns == {}
    refusals = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(refusals) == 1  # logged once per reason
    assert "answering-machine detection (for amd_enabled)" in refusals[0]
    assert "'c1'" in refusals[0]
    # The same campaign without AMD dials on that PBX.
    h.feed(ev.AddCampaign(campaign(amd=False), TRUNK, [(1, "agent1")]))
    assert list(h.core.campaigns) == [1]
