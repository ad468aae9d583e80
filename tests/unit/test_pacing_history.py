"""A campaign's stored history put back after a restart: per-minute counts into the abandonment
ledgers (the same windows as recording call by call), recent outcomes into the pacer."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from dialer.pacing.base import (
    AgentActivity,
    AgentView,
    PacingLimits,
    PacingSnapshot,
    ProgressivePacer,
)
from dialer.pacing.history import CampaignHistory, StoredOutcome, restore_ledger, restore_pacer
from dialer.pacing.ledger import DAY_S, AbandonLedger
from dialer.pacing.predictive import PredictivePacer
from dialer.pacing.ratio import AdaptiveRatioPacer

WALL_NOW = 1_900_000_020.0  # epoch seconds when the history was read
LOOP_NOW = 5_000_040.0  # the new daemon's loop clock at the same moment (a whole minute apart)


def answered_calls(days: float, n: int, abandon_share: float, seed: int = 3) -> list[tuple]:
    """(wall time, abandoned) of `n` live answers over the last `days` days."""
    rnd = random.Random(seed)
    out = [
        (WALL_NOW - rnd.uniform(0, days * DAY_S), rnd.random() < abandon_share) for _ in range(n)
    ]
    return sorted(out)


def minutes_of(calls: list[tuple], span_s: float) -> tuple[tuple[float, int, int], ...]:
    """What the store's aggregate returns: per minute of the answer, within the span."""
    answered: Counter[int] = Counter()
    abandoned: Counter[int] = Counter()
    for t, ab in calls:
        if t >= WALL_NOW - span_s:
            answered[int(t // 60)] += 1
            abandoned[int(t // 60)] += ab
    return tuple((m * 60.0, answered[m], abandoned[m]) for m in sorted(answered))


def history(
    calls: list[tuple], recent: tuple[StoredOutcome, ...] = (), span_s: float = 30 * DAY_S
) -> CampaignHistory:
    return CampaignHistory(
        wall_now=WALL_NOW,
        minutes=minutes_of(calls, span_s),
        life_answered=len(calls),
        life_abandoned=sum(ab for _, ab in calls),
        recent=recent,
        wrapup_s=7.0,
    )


def test_restored_windows_equal_recording_every_call() -> None:
    calls = answered_calls(days=45, n=5000, abandon_share=0.03)
    restored = AbandonLedger()
    restore_ledger(restored, history(calls), LOOP_NOW)
    recorded = AbandonLedger()
    shift = LOOP_NOW - WALL_NOW
    for t, ab in calls:
        recorded.record(t + shift, ab)
    day, month, life = restored.counts(LOOP_NOW)
    in_day = [ab for t, ab in calls if t > WALL_NOW - DAY_S + 60]
    assert day.answered - len(in_day) in (0, 1, 2, 3)  # exact to the minute
    assert sum(in_day) <= day.abandoned
    assert 0 < month.answered < life.answered == 5000  # older than 30 days: life only
    assert life.abandoned == sum(ab for _, ab in calls)
    for later in (0.0, 3600.0, DAY_S, 10 * DAY_S):
        assert restored.counts(LOOP_NOW + later) == recorded.counts(LOOP_NOW + later)


def test_a_restored_minute_leaves_the_24h_window_on_time() -> None:
    calls = [(WALL_NOW - DAY_S + 150.0, True), (WALL_NOW - 3600.0, False)]
    ledger = AbandonLedger()
    restore_ledger(ledger, history(calls), LOOP_NOW)
    assert ledger.counts(LOOP_NOW)[0].abandoned == 1
    assert ledger.counts(LOOP_NOW + 60.0)[0].abandoned == 1  # 23 h 59 min old
    day = ledger.counts(LOOP_NOW + 180.0)[0]
    assert (day.answered, day.abandoned) == (1, 0)
    ledger.record(LOOP_NOW + 200.0, True)  # live calls go on from there
    assert ledger.counts(LOOP_NOW + 200.0)[0].abandoned == 1
    assert ledger.life.answered == 3


def test_restore_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError, match="abandoned <= answered"):
        AbandonLedger().restore([(0.0, 1, 2)], 1, 2)
    with pytest.raises(ValueError, match="life"):
        CampaignHistory(WALL_NOW, (), 1, 2, (), 0.0)


def recent_outcomes(n: int, contact: float, seed: int = 5) -> tuple[StoredOutcome, ...]:
    """`n` finished calls, one every 4 s up to the read: answered after a ring, talked for a
    while (a few abandoned), or rang out."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        t0 = WALL_NOW - (n - i) * 4.0 - 300.0
        if rnd.random() < contact:
            answer = t0 + rnd.uniform(3, 15)
            if rnd.random() < 0.05:
                out.append(StoredOutcome(t0, answer, answer + 2.0, True, None, answer + 4.0))
            else:
                talk = rnd.expovariate(1 / 90)
                out.append(
                    StoredOutcome(t0, answer, answer + 0.01, False, talk, answer + 0.01 + talk)
                )
        else:
            end = t0 + 25.0
            out.append(StoredOutcome(t0, None, end, False, None, end))
    return tuple(out)


def snap(ready: int, busy: int) -> PacingSnapshot:
    agents = [AgentView(AgentActivity.READY, LOOP_NOW - 5)] * ready
    agents += [AgentView(AgentActivity.TALKING, LOOP_NOW - 30)] * busy
    return PacingSnapshot(
        now=LOOP_NOW,
        agents=tuple(agents),
        ringing_since=(),
        answered_waiting=0,
        limits=PacingLimits(max_in_flight=1000, max_new_now=1000),
    )


def test_the_predictive_pacer_goes_on_where_it_was() -> None:
    recent = recent_outcomes(400, contact=0.3)
    calls = answered_calls(days=3, n=2000, abandon_share=0.02)
    h = history(calls, recent)
    before = PredictivePacer().decide(snap(5, 5)).estimates
    assert before is not None
    assert before.phase == "warm-up"

    pacer = PredictivePacer()
    restore_pacer(pacer, h, LOOP_NOW)
    answered = [o for o in recent if o.answered_at is not None]
    talked = [o for o in recent if o.talk_s is not None]
    assert pacer.contact.count == len(recent)
    assert pacer.answer_time.count == len(answered)
    assert pacer.no_contact_time.count == len(recent) - len(answered)
    assert pacer.talk_time.count == pacer.wrapup_time.count == len(talked)
    assert set(pacer.wrapup_time.view().samples) == {7.0}
    assert abs(pacer.contact.value - len(answered) / len(recent)) < 0.08
    # The ledger holds the stored minutes, not the replayed calls a second time.
    expected = AbandonLedger(pacer.ledger.windows_s)
    restore_ledger(expected, h, LOOP_NOW)
    assert pacer.ledger.counts(LOOP_NOW) == expected.counts(LOOP_NOW)
    assert pacer.ledger.life.answered == 2000
    decision = pacer.decide(snap(5, 5))
    assert decision.estimates is not None
    assert decision.estimates.phase == "predictive"
    assert decision.estimates.abandon_life == pytest.approx(h.life_abandoned / 2000)


def test_a_ratio_pacer_learns_from_the_replay_and_a_progressive_one_ignores_it() -> None:
    recent = recent_outcomes(300, contact=0.5)
    with_abandons = tuple(
        StoredOutcome(o.originated_at, o.answered_at, o.known_at, True, None, o.ended_at)
        if o.answered_at is not None and i % 3 == 0
        else o
        for i, o in enumerate(recent)
    )
    pacer = AdaptiveRatioPacer(target=0.03, initial=2.0)
    restore_pacer(pacer, history([], with_abandons), LOOP_NOW)
    assert pacer.ratio < 1.01  # a third abandoned: pushed down to one line per agent
    restore_pacer(ProgressivePacer(), history([], recent), LOOP_NOW)  # nothing to learn
