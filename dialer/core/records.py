"""What the core writes of a call: times on the wall clock, and the progress of a call in flight.

The core keeps time on a monotonic clock (the event loop's, or the simulator's virtual one);
records carry aware wall-clock datetimes. `WallClock` turns one into the other by a fixed offset
taken once, so a call's times stay consistent with each other whatever the wall clock does.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from dialer.domain import call as cl
from dialer.domain.results import CallResult
from dialer.store.records import AttemptProgress


class WallClock:
    """Turns core (monotonic) times into aware wall-clock datetimes for the records."""

    def __init__(self, offset: float) -> None:
        self._offset = offset  # wall-clock seconds at core time 0

    @classmethod
    def from_now(cls, core_now: float) -> WallClock:
        """The clock whose `core_now` is the wall clock's now."""
        return cls(time.time() - core_now)

    def at(self, core_time: float) -> datetime:
        return datetime.fromtimestamp(self._offset + core_time, UTC)

    def core_time(self, at: datetime) -> float:
        """The inverse of `at`: a stored wall-clock time on the core's clock."""
        return at.timestamp() - self._offset

    def wall(self, core_time: float) -> float:
        """A core time as a wall-clock epoch."""
        return self._offset + core_time


_OUTCOMES = {
    cl.CallState.CONNECTED: CallResult.CONNECTED,
    cl.CallState.ABANDONING: CallResult.ABANDONED,
    cl.CallState.MACHINE: CallResult.MACHINE,
}


def progress_of(call: cl.CallAttempt, clock: WallClock) -> AttemptProgress | None:
    """What is known of a call in flight, as a progress record; None before its first ring
    and once it ended (the end record says it all then)."""
    if call.state is cl.CallState.ENDED or (
        call.ringing_at is None and call.answered_at is None and call.message_at is None
    ):
        return None
    connected = call.connected_at is not None
    latency = call.answer_to_agent_ms
    return AttemptProgress(
        attempt_id=call.channel_id,
        ring_at=clock.at(call.ringing_at) if call.ringing_at is not None else None,
        answer_at=clock.at(call.answered_at) if call.answered_at is not None else None,
        agent_connect_at=clock.at(call.connected_at) if call.connected_at is not None else None,
        agent_id=int(call.agent_id) if connected and call.agent_id is not None else None,
        answer_to_agent_ms=round(latency) if latency is not None else None,
        message_at=clock.at(call.message_at) if call.message_at is not None else None,
        outcome=_OUTCOMES.get(call.state),
    )
