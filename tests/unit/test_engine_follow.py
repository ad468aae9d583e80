"""`plan`: what a daemon changes so that the campaigns it runs match the campaigns table."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from dialer.engine.follow import CampaignsState, Loaded, plan
from dialer.store.records import Agent, AgentState, Campaign, CampaignStatus, PacingMode, Trunk

T0 = datetime(2030, 1, 6, 9, 0, tzinfo=UTC)
TRUNK = Trunk(id=1, name="t", max_channels=10, max_cps=5.0, dial_prefix="", endpoint="trunk")


def campaign(cid: int, status: CampaignStatus, **values: object) -> Campaign:
    c = Campaign(
        id=cid,
        name=f"c{cid}",
        status=status,
        pacing_mode=PacingMode.PROGRESSIVE,
        caller_id="+15550000000",
        trunk_id=TRUNK.id,
        ring_timeout_s=25.0,
        max_attempts=3,
        wrapup_s=10.0,
        hold_s=2.0,
        created_at=T0,
        updated_at=T0,
    )
    return replace(c, **values)  # type: ignore[arg-type]


def agent(aid: int, campaign_id: int | None) -> Agent:
    return Agent(aid, f"a{aid}", f"agent{aid}", campaign_id, AgentState.OFFLINE)


def state(*campaigns: Campaign, agents: tuple[Agent, ...] = ()) -> CampaignsState:
    return CampaignsState(campaigns, {TRUNK.id: TRUNK}, agents)


def loaded(c: Campaign, paused: bool = False, leads: bool = False) -> Loaded:
    return Loaded(c, TRUNK, paused, leads)


RUNNING, PAUSED, STOPPED = CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.STOPPED


def test_nothing_to_do_when_the_engine_matches_the_table() -> None:
    c = campaign(1, RUNNING)
    p = plan(state(c, agents=(agent(7, 1),)), {1: loaded(c)}, {7: 1})
    assert not p


def test_a_campaign_started_elsewhere_is_started_with_its_agents() -> None:
    c = campaign(1, RUNNING)
    p = plan(state(c, agents=(agent(7, 1), agent(8, 2))), {}, {})
    assert p.start == [(c, TRUNK, [(7, "agent7")])]
    assert not p.add_agents  # add_campaign brings them


def test_pause_stop_and_resume_follow_the_status() -> None:
    running = campaign(1, RUNNING)
    paused = replace(running, status=PAUSED, updated_at=T0 + timedelta(seconds=1))
    p = plan(state(paused), {1: loaded(running)}, {})
    assert (p.pause, p.stop, p.update) == ([1], [], [(paused, TRUNK)])

    stopped = replace(running, status=STOPPED)
    p = plan(state(stopped), {1: loaded(paused, paused=True, leads=True)}, {})
    assert p.stop == [1]  # the leads it still holds go back
    assert not plan(state(stopped), {1: loaded(stopped, paused=True)}, {})

    p = plan(state(running), {1: loaded(paused, paused=True)}, {})
    assert p.start == [(running, TRUNK, [])]  # add_campaign resumes a loaded campaign


def test_a_campaign_not_running_and_not_loaded_is_left_alone() -> None:
    assert not plan(state(campaign(1, PAUSED), campaign(2, STOPPED)), {}, {})


def test_edits_and_trunk_changes_are_applied() -> None:
    c = campaign(1, RUNNING)
    edited = replace(c, pacing_mode=PacingMode.PREDICTIVE, hold_s=1.0)
    assert plan(state(edited), {1: loaded(c)}, {}).update == [(edited, TRUNK)]
    old_trunk = replace(TRUNK, max_channels=2)
    p = plan(state(c), {1: Loaded(c, old_trunk, False, False)}, {})
    assert p.update == [(c, TRUNK)]


def test_agents_added_and_moved() -> None:
    one, two = campaign(1, RUNNING), campaign(2, RUNNING)
    agents = (agent(7, 1), agent(8, 2), agent(9, None), agent(10, 1))
    p = plan(state(one, two, agents=agents), {1: loaded(one), 2: loaded(two)}, {7: 1, 8: 1, 9: 2})
    assert p.move_agents == [(8, 2, "agent8"), (9, None, "agent9")]
    assert p.add_agents == [(1, 10, "agent10")]
    # A move already waiting for the agent's call is not asked again.
    assert not plan(state(one, two, agents=(agent(8, 2),)), {1: loaded(one)}, {8: 2}).move_agents
