"""Online estimates a pacer learns from outcomes: contact rate and duration distributions.

Rules:
- A contact rate is a mean of 0/1 outcomes that forgets by count *and* by time, so a team of 100
  agents (a few outcomes a second) and a team of 5 (a few a minute) both follow a change of list or
  hour within minutes. A second, faster mean catches jumps: pacing uses the slower one unless the
  fast one is clearly above it (a rise of the contact rate is what causes abandonment), and when
  the two differ by many standard errors the slow one restarts from the fast one.
- A duration distribution is the empirical distribution of the last N observations (sorted lazily),
  with a memoryless tail past the data so that "time left, given the time already spent" is defined
  for any age.
Everything is pure: times come in as arguments.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import deque

_MAX_GAP_S = 30.0  # a longer gap between outcomes decays the means as much as this one


class ContactRate:
    """Share of resolved calls a person answered, forgetting old outcomes.

    Each outcome's weight decays by `1/n` per newer outcome and by `exp(-dt/tau_s)` per second, so
    the memory is about `min(n outcomes, tau_s seconds)`. `prior` counts as `prior_weight` outcomes
    until real ones replace it.
    """

    __slots__ = ("_fast", "_shift_z", "_slow", "_value", "count", "shifts")

    def __init__(
        self,
        prior: float = 0.3,
        *,
        slow_n: float = 400.0,
        slow_tau_s: float = 900.0,
        fast_n: float = 50.0,
        fast_tau_s: float = 120.0,
        prior_weight: float = 5.0,
        shift_z: float = 3.0,
    ) -> None:
        if not 0.0 < prior < 1.0:
            raise ValueError("prior contact rate must be in (0, 1)")
        self._slow = _DecayingMean(prior, prior_weight, slow_n, slow_tau_s)
        self._fast = _DecayingMean(prior, prior_weight, fast_n, fast_tau_s)
        self._shift_z = shift_z
        self.count = 0
        self.shifts = 0  # times the slow mean restarted from the fast one
        self._value = self._pacing_rate()

    def add(self, answered: bool, at: float) -> None:
        self.add_batch(1 if answered else 0, 1, at)

    def add_batch(self, answered: int, total: int, at: float) -> None:
        """`total` outcomes known at once (`answered` of them answered by a person), weighed as
        if they came in no particular order."""
        if total <= 0:
            return
        slow = self._slow
        fast = self._fast
        slow.add_batch(answered, total, at)
        fast.add_batch(answered, total, at)
        self.count += total
        # A shift (new list, new hour): the fast mean is many standard errors from the slow one.
        # The slow one then restarts from the fast one instead of taking its own time to follow.
        p = min(max(slow.mean, 0.02), 0.98)
        se = math.sqrt(p * (1.0 - p) * (1.0 / fast.weight + 1.0 / slow.weight))
        if abs(fast.mean - slow.mean) > self._shift_z * se:
            slow.restart_from(fast)
            self.shifts += 1
        self._value = self._pacing_rate()

    @property
    def slow(self) -> float:
        return self._slow.mean

    @property
    def fast(self) -> float:
        return self._fast.mean

    @property
    def value(self) -> float:
        """The rate to pace with (worked out when an outcome comes in: pacing reads it often)."""
        return self._value

    def _pacing_rate(self) -> float:
        """The slow mean, unless the fast one is clearly away from it: then the fast one, less
        one standard error on a rise (quick but cautious: a rise is what causes abandonment),
        plus two on a fall (a fall only costs agents' time)."""
        slow = self._slow.mean
        fast = self._fast.mean
        se = math.sqrt(max(fast * (1.0 - fast), 0.01) / max(self._fast.weight, 1.0))
        if fast - se > slow:
            rate = fast - se
        elif fast + 2.0 * se < slow:
            rate = fast + 2.0 * se
        else:
            rate = slow
        return min(max(rate, 0.001), 0.999)


class _DecayingMean:
    __slots__ = ("_count_decay", "_last_at", "_sum", "_tau_s", "weight")

    def __init__(self, prior: float, prior_weight: float, n: float, tau_s: float) -> None:
        self._sum = prior * prior_weight
        self.weight = prior_weight
        self._count_decay = 1.0 - 1.0 / n
        self._tau_s = tau_s
        self._last_at: float | None = None

    def add_batch(self, ones: int, n: int, at: float) -> None:
        """n outcomes at `at`, `ones` of them 1: as n single adds, each outcome weighed by the
        batch's mean (so their order within the batch does not matter)."""
        d = self._count_decay
        if self._last_at is not None and at > self._last_at:
            # A pause (a night, a stopped campaign) tells nothing about the list: time only
            # counts while outcomes keep coming.
            time_decay = math.exp(-min(at - self._last_at, _MAX_GAP_S) / self._tau_s)
        else:
            time_decay = 1.0
        if self._last_at is None or at > self._last_at:
            self._last_at = at
        dn = d**n
        added = (1.0 - dn) / (1.0 - d)  # the weights d^(n-1) + ... + d + 1
        self._sum = self._sum * dn * time_decay + added * ones / n
        self.weight = self.weight * dn * time_decay + added

    @property
    def mean(self) -> float:
        return self._sum / self.weight

    def restart_from(self, other: _DecayingMean) -> None:
        self._sum = other._sum
        self.weight = other.weight
        self._last_at = other._last_at


class DurationView:
    """A frozen empirical distribution (sorted samples) with a memoryless tail past the data."""

    __slots__ = ("mean", "samples", "tail_mean")

    def __init__(self, samples: list[float]) -> None:
        s = sorted(samples)
        self.samples = s
        n = len(s)
        self.mean = sum(s) / n if n else 0.0
        # Past the data: the mean excess over the top tenth of the samples, at least a second
        # (a constant wrap-up time has no spread at all).
        if n:
            k = max(1, n // 10)
            base = s[n - k - 1] if n > k else 0.0
            self.tail_mean = max(1.0, sum(s[n - k :]) / k - base, 0.05 * self.mean)
        else:
            self.tail_mean = 1.0

    def __len__(self) -> int:
        return len(self.samples)

    def cdf(self, x: float) -> float:
        s = self.samples
        return bisect_right(s, x) / len(s) if s else 0.0

    def quantile(self, q: float) -> float:
        s = self.samples
        if not s:
            return 0.0
        return s[min(len(s) - 1, max(0, int(q * len(s))))]

    def max(self) -> float:
        return self.samples[-1] if self.samples else 0.0

    def done_within(self, age: float, y: float, min_above: int = 5) -> float:
        """P(X <= age + y | X > age): the chance that something already `age` seconds in ends
        within `y` more seconds. Past the data, the tail is memoryless."""
        if y <= 0.0:
            return 0.0
        s = self.samples
        n = len(s)
        if n == 0:
            return 0.0
        i = bisect_right(s, age)
        above = n - i
        if above >= min_above:
            return (bisect_right(s, age + y) - i) / above
        return 1.0 - math.exp(-y / self.tail_mean)


class Durations:
    """The last `size` observations of a duration (seconds); `view()` freezes them for tables."""

    __slots__ = ("_buf", "_view", "count")

    def __init__(self, size: int = 500, prior: tuple[float, ...] = ()) -> None:
        if size < 1:
            raise ValueError("size must be >= 1")
        self._buf: deque[float] = deque(prior, maxlen=size)
        self._view: DurationView | None = None
        self.count = 0  # real observations (the prior is not counted)

    def add(self, x: float) -> None:
        if not math.isfinite(x):
            return
        self._buf.append(max(x, 0.0))
        self._view = None
        self.count += 1

    def __len__(self) -> int:
        return len(self._buf)

    def view(self) -> DurationView:
        v = self._view
        if v is None:
            v = self._view = DurationView(list(self._buf))
        return v
