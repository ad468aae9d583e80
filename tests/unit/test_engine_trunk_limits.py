"""The limits a campaign's pacer is given by the engine's campaign state (pure, no I/O): the
trunk's channels (shared by every campaign on the trunk, talking calls included) and the trunk's
calls-per-second budget (one token bucket per trunk, shared by its campaigns); and that whatever
a pacer asks for, the calls started stay within both."""

from __future__ import annotations

from datetime import UTC, datetime

from dialer.core.campaign import CampaignRun, TrunkRates
from dialer.domain import agent as ag
from dialer.domain.call import CallAttempt, CallState
from dialer.pacing.base import PacingSnapshot
from dialer.pacing.limits import CallRateLimiter
from dialer.pacing.ratio import PowerPacer
from dialer.store.records import Campaign, CampaignStatus, PacingMode, Trunk

T0 = 1000.0
TRUNK = Trunk(1, "carrier", max_channels=30, max_cps=5.0, dial_prefix="", endpoint="carrier")
WIDE = Trunk(2, "wide", max_channels=1000, max_cps=5.0, dial_prefix="", endpoint="wide")


def run_on(trunk: Trunk, rate: CallRateLimiter, cid: int, agents: int) -> CampaignRun:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    campaign = Campaign(
        cid,
        f"c{cid}",
        CampaignStatus.RUNNING,
        PacingMode.POWER,
        "+15550000000",
        trunk.id,
        25.0,
        3,
        10.0,
        2.0,
        now,
        now,
    )
    run = CampaignRun(campaign, trunk, PowerPacer(4.0), rate)
    for i in range(agents):
        agent = ag.Agent(f"{cid}-{i}", f"agent{i}")
        agent.state = ag.AgentState.READY
        agent.since = T0 - 10.0
        run.agents[agent.agent_id] = agent
    return run


def start(run: CampaignRun, n: int, now: float) -> None:
    """What the engine does with a decision: one call per token while the budget allows."""
    for _ in range(n):
        if not run.bucket.take(now):
            break
        i = len(run.calls)
        call = CallAttempt(f"{run.campaign.id}-{i}", i)
        call.state = CallState.RINGING
        call.originated_at = now
        run.calls[call.channel_id] = call


def in_use(runs: list[CampaignRun]) -> int:
    return sum(len(r.calls) for r in runs)


def pace(run: CampaignRun, runs: list[CampaignRun], now: float) -> PacingSnapshot:
    snap = run.snapshot(now, in_use(runs))
    start(run, run.pacer.decide(snap).dial, now)
    return snap


def test_one_budget_per_trunk() -> None:
    rates = TrunkRates()
    first = rates.of(WIDE, T0)
    assert rates.of(WIDE, T0 + 5.0) is first  # a second campaign on the trunk
    assert rates.of(TRUNK, T0) is not first  # another trunk
    faster = Trunk(WIDE.id, WIDE.name, WIDE.max_channels, 8.0, "", WIDE.endpoint)
    assert rates.of(faster, T0 + 6.0) is not first  # its rate changed
    assert rates.of(faster, T0 + 6.0).rate == 8.0


def test_campaigns_on_one_trunk_share_its_calls_per_second() -> None:
    rates = TrunkRates()
    a, b = run_on(WIDE, rates.of(WIDE, T0), 1, 50), run_on(WIDE, rates.of(WIDE, T0), 2, 50)
    runs = [a, b]
    snap_a = pace(a, runs, T0)
    assert snap_a.limits.max_new_now == 5  # the burst of a 5 calls/s trunk
    assert len(a.calls) == 5
    snap_b = pace(b, runs, T0)
    assert snap_b.limits.max_new_now == 0  # the other campaign used the trunk's second
    assert len(b.calls) == 0
    # over ten seconds (paced in turn) both campaigns together start no more than the trunk
    # allows: its burst, then 5 a second
    t = T0
    while t < T0 + 10.0:
        t += 0.25
        for run in runs if int(t) % 2 else runs[::-1]:
            pace(run, runs, t)
    assert len(a.calls) + len(b.calls) == 5 + 5 * 10
    assert len(b.calls) > 0


def test_calls_in_flight_never_exceed_the_trunks_channels() -> None:
    rate = CallRateLimiter(1000.0, now=T0)
    a, b = run_on(TRUNK, rate, 1, 20), run_on(TRUNK, rate, 2, 20)
    runs = [a, b]
    snap = pace(a, runs, T0)
    assert snap.limits.max_in_flight == 30
    assert len(a.calls) == 30  # 4 lines for each of 20 agents asked; 30 channels
    snap = pace(b, runs, T0 + 1.0)
    assert snap.limits.max_in_flight == 0 and len(b.calls) == 0
    # a talking call still holds its channel
    first = next(iter(a.calls.values()))
    first.state = CallState.CONNECTED
    for call in list(a.calls.values())[1:11]:
        del a.calls[call.channel_id]  # ten calls ended
    snap = pace(b, runs, T0 + 2.0)
    assert snap.limits.max_in_flight == 10
    assert len(b.calls) == 10
    assert in_use(runs) == 30


def test_the_trunk_budget_refills_at_its_rate() -> None:
    rate = CallRateLimiter(2.0, now=0.0)
    assert rate.available(0.0) == 2
    assert rate.take(0.0, 2)
    assert not rate.take(0.0)  # nothing left: nothing taken
    assert rate.available(0.4) == 0
    assert rate.next_token_at(0.4) == 0.5
    assert rate.take(0.5)
    assert rate.available(10.0) == 2  # never more than the burst
