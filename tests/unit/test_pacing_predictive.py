"""Behaviour of the predictive pacer on hand-made snapshots: look-ahead, warm-up, brake, cap,
feedback, online estimates, explanations and the cost of a decision."""

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
    PacingLimits,
    PacingSnapshot,
)
from dialer.pacing.estimators import ContactRate
from dialer.pacing.ledger import AbandonLedger
from dialer.pacing.modes import PacingMode, PacingSettings, make_pacer
from dialer.pacing.predictive import PredictivePacer, PredictiveSettings

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


def test_brakes_before_the_cap() -> None:
    agents = [(READY, 1.0)] * 5 + [(TALKING, 60.0)] * 45

    def dial_at(abandoned: int) -> tuple[int, str]:
        p = trained()
        p.ledger = AbandonLedger()
        for i in range(1000):
            p.ledger.record(NOW - 3600.0 + i, i < abandoned)
        d = p.decide(snap(agents))
        assert d.estimates is not None
        return d.dial, d.estimates.phase

    free, phase = dial_at(20)  # 2.0%: under the target
    assert phase == "predictive"
    braked, phase = dial_at(28)  # 2.8%: between the target and the cap
    assert phase == "braking"
    assert braked < free


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
    q = trained()
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
        p.decide(snap([(READY, 1.0)]))
        _, rows = p._supply(snap([(TALKING, age)]))
        return rows[0][-1 - p.settings.points]  # chance free by the last point

    assert free_soon("lognormal", 60.0) > 1.4 * free_soon("lognormal", 300.0)
    assert free_soon("exp", 60.0) == pytest.approx(free_soon("exp", 300.0), abs=0.03)


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
    assert "chance" in d.reason and "threshold" in d.reason and "\n" not in d.reason


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
