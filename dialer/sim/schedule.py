"""Schedules: a value of a scenario that changes over the run (contact rate, talk time, wrap-up).

Rules:
- A schedule has a starting value and steps. A step sets a new value at a time: `daily` steps at
  an offset into every day (the evening hour), the others once, at a time since the start of the
  run (a list segment that goes bad on the second day).
- A step with `ramp_s` > 0 moves there linearly over that many seconds from the value before it
  (a slow drift); numbers only. Without a ramp the value jumps.
- The value at a moment is the latest step that has begun by then (daily steps of the current
  day, and once steps of the run, in time order), from the value before it.
Pure; values are numbers or any immutable value (a duration distribution) for steps alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

DAY_S = 86_400.0

V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Step(Generic[V]):
    at_s: float  # seconds into each day (daily) or since the start of the run (once)
    value: V
    daily: bool = True
    ramp_s: float = 0.0  # seconds to move linearly from the value before (numbers only)

    def __post_init__(self) -> None:
        if self.at_s < 0 or self.ramp_s < 0:
            raise ValueError("a step's time and ramp must be >= 0")
        if self.daily and self.at_s >= DAY_S:
            raise ValueError("a daily step must fall within the day")


@dataclass(frozen=True, slots=True)
class Schedule(Generic[V]):
    start: V
    steps: tuple[Step[V], ...] = ()

    def __post_init__(self) -> None:
        if any(s.ramp_s > 0 and not isinstance(s.value, int | float) for s in self.steps):
            raise ValueError("only numbers can ramp")

    @property
    def constant(self) -> bool:
        return not self.steps

    def values(self) -> tuple[V, ...]:
        """Every value it may take at a step (for samplers made in advance)."""
        return (self.start, *(s.value for s in self.steps))

    def _begun(self, t: float) -> list[tuple[float, int, Step[V]]]:
        """(when it began, its index, step) of every step begun by run time `t`, oldest
        first."""
        day0 = (t // DAY_S) * DAY_S
        out: list[tuple[float, int, Step[V]]] = []
        for i, s in enumerate(self.steps):
            at = day0 + s.at_s if s.daily else s.at_s
            if at <= t:
                out.append((at, i, s))
        out.sort(key=lambda x: (x[0], x[1]))
        return out

    def at(self, t: float) -> V:
        """The value at run time `t` (seconds since the start of the run)."""
        if not self.steps:
            return self.start
        value: V = self.start
        for began, _, s in self._begun(t):
            if s.ramp_s > 0 and t < began + s.ramp_s:
                lo = value
                hi = s.value
                f = (t - began) / s.ramp_s
                value = lo + f * (hi - lo)  # type: ignore[operator]  # numbers (checked above)
            else:
                value = s.value
        return value

    def index_at(self, t: float) -> int:
        """Which of `values()` holds at `t` (steps only: a ramp counts as done)."""
        begun = self._begun(t)
        return begun[-1][1] + 1 if begun else 0
