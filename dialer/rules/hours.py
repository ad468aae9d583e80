"""Calling hours: when a person may be called, in that person's local time.

Rules:
- Each weekday (Monday = 0) has zero or more windows ``[start, end)`` in local wall-clock
  minutes (0..1440; 1440 is midnight at the end of the day). A holiday (a local date) uses the
  holiday windows instead of its weekday's; no holiday windows means no calls on holidays.
- "Open at instant t in zone z" looks at the wall clock in z at t, so a window keeps its local
  meaning across daylight-saving changes: 08:00–21:00 is 13 hours on most days, 12 or 14 on
  the days the clocks move, and a window that starts inside the skipped hour opens at the first
  instant the local clock reads at least its start.
- Every instant returned is in UTC. (Python compares two datetimes that share a tzinfo by
  their wall times, ignoring the DST fold; converting to UTC first avoids that trap.)
- With several candidate zones (a number whose region spans zones) a lead is callable only when
  every candidate zone is open: the safe reading when the callee's zone is not known.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MINUTES_PER_DAY = 1440
# How far ahead to look for an opening window: beyond a year a policy has no opening at all.
HORIZON_DAYS = 400


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """``[start, end)`` in minutes after local midnight; end may be 1440 (the next midnight)."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not (0 <= self.start < self.end <= MINUTES_PER_DAY):
            raise ValueError(
                f"calling window {self.start}..{self.end} min: need 0 <= start < end <= 1440"
            )

    @classmethod
    def parse(cls, text: str) -> Window:
        """``"08:00-21:00"`` (``24:00`` allowed as an end)."""
        try:
            first, second = text.split("-")
            return cls(_minutes(first), _minutes(second))
        except ValueError as exc:
            raise ValueError(f"calling window {text!r}: expected HH:MM-HH:MM ({exc})") from None

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"

    def contains(self, minute: float) -> bool:
        return self.start <= minute < self.end


def _minutes(text: str) -> int:
    hours, _, minutes = text.strip().partition(":")
    h, m = int(hours), int(minutes or "0")
    if not (0 <= m < 60 and 0 <= h <= 24) or (h == 24 and m != 0):
        raise ValueError(f"bad time {text!r}")
    return h * 60 + m


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _merge(windows: Iterable[Window]) -> tuple[Window, ...]:
    """Sorted, with overlapping or touching windows joined."""
    out: list[Window] = []
    for w in sorted(windows):
        if out and w.start <= out[-1].end:
            out[-1] = Window(out[-1].start, max(out[-1].end, w.end))
        else:
            out.append(w)
    return tuple(out)


def _offset(instant: datetime, zone: ZoneInfo) -> timedelta | None:
    return instant.astimezone(zone).utcoffset()


def _first_change(lo: datetime, hi: datetime, zone: ZoneInfo) -> datetime:
    """The first whole second in ``(lo, hi]`` with `hi`'s UTC offset (one change between)."""
    target = _offset(hi, zone)
    a, b = 0, int((hi - lo).total_seconds())
    while b - a > 1:
        mid = (a + b) // 2
        if _offset(lo + timedelta(seconds=mid), zone) == target:
            b = mid
        else:
            a = mid
    return lo + timedelta(seconds=b)


def local_instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The first UTC instant at which the clock in `zone` reads `minute` or later on local `day`.

    A wall time that occurs twice (clocks going back) gives its first occurrence (``fold=0``).
    One that does not exist (inside a spring-forward gap) gives the instant the clocks jump,
    since that is the first moment the local clock has passed it.
    """
    if minute >= MINUTES_PER_DAY:
        day, minute = day + timedelta(days=1), minute - MINUTES_PER_DAY
    wall = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
    first = wall.astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return first
    # In a gap: fold=1 maps with the offset after the jump, landing before it.
    before = wall.replace(fold=1).astimezone(UTC)
    return _first_change(min(before, first), max(before, first), zone)


def day_transition(day: date, zone: ZoneInfo) -> datetime | None:
    """The instant the UTC offset of `zone` changes on local `day`, if it does."""
    start = local_instant(day, 0, zone)
    end = local_instant(day, MINUTES_PER_DAY, zone)
    if _offset(start, zone) == _offset(end, zone):
        return None
    return _first_change(start, end, zone)


def _utc(instant: datetime) -> datetime:
    if instant.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got naive {instant!r}")
    return instant.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class CallingHours:
    weekdays: tuple[tuple[Window, ...], ...]  # 7 entries, Monday first
    holidays: frozenset[date] = frozenset()
    holiday_windows: tuple[Window, ...] = ()  # () = no calls on a holiday

    def __post_init__(self) -> None:
        if len(self.weekdays) != 7:
            raise ValueError(
                f"calling hours need 7 weekdays (Monday first), got {len(self.weekdays)}"
            )
        object.__setattr__(self, "weekdays", tuple(_merge(d) for d in self.weekdays))
        object.__setattr__(self, "holiday_windows", _merge(self.holiday_windows))
        object.__setattr__(self, "holidays", frozenset(self.holidays))

    @classmethod
    def every_day(cls, *windows: Window, holidays: Iterable[date] = ()) -> CallingHours:
        return cls(tuple(tuple(windows) for _ in range(7)), frozenset(holidays), ())

    def with_holidays(
        self, holidays: Iterable[date], windows: Sequence[Window] | None = None
    ) -> CallingHours:
        return CallingHours(
            self.weekdays,
            frozenset(holidays),
            self.holiday_windows if windows is None else tuple(windows),
        )

    def windows_on(self, day: date) -> tuple[Window, ...]:
        if day in self.holidays:
            return self.holiday_windows
        return self.weekdays[day.weekday()]

    def is_open(self, instant: datetime, zone: ZoneInfo) -> bool:
        local = _utc(instant).astimezone(zone)
        minute = local.hour * 60 + local.minute + local.second / 60 + local.microsecond / 6e7
        return any(w.contains(minute) for w in self.windows_on(local.date()))

    def next_open(self, instant: datetime, zone: ZoneInfo) -> datetime | None:
        """`instant` (in UTC) if open then, else the next instant the clock in `zone` enters a
        window; None if none does within `HORIZON_DAYS`.

        The candidates are each window's start and the day's offset change (clocks going back
        can re-enter a window); the first candidate after `instant` that is open wins, so the
        answer always agrees with `is_open`.
        """
        now = _utc(instant)
        if self.is_open(now, zone):
            return now
        today = now.astimezone(zone).date()
        for offset in range(HORIZON_DAYS + 1):
            day = today + timedelta(days=offset)
            found = self._first_flip(day, zone, now, want_open=True)
            if found is not None:
                return found
        return None

    def closes_at(self, instant: datetime, zone: ZoneInfo, within_days: int = 8) -> datetime | None:
        """When the window open at `instant` closes; None if closed at `instant` or still open
        `within_days` later (an around-the-clock policy)."""
        now = _utc(instant)
        if not self.is_open(now, zone):
            return None
        today = now.astimezone(zone).date()
        for offset in range(within_days + 1):
            found = self._first_flip(today + timedelta(days=offset), zone, now, want_open=False)
            if found is not None:
                return found
        return None

    def _first_flip(
        self, day: date, zone: ZoneInfo, after: datetime, *, want_open: bool
    ) -> datetime | None:
        edges = []
        for w in self.windows_on(day):
            minute = w.start if want_open else w.end
            edges.append(local_instant(day, minute, zone))
            if minute < MINUTES_PER_DAY:  # a repeated wall time (clocks going back): both
                wall = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=zone)
                edges.append(wall.replace(fold=1).astimezone(UTC))
        transition = day_transition(day, zone)
        if transition is not None:
            edges.append(transition)
        if not want_open:
            edges.append(local_instant(day, MINUTES_PER_DAY, zone))  # a new day, new windows
        for edge in sorted(edges):
            if edge > after and self.is_open(edge, zone) is want_open:
                return edge
        return None


def next_open_in_all(
    hours: CallingHours, zones: Sequence[ZoneInfo], instant: datetime, max_steps: int = 1000
) -> datetime | None:
    """The first instant at or after `instant` at which every zone is open (None: none within
    the horizon, e.g. zones too far apart for the windows to overlap).

    Leapfrog: move to each zone's next opening in turn; no step passes the earliest common
    opening (each zone's next opening is at or before it), so the first instant where no zone
    moves the clock is the answer.
    """
    if not zones:
        raise ValueError("at least one zone is needed")
    t = _utc(instant)
    limit = t + timedelta(days=HORIZON_DAYS)
    for _ in range(max_steps):
        moved = False
        for zone in zones:
            nxt = hours.next_open(t, zone)
            if nxt is None or nxt > limit:
                return None
            if nxt > t:
                t, moved = nxt, True
        if not moved:
            return t
    return None


def open_in_all(hours: CallingHours, zones: Sequence[ZoneInfo], instant: datetime) -> bool:
    return all(hours.is_open(instant, z) for z in zones)


def closes_in_all(
    hours: CallingHours, zones: Sequence[ZoneInfo], instant: datetime
) -> datetime | None:
    """When the common window open at `instant` closes (the first zone to close); None if it is
    closed at `instant` or open around the clock."""
    if not open_in_all(hours, zones, instant):
        return None
    ends = [e for e in (hours.closes_at(instant, z) for z in zones) if e is not None]
    return min(ends) if ends else None
