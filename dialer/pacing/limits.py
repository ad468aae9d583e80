"""Hard limits every pacer obeys, whatever its estimates say.

Rules:
- No calls unless some agent is logged in and ready, or busy and so about to be ready (a paused
  agent is neither).
- Never more calls in flight than `PacingLimits.max_in_flight` (the engine sets it from the
  campaign maximum and the trunk's free channels), never more new calls than
  `PacingLimits.max_new_now` (the trunk's calls-per-second budget), and never more than
  `max_lines_per_agent` calls in flight per available agent (a guard against a runaway estimate).
- Never a negative number.
`CallRateLimiter` is the per-trunk calls-per-second budget as a pure token bucket: the engine asks
`available(now)` to fill `max_new_now`, and `take(now, n)` for the calls it starts.
"""

from __future__ import annotations

import math

from dialer.pacing.base import AgentActivity, PacingSnapshot

MAX_LINES_PER_AGENT = 10.0
_READY = AgentActivity.READY  # a module constant: the enum's class attribute costs 0.1 us a look-up
_PAUSED = AgentActivity.PAUSED


def room(snap: PacingSnapshot, available_agents: int, max_lines_per_agent: float) -> int:
    """How many new calls the hard limits allow now (>= 0)."""
    if available_agents <= 0:
        return 0
    in_flight = snap.in_flight
    lim = snap.limits
    cap = math.floor(max_lines_per_agent * available_agents)
    n = min(lim.max_in_flight - in_flight, lim.max_new_now, cap - in_flight)
    return n if n > 0 else 0


class CallRateLimiter:
    """A token bucket: `rate` new calls per second, bursts of up to `burst` calls. One per trunk:
    every campaign dialing through the trunk draws from the same one."""

    __slots__ = ("_at", "_burst", "_rate", "_tokens")

    def __init__(self, rate: float, burst: float | None = None, now: float = 0.0) -> None:
        if not rate > 0 or not math.isfinite(rate):
            raise ValueError("rate must be a positive number of calls per second")
        self._rate = rate
        self._burst = max(1.0, rate if burst is None else burst)
        self._tokens = self._burst
        self._at = now

    @property
    def rate(self) -> float:
        return self._rate

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
            self._at = now

    def available(self, now: float) -> int:
        """Whole calls that may start now."""
        self._refill(now)
        return int(self._tokens + 1e-9)

    def take(self, now: float, n: int = 1) -> bool:
        """Start `n` calls if the budget allows all of them now (then True), else none."""
        self._refill(now)
        if n > self._tokens + 1e-9:
            return False
        self._tokens -= n
        return True

    def next_token_at(self, now: float) -> float:
        """When at least one whole call will be allowed."""
        self._refill(now)
        if self._tokens >= 1.0:
            return now
        return now + (1.0 - self._tokens) / self._rate


def agent_counts(snap: PacingSnapshot) -> tuple[int, int]:
    """(ready, available): available counts ready, talking and wrap-up agents, not paused ones."""
    ready = 0
    available = 0
    for a in snap.agents:
        act = a.activity
        if act is _READY:
            ready += 1
            available += 1
        elif act is not _PAUSED:
            available += 1
    return ready, available
