"""Agent behaviour over a simulated day: joining, leaving and pausing in waves.

Rules:
- A wave is an `AgentWave`: at a time (into each day, or once since the start of the run) a
  number of agents, or a share of those logged in, join, leave or pause.
- join: agents log in and are ready at once (new ones if every known agent is logged in).
- leave: agents log out after their current call (and its wrap-up); ready ones at once. The
  ready ones go first, then those whose call started last (their call has the longest to run:
  the pacer sees them go later).
- pause: as leave, but they come back ready `pause_s` after the pause began (or, for those who
  finished a call first, after their wrap-up plus `pause_s`).
- `pick` chooses who; it is pure and the simulator's run loop does the rest, so the waves, the
  choice and their tests stay apart from the loop.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

DAY_S = 86_400.0


class WaveKind(enum.Enum):
    JOIN = "join"
    LEAVE = "leave"
    PAUSE = "pause"


@dataclass(frozen=True, slots=True)
class AgentWave:
    at_s: float  # into each day (daily) or since the start of the run (once)
    kind: WaveKind
    count: int = 0  # agents, or...
    share: float = 0.0  # ...a share of those logged in (rounded up), when count is 0
    pause_s: float = 0.0  # pause: how long
    daily: bool = True

    def __post_init__(self) -> None:
        if self.at_s < 0 or self.count < 0 or not 0.0 <= self.share <= 1.0:
            raise ValueError("a wave needs at_s >= 0, count >= 0 and a share in [0, 1]")
        if self.kind is WaveKind.PAUSE and self.pause_s <= 0:
            raise ValueError("a pause wave needs pause_s > 0")
        if self.daily and self.at_s >= DAY_S:
            raise ValueError("a daily wave must fall within the day")

    def size(self, logged_in: int) -> int:
        """How many agents the wave moves, with `logged_in` agents logged in."""
        if self.count:
            return self.count
        return math.ceil(self.share * logged_in - 1e-9)

    def times(self, days: int, day_s: float) -> list[float]:
        """When it happens in a run of `days` days of `day_s` seconds (within the day only)."""
        if not self.daily:
            return [self.at_s]
        return [d * DAY_S + self.at_s for d in range(days) if self.at_s < day_s]


def pick(ready: Sequence[int], busy_since: Sequence[tuple[float, int]], n: int) -> list[int]:
    """Which agents a leave or pause wave takes: `n` of them, the ready ones first, then the
    busy ones whose call started last (`busy_since`: (when, agent))."""
    chosen = list(ready[:n])
    if len(chosen) < n:
        later_first = sorted(busy_since, key=lambda x: (-x[0], x[1]))
        chosen += [a for _, a in later_first[: n - len(chosen)]]
    return chosen
