"""Behaviour of the predictive pacer on hand-made snapshots: look-ahead, exact and normal sums,
warm-up, brake (ahead of the windows), cap, feedback, online estimates, explanations and the cost
of a decision."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from dialer.pacing.base import (
    AgentActivity,
    AgentView,
    AgentWork,
    CallOutcome,
    PacingEstimates,
    PacingLimits,
    PacingSnapshot,
)
from dialer.pacing.estimators import ContactRate
from dialer.pacing.ledger import AbandonLedger
from dialer.pacing.modes import PacingMode, PacingSettings, make_pacer
from dialer.pacing.predictive import PredictivePacer, PredictiveSettings
from dialer.pacing.risk import search_exact, search_normal

READY, TALKING, WRAPUP, PAUSED = (
    AgentActivity.READY,
    AgentActivity.TALKING,
    AgentActivity.WRAPUP,
    AgentActivity.PAUSED,
)
NOW = 10_000.0
ROOMY = PacingLimits(max_in_flight=1000, max_new_now=1000)


def snap(
    agents: list[tuple[AgentActivity, float]],
    ring_ages: tuple[float, ...] = (),
    waiting: int = 0,
    limits: PacingLimits = ROOMY,
) -> PacingSnapshot:
    return PacingSnapshot(
        now=NOW,
        agents=tuple(AgentView(act, NOW - age) for act, age in agents),
        ringing_since=tuple(NOW - a for a in ring_ages),
        answered_waiting=waiting,
        limits=limits,
    )


def feed(
    p: PredictivePacer,
    *,
    contact: float = 0.3,
    calls: int = 600,
    works: int = 300,
    talk: str = "exp",
    start: float = 0.0,
    seed: int = 7,
) -> float:
    """Outcomes like the reference campaign's; returns the time of the last one."""
    rng = random.Random(seed)
    t = start
    for _ in range(calls):
        t += 0.5
        if rng.random() < contact:
            ans = t + rng.uniform(5.0, 25.0)
            p.observe_call(CallOutcome(t, ans, ans + 0.5, False))
        else:
            p.observe_call(CallOutcome(t, None, t + 25.0, False))
    for _ in range(works):
        s = rng.expovariate(1 / 120.0) if talk == "exp" else rng.lognormvariate(4.29, 1.0)
        p.observe_work(AgentWork(s, 15.0))
    return t


def trained(**kw: Any) -> PredictivePacer:
    p = PredictivePacer(PredictiveSettings(**kw))
    feed(p)
    return p


def test_warm_up_is_progressive() -> None:
    p = PredictivePacer()
    d = p.decide(snap([(READY, 3.0)] * 4 + [(WRAPUP, 14.0)] * 6, ring_ages=(1.0,)))
    assert d.dial == 3  # one call per ready agent, minus the one in flight
    assert d.estimates is not None and d.estimates.phase == "warm-up"


def test_looks_ahead_to_agents_about_to_finish_wrap_up() -> None:
    p = trained()
    # Nobody is ready, but ten agents finish their (15 s) wrap-up within a second or two: a
    # predictive pacer dials for them now, and more than one call each at a 30% contact rate.
    d = p.decide(snap([(WRAPUP, 14.0)] * 10))
    assert d.dial > 10
    assert d.estimates is not None and d.estimates.phase == "predictive"
    # ...while agents who have just started wrap-up (15 s to go, rings last 5-25 s) get fewer
    early = p.decide(snap([(WRAPUP, 0.0)] * 10))
    assert early.dial < d.dial


def test_calls_in_flight_count_against_the_agents_they_will_need() -> None:
    p = trained()
    agents = [(WRAPUP, 14.0)] * 10
    alone = p.decide(snap(agents)).dial
    with_calls = p.decide(snap(agents, ring_ages=(2.0,) * 20)).dial
    assert with_calls < alone
    # ...and a call that has rung long is less likely to be answered: it counts for less
    with_old_calls = p.decide(snap(agents, ring_ages=(22.0,) * 20)).dial
    assert with_old_calls > with_calls


def test_a_ringing_call_is_taken_back_when_far_too_many_ring_and_it_has_rung_15_s() -> None:
    # Five agents who have just started talking and twelve calls ringing: even one more call
    # would very likely find no agent. With `cancel_over` 3 the pacer hangs up the oldest
    # ringing call, if it has rung 15 s, rather than risk its answer.
    agents = [(TALKING, 1.0)] * 5
    rung = (16.0,) + (8.0,) * 11
    d = trained(cancel_over=3.0).decide(snap(agents, ring_ages=rung))
    assert (d.dial, d.cancel) == (0, 1)
    assert "hang up the oldest ringing call" in d.reason
    assert d.estimates is not None and d.estimates.chance > 3.0 * d.estimates.threshold
    assert trained(cancel_over=3.0).decide(snap(agents, ring_ages=(14.0,) * 12)).cancel == 0
    assert trained(cancel_over=1000.0).decide(snap(agents, ring_ages=rung)).cancel == 0
    assert trained(cancel_over=0.0).decide(snap(agents, ring_ages=rung)).cancel == 0  # off
    # room for a call: nothing is taken back
    room = trained(cancel_over=3.0).decide(snap([(READY, 1.0)] * 5, ring_ages=(16.0,)))
    assert room.dial > 0 and room.cancel == 0
    with pytest.raises(ValueError, match="min_ring_s"):
        PredictiveSettings(min_ring_s=10.0)
    with pytest.raises(ValueError, match="cancel_over"):
        PredictiveSettings(cancel_over=0.5)


def test_answered_calls_waiting_take_the_next_agents() -> None:
    p = trained()
    agents = [(READY, 1.0)] * 3 + [(TALKING, 30.0)] * 20
    assert p.decide(snap(agents, waiting=3)).dial < p.decide(snap(agents)).dial


def test_no_agent_ready_or_busy_means_no_calls() -> None:
    p = trained()
    assert p.decide(snap([])).dial == 0
    assert p.decide(snap([(PAUSED, 100.0)] * 10)).dial == 0


def test_hard_limits_bound_the_estimate() -> None:
    p = trained(initial_threshold=0.6)
    agents = [(READY, 1.0)] * 50
    assert p.decide(snap(agents)).dial > 50
    tight = PacingLimits(max_in_flight=30, max_new_now=1000)
    assert p.decide(snap(agents, ring_ages=(1.0,) * 10, limits=tight)).dial == 20
    cps = PacingLimits(max_in_flight=1000, max_new_now=4)
    assert p.decide(snap(agents, limits=cps)).dial == 4


def test_at_the_cap_it_falls_back_to_one_call_per_ready_agent() -> None:
    p = trained(initial_threshold=0.6)
    p.ledger = AbandonLedger()
    for i in range(1000):  # 3.0%: one more abandonment would break the cap
        p.ledger.record(NOW - 3600.0 + i, i < 30)
    d = p.decide(snap([(READY, 1.0)] * 5 + [(WRAPUP, 14.0)] * 20, ring_ages=(1.0,)))
    assert d.dial == 4
    assert d.estimates is not None and d.estimates.phase == "capped"
    assert "progressive" in d.reason


def dialing(p: PredictivePacer, minutes: float = 20.0, answers_per_s: float = 0.5) -> None:
    """The pacer decides every second for `minutes` before NOW while calls are answered (and
    connected) at `answers_per_s`, so that it knows the answer rate; then its ledger is emptied."""
    t = NOW - 60.0 * minutes
    owed = 0.0
    while t < NOW:
        p.decide(PacingSnapshot(t, (AgentView(READY, t),), (), 0, ROOMY))
        owed += answers_per_s
        while owed >= 1.0:  # each answer with two no-answers: a 33% contact rate
            p.observe_call(CallOutcome(t - 12.0, t - 1.0, t, False))
            p.observe_call(CallOutcome(t - 25.0, None, t, False))
            p.observe_call(CallOutcome(t - 25.0, None, t, False))
            owed -= 1.0
        t += 1.0
    p.ledger = AbandonLedger(p.ledger.windows_s)


def fill(p: PredictivePacer, answered: int, abandoned: int, first: float, last: float) -> None:
    """`answered` live answers evenly between NOW - first and NOW - last seconds, the first
    `abandoned` of them abandoned."""
    for i in range(answered):
        at = NOW - first + (first - last) * i / max(1, answered - 1)
        p.ledger.record(at, i < abandoned)


# agents about to be free (wrap-ups ending), so that how many calls may go depends on the threshold
BUSY_TEAM = [(READY, 1.0)] * 5 + [(WRAPUP, 0.5 * i) for i in range(25)] + [(TALKING, 60.0)] * 20
RINGING = tuple(float(x) for x in range(0, 24, 2))


def test_brakes_before_the_cap() -> None:
    agents = BUSY_TEAM

    def dial_at(abandoned: int) -> tuple[int, str, float]:
        p = trained()
        dialing(p)
        fill(p, 1000, abandoned, 3600.0, 60.0)
        d = p.decide(snap(agents, ring_ages=RINGING))
        assert d.estimates is not None
        return d.dial, d.estimates.phase, d.estimates.aim

    free, phase, aim = dial_at(20)  # 2.0%: room for the 150 answers of the next 5 minutes
    assert phase == "predictive" and aim == pytest.approx(0.025)
    braked, phase, aim = dial_at(28)  # 2.8%: a few more abandonments would break the cap
    assert phase == "braking"
    assert 0.0 < aim < 0.022
    assert braked < free


def test_the_brake_sees_old_answers_leave_the_window() -> None:
    # 2.5% over the last day, but the oldest hours had no abandonment at all (dialed
    # progressively): within the next hour they leave the window and its rate rises. The pacer
    # brakes now, while the window is still at the target.
    agents = BUSY_TEAM
    p = trained()
    dialing(p)
    fill(p, 400, 0, 86_000.0, 84_000.0)  # about to leave the 24-hour window
    fill(p, 1200, 40, 20_000.0, 60.0)
    d = p.decide(snap(agents, ring_ages=RINGING))
    assert d.estimates is not None
    assert d.estimates.abandon_24h == pytest.approx(0.025)
    assert d.estimates.phase == "braking"
    q = trained()
    dialing(q)
    fill(q, 400, 10, 86_000.0, 84_000.0)  # the same rate, evenly: nothing to brake for
    fill(q, 1200, 30, 20_000.0, 60.0)
    e = q.decide(snap(agents, ring_ages=RINGING))
    assert e.estimates is not None and e.estimates.phase == "predictive"
    assert e.dial > d.dial


def test_capped_before_leaving_answers_push_the_window_over_the_cap() -> None:
    # 23 abandoned of 800 answers: one more is still within 3% now. But the 40 oldest answers
    # (none abandoned) leave the 24-hour window within five minutes: then one more abandonment
    # would put it over, so the pacer goes back to one call per ready agent now.
    def decide(old_abandoned: int) -> PacingEstimates:
        p = trained()
        dialing(p)
        fill(p, 40, old_abandoned, 86_330.0, 86_130.0)  # about to leave the window
        fill(p, 760, 23 - old_abandoned, 80_000.0, 60.0)
        d = p.decide(snap(BUSY_TEAM, ring_ages=RINGING))
        assert d.estimates is not None
        return d.estimates

    creeping = decide(0)
    assert creeping.phase == "capped"
    assert creeping.abandon_24h == pytest.approx(23 / 800)
    assert decide(2).phase != "capped"  # two of them abandoned: the rate does not creep up


def test_tables_are_rebuilt_when_warm_up_ends() -> None:
    # The first outcome is a no-answer, so the first tables know no answer time; warm-up then
    # learns (20 answers, 10 finished calls) without reaching a table refresh of its own. The
    # first predictive decision must not pace with the empty tables (which see no risk at all).
    p = PredictivePacer()
    p.observe_call(CallOutcome(0.0, None, 25.0, False))
    p.decide(PacingSnapshot(30.0, (AgentView(READY, 0.0),), (), 0, ROOMY))
    rng = random.Random(4)
    for i in range(20):
        t = 31.0 + i
        p.observe_call(CallOutcome(t - 15.0, t - 2.0, t, False))
    for _ in range(10):
        p.observe_work(AgentWork(rng.expovariate(1 / 120.0), 15.0))
    now = 100.0
    team = (AgentView(READY, now - 1.0),) + (AgentView(TALKING, now - 40.0),) * 4
    d = p.decide(PacingSnapshot(now, team, (), 0, ROOMY))
    assert d.estimates is not None and d.estimates.phase == "predictive"
    assert d.estimates.answer_s == pytest.approx(13.0)
    assert d.dial <= 4, d.reason


def test_a_burst_of_abandonment_within_the_hour_brakes() -> None:
    # A team of five (about 100 answers an hour): 2% over the day, but six abandonments in the
    # last ten minutes. Not capped (the day is fine), but braked: the hour must stay under 6%.
    def decide(burst: int) -> PacingEstimates:
        p = trained()
        dialing(p, answers_per_s=0.03)
        fill(p, 2000, 40, 80_000.0, 3700.0)
        fill(p, 100, 0, 3600.0, 700.0)
        for i in range(burst):
            p.ledger.record(NOW - 600.0 + 60.0 * i, True)
        d = p.decide(snap(BUSY_TEAM, ring_ages=RINGING))
        assert d.estimates is not None
        return d.estimates

    calm, burst = decide(0), decide(6)
    assert calm.phase == "predictive"
    assert burst.abandon_24h < 0.025
    assert burst.phase == "braking"
    assert burst.aim < 0.02 and burst.threshold < calm.threshold * 0.7


def test_threshold_feedback_holds_the_target() -> None:
    p = trained()
    p.decide(snap([(READY, 1.0)] * 5))  # leaves warm-up
    t0 = p.threshold
    for i in range(10):
        p.observe_call(CallOutcome(NOW + i, NOW + i + 10, NOW + i + 12.5, True))
    lowered = p.threshold
    assert lowered < t0
    for i in range(400):
        p.observe_call(CallOutcome(NOW + i, NOW + i + 10, NOW + i + 10.5, False))
    assert p.threshold > lowered
    # at the target rate (2.5%) the threshold neither climbs nor falls, on average
    q = trained(early_gain=0.0)
    q.decide(snap([(READY, 1.0)] * 5))
    q.ledger = AbandonLedger(windows_s=(60.0,))  # keep the brake out of this
    start = q.threshold
    for i in range(4000):
        q.observe_call(CallOutcome(NOW + i, NOW + i + 10, NOW + i + 11, i % 40 == 0))
    assert q.threshold == pytest.approx(start, rel=0.05)


def test_contact_rate_follows_a_jump_within_minutes() -> None:
    c = ContactRate(prior=0.3)
    rng = random.Random(1)
    t = 0.0
    for _ in range(2000):
        t += 0.4
        c.add(rng.random() < 0.30, t)
    assert c.value == pytest.approx(0.30, abs=0.04)
    for _ in range(150):  # one minute at 100 agents
        t += 0.4
        c.add(rng.random() < 0.45, t)
    assert c.value > 0.38
    for _ in range(2000):
        t += 0.4
        c.add(rng.random() < 0.45, t)
    assert c.value == pytest.approx(0.45, abs=0.04)
    for _ in range(150):
        t += 0.4
        c.add(rng.random() < 0.10, t)
    assert c.value < 0.25
    for _ in range(2000):
        t += 0.4
        c.add(rng.random() < 0.10, t)
    assert c.value == pytest.approx(0.10, abs=0.03)


def test_a_night_without_calls_does_not_wipe_the_contact_rate() -> None:
    c = ContactRate(prior=0.5)
    rng = random.Random(2)
    t = 0.0
    for _ in range(1000):
        t += 1.0
        c.add(rng.random() < 0.3, t)
    before = c.value
    t += 16 * 3600.0  # the next morning: the first outcome is a no-answer
    c.add(False, t)
    assert c.value == pytest.approx(before, abs=0.02)


def test_time_in_state_matters_with_long_tailed_talk() -> None:
    # Log-normal talk: an agent five minutes into a call is much less likely to be done in the
    # next half minute than one a minute in; with exponential talk it makes no difference.
    def free_soon(talk: str, age: float) -> float:
        p = PredictivePacer()
        feed(p, talk=talk, works=500)
        p.decide(snap([(READY, 1.0)]))  # builds the tables
        # the chance to be free (talk and a 15 s wrap-up done) within 40 s
        return p._talk_chances(age, (40.0,))[0]

    assert free_soon("lognormal", 60.0) > 1.4 * free_soon("lognormal", 300.0)
    assert free_soon("exp", 60.0) == pytest.approx(free_soon("exp", 300.0), abs=0.05)


def test_small_teams_are_summed_exactly_large_ones_as_normal() -> None:
    p = trained()
    small = p.decide(snap([(READY, 1.0)] + [(TALKING, 40.0)] * 4, ring_ages=(3.0, 9.0)))
    large = p.decide(snap([(READY, 1.0)] * 3 + [(TALKING, 40.0)] * 60, ring_ages=(3.0,) * 20))
    assert small.estimates is not None and small.estimates.method == "exact"
    assert large.estimates is not None and large.estimates.method == "normal"
    assert "(exact)" in small.reason and "(normal)" in large.reason


def _brute(
    supply: list[tuple[float, ...]],
    demand: list[tuple[float, ...]],
    base: int,
    pi: tuple[float, ...],
    k: int,
) -> float:
    """P(no agent | answered) for the k-th new call, by enumerating every outcome."""
    total = 0.0
    for b in range(len(pi)):
        terms = [(r[b], 1) for r in supply] + [(r[b], -1) for r in demand]
        terms += [(pi[b], -1)] * (k - 1)
        dist = {0: 1.0}
        for q, step in terms:
            nxt: dict[int, float] = {}
            for v, x in dist.items():
                nxt[v] = nxt.get(v, 0.0) + x * (1.0 - q)
                nxt[v + step] = nxt.get(v + step, 0.0) + x * q
            dist = nxt
        total += sum(x for v, x in dist.items() if base + v <= 0)
    return total / len(pi)


def test_exact_sums_match_enumeration_and_normal_ones_agree_when_many() -> None:
    rng = random.Random(5)
    for _ in range(200):
        m = rng.randint(1, 4)
        supply = [
            tuple(rng.choice([0.0, 1.0, rng.random(), 0.05 * rng.random()]) for _ in range(m))
            for _ in range(rng.randint(0, 6))
        ]
        demand = [tuple(rng.choice([0.0, 1.0, rng.random()]) for _ in range(m)) for _ in range(5)]
        pi = tuple(rng.uniform(0.01, 0.9) for _ in range(m))
        base = rng.randint(-2, 4)
        n_room = rng.randint(0, 10)
        threshold = rng.choice([0.01, 0.1, 0.4])
        dial, chance = search_exact(supply, demand, base, pi, threshold, n_room)
        expected = 0
        while expected < n_room and _brute(supply, demand, base, pi, expected + 1) <= threshold:
            expected += 1
        assert dial == expected
        assert chance == pytest.approx(_brute(supply, demand, base, pi, max(dial, 1)), abs=1e-9)
    # many agents and calls: the normal approximation picks (nearly) the same number of calls
    supply = [(0.05, 0.1, 0.2, 0.3)] * 80 + [(1.0, 1.0, 1.0, 1.0)] * 5
    demand = [(0.1, 0.15, 0.2, 0.25)] * 60
    pi = (0.05, 0.12, 0.2, 0.27)
    base = 10
    mu = [base + sum(r[b] for r in supply) - sum(r[b] for r in demand) for b in range(4)]
    var = [sum(r[b] * (1 - r[b]) for r in supply + demand) for b in range(4)]
    pi_var = tuple(x * (1 - x) for x in pi)
    exact, _ = search_exact(supply, demand, base, pi, 0.05, 200)
    normal, _ = search_normal(mu, var, pi, pi_var, 0.05, 200)
    assert exact > 10
    assert abs(exact - normal) <= 2


def test_a_burst_of_calls_does_not_fool_the_contact_rate() -> None:
    # The start of a day: 300 calls at once. Answers come back within 5-25 s, the no-answers
    # all at 25 s. Learning from outcomes as they come would read 100% contact for 25 s, then
    # 0%; the pacer learns from each call once all those dialed with it have had time to end.
    p = trained()
    p.decide(snap([(READY, 1.0)]))
    before = p.contact.value
    rng = random.Random(11)
    t0 = NOW + 100.0
    answered = sorted(t0 + rng.uniform(5.0, 25.0) for _ in range(90))
    for at in answered:
        p.observe_call(CallOutcome(t0, at, at + 0.5, False))
    p.decide(PacingSnapshot(t0 + 24.0, (AgentView(READY, t0),), (), 0, ROOMY))
    assert p.contact.value == pytest.approx(before, abs=0.02)
    for _ in range(210):
        p.observe_call(CallOutcome(t0, None, t0 + 25.0, False))
    p.decide(PacingSnapshot(t0 + 60.0, (AgentView(READY, t0),), (), 0, ROOMY))
    assert p.contact.value == pytest.approx(0.3, abs=0.05)


def test_decisions_explain_themselves() -> None:
    p = trained()
    d = p.decide(snap([(READY, 1.0)] * 2 + [(TALKING, 40.0)] * 18, ring_ages=(3.0, 9.0)))
    est = d.estimates
    assert est is not None
    assert est.contact_rate == pytest.approx(0.3, abs=0.06)
    assert est.answer_s == pytest.approx(15.0, abs=2.0)
    assert est.talk_s == pytest.approx(120.0, abs=25.0)
    assert est.wrapup_s == pytest.approx(15.0)
    assert 0.0 < est.threshold < 1.0
    assert est.agents_soon >= 2.0
    assert est.aim == pytest.approx(0.025)
    assert est.method in ("exact", "normal")
    assert "chance" in d.reason and "threshold" in d.reason and "aim" in d.reason
    assert "\n" not in d.reason


def test_modes_make_their_pacers() -> None:
    for mode in PacingMode:
        pacer = make_pacer(PacingSettings(mode=mode))
        d = pacer.decide(snap([(READY, 1.0)] * 3))
        assert d.dial >= 3 if mode is not PacingMode.PREVIEW else d.dial == 3
    with pytest.raises(ValueError, match="lines_per_agent"):
        PacingSettings(mode=PacingMode.POWER, lines_per_agent=0.5)
    with pytest.raises(ValueError, match="target"):
        PredictiveSettings(target=0.05, cap=0.03)


def test_a_decision_takes_well_under_a_millisecond_at_100_agents() -> None:
    p = trained()
    rng = random.Random(3)
    snaps = []
    for _ in range(50):
        agents = [(READY, rng.uniform(0, 5)) for _ in range(rng.randint(0, 5))]
        agents += [(WRAPUP, rng.uniform(0, 15)) for _ in range(10)]
        agents += [(TALKING, rng.expovariate(1 / 120.0)) for _ in range(100 - len(agents))]
        rings = tuple(rng.uniform(0, 25) for _ in range(60))
        snaps.append(snap(agents, ring_ages=rings))
    for s in snaps:  # build the tables once (a refresh happens at most once a minute)
        p.decide(s)
    t0 = time.process_time()
    n = 0
    while n < 1000:
        for s in snaps:
            p.decide(s)
        n += len(snaps)
    per_decision = (time.process_time() - t0) / n
    assert per_decision < 0.5e-3, f"{per_decision * 1e6:.0f} us per decision"
