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
from collections.abc import Awaitable, Callable
from typing import Any

from dialer.engine.ports import EngineStore
from dialer.store.errors import StoreRefused
from dialer.store.records import AttemptEnd, AttemptProgress, AttemptStart
from dialer.store.spool import Record, Spool, encode, kind_of

logger = logging.getLogger(__name__)


class CdrWriter:
    """The call records' way to the database (see the module's docstring), with what happens
    when it is away or refuses one:

    - The database is away: records stay queued, in memory up to `max_pending`; past that,
      or when the daemon stops with records still queued, they go to the spool file
      (`dialer.store.spool`), which the next flush (or the next start) replays first.
    - The database refuses a batch for its data: the batch is split until the refused record
      is alone; the others are written, that one is kept as a dead letter (table
      cdr_dead_letters, counted in `dead_letters`) and logged.
    """

    def __init__(
        self,
        store: EngineStore,
        flush_s: float,
        *,
        max_pending: int = 100_000,
        spool: Spool | None = None,
    ) -> None:
        self._store = store
        self._flush_s = flush_s
        self._max_pending = max_pending
        self._spool = spool
        self._starts: list[AttemptStart] = []
        self._progress: list[AttemptProgress] = []
        self._ends: list[AttemptEnd] = []
        # One flush at a time: a final flush at stop must wait for a periodic one in progress,
        # or the stop would close attempts whose real end is still being written.
        self._lock = asyncio.Lock()
        self.written_starts = 0
        self.written_ends = 0
        self.last_write_ms = 0.0
        self.dead_letters = 0
        self.spooled = spool.count() if spool is not None else 0
        self.failing = False  # the last flush found the database away

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
        """Write the spool, then what is queued. False if the database is away (kept)."""
        async with self._lock:
            ok = await self._flush()
            if not ok and self.pending > self._max_pending:
                self._spill()
            self.failing = not ok
            return ok

    async def replay(self) -> bool:
        """Write what the spool holds (at start: a predecessor may have left records)."""
        async with self._lock:
            return await self._replay()

    def spill(self) -> None:
        """Put every queued record in the spool (a stop while the database is away)."""
        self._spill()

    def _spill(self) -> None:
        records: list[Record] = [*self._starts, *self._progress, *self._ends]
        if not records or self._spool is None:
            return
        self._spool.spill(records)
        self._starts, self._progress, self._ends = [], [], []
        self.spooled += len(records)
        logger.warning(
            "database away: %d call records spooled to %s (replayed when it is back)",
            len(records),
            self._spool.path,
        )

    async def _replay(self) -> bool:
        spool = self._spool
        if spool is None or not self.spooled:
            return True
        held = spool.read()
        if not await self._write(held.starts, held.progress, held.ends, keep=False):
            return False
        spool.clear()
        logger.info("%d spooled call records written", len(held))
        self.spooled = 0
        return True

    async def _flush(self) -> bool:
        if not await self._replay():  # older records first
            return False
        starts, progress, ends = self._starts, self._progress, self._ends
        if not starts and not progress and not ends:
            return True
        self._starts, self._progress, self._ends = [], [], []
        t0 = time.perf_counter()
        if not await self._write(starts, progress, ends, keep=True):
            return False
        self.last_write_ms = (time.perf_counter() - t0) * 1000
        return True

    async def _write(
        self,
        starts: list[AttemptStart],
        progress: list[AttemptProgress],
        ends: list[AttemptEnd],
        *,
        keep: bool,
    ) -> bool:
        """Write starts, then progress, then ends (each a batch). The database away: False,
        and with `keep` what was not written goes back to the front of the queues."""
        writes: list[Callable[[list[Any]], Awaitable[object]]] = [
            self._store.write_starts,
            self._store.write_progress,
            self._store.write_ends,
        ]
        batches: list[list[Any]] = [starts, progress, ends]
        for i, (batch, write) in enumerate(zip(batches, writes, strict=True)):
            if not batch:
                continue
            try:
                await self._write_isolating(batch, write)
            except Exception as exc:  # the database away (or failing): keep, try again
                logger.warning(
                    "CDR write failed (%s); %d records kept for the next try",
                    exc,
                    sum(len(b) for b in batches[i:]),
                )
                if keep:  # batches before i are written; every write is idempotent
                    self._starts[:0] = starts if i == 0 else []
                    self._progress[:0] = progress if i <= 1 else []
                    self._ends[:0] = ends
                return False
            if i == 0:
                self.written_starts += len(batch)
            elif i == 2:
                self.written_ends += len(batch)
        return True

    async def _write_isolating(
        self, batch: list[Any], write: Callable[[list[Any]], Awaitable[object]]
    ) -> None:
        """Write `batch`; a refused one is halved until the refused records are alone, and
        those become dead letters. Other errors propagate (the batch is written again later:
        every write is idempotent)."""
        try:
            await write(batch)
            return
        except StoreRefused as exc:
            if len(batch) == 1:
                await self._dead_letter(batch[0], exc)
                return
        mid = len(batch) // 2
        await self._write_isolating(batch[:mid], write)
        await self._write_isolating(batch[mid:], write)

    async def _dead_letter(self, record: Record, exc: StoreRefused) -> None:
        await self._store.write_dead_letters([(kind_of(record), encode(record), str(exc))])
        self.dead_letters += 1
        logger.error(
            "the database refused a call record (%s); kept in cdr_dead_letters: %s %s",
            exc,
            kind_of(record),
            record.attempt_id,
            extra={"call": record.attempt_id},
        )
