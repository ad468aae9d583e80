"""Hard limits every pacer obeys, whatever its estimates say.

Rules:
- No calls unless some agent is logged in and ready, or busy and so about to be ready (a paused
  agent is neither).
- Never more calls in flight than `PacingLimits.max_in_flight` (the engine sets it from the
  campaign maximum and the trunk's free channels), never more new calls than
  `PacingLimits.max_new_now` (the trunk's and campaign's calls-per-second limits), and never
  more than `max_lines_per_agent` calls in flight per available agent (a guard against a runaway
  estimate).
- Never a negative number.
The calls-per-second limits that fill `max_new_now` are in `callrate`.
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
