"""Calls per second: a limit that holds in every sliding second, at the moment each originate
is sent.

Rules:
- A trunk allows `rate` new calls a second. Without a burst setting, no sliding second (any
  interval `[s, s + 1)`) holds more than `floor(rate)` originates (one every `1/rate` seconds
  when the rate is under one). A token bucket whose burst equals the rate lets twice that
  through around a calendar second's edge (a full bucket, then the refill); this does not.
- `burst` is the most calls that may start back to back. Under the per-second count it spreads
  the second's calls: at most `burst` in any `burst/rate` seconds (1: evenly spaced). Over it
  (a provider that measures over longer spans) a sliding `burst/rate` seconds may hold `burst`.
- A campaign may have a lower limit of its own; a call starts only when both its trunk's and its
  campaign's limits allow it (`CallRates`): the lower binds. The trunk's limiter is shared by
  every campaign dialing through it.
- Two steps, because an originate may be sent a little after the decision (a last DNC check
  runs in between): `take` reserves room when the pacer decides, `sent` records the originate
  when it goes (`release` gives back a reservation that never went). Reserved calls count as
  sent until then. So for any window ending at a send, every call sent in it was either counted
  when the last of them was reserved or was still reserved then: no window exceeds the limit,
  however the sends are delayed.
Pure: times come in as arguments (one monotonic clock).
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence

_EPS = 1e-9  # a send this close outside a window's edge still counts in it (float rounding)


def window_rules(rate: float, burst: int | None = None) -> tuple[tuple[int, float], ...]:
    """The sliding-window rules `(most calls, span in seconds)` for a rate and a burst."""
    if not rate > 0 or not math.isfinite(rate):
        raise ValueError("rate must be a positive number of calls per second")
    if burst is not None and burst < 1:
        raise ValueError("burst must be at least one call")
    per_second = max(1, math.floor(rate + _EPS))
    base = (per_second, per_second / rate if rate < 1.0 else 1.0)
    if burst is None or burst == per_second:
        return (base,)
    spread = (burst, burst / rate)
    if burst < per_second:
        return (base, spread)
    return (spread,)


class CallRateLimiter:
    """One limit's sends and reservations (one per trunk; one per campaign that has a limit)."""

    __slots__ = ("_burst", "_pending", "_rate", "_rules", "_sent", "_span")

    def __init__(self, rate: float, burst: int | None = None) -> None:
        self._sent: list[float] = []  # send times, ascending, within the longest span
        self._pending = 0  # reserved, not yet sent
        self.retune(rate, burst)

    def retune(self, rate: float, burst: int | None = None) -> None:
        """A new rate or burst (the trunk was edited); the calls already sent or reserved still
        count, so the change cannot open a gap in the windows."""
        self._rules = window_rules(rate, burst)
        self._rate = rate
        self._burst = burst
        self._span = max(span for _, span in self._rules)

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def burst(self) -> int | None:
        return self._burst

    @property
    def pending(self) -> int:
        return self._pending

    def _forget(self, now: float) -> None:
        sent = self._sent
        if sent and sent[0] <= now - self._span - _EPS:
            del sent[: bisect_right(sent, now - self._span - _EPS)]

    def available(self, now: float) -> int:
        """Calls that may be reserved now."""
        self._forget(now)
        sent = self._sent
        n = len(sent)
        free = math.inf
        for most, span in self._rules:
            in_window = n - bisect_right(sent, now - span - _EPS)
            free = min(free, most - in_window - self._pending)
        return max(0, int(free))

    def take(self, now: float, n: int = 1) -> bool:
        """Reserve `n` calls if all of them fit now (then True), else none."""
        if n < 0 or n > self.available(now):
            return False
        self._pending += n
        return True

    def sent(self, now: float, n: int = 1) -> None:
        """`n` calls' originates go now (reserved ones: a send that was not reserved, as after
        a campaign's limit was added meanwhile, still counts)."""
        self._pending = max(0, self._pending - n)
        sent = self._sent
        if sent and now < sent[-1]:
            now = sent[-1]  # one clock, never backwards: a stray older time counts as the last
        sent.extend([now] * n)

    def start(self, now: float, n: int = 1) -> bool:
        """Reserve and send `n` calls at once (the simulator's originates go at the decision)."""
        if not self.take(now, n):
            return False
        self.sent(now, n)
        return True

    def release(self, n: int = 1) -> None:
        """`n` reservations that will not be sent (the lead was refused, the originate failed
        before it went)."""
        self._pending = max(0, self._pending - n)

    def next_free_at(self, now: float) -> float:
        """When at least one more call may be reserved (`now` if one may already)."""
        if self.available(now) >= 1:
            return now
        sent = self._sent
        at = now
        for most, span in self._rules:
            room = most - self._pending
            if room <= 0:
                return math.inf  # only a send or a release frees room
            # the window must lose its oldest calls until `room - 1` are left in it
            in_window = len(sent) - bisect_right(sent, now - span - _EPS)
            if in_window >= room:
                at = max(at, sent[len(sent) - room] + span + 2 * _EPS)
        return at


class CallRates:
    """The limits one campaign's calls obey: its trunk's (shared) and its own, if it has one.
    The same interface as one limiter; the lower limit binds."""

    __slots__ = ("limiters",)

    def __init__(self, *limiters: CallRateLimiter) -> None:
        if not limiters:
            raise ValueError("at least one limit")
        self.limiters = limiters

    @property
    def rate(self) -> float:
        return min(lim.rate for lim in self.limiters)

    def available(self, now: float) -> int:
        return min(lim.available(now) for lim in self.limiters)

    def take(self, now: float, n: int = 1) -> bool:
        if n < 0 or n > self.available(now):
            return False
        for lim in self.limiters:
            lim.take(now, n)
        return True

    def sent(self, now: float, n: int = 1) -> None:
        for lim in self.limiters:
            lim.sent(now, n)

    def start(self, now: float, n: int = 1) -> bool:
        if not self.take(now, n):
            return False
        self.sent(now, n)
        return True

    def release(self, n: int = 1) -> None:
        for lim in self.limiters:
            lim.release(n)

    def next_free_at(self, now: float) -> float:
        return max(lim.next_free_at(now) for lim in self.limiters)


def max_in_any_window(times: Sequence[float], span: float = 1.0) -> tuple[int, float]:
    """The most of `times` (ascending) in any sliding window `[s, s + span)`, and where the
    busiest window starts: what a trunk's provider would count."""
    best, at = 0, 0.0
    j = 0
    n = len(times)
    for i in range(n):
        t0 = times[i]
        if j < i:
            j = i
        while j < n and times[j] < t0 + span:
            j += 1
        if j - i > best:
            best, at = j - i, t0
    return best, at
