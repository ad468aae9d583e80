"""The contact rate now from the calls in flight, level shifts and the surge guard
(dialer.pacing.surge and its use in dialer.pacing.predictive)."""

from __future__ import annotations

import dataclasses
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.pacing.predictive import PredictivePacer, PredictiveSettings
from dialer.pacing.surge import ContactNow, RecentHigh, censored_contact, surge_room
from dialer.sim import Simulation, load_scenario, summarize
from dialer.sim.report import worst_window_in_days


def sa(age: float) -> float:
    """Answers come uniformly 5-25 s after the dial: the chance one takes longer than `age`."""
    return min(1.0, max(0.0, (25.0 - age) / 20.0))


def sn(age: float) -> float:
    """No-contacts ring out at 25 s."""
    return 1.0 if age < 25.0 else 0.0


def one_minute_of_calls(
    p: float, rng: random.Random
) -> tuple[int, int, list[tuple[int, float, float]]]:
    """Calls dialed one a second for a minute, looked at the moment the last is dialed:
    (answered, ended without a person, ringing by age)."""
    ones = zeros = 0
    ringing: dict[int, int] = {}
    for age in range(60):
        if rng.random() < p:
            if rng.uniform(5.0, 25.0) <= age:
                ones += 1
                continue
        elif age >= 25:
            zeros += 1
            continue
        ringing[age] = ringing.get(age, 0) + 1
    return ones, zeros, [(c, sa(a + 0.5), sn(a + 0.5)) for a, c in ringing.items()]


def test_the_censored_estimate_is_near_the_truth_on_average() -> None:
    rng = random.Random(7)
    for p in (0.03, 0.3, 0.6):
        got = [censored_contact(*one_minute_of_calls(p, rng))[0] for _ in range(300)]
        mean = sum(got) / len(got)
        assert abs(mean - p) < 0.25 * p + 0.01


def test_calls_still_ringing_tell_a_rise_before_any_no_answer_is_known() -> None:
    # 40 calls dialed in the last 12 s: 8 answered already, none could have rung out yet
    ringing = [(4, sa(a + 0.5), sn(a + 0.5)) for a in range(3, 11)]
    p, se = censored_contact(8, 0, ringing)
    assert p - 3.5 * se > 0.1  # clearly above a rate of 10%
    # the same calls with no answer at all: clearly below 30%
    p0, se0 = censored_contact(0, 0, [(5, sa(a + 0.5), sn(a + 0.5)) for a in range(10, 24)])
    assert p0 + 3.5 * se0 < 0.3


@settings(max_examples=100, deadline=None)
@given(
    ones=st.integers(0, 200),
    zeros=st.integers(0, 200),
    ring=st.lists(
        st.tuples(st.integers(1, 30), st.floats(0.0, 1.0), st.floats(0.01, 1.0)), max_size=30
    ),
)
def test_the_estimate_is_a_rate_with_a_positive_error(
    ones: int, zeros: int, ring: list[tuple[int, float, float]]
) -> None:
    p, se = censored_contact(ones, zeros, ring)
    assert 0.0 < p < 1.0 and se > 0.0
    # one more answer never lowers it
    assert censored_contact(ones + 1, zeros, ring)[0] >= p - 1e-6


def test_the_window_widens_for_a_team_that_dials_few_calls() -> None:
    now_ = ContactNow(window_s=60.0, wide_s=240.0, min_calls=10)
    for i in range(8):
        now_.add(1000.0 - 200.0 + 20.0 * i, i % 2 == 0)  # 8 calls over 160 s
    assert now_.counts(1000.0, ringing=0) == (4, 4)  # under 10 calls a minute: 4 minutes
    assert now_.counts(1000.0, ringing=20) == (0, 1)  # enough with the ringing ones: 1 minute


def test_the_recent_high_forgets_after_its_memory() -> None:
    high = RecentHigh(memory_s=600.0)
    high.add(0.0, 0.3)
    high.add(300.0, 0.05)
    assert high.value(0.0) == 0.3
    high.add(700.0, 0.04)
    assert high.value(0.0) == 0.05


def test_surge_room() -> None:
    assert surge_room(expected_hi=10.0, per_call_hi=0.25, agents_free=8.0, allowance=2.0) == 0
    assert surge_room(expected_hi=6.0, per_call_hi=0.25, agents_free=8.0, allowance=1.0) == 12
    assert surge_room(expected_hi=0.0, per_call_hi=0.0, agents_free=1.0, allowance=0.0) > 10**6


def run(sc_agents: int, **kw: float) -> tuple[dict[str, object], PredictivePacer]:
    sc = dataclasses.replace(load_scenario("contact_collapse"), agents=sc_agents, day_hours=4.0)
    pacer = PredictivePacer(PredictiveSettings(grace_s=sc.grace_s, **kw))
    sim = Simulation(sc, pacer)
    raw = sim.run()
    tr = raw.trace
    hour, _ = worst_window_in_days(tr.minute_answered, tr.minute_abandoned, 60, 1, 240)
    s = summarize(raw)
    s["rolling_hour"] = hour
    return s, pacer


def test_the_surge_guard_bounds_the_hour_after_a_collapse_recovers() -> None:
    """The contact rate falls to a tenth for an hour, then comes back at once: with the guard
    and the estimate from the calls in flight, 5 agents' worst hour stays under 6%; without
    them (the pacer as it learned only from finished calls) it does not."""
    guarded, pacer = run(5)
    bare, _ = run(5, shift_z=0.0, surge_memory_s=0.0)
    assert pacer.guarded > 0 and pacer.shifts_down > 0
    assert guarded["rolling_hour"] <= 0.06
    assert bare["rolling_hour"] > guarded["rolling_hour"]
