"""Batched CDR writing: the call path only appends; a flush task writes in batches.

At 50 attempts/s a round trip per event would make Postgres the pace-setter, so starts, progress
and ends are queued and written every `flush_s` in one statement each, in that order, so an
attempt's row exists before its progress and its end. Progress (ring, answer, agent connected,
outcome known, message started) is durable within a flush of the PBX event: a daemon killed
mid-call leaves rows that say what happened (`dialer.domain.recovery`). If the database is down,
the batch stays queued and is retried on the next flush: nothing is lost while the daemon runs,
and a clean stop flushes what is left.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from dialer.domain import call as cl
from dialer.domain.results import CallResult
from dialer.engine.ports import EngineStore
from dialer.store.records import AttemptEnd, AttemptProgress, AttemptStart

logger = logging.getLogger(__name__)


class WallClock:
    """Turns loop (monotonic) times into aware wall-clock datetimes for the records."""

    def __init__(self, loop_now: float) -> None:
        self._offset = time.time() - loop_now

    def at(self, loop_time: float) -> datetime:
        return datetime.fromtimestamp(self._offset + loop_time, UTC)

    def loop_time(self, at: datetime) -> float:
        """The inverse of `at`: a stored wall-clock time on the loop's clock."""
        return at.timestamp() - self._offset


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


class CdrWriter:
    def __init__(self, store: EngineStore, flush_s: float) -> None:
        self._store = store
        self._flush_s = flush_s
        self._starts: list[AttemptStart] = []
        self._progress: list[AttemptProgress] = []
        self._ends: list[AttemptEnd] = []
        # One flush at a time: a final flush at stop must wait for a periodic one in progress,
        # or the stop would close attempts whose real end is still being written.
        self._lock = asyncio.Lock()
        self.written_starts = 0
        self.written_ends = 0
        self.last_write_ms = 0.0

    def start(self, record: AttemptStart) -> None:
        self._starts.append(record)

    def progress(self, record: AttemptProgress) -> None:
        self._progress.append(record)

    def end(self, record: AttemptEnd) -> None:
        self._ends.append(record)

    @property
    def pending(self) -> int:
        return len(self._starts) + len(self._progress) + len(self._ends)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_s)
            await self.flush()

    async def flush(self) -> bool:
        """Write what is queued. Returns False if the database refused (the batch is kept)."""
        async with self._lock:
            return await self._flush()

    async def _flush(self) -> bool:
        starts, progress, ends = self._starts, self._progress, self._ends
        if not starts and not progress and not ends:
            return True
        self._starts, self._progress, self._ends = [], [], []
        t0 = time.perf_counter()
        try:
            if starts:
                await self._store.write_starts(starts)
                self.written_starts += len(starts)
                starts = []
            if progress:
                await self._store.write_progress(progress)
                progress = []
            if ends:
                await self._store.write_ends(ends)
                self.written_ends += len(ends)
                ends = []
        except Exception as exc:  # the store's errors vary; keep the records either way
            logger.warning(
                "CDR write failed (%s); %d records kept for the next try",
                exc,
                len(starts) + len(progress) + len(ends),
            )
            self._starts[:0] = starts
            self._progress[:0] = progress
            self._ends[:0] = ends
            return False
        self.last_write_ms = (time.perf_counter() - t0) * 1000
        return True
