"""Other daemons' calls on a shared campaign, read from their CDRs now and then, and what each
read adds to this daemon's abandonment windows (the cap holds across daemons).

Rules:
- Each daemon counts its own calls live (when they end, before their CDR is written), so only
  the others' calls come from the database: a call is never counted twice and this daemon's
  unflushed CDRs need no merging. The store reads the others' calls per minute of the answer
  (`dialer.store.history`): (minute start, live answered, abandoned, machine verdicts).
- A CDR is written when its call ends, minutes after its answer, and only then has a result. So
  a read counts each minute again from `since` on, and what grew since the last read is new.
  Counts only grow (a call gets its result once); one that went down (a row deleted by hand)
  adds nothing until it grows past what was seen. An abandonment never goes without its answer.
- Seeded when the run's history is read: the same statement gives the others' per-minute counts
  of the last `LATE_S`, which the restored windows already hold. A call answered before that
  read whose CDR came after it (still talking then) is new at the next read: not lost.
- `since` moves on with the clock (minute aligned, `LATE_S` back), so a read scans a few hours
  of one campaign's CDRs (the index on campaign and originate time), however long the run; a
  CDR written more than `LATE_S` after its answer (a longer call, a daemon's database outage)
  is not counted here (the next restart's history has it).
Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

LATE_S = 3 * 3600.0  # a minute is read again for this long: a CDR comes at most this late
MINUTE_S = 60.0

Counts = tuple[float, int, int, int]  # (minute start, answered, abandoned, machines)


def since_for(wall_now: float) -> float:
    """The first minute a read at `wall_now` covers (epoch seconds, minute aligned)."""
    return math.floor((wall_now - LATE_S) / MINUTE_S) * MINUTE_S


class OthersTally:
    """What this daemon has counted of the others' calls on one campaign, per minute."""

    __slots__ = ("_seen", "_since")

    def __init__(self, since: float, seed: Iterable[Counts] = ()) -> None:
        if since != math.floor(since / MINUTE_S) * MINUTE_S:
            raise ValueError(f"since must be a minute start, got {since}")
        self._since = since
        self._seen: dict[float, tuple[int, int, int]] = {}
        for minute, answered, abandoned, machines in seed:
            _check(minute, answered, abandoned, machines)
            if minute >= since:
                self._seen[minute] = (answered, abandoned, machines)

    @property
    def since(self) -> float:
        """The first minute the last read covered (the seed's, before any)."""
        return self._since

    @property
    def minutes(self) -> int:
        """Minutes remembered (a few hundred at most: `LATE_S`)."""
        return len(self._seen)

    def next_since(self, wall_now: float) -> float:
        """The first minute to read at `wall_now`: never before the last read's."""
        return max(self._since, since_for(wall_now))

    def merge(self, since: float, rows: Iterable[Counts]) -> list[Counts]:
        """A read from `since` (`next_since`) gave `rows`, every minute from `since` on that has
        any: what is new in each minute since the last read (oldest first), to add to the
        windows. Minutes before `since` are forgotten: no read covers them again. A read that
        overtook a later one (reads may overlap) adds only what neither showed."""
        since = max(since, self._since)
        seen = self._seen
        if since > self._since:
            for minute in [m for m in seen if m < since]:
                del seen[minute]
            self._since = since
        new: list[Counts] = []
        for minute, answered, abandoned, machines in rows:
            _check(minute, answered, abandoned, machines)
            if minute < since:
                continue
            was = seen.get(minute, (0, 0, 0))
            now = (max(answered, was[0]), max(abandoned, was[1]), max(machines, was[2]))
            if now == was:
                continue
            seen[minute] = now
            d_abandoned = now[1] - was[1]
            # Only if counts went down and up again (rows deleted, others written) could the
            # abandonments grow more than the answers: keep every abandonment, with its answer.
            d_answered = max(now[0] - was[0], d_abandoned)
            new.append((minute, d_answered, d_abandoned, now[2] - was[2]))
        new.sort()
        return new


def _check(minute: float, answered: int, abandoned: int, machines: int) -> None:
    if not (0 <= abandoned <= answered and machines >= 0) or not math.isfinite(minute):
        raise ValueError(f"bad counts for minute {minute}: {answered}/{abandoned}/{machines}")
