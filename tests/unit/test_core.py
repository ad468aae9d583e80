"""The pure core on virtual time: one input at a time, the commands it gives, nothing else (no
loop, no sleeps). What the driver does with those commands is shown on the rig."""

from __future__ import annotations

import itertools
import subprocess
import sys
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import pytest

from dialer import pbx
from dialer.core import commands as cmd
from dialer.core import inputs as ev
from dialer.core.agents import SKIPPED_LEAD_DELAY_S
from dialer.core.machine import Core
from dialer.core.observe import LeadOffered, OfferEnded
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
from dialer.pacing.modes import PacingSettings, make_pacer
from dialer.pacing.ratio import PowerPacer
from dialer.settings import DialerSettings
from dialer.store.records import Campaign, CampaignStatus, LeasedLead, PacingMode, Trunk

T = TypeVar("T")
NOW = datetime(2030, 1, 1, tzinfo=UTC)
TRUNK = Trunk(1, "carrier", max_channels=30, max_cps=50.0, dial_prefix="", endpoint="carrier")


def campaign(*, amd: bool = False, mode: PacingMode = PacingMode.POWER, **kw: float) -> Campaign:
    return Campaign(
        1, "c1", CampaignStatus.RUNNING, mode, "+15550000000", 1, 25.0, 3, 5.0,
        1.0, NOW, NOW, amd_enabled=amd, **kw,
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
        pacer_factory: Callable[[Campaign], Pacer] | None = None,
        amd: bool = False,
        the_campaign: Campaign | None = None,
        capabilities: frozenset[pbx.Capability] = frozenset(pbx.Capability),
    ) -> None:
        ids = (str(uuid.UUID(int=n)) for n in itertools.count(1))
        self.core = Core(
            DialerSettings(),
            WallClock(1_900_000_000.0),
            capabilities=capabilities,
            pacer_factory=pacer_factory or (lambda _c: pacer or PowerPacer(ratio)),
            owner="test#1",
            new_id=lambda: next(ids),
        )
        self.now = 0.0
        self.out: list[cmd.Command] = []
        team = [(i, f"agent{i}") for i in range(1, agents + 1)]
        self.feed(ev.LoadCampaign(the_campaign or campaign(amd=amd), TRUNK, team))

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


# -- preview and power ---------------------------------------------------------------------------


def preview(timeout_s: float = 0.0) -> Harness:
    c = campaign(mode=PacingMode.PREVIEW, preview_timeout_s=timeout_s)
    h = Harness(agents=2, the_campaign=c)
    h.ready_agents()
    h.feed(ev.LeadsLeased(1, [lead(i) for i in range(1, 4)]), 1.0)
    return h


def test_preview_shows_each_ready_agent_a_lead_and_dials_nothing_by_itself() -> None:
    h = preview()
    offered = h.of(cmd.Notify)
    shown = [n.event for n in offered if isinstance(n.event, LeadOffered)]
    assert [(o.agent_id, o.lead_id, o.dial_by) for o in shown] == [("1", 1, None), ("2", 2, None)]
    assert h.of(cmd.Dial) == []
    h.feed(ev.Tick(), 600.0)
    assert h.of(cmd.Dial) == []  # no timeout: it waits for the agent


def test_preview_dial_goes_to_the_agent_who_dialed() -> None:
    h = preview()
    got = h.feed(ev.DialOffer("2"), 5.0)
    [dial] = h.of(cmd.Dial, got)
    assert dial.lead.id == 2
    _, agent_1 = h.core.find_agent("1")
    agent_1.since = -100.0  # agent 1 has waited longest: the answer still goes to agent 2
    [bridge] = h.of(cmd.Bridge, h.answer(dial.call.channel_id, 20.0))
    assert bridge.agent_id == "2"


def test_preview_skip_gives_the_lead_back_for_a_while_and_shows_the_next() -> None:
    h = preview()
    got = h.feed(ev.SkipOffer("1", "wrong person on the record"), 5.0)
    assert h.of(cmd.SkipLead, got) == [cmd.SkipLead(1, SKIPPED_LEAD_DELAY_S)]
    events = [n.event for n in h.of(cmd.Notify, got)]
    ended = [e for e in events if isinstance(e, OfferEnded)]
    assert [(e.agent_id, e.how, e.reason) for e in ended] == [
        ("1", "skipped", "wrong person on the record")
    ]
    assert [(e.agent_id, e.lead_id) for e in events if isinstance(e, LeadOffered)] == [("1", 3)]
    with pytest.raises(KeyError):
        h.feed(ev.DialOffer("9"))  # no such agent


def test_preview_with_a_timeout_dials_by_itself() -> None:
    h = preview(timeout_s=30.0)
    timers = [t for t in h.of(cmd.StartTimer) if t.key.kind is cmd.TimerKind.PREVIEW]
    assert [(t.key.subject, t.at) for t in timers] == [("1", 31.0), ("2", 31.0)]
    got = h.feed(ev.TimerFired(timers[0].key), 31.0)
    [dial] = h.of(cmd.Dial, got)
    assert dial.lead.id == 1
    ended = [n.event for n in h.of(cmd.Notify, got) if isinstance(n.event, OfferEnded)]
    assert [(e.agent_id, e.how) for e in ended] == [("1", "timed_out")]


def test_an_agent_who_pauses_gives_its_lead_back() -> None:
    h = preview()
    h.feed(ev.PauseAgent("1", "break"), 5.0)
    got = h.feed(ev.Tick(), 5.25)
    assert h.of(cmd.ReleaseLeads, got) == [cmd.ReleaseLeads([1])]
    assert h.core.offer_of("1") is None


def test_power_dials_the_campaigns_lines_per_agent() -> None:
    def pacer(c: Campaign) -> Pacer:
        return make_pacer(PacingSettings(mode=c.pacing_mode, lines_per_agent=c.lines_per_agent))

    for lines, dialed in ((1.0, 2), (3.0, 6)):
        h = Harness(agents=2, the_campaign=campaign(lines_per_agent=lines), pacer_factory=pacer)
        h.ready_agents()
        assert len(h.dial(10)) == dialed


def test_new_lines_per_agent_in_power_mode_take_effect_at_once() -> None:
    def pacer(c: Campaign) -> Pacer:
        return make_pacer(PacingSettings(mode=c.pacing_mode, lines_per_agent=c.lines_per_agent))

    h = Harness(agents=2, the_campaign=campaign(lines_per_agent=1.0), pacer_factory=pacer)
    h.ready_agents()
    assert len(h.dial(10)) == 2
    h.feed(ev.UpdateCampaign(campaign(lines_per_agent=2.0), TRUNK), 1.0)
    got = h.feed(ev.Tick(), 1.25)
    assert len(h.of(cmd.Dial, got)) == 2  # two more: four lines for two agents


def test_the_core_loads_no_io_library() -> None:
    """The core is pure: importing it loads no event loop, database, PBX, MQTT or HTTP code."""
    probe = (
        "import sys, dialer.core.machine; "
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    io = {"asyncio", "sqlalchemy", "asyncpg", "panoramisk", "aiomqtt", "fastapi", "httpx"}
    assert io.isdisjoint(loaded), sorted(io.intersection(loaded))


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


def test_the_pacers_agent_views_follow_every_agent_change() -> None:
    """The run keeps its agents' pacing views up to date agent by agent; after logins, a call,
    its end and a pause they equal views built anew from the agents."""
    h = Harness(agents=3)
    run = h.core.campaigns[1]

    def fresh() -> tuple[object, ...]:
        run.agents_changed()
        return run.agent_views()

    seen = []
    h.ready_agents()
    seen.append(run.agent_views())
    [dial] = h.dial(1)[:1]
    h.answer(dial.call.channel_id, 10.0)
    seen.append(run.agent_views())
    assert seen[-1] == fresh()
    h.feed(pbx.HungUp(dial.call.channel_id, 16, "Normal Clearing", 20.0), 20.0)
    seen.append(run.agent_views())
    assert seen[-1] == fresh()
    h.core.handle(ev.PauseAgent("2", "break"), 21.0)
    seen.append(run.agent_views())
    assert seen[-1] == fresh()
    # Ready: all three; one busy with the call; all three (the call ended before its bridge,
    # no wrap-up); two (one paused).
    assert [sum(v.activity.value == "ready" for v in s) for s in seen] == [3, 2, 3, 2]
