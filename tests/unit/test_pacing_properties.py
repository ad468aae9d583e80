"""Property tests of the pacing invariants: whatever the snapshot, no pacer breaks a hard limit."""

from __future__ import annotations

import math
import random

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dialer.pacing.base import (
    MIN_RING_S,
    AgentActivity,
    AgentView,
    AgentWork,
    CallOutcome,
    Pacer,
    PacingLimits,
    PacingSnapshot,
    ProgressivePacer,
)
from dialer.pacing.estimators import ContactRate, DurationView
from dialer.pacing.ledger import AbandonLedger, is_abandoned
from dialer.pacing.limits import MAX_LINES_PER_AGENT
from dialer.pacing.predictive import PredictivePacer, PredictiveSettings
from dialer.pacing.ratio import AdaptiveRatioPacer, PowerPacer, PreviewPacer

NOW = 50_000.0

activities = st.sampled_from(list(AgentActivity))
agent_views = st.builds(
    lambda act, age: AgentView(act, NOW - age),
    activities,
    st.floats(min_value=-2.0, max_value=5000.0, allow_nan=False),
)
snapshots = st.builds(
    lambda agents, ring_ages, waiting, max_in_flight, max_new: PacingSnapshot(
        now=NOW,
        agents=tuple(agents),
        ringing_since=tuple(NOW - a for a in ring_ages),
        answered_waiting=waiting,
        limits=PacingLimits(max_in_flight=max_in_flight, max_new_now=max_new),
    ),
    st.lists(agent_views, max_size=120),
    st.lists(st.floats(min_value=-3.0, max_value=200.0, allow_nan=False), max_size=150),
    st.integers(min_value=0, max_value=15),
    st.integers(min_value=-20, max_value=600),
    st.integers(min_value=-5, max_value=200),
)


def trained_predictive(seed: int, settings: PredictiveSettings | None = None) -> PredictivePacer:
    """A predictive pacer past its warm-up, fed with outcomes like the reference campaign's."""
    rng = random.Random(seed)
    p = PredictivePacer(settings)
    t = 0.0
    for _ in range(400):
        t += rng.uniform(0.1, 2.0)
        if rng.random() < 0.3:
            ans = t + rng.uniform(5.0, 25.0)
            p.observe_call(CallOutcome(t, ans, ans + rng.uniform(0.0, 2.5), rng.random() < 0.03))
        else:
            p.observe_call(CallOutcome(t, None, t + 25.0, False))
    for _ in range(200):
        p.observe_work(AgentWork(rng.expovariate(1 / 120.0), 15.0))
    return p


PACERS: list[tuple[str, Pacer]] = [
    ("progressive", ProgressivePacer()),
    ("preview", PreviewPacer()),
    ("power", PowerPacer(2.5)),
    ("adaptive", AdaptiveRatioPacer(0.03, initial=4.0)),
    ("predictive-new", PredictivePacer()),
    ("predictive", trained_predictive(1)),
    ("predictive-eager", trained_predictive(2, PredictiveSettings(initial_threshold=0.5))),
    ("predictive-takes-back", trained_predictive(3, PredictiveSettings(cancel_over=1.0))),
]


def counts(snap: PacingSnapshot) -> tuple[int, int]:
    ready = sum(1 for a in snap.agents if a.activity is AgentActivity.READY)
    available = sum(1 for a in snap.agents if a.activity is not AgentActivity.PAUSED)
    return ready, available


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(snap=snapshots)
def test_no_pacer_breaks_a_hard_limit(snap: PacingSnapshot) -> None:
    ready, available = counts(snap)
    room = min(snap.limits.max_in_flight - snap.in_flight, snap.limits.max_new_now)
    for name, pacer in PACERS:
        d = pacer.decide(snap)
        assert isinstance(d.dial, int), name
        assert d.dial >= 0, name
        assert d.dial <= max(0, room), (name, d)
        if available == 0:
            assert d.dial == 0, (name, d)
        assert snap.in_flight + d.dial <= max(
            snap.in_flight, math.floor(MAX_LINES_PER_AGENT * available)
        ), (name, d)
        assert math.isfinite(d.level) and d.level >= 0.0, (name, d)
        assert d.reason and "\n" not in d.reason, (name, d)
        # a ringing call is hung up only when no call goes, and only one that has rung 15 s
        assert d.cancel >= 0, (name, d)
        if d.cancel:
            assert d.dial == 0, (name, d)
            rung = sum(1 for since in snap.ringing_since if snap.now - since >= MIN_RING_S)
            assert d.cancel <= rung, (name, d)
        if name in ("progressive", "preview", "predictive-new"):
            # one call per ready agent at most (predictive while it warms up)
            assert snap.in_flight + d.dial <= max(snap.in_flight, ready), (name, d)


@settings(max_examples=100, deadline=None)
@given(snap=snapshots, abandoned=st.integers(min_value=0, max_value=40))
def test_at_the_cap_predictive_falls_back_to_one_call_per_ready_agent(
    snap: PacingSnapshot, abandoned: int
) -> None:
    p = trained_predictive(3)
    # 300 live answers in the last minutes, with enough abandoned that one more breaks 3%
    p.ledger = AbandonLedger()
    for i in range(300):
        p.ledger.record(NOW - 60.0 + i * 0.1, i < 9 + abandoned)
    d = p.decide(snap)
    ready, _ = counts(snap)
    assert d.estimates is not None
    assert d.estimates.phase == "capped"
    assert snap.in_flight + d.dial <= max(snap.in_flight, ready)


@settings(max_examples=60, deadline=None)
@example(steps=[(1.0, 0, True), *[(1.0, 3, False)] * 30, (1.0, 0, True), (100.0, 3, False)])
@given(
    steps=st.lists(
        st.tuples(st.floats(min_value=0.0, max_value=90.0), st.integers(0, 3), st.booleans()),
        min_size=1,
        max_size=120,
    )
)
def test_the_phase_follows_every_answer_as_if_worked_out_afresh(
    steps: list[tuple[float, int, bool]],
) -> None:
    # A pacer deciding between answers keeps what it worked out from the ledger while it can
    # (at the cap or not: only a new minute or an abandonment can bring the cap nearer); a new
    # pacer that has seen the same outcomes works everything out from scratch.
    small = PredictiveSettings(brake_min_answered=20, burst_min_answered=10)
    p = trained_predictive(5, small)
    p.ledger = AbandonLedger((*small.windows_s, small.burst_s))  # the cap near: 20 answers
    t = NOW
    for dt, connected, abandoned in steps:
        t += dt
        for i in range(connected):
            p.ledger.record(t + i * 0.01, False)
        if abandoned:
            p.ledger.record(t, True)
        fresh = trained_predictive(5, small)
        fresh.ledger = p.ledger
        assert p._phase_at(t) == fresh._phase_at(t), t
        assert p._at_cap == fresh._at_cap
        assert p._rates == fresh._rates


@given(
    events=st.lists(
        st.tuples(st.floats(min_value=0.0, max_value=20_000.0), st.booleans()), max_size=200
    ),
    window_min=st.integers(min_value=1, max_value=300),
)
def test_ledger_counts_what_fell_in_each_window(
    events: list[tuple[float, bool]], window_min: int
) -> None:
    window = window_min * 60.0
    ledger = AbandonLedger(windows_s=(window, 30 * 86_400.0))
    t = 0.0
    log: list[tuple[float, bool]] = []
    for dt, ab in events:
        t += dt
        ledger.record(t, ab)
        log.append((t, ab))
    now = t + 1.0
    counts = ledger.counts(now)
    # minute buckets: a window holds the buckets (now_bucket - span, now_bucket]
    b_now = int(now // 60)
    inside = [ab for at, ab in log if int(at // 60) > b_now - window_min]
    assert counts[0].answered == len(inside)
    assert counts[0].abandoned == sum(inside)
    assert counts[-1].answered == len(log)
    assert counts[-1].abandoned == sum(ab for _, ab in log)
    for c in counts:
        assert 0.0 <= c.rate <= 1.0
        assert c.abandoned <= c.answered


@given(
    events=st.lists(
        st.tuples(st.floats(min_value=0.0, max_value=3000.0), st.booleans()), max_size=200
    ),
    window_min=st.integers(min_value=1, max_value=300),
    horizons_min=st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=5),
)
def test_ledger_knows_what_each_window_will_still_hold(
    events: list[tuple[float, bool]], window_min: int, horizons_min: list[int]
) -> None:
    window = window_min * 60.0
    ledger = AbandonLedger(windows_s=(window,))
    t = 0.0
    log: list[tuple[float, bool]] = []
    for dt, ab in events:
        t += dt
        ledger.record(t, ab)
        log.append((t, ab))
    now = t + 1.0
    horizons = tuple(sorted(60.0 * h for h in horizons_min))
    (ahead,) = ledger.ahead_totals(now, horizons)
    for h, (answered, abandoned) in zip(horizons, ahead, strict=True):
        # what the window at now + h holds, of the outcomes recorded so far
        later = AbandonLedger(windows_s=(window,))
        for at, ab in log:
            later.record(at, ab)
        count = later.counts(now + h)[0]
        assert (answered, abandoned) == (count.answered, count.abandoned)


@given(
    answered_at=st.floats(min_value=0.0, max_value=1e6),
    wait=st.one_of(
        st.none(),
        st.floats(min_value=0.0, max_value=1.99),
        st.floats(min_value=2.01, max_value=10.0),
    ),
)
def test_abandoned_means_not_connected_within_the_grace(
    answered_at: float, wait: float | None
) -> None:
    connected_at = None if wait is None else answered_at + wait
    expected = wait is None or wait > 2.0
    assert is_abandoned(answered_at, connected_at) == expected


@given(outcomes=st.lists(st.booleans(), min_size=1, max_size=500))
def test_contact_rate_stays_a_rate(outcomes: list[bool]) -> None:
    c = ContactRate()
    for i, answered in enumerate(outcomes):
        c.add(answered, float(i))
        assert 0.0 < c.value < 1.0
        assert 0.0 <= c.slow <= 1.0 and 0.0 <= c.fast <= 1.0


@given(
    samples=st.lists(st.floats(min_value=0.0, max_value=3000.0), min_size=1, max_size=300),
    age=st.floats(min_value=0.0, max_value=5000.0),
    y1=st.floats(min_value=0.0, max_value=100.0),
    y2=st.floats(min_value=0.0, max_value=100.0),
)
def test_done_within_is_a_monotone_probability(
    samples: list[float], age: float, y1: float, y2: float
) -> None:
    v = DurationView(samples)
    lo, hi = sorted((y1, y2))
    a, b = v.done_within(age, lo), v.done_within(age, hi)
    assert 0.0 <= a <= b <= 1.0
