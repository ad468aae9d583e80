"""Abandonment accounting for one campaign: rolling windows and the campaign's life.

Rules (the regulators' definitions, e.g. Ofcom's 24-hour and the FTC's 30-day rule):
- Only calls a live person answered count. An answered call not connected to an agent within the
  grace time (2 seconds) of the answer is abandoned, whether it heard the abandon message or the
  callee hung up first. See `is_abandoned`.
- The rate is abandoned / live answered, over each rolling window and over the campaign's life.
- Counts are kept in one-minute buckets, so memory is bounded (43,200 buckets for 30 days) and a
  window is exact to the minute.
To restore the windows after a restart, `record` the stored outcomes of the last 30 days with their
times shifted onto the new clock (`at = now - age`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

DAY_S = 86_400.0
WINDOWS_S: tuple[float, ...] = (DAY_S, 30 * DAY_S)
GRACE_S = 2.0


def is_abandoned(answered_at: float, connected_at: float | None, grace_s: float = GRACE_S) -> bool:
    """An answered call is abandoned unless an agent was connected within `grace_s` of it."""
    return connected_at is None or connected_at - answered_at > grace_s


@dataclass(frozen=True, slots=True)
class AbandonCount:
    window_s: float | None  # None: the campaign's life
    answered: int
    abandoned: int

    @property
    def rate(self) -> float:
        return self.abandoned / self.answered if self.answered else 0.0


class _Window:
    __slots__ = ("abandoned", "answered", "buckets", "span")

    def __init__(self, span: int) -> None:
        self.span = span  # in buckets
        self.buckets: deque[list[int]] = deque()  # [bucket index, answered, abandoned]
        self.answered = 0
        self.abandoned = 0

    def add(self, b: int, abandoned: bool) -> None:
        ab = 1 if abandoned else 0
        last = self.buckets[-1] if self.buckets else None
        if last is not None and last[0] == b:
            last[1] += 1
            last[2] += ab
        elif last is not None and last[0] > b:
            # An outcome for an earlier minute (out-of-order feed): file it with the newest bucket
            # so the counts stay right; its expiry comes at most a bucket late.
            last[1] += 1
            last[2] += ab
        else:
            self.buckets.append([b, 1, ab])
        self.answered += 1
        self.abandoned += ab

    def expire(self, b_now: int) -> None:
        oldest = b_now - self.span  # buckets <= oldest are out of the window
        q = self.buckets
        while q and q[0][0] <= oldest:
            _, ans, ab = q.popleft()
            self.answered -= ans
            self.abandoned -= ab


class AbandonLedger:
    """Answered and abandoned counts over rolling windows and the campaign's life."""

    __slots__ = ("_bucket_s", "_life_abandoned", "_life_answered", "_windows", "_windows_s")

    def __init__(self, windows_s: tuple[float, ...] = WINDOWS_S, bucket_s: float = 60.0) -> None:
        if bucket_s <= 0 or any(w < bucket_s for w in windows_s):
            raise ValueError("windows must be at least one bucket long")
        self._bucket_s = bucket_s
        self._windows_s = windows_s
        self._windows = [_Window(round(w / bucket_s)) for w in windows_s]
        self._life_answered = 0
        self._life_abandoned = 0

    @property
    def windows_s(self) -> tuple[float, ...]:
        return self._windows_s

    def record(self, at: float, abandoned: bool) -> None:
        """Count one live-answered call (abandoned or connected) at time `at`."""
        b = int(at // self._bucket_s)
        for w in self._windows:
            w.expire(b)
            w.add(b, abandoned)
        self._life_answered += 1
        self._life_abandoned += 1 if abandoned else 0

    def counts(self, now: float) -> tuple[AbandonCount, ...]:
        """One count per window (in the order given), then the life count."""
        b = int(now // self._bucket_s)
        out = []
        for w, span in zip(self._windows, self._windows_s, strict=True):
            w.expire(b)
            out.append(AbandonCount(span, w.answered, w.abandoned))
        out.append(AbandonCount(None, self._life_answered, self._life_abandoned))
        return tuple(out)

    def window_totals(self, now: float) -> list[tuple[int, int]]:
        """(answered, abandoned) per window: the cheap form of `counts` for every decision."""
        b = int(now // self._bucket_s)
        out = []
        for w in self._windows:
            w.expire(b)
            out.append((w.answered, w.abandoned))
        return out

    @property
    def life(self) -> AbandonCount:
        return AbandonCount(None, self._life_answered, self._life_abandoned)
