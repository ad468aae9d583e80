"""The limits a campaign's pacer is given by the engine's campaign state (pure, no I/O): the
trunk's channels (shared by every campaign on the trunk, talking calls included) and the
calls-per-second limits (one per trunk, shared by its campaigns, and the campaign's own); and that
whatever a pacer asks for, the calls started stay within them in every sliding second."""

from __future__ import annotations

from datetime import UTC, datetime

from dialer.core.campaign import CampaignRun, TrunkRates
from dialer.domain import agent as ag
from dialer.domain.call import CallAttempt, CallState
from dialer.pacing.base import PacingSnapshot
from dialer.pacing.callrate import CallRateLimiter, CallRates, max_in_any_window
from dialer.pacing.ratio import PowerPacer
from dialer.store.records import Campaign, CampaignStatus, PacingMode, Trunk

T0 = 1000.0
TRUNK = Trunk(1, "carrier", max_channels=30, max_cps=5.0, dial_prefix="", endpoint="carrier")
WIDE = Trunk(2, "wide", max_channels=1000, max_cps=5.0, dial_prefix="", endpoint="wide")


def campaign_of(trunk: Trunk, cid: int, max_cps: float | None = None) -> Campaign:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    return Campaign(
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
        max_cps=max_cps,
    )


def run_on(trunk: Trunk, rate: CallRates, cid: int, agents: int) -> CampaignRun:
    run = CampaignRun(campaign_of(trunk, cid), trunk, PowerPacer(4.0), rate)
    for i in range(agents):
        agent = ag.Agent(f"{cid}-{i}", f"agent{i}")
        agent.state = ag.AgentState.READY
        agent.since = T0 - 10.0
        run.agents[agent.agent_id] = agent
    return run


def start(run: CampaignRun, n: int, now: float, started: list[float] | None = None) -> None:
    """What the engine does with a decision: reserve one call at a time while the limits allow,
    then send it (here at once)."""
    for _ in range(n):
        if not run.bucket.take(now):
            break
        run.bucket.sent(now)
        if started is not None:
            started.append(now)
        i = len(run.calls)
        call = CallAttempt(f"{run.campaign.id}-{i}", i)
        call.state = CallState.RINGING
        call.originated_at = now
        run.calls[call.channel_id] = call


def in_use(runs: list[CampaignRun]) -> int:
    return sum(len(r.calls) for r in runs)


def pace(
    run: CampaignRun, runs: list[CampaignRun], now: float, started: list[float] | None = None
) -> PacingSnapshot:
    snap = run.snapshot(now, in_use(runs))
    start(run, run.pacer.decide(snap).dial, now, started)
    return snap


def test_one_limit_per_trunk_retuned_in_place() -> None:
    rates = TrunkRates()
    first = rates.of(WIDE)
    assert rates.of(WIDE) is first  # a second campaign on the trunk
    assert rates.of(TRUNK) is not first  # another trunk
    first.start(T0, 5)
    faster = Trunk(WIDE.id, WIDE.name, WIDE.max_channels, 8.0, "", WIDE.endpoint, cps_burst=2)
    assert rates.of(faster) is first  # its rate changed: the same limiter, retuned
    assert first.rate == 8.0 and first.burst == 2
    assert first.available(T0 + 0.5) == 2  # two back to back (its burst)...
    assert first.start(T0 + 0.5, 2)
    assert first.available(T0 + 0.8) == 1  # ...and the five calls sent before still count


def test_campaigns_on_one_trunk_share_its_calls_per_second() -> None:
    rates = TrunkRates()
    a = run_on(WIDE, rates.for_campaign(campaign_of(WIDE, 1), WIDE), 1, 50)
    b = run_on(WIDE, rates.for_campaign(campaign_of(WIDE, 2), WIDE), 2, 50)
    runs = [a, b]
    started: list[float] = []
    snap_a = pace(a, runs, T0, started)
    assert snap_a.limits.max_new_now == 5  # a second's calls of a 5 calls/s trunk
    assert len(a.calls) == 5
    snap_b = pace(b, runs, T0, started)
    assert snap_b.limits.max_new_now == 0  # the other campaign used the trunk's second
    assert len(b.calls) == 0
    # over ten seconds (paced in turn) both campaigns together never start more than 5 calls
    # in any sliding second (a token bucket would let 10 through around a second's edge)
    t = T0
    while t < T0 + 10.0:
        t += 0.25
        for run in runs if int(t) % 2 else runs[::-1]:
            pace(run, runs, t, started)
    assert max_in_any_window(started, 1.0)[0] == 5
    assert len(a.calls) + len(b.calls) == len(started) >= 5 * 8
    assert len(b.calls) > 0


def test_a_campaigns_own_lower_limit_binds() -> None:
    rates = TrunkRates()
    slow = rates.for_campaign(campaign_of(WIDE, 1, max_cps=2.0), WIDE)
    other = rates.for_campaign(campaign_of(WIDE, 2), WIDE)
    assert slow.available(T0) == 2 and other.available(T0) == 5
    assert slow.start(T0, 2)
    assert slow.available(T0) == 0
    assert other.available(T0) == 3  # the trunk's second is shared
    # the limit removed: the campaign is back to the trunk's alone
    back = rates.for_campaign(campaign_of(WIDE, 1), WIDE)
    assert back.available(T0) == 3


def test_calls_in_flight_never_exceed_the_trunks_channels() -> None:
    rate = CallRates(CallRateLimiter(1000.0))
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


def test_a_reserved_call_counts_until_it_is_sent_or_released() -> None:
    rate = CallRates(CallRateLimiter(2.0))
    assert rate.take(0.0, 2)
    assert not rate.take(0.0)  # nothing left: nothing taken
    assert rate.available(5.0) == 0  # reserved, not sent: still counts
    rate.sent(5.0, 1)
    rate.release(1)
    assert rate.available(5.5) == 1  # the sent one holds its second
    assert rate.next_free_at(5.5) == 5.5
    assert rate.take(5.5)
    rate.sent(5.5)
    assert rate.available(5.9) == 0
    assert abs(rate.next_free_at(5.9) - 6.0) < 1e-6  # when the 5.0 send leaves the window
    assert rate.available(6.1) == 1
    assert rate.available(100.0) == 2  # never more than the second's rate
