"""Abandonment rates as the regulators define them: pure values and functions, no I/O.

Rules:
- A live call is one a person answered: connected to an agent, or abandoned. An answered call
  is abandoned when no agent was connected within 2 seconds of the answer (it heard the
  abandon message, or the callee hung up first), so a late connection counts as abandoned
  (`classify`). Calls answering-machine detection classed as machines are counted apart.
- US rate (FTC, 16 CFR 310.4(b)(4)(i)): abandoned / live answered, per campaign over its life
  or over 30 days.
- UK rate (Ofcom's policy on persistent misuse: at most 3 % of live calls per campaign over any
  24 hours): the abandoned calls *including a reasoned estimate of AMD false positives* (people
  whom detection wrongly took for machines, and so hung up on or left a message) over the live
  calls including the same estimate::

      estimate = machine verdicts x the campaign's AMD false-positive rate
      UK rate  = (abandoned + estimate) / (connected + abandoned + estimate)

- The AMD false-positive rate is the share of machine verdicts that were really people. Ofcom
  names no figure: the caller must be able to justify its estimate, from tests of its own
  detection (listen to a sample of calls classed as machines). Until a campaign sets the rate
  it measured, `DEFAULT_AMD_FALSE_POSITIVE_RATE` (10 %) is assumed: our own cautious assumption,
  not a regulator's number, meant to overstate rather than understate the rate.
- Rates over windows are computed from counts per minute (`MinuteCounts`), so a 24-hour window
  is exact to the minute; `worst_window` finds the worst minute-aligned window of a span (the
  compliance question "was 3 % exceeded in any 24 hours?").
"""

from __future__ import annotations

import enum
import math
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate

from dialer.domain.results import CallResult
from dialer.pacing.ledger import GRACE_S  # from answer to agent; later: abandoned

DEFAULT_AMD_FALSE_POSITIVE_RATE = 0.10
DAY_MINUTES = 24 * 60
MONTH_MINUTES = 30 * DAY_MINUTES


def validate_false_positive_rate(
    value: float, field_name: str = "amd_false_positive_rate"
) -> float:
    """`value` if it is a share in [0, 1); ValueError naming the field otherwise (1 would mean
    that every machine verdict was a person: detection would then be pointless)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{field_name} must be a number between 0 and 1, got {value!r}")
    if not (math.isfinite(value) and 0.0 <= value < 1.0):
        raise ValueError(
            f"{field_name} must be a share of machine verdicts from 0 up to (not including) 1, "
            f"e.g. 0.05 for 5 %, got {value!r}"
        )
    return float(value)


class Outcome(enum.StrEnum):
    CONNECTED = "connected"  # a person, connected to an agent within the grace time
    ABANDONED = "abandoned"  # a person, no agent within the grace time
    MACHINE = "machine"  # answering-machine detection said machine


def classify(result: str | CallResult, answer_to_agent_ms: float | None) -> Outcome | None:
    """What a finished attempt counts as in the rates; None for a call nobody answered."""
    value = CallResult(result)
    if value is CallResult.MACHINE:
        return Outcome.MACHINE
    if value is CallResult.ABANDONED:
        return Outcome.ABANDONED
    if value is CallResult.CONNECTED:
        late = answer_to_agent_ms is not None and answer_to_agent_ms > GRACE_S * 1000
        return Outcome.ABANDONED if late else Outcome.CONNECTED
    return None


@dataclass(frozen=True, slots=True)
class AbandonFigures:
    """Counts over one span of time."""

    connected: int = 0
    abandoned: int = 0
    machines: int = 0

    def __add__(self, other: AbandonFigures) -> AbandonFigures:
        return AbandonFigures(
            self.connected + other.connected,
            self.abandoned + other.abandoned,
            self.machines + other.machines,
        )

    @property
    def answered(self) -> int:
        """Live answered calls (connected + abandoned)."""
        return self.connected + self.abandoned

    @property
    def us_rate(self) -> float | None:
        """abandoned / live answered; None before any live call."""
        return self.abandoned / self.answered if self.answered else None

    def estimated_false_positives(self, fp_rate: float) -> float:
        return self.machines * fp_rate

    def uk_rate(self, fp_rate: float) -> float | None:
        """(abandoned + estimate) / (live answered + estimate); None with no live call at all."""
        estimate = self.estimated_false_positives(fp_rate)
        live = self.answered + estimate
        return (self.abandoned + estimate) / live if live > 0 else None


@dataclass(frozen=True, slots=True)
class MinuteCounts:
    """Counts of the calls of one minute (`minute`: whole minutes since the Unix epoch)."""

    minute: int
    connected: int = 0
    abandoned: int = 0
    machines: int = 0

    @property
    def figures(self) -> AbandonFigures:
        return AbandonFigures(self.connected, self.abandoned, self.machines)


def total(
    buckets: Iterable[MinuteCounts], start: int | None = None, end: int | None = None
) -> AbandonFigures:
    """Counts of the minutes in [start, end) (either bound open when None)."""
    out = AbandonFigures()
    for b in buckets:
        if (start is None or b.minute >= start) and (end is None or b.minute < end):
            out = out + b.figures
    return out


@dataclass(frozen=True, slots=True)
class WorstWindow:
    start_minute: int  # the window is [start_minute, start_minute + span) in epoch minutes
    span_minutes: int
    figures: AbandonFigures
    rate: float


def worst_window(
    buckets: Sequence[MinuteCounts], span_minutes: int, fp_rate: float
) -> WorstWindow | None:
    """The minute-aligned window of `span_minutes` with the highest UK rate (the earliest of
    equals), over every window that holds at least one live call; None when none does.

    Exact: a window's calls change only when its start passes a bucket (the bucket leaves) or
    its end reaches one (the bucket enters), so the windows starting at a bucket, just after
    one, or ending at one cover every distinct set of calls. O(n log n) in the buckets.
    """
    if span_minutes < 1:
        raise ValueError("span_minutes must be at least 1")
    ordered = sorted(buckets, key=lambda b: b.minute)
    if not ordered:
        return None
    minutes = [b.minute for b in ordered]
    zero = (0, 0, 0)
    sums = list(
        accumulate(
            ((b.connected, b.abandoned, b.machines) for b in ordered),
            lambda a, b: (a[0] + b[0], a[1] + b[1], a[2] + b[2]),
            initial=zero,
        )
    )
    starts = sorted(
        {m for m in minutes} | {m + 1 for m in minutes} | {m - span_minutes + 1 for m in minutes}
    )
    best: WorstWindow | None = None
    for start in starts:
        lo = bisect_left(minutes, start)
        hi = bisect_left(minutes, start + span_minutes)
        if lo >= hi:
            continue
        c = tuple(b - a for b, a in zip(sums[hi], sums[lo], strict=True))
        figures = AbandonFigures(c[0], c[1], c[2])
        rate = figures.uk_rate(fp_rate)
        if rate is not None and (best is None or rate > best.rate):
            best = WorstWindow(start, span_minutes, figures, rate)
    return best


@dataclass(frozen=True, slots=True)
class AbandonmentReport:
    """A campaign's abandonment as both regulators count it, at minute `now_minute`."""

    now_minute: int
    fp_rate: float
    fp_rate_is_default: bool
    life: AbandonFigures  # the US rate over the campaign's life
    last_30d: AbandonFigures  # ... and over the last 30 days
    last_24h: AbandonFigures  # the UK rate over the last 24 hours
    worst_24h: WorstWindow | None  # the UK rate's worst 24 hours of the campaign's life


def report(
    buckets: Sequence[MinuteCounts],
    now_minute: int,
    fp_rate: float | None = None,
) -> AbandonmentReport:
    """Every figure of `AbandonmentReport` from the campaign's minute counts. A window ends with
    the minute `now_minute` (included)."""
    rate = DEFAULT_AMD_FALSE_POSITIVE_RATE if fp_rate is None else fp_rate
    validate_false_positive_rate(rate)
    end = now_minute + 1
    return AbandonmentReport(
        now_minute=now_minute,
        fp_rate=rate,
        fp_rate_is_default=fp_rate is None,
        life=total(buckets, None, end),
        last_30d=total(buckets, end - MONTH_MINUTES, end),
        last_24h=total(buckets, end - DAY_MINUTES, end),
        worst_24h=worst_window([b for b in buckets if b.minute < end], DAY_MINUTES, rate),
    )


class RollingCounts:
    """Live counts over the last `span_s` seconds in buckets of `bucket_s` (for the metrics:
    memory bounded by span / bucket, each record and read O(1) amortised)."""

    __slots__ = ("_bucket_s", "_buckets", "_span", "_sum")

    def __init__(self, span_s: float = 86_400.0, bucket_s: float = 60.0) -> None:
        if bucket_s <= 0 or span_s < bucket_s:
            raise ValueError("the span must be at least one bucket long")
        self._bucket_s = bucket_s
        self._span = round(span_s / bucket_s)
        self._buckets: deque[list[int]] = deque()  # [bucket, connected, abandoned, machines]
        self._sum = [0, 0, 0]

    def record(self, at: float, outcome: Outcome, n: int = 1) -> None:
        """Count `n` calls with this outcome at time `at`."""
        b = int(at // self._bucket_s)
        self._expire(b)
        i = (Outcome.CONNECTED, Outcome.ABANDONED, Outcome.MACHINE).index(outcome)
        last = self._buckets[-1] if self._buckets else None
        if last is None or last[0] < b:
            last = [b, 0, 0, 0]
            self._buckets.append(last)
        # An outcome for an earlier minute (out of order) is filed with the newest bucket: the
        # counts stay right and it leaves the window at most a bucket late.
        last[1 + i] += n
        self._sum[i] += n

    def _expire(self, b_now: int) -> None:
        oldest = b_now - self._span
        q = self._buckets
        while q and q[0][0] <= oldest:
            _, c, a, m = q.popleft()
            self._sum[0] -= c
            self._sum[1] -= a
            self._sum[2] -= m

    def figures(self, now: float) -> AbandonFigures:
        self._expire(int(now // self._bucket_s))
        return AbandonFigures(self._sum[0], self._sum[1], self._sum[2])
