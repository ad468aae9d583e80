"""A campaign's buffer and agents (pure, no I/O): a callback for a named agent keeps that agent
out of the pacer's count from the moment it is due, and is dialed only when the other ready
agents could take every call dialed before that still rings or waits; whether a
campaign wants leads (a daemon whose agents are all elsewhere holds none)."""

from __future__ import annotations

from datetime import UTC, datetime

from dialer.core.campaign import CampaignRun
from dialer.domain import agent as ag
from dialer.domain.call import CallAttempt, CallState
from dialer.pacing.base import AgentActivity
from dialer.pacing.callrate import CallRateLimiter, CallRates
from dialer.pacing.ratio import PowerPacer
from dialer.store.records import Campaign, CampaignStatus, LeasedLead, PacingMode, Trunk

T0 = 1000.0
NOW = datetime(2030, 1, 1, tzinfo=UTC)
TRUNK = Trunk(1, "carrier", max_channels=30, max_cps=5.0, dial_prefix="", endpoint="carrier")


def campaign_run(agents: int = 2) -> CampaignRun:
    campaign = Campaign(
        1, "c1", CampaignStatus.RUNNING, PacingMode.POWER, "+15550000000", 1, 25.0, 3, 10.0,
        2.0, NOW, NOW,
    )  # fmt: skip
    run = CampaignRun(campaign, TRUNK, PowerPacer(2.0), CallRates(CallRateLimiter(5.0)))
    for i in range(1, agents + 1):
        agent = ag.Agent(str(i), f"agent{i}")
        agent.state = ag.AgentState.READY
        agent.since = T0 - 30.0
        run.agents[agent.agent_id] = agent
    return run


def lead(lead_id: int, agent_id: int | None = None) -> LeasedLead:
    return LeasedLead(
        lead_id, 1, 1, f"+1555000{lead_id:04d}", "UTC", 0, 0, {}, NOW,
        callback_id=lead_id if agent_id is not None else None, callback_agent_id=agent_id,
    )  # fmt: skip


def ringing(run: CampaignRun, cid: str, at: float) -> CallAttempt:
    call = CallAttempt(cid, 99)
    call.state = CallState.RINGING
    call.originated_at = at
    run.calls[cid] = call
    return call


def test_a_named_callback_waits_until_the_others_cover_the_calls_dialed_before() -> None:
    run = campaign_run(agents=2)
    # two calls dialed while both agents counted as ready: agent 2 alone cannot take both
    early = ringing(run, "early", T0 - 5.0)
    ringing(run, "early2", T0 - 4.0)
    run.leads.extend([lead(1), lead(2, agent_id=1)])
    assert run.next_named_callback(T0) is None  # the hold starts; both still ring
    assert run.holding == {"1": T0}
    # the pacer no longer counts agent 1: only agent 2 is in its view
    snap = run.snapshot(T0 + 0.1, trunk_in_use=2)
    assert [v.activity for v in snap.agents] == [AgentActivity.READY]
    # a call dialed after the hold does not count on agent 1: it does not delay the callback
    ringing(run, "later", T0 + 1.0)
    assert run.next_named_callback(T0 + 1.5) is None
    early.state = CallState.ENDED  # a no-answer: agent 2 covers the one left
    got = run.next_named_callback(T0 + 2.0)
    assert got is not None and got.id == 2
    assert run.holding == {}
    assert [x.id for x in run.leads] == [1]  # the ordinary lead stays for the pacer


def test_a_call_answered_with_no_other_agent_may_take_the_kept_agent() -> None:
    run = campaign_run(agents=1)
    early = ringing(run, "early", T0 - 5.0)
    run.leads.append(lead(2, agent_id=1))
    assert run.next_named_callback(T0) is None
    early.state = CallState.ANSWERED
    run.waiting.append("early")
    assert run.ready_agent() is not None  # the answered call still finds agent 1
    assert run.next_named_callback(T0 + 0.5) is None  # an answered call waits: not yet
    run.waiting.clear()
    early.state = CallState.ENDED
    run.agents["1"].state = ag.AgentState.ON_CALL  # it took that call
    assert run.next_named_callback(T0 + 1.0) is None  # the callback waits for the agent
    run.agents["1"].state = ag.AgentState.READY
    got = run.next_named_callback(T0 + 200.0)
    assert got is not None and got.callback_agent_id == 1


def test_ordinary_leads_skip_named_callbacks_and_holds_end_with_their_callback() -> None:
    run = campaign_run(agents=2)
    run.leads.extend([lead(5, agent_id=2), lead(6), lead(7, agent_id=None)])
    first = run.next_lead()
    assert first is not None and first.id == 6
    assert run.next_named_callback(T0) is not None  # nothing in flight: it goes at once
    run.leads.append(lead(8, agent_id=1))
    ringing(run, "x", T0 - 1.0)
    ringing(run, "y", T0 - 1.0)
    assert run.next_named_callback(T0) is None
    assert "1" in run.holding
    run.leads.clear()  # the campaign was stopped: its buffer went back
    assert run.next_named_callback(T0 + 1.0) is None
    assert run.holding == {}


def test_a_campaign_whose_agents_are_all_elsewhere_wants_no_leads() -> None:
    run = campaign_run(agents=2)
    assert run.wants_leads()
    for agent in run.agents.values():
        agent.state = ag.AgentState.LOGGED_OUT  # logged out, or another daemon's
    assert not run.wants_leads()
    run.agents["2"].state = ag.AgentState.LOGGING_IN  # headset ringing: about to be here
    assert run.wants_leads()
    run.agents["2"].state = ag.AgentState.LOGGING_OUT
    assert not run.wants_leads()
    # a campaign with no agents at all: its pacer alone decides
    assert campaign_run(agents=0).wants_leads()
