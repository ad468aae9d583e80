"""Abandonment accounting for one campaign: rolling windows and the campaign's life.

Rules (the regulators' definitions, e.g. Ofcom's 24-hour and the FTC's 30-day rule):
- Only calls a live person answered count. An answered call not connected to an agent within the
  grace time (2 seconds) of the answer is abandoned, whether it heard the abandon message or the
  callee hung up first. See `is_abandoned`.
- The rate is abandoned / live answered, over each rolling window and over the campaign's life.
- Counts are kept in one-minute buckets, so memory is bounded (43,200 buckets for 30 days) and a
  window is exact to the minute.
After a restart, `restore` puts back the stored per-minute counts of the last 30 days (their times
shifted onto the new clock, `at = now - age`) and the life totals: see dialer/pacing/history.py.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from operator import itemgetter

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

    def add(self, b: int, answered: int, ab: int) -> None:
        last = self.buckets[-1] if self.buckets else None
        if last is not None and last[0] == b:
            last[1] += answered
            last[2] += ab
        elif last is not None and last[0] > b:
            # An outcome for an earlier minute (out-of-order feed): file it with the newest bucket
            # so the counts stay right; its expiry comes at most a bucket late.
            last[1] += answered
            last[2] += ab
        else:
            self.buckets.append([b, answered, ab])
        self.answered += answered
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
        self.add(at, 1, 1 if abandoned else 0)

    def add(self, at: float, answered: int, abandoned: int) -> None:
        """Count `answered` live-answered calls at time `at`, `abandoned` of them abandoned
        (another daemon's calls on the same campaign, as they reach the database)."""
        if not 0 <= abandoned <= answered:
            raise ValueError(f"need 0 <= abandoned <= answered, got {abandoned}/{answered}")
        if not answered:
            return
        b = int(at // self._bucket_s)
        for w in self._windows:
            w.expire(b)
            w.add(b, answered, abandoned)
        self._life_answered += answered
        self._life_abandoned += abandoned

    def restore(
        self, buckets: Iterable[tuple[float, int, int]], life_answered: int, life_abandoned: int
    ) -> None:
        """Put back stored counts after a restart, before any `record`: `(at, answered,
        abandoned)` per bucket, oldest first, and the life totals (which include them)."""
        if not 0 <= life_abandoned <= life_answered:
            raise ValueError("need 0 <= abandoned <= answered for the life totals")
        rows: list[list[int]] = []  # [bucket index, answered, abandoned], ascending
        for at, answered, abandoned in buckets:
            if not 0 <= abandoned <= answered:
                raise ValueError(f"need 0 <= abandoned <= answered, got {abandoned}/{answered}")
            if answered == 0:
                continue
            b = int(at // self._bucket_s)
            if rows and rows[-1][0] >= b:  # same minute (or out of order): as `_Window.add`
                rows[-1][1] += answered
                rows[-1][2] += abandoned
            else:
                rows.append([b, answered, abandoned])
        if rows:
            # Only what each window still covers at the newest bucket; 43,200 minutes in a
            # few milliseconds (the event loop must not stall while a campaign starts).
            last = rows[-1][0]
            for w in self._windows:
                w.expire(last)
                kept = rows[bisect_right(rows, last - w.span, key=itemgetter(0)) :]
                if w.buckets and kept and w.buckets[-1][0] >= kept[0][0]:
                    for b, answered, abandoned in kept:
                        w.add(b, answered, abandoned)
                    continue
                if kept:
                    # Windows share the older buckets (only a window's newest one is ever
                    # changed, by `add`), so each gets a copy of that one alone.
                    w.buckets.extend(kept[:-1])
                    w.buckets.append(list(kept[-1]))
                    w.answered += sum(map(itemgetter(1), kept))
                    w.abandoned += sum(map(itemgetter(2), kept))
        self._life_answered += life_answered
        self._life_abandoned += life_abandoned

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

    def ahead_totals(
        self, now: float, horizons_s: tuple[float, ...]
    ) -> list[list[tuple[int, int]]]:
        """Per window, per horizon `h` (ascending): the (answered, abandoned) of what the window
        holds now that it will still hold at `now + h` (its oldest minutes leave meanwhile).
        What a pacer adds from now on is not in it: that is the pacer's to plan."""
        b = int(now // self._bucket_s)
        out = []
        for w in self._windows:
            w.expire(b)
            answered, abandoned = w.answered, w.abandoned
            rows = []
            it = iter(w.buckets)
            nxt = next(it, None)
            for h in horizons_s:
                edge = b + int(h // self._bucket_s) - w.span  # buckets <= edge have left by then
                while nxt is not None and nxt[0] <= edge:
                    answered -= nxt[1]
                    abandoned -= nxt[2]
                    nxt = next(it, None)
                rows.append((answered, abandoned))
            out.append(rows)
        return out

    @property
    def recorded(self) -> int:
        """Live answers counted so far (restored ones included): changes with every record."""
        return self._life_answered

    @property
    def abandoned_recorded(self) -> int:
        """Abandonments counted so far (restored ones included)."""
        return self._life_abandoned

    @property
    def life(self) -> AbandonCount:
        return AbandonCount(None, self._life_answered, self._life_abandoned)
