"""The US and UK abandonment rates (`dialer.rules.abandonment`): definitions, windows exact to
the minute, the worst 24 hours against a brute force, the live rolling counts."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.domain.results import CallResult
from dialer.rules.abandonment import (
    DAY_MINUTES,
    DEFAULT_AMD_FALSE_POSITIVE_RATE,
    MONTH_MINUTES,
    AbandonFigures,
    MinuteCounts,
    Outcome,
    RollingCounts,
    classify,
    report,
    total,
    validate_false_positive_rate,
    worst_window,
)


def test_what_counts_as_what() -> None:
    assert classify(CallResult.CONNECTED, 150) is Outcome.CONNECTED
    assert classify("connected", None) is Outcome.CONNECTED
    assert classify("connected", 2000) is Outcome.CONNECTED  # within the 2 s grace
    assert classify("connected", 2001) is Outcome.ABANDONED  # an agent, but too late
    assert classify("abandoned", None) is Outcome.ABANDONED
    assert classify("machine", None) is Outcome.MACHINE
    for nobody in ("busy", "no_answer", "failed", "cancelled"):
        assert classify(nobody, None) is None
    with pytest.raises(ValueError, match="voicemail"):
        classify("voicemail", None)


def test_us_and_uk_rates() -> None:
    f = AbandonFigures(connected=90, abandoned=2, machines=50)
    assert f.answered == 92
    assert f.us_rate == pytest.approx(2 / 92)
    # Ofcom: 10 % of the 50 machine verdicts were people: 5 more abandoned live calls.
    assert f.estimated_false_positives(0.1) == pytest.approx(5.0)
    assert f.uk_rate(0.1) == pytest.approx(7 / 97)
    assert f.uk_rate(0.0) == pytest.approx(f.us_rate)
    assert AbandonFigures().us_rate is None and AbandonFigures().uk_rate(0.1) is None
    # only machines: every estimated person was hung up on
    assert AbandonFigures(0, 0, 10).uk_rate(0.1) == pytest.approx(1.0)
    assert AbandonFigures(0, 0, 10).us_rate is None


def test_false_positive_rate_is_a_share_below_one() -> None:
    assert validate_false_positive_rate(0) == 0.0
    assert validate_false_positive_rate(0.999) == 0.999
    for bad in (1, 1.5, -0.01, float("inf"), float("nan"), True, "0.1"):
        with pytest.raises(ValueError, match="amd_false_positive_rate"):
            validate_false_positive_rate(bad)  # type: ignore[arg-type]


def test_report_windows_end_with_now_and_are_exact_to_the_minute() -> None:
    now = 10_000_000  # an epoch minute
    buckets = [
        MinuteCounts(now - MONTH_MINUTES, connected=100),  # just out of the 30 days
        MinuteCounts(now - MONTH_MINUTES + 1, connected=10, abandoned=1),
        MinuteCounts(now - DAY_MINUTES, abandoned=3),  # just out of the 24 hours
        MinuteCounts(now - DAY_MINUTES + 1, connected=20, abandoned=1, machines=10),
        MinuteCounts(now, connected=5),
        MinuteCounts(now + 1, abandoned=50),  # after now: never counted
    ]
    r = report(buckets, now)
    assert r.fp_rate == DEFAULT_AMD_FALSE_POSITIVE_RATE and r.fp_rate_is_default
    assert r.life == AbandonFigures(135, 5, 10)
    assert r.last_30d == AbandonFigures(35, 5, 10)
    assert r.last_24h == AbandonFigures(25, 1, 10)
    assert r.last_24h.uk_rate(r.fp_rate) == pytest.approx(2 / 27)
    measured = report(buckets, now, 0.5)
    assert (measured.fp_rate, measured.fp_rate_is_default) == (0.5, False)
    assert measured.last_24h.uk_rate(0.5) == pytest.approx(6 / 31)
    # the worst 24 hours hold the 3 abandoned calls with nothing connected before them
    worst = r.worst_24h
    assert worst is not None
    assert worst.figures.abandoned >= 3
    assert worst.rate == pytest.approx(worst.figures.uk_rate(r.fp_rate))
    with pytest.raises(ValueError, match="amd_false_positive_rate"):
        report(buckets, now, 1.0)


def brute_worst(buckets: list[MinuteCounts], span: int, fp: float) -> float | None:
    lo = min(b.minute for b in buckets) - span
    hi = max(b.minute for b in buckets) + 1
    best = None
    for start in range(lo, hi + 1):
        rate = total(buckets, start, start + span).uk_rate(fp)
        if rate is not None and (best is None or rate > best):
            best = rate
    return best


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 120), st.integers(0, 4), st.integers(0, 3), st.integers(0, 5)),
        min_size=1,
        max_size=25,
        unique_by=lambda t: t[0],
    ),
    st.integers(1, 40),
    st.sampled_from([0.0, 0.1, 0.35]),
)
def test_worst_window_matches_every_window_tried(
    rows: list[tuple[int, int, int, int]], span: int, fp: float
) -> None:
    buckets = [MinuteCounts(m, c, a, x) for m, c, a, x in rows]
    worst = worst_window(buckets, span, fp)
    expected = brute_worst(buckets, span, fp)
    if expected is None:
        assert worst is None
        return
    assert worst is not None
    assert worst.rate == pytest.approx(expected)
    again = total(buckets, worst.start_minute, worst.start_minute + span)
    assert again == worst.figures  # the window it names holds what it says


def test_worst_window_of_a_day() -> None:
    day = DAY_MINUTES
    buckets = [
        MinuteCounts(0, connected=100),
        MinuteCounts(day + 10, connected=10, abandoned=1),
        MinuteCounts(day + 20, abandoned=1),
        MinuteCounts(3 * day, connected=100),
    ]
    worst = worst_window(buckets, day, 0.0)
    assert worst is not None
    # The window that starts just after the minute with 10 connected calls holds one call,
    # abandoned: "any 24 hours" includes that one.
    assert (worst.start_minute, worst.figures, worst.rate) == (
        day + 11,
        AbandonFigures(0, 1, 0),
        1.0,
    )
    calmer = worst_window([*buckets[:2], MinuteCounts(day + 5, connected=30)], day, 0.0)
    assert calmer is not None
    assert (calmer.figures, calmer.rate) == (AbandonFigures(10, 1, 0), pytest.approx(1 / 11))
    assert worst_window([], day, 0.1) is None
    assert worst_window([MinuteCounts(5, machines=3)], day, 0.0) is None  # no live call
    with pytest.raises(ValueError, match="span_minutes"):
        worst_window(buckets, 0, 0.1)


def test_rolling_counts_forget_after_the_span() -> None:
    counts = RollingCounts(span_s=3600.0, bucket_s=60.0)
    counts.record(0.0, Outcome.MACHINE)
    counts.record(30.0, Outcome.CONNECTED)
    counts.record(1800.0, Outcome.ABANDONED)
    counts.record(1700.0, Outcome.MACHINE)  # out of order: filed with the newest bucket
    assert counts.figures(1800.0) == AbandonFigures(1, 1, 2)
    assert counts.figures(3599.0) == AbandonFigures(1, 1, 2)
    assert counts.figures(3600.0) == AbandonFigures(0, 1, 1)  # the first minute has left
    assert counts.figures(1800.0 + 3600.0) == AbandonFigures()
    with pytest.raises(ValueError, match="at least one bucket"):
        RollingCounts(span_s=30.0, bucket_s=60.0)
