"""Calls per second (dialer.pacing.callrate): whatever the decisions and however late each
originate goes after its reservation, no sliding second holds more than the limit allows."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.pacing.callrate import CallRateLimiter, CallRates, max_in_any_window, window_rules


def test_rules_for_a_rate_and_a_burst() -> None:
    assert window_rules(50.0) == ((50, 1.0),)
    assert window_rules(50.0, 50) == ((50, 1.0),)
    assert window_rules(50.0, 10) == ((50, 1.0), (10, 0.2))  # 10 at once, then spread
    assert window_rules(50.0, 100) == ((100, 2.0),)  # a provider that counts over 2 s
    assert window_rules(0.5) == ((1, 2.0),)  # one call every 2 s
    assert window_rules(2.5) == ((2, 1.0),)  # whole calls in any second


def test_a_full_second_then_the_edge_of_the_next() -> None:
    """A token bucket with burst = rate lets 2 x rate through around a second's edge; the
    sliding window lets none of the next second's calls go until the first ones are a second
    old."""
    lim = CallRateLimiter(50.0)
    assert lim.start(0.99, 50)
    assert lim.available(1.01) == 0
    assert lim.available(1.98) == 0
    assert lim.available(1.9901) == 50


def test_a_burst_of_one_spaces_the_calls_evenly() -> None:
    lim = CallRateLimiter(10.0, burst=1)
    assert lim.start(0.0, 1)
    assert lim.available(0.05) == 0
    assert abs(lim.next_free_at(0.05) - 0.1) < 1e-6
    assert lim.available(0.1001) == 1


def test_max_in_any_window() -> None:
    assert max_in_any_window([]) == (0, 0.0)
    assert max_in_any_window([0.0, 0.5, 0.99, 1.0, 1.5]) == (3, 0.0)
    assert max_in_any_window([0.0, 1.0, 2.0]) == (1, 0.0)  # [s, s + 1) is half-open


@settings(max_examples=150, deadline=None)
@given(
    rate=st.floats(min_value=0.3, max_value=80.0),
    burst=st.one_of(st.none(), st.integers(min_value=1, max_value=120)),
    own=st.one_of(st.none(), st.floats(min_value=0.3, max_value=80.0)),
    steps=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=0.6),  # time to the next decision
            st.integers(min_value=0, max_value=200),  # calls the pacer asks for
            st.floats(min_value=0.0, max_value=1.5),  # delay until their originates go
            st.booleans(),  # one of them is refused (released, never sent)
        ),
        min_size=1,
        max_size=120,
    ),
)
def test_no_sliding_window_exceeds_the_limits(
    rate: float,
    burst: int | None,
    own: float | None,
    steps: list[tuple[float, int, float, bool]],
) -> None:
    trunk = CallRateLimiter(rate, burst)
    rates = CallRates(trunk) if own is None else CallRates(trunk, CallRateLimiter(own))
    t = 0.0
    due: list[tuple[float, int]] = []  # (send time, calls) reserved, not yet sent
    sent: list[float] = []

    def send_until(now: float) -> None:
        due.sort()
        while due and due[0][0] <= now:
            at, n = due.pop(0)
            rates.sent(at, n)
            sent.extend([at] * n)

    for dt, asked, delay, refuse in steps:
        t += dt
        send_until(t)
        n = min(asked, rates.available(t))
        assert n >= 0
        assert not rates.take(t, rates.available(t) + 1)  # too many: nothing reserved
        if n and rates.take(t, n):
            if refuse:
                rates.release(1)
                n -= 1
            if n:
                due.append((t + delay, n))
    send_until(math.inf)
    sent.sort()
    for most, span in window_rules(rate, burst):
        assert max_in_any_window(sent, span)[0] <= most
    if own is not None:
        for most, span in window_rules(own):
            assert max_in_any_window(sent, span)[0] <= most
