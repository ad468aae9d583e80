"""Attempt caps over time: per local day, rolling 24 hours, per local week and local month.

Rules:
- Caps count the campaign's earlier calls to the same number (cancelled attempts, which never
  reached the network, do not count, nor calls that failed on the network or that the trunk
  breaker gave back: the network's fault, not the number's, dialer.domain.causes; calls still
  in progress do).
- A day, week (Monday to Sunday) and month are the callee's calendar, in the lead's primary
  zone, so "1 a day" resets at the callee's midnight, not the server's.
- Rolling 24 hours: at most N calls in any 24-hour span; the next one may go when the oldest
  of the last N leaves the span.
- The lifetime cap is the campaign's `max_attempts` (the store's lease query enforces it).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dialer.rules.hours import local_instant


class CapKind(enum.StrEnum):
    PER_DAY = "per_day"
    ROLLING_24H = "rolling_24h"
    PER_WEEK = "per_week"
    PER_MONTH = "per_month"


@dataclass(frozen=True, slots=True)
class Caps:
    """None: no cap of that kind."""

    per_day: int | None = None
    rolling_24h: int | None = None
    per_week: int | None = None
    per_month: int | None = None

    def __post_init__(self) -> None:
        for kind in CapKind:
            value = getattr(self, kind.value)
            if value is not None and value < 1:
                raise ValueError(f"caps.{kind.value} must be at least 1 (or unset), got {value}")

    def items(self) -> list[tuple[CapKind, int]]:
        return [(k, v) for k in CapKind if (v := getattr(self, k.value)) is not None]


@dataclass(frozen=True, slots=True)
class CapHit:
    kind: CapKind
    cap: int
    counted: int
    until: datetime  # UTC: when one more call is allowed by this cap


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def cap_hits(caps: Caps, calls: Sequence[datetime], zone: ZoneInfo, now: datetime) -> list[CapHit]:
    """Every cap that `calls` (start times of the counted earlier calls) reach at `now`."""
    now = now.astimezone(UTC)
    past = sorted(c.astimezone(UTC) for c in calls if c <= now)
    if not past:
        return []
    today = now.astimezone(zone).date()
    local_days = [c.astimezone(zone).date() for c in past]
    hits: list[CapHit] = []
    for kind, cap in caps.items():
        if kind is CapKind.ROLLING_24H:
            recent = [c for c in past if c > now - timedelta(hours=24)]
            if len(recent) >= cap:
                hits.append(CapHit(kind, cap, len(recent), recent[-cap] + timedelta(hours=24)))
            continue
        if kind is CapKind.PER_DAY:
            first, nxt = today, today + timedelta(days=1)
        elif kind is CapKind.PER_WEEK:
            first = today - timedelta(days=today.weekday())
            nxt = first + timedelta(days=7)
        else:
            first = today.replace(day=1)
            nxt = _next_month(first)
        counted = sum(1 for d in local_days if first <= d < nxt)
        if counted >= cap:
            hits.append(CapHit(kind, cap, counted, local_instant(nxt, 0, zone)))
    return hits
