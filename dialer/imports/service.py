"""Importing a lead file into a campaign's list: read it as it arrives, normalise, drop
numbers already in the list, store the rest, and report the rejected rows.

Nothing holds the whole file: the body is parsed chunk by chunk as it arrives (`Upload`, with
`reader.CsvFeed` / `reader.JsonFeed`), rows are checked and stored `STORE_CHUNK` at a time, and
the report keeps the first `REJECTED_KEPT` rejected rows (by line) and counts the rest, so a
1,000,000-row file costs the daemon a few MB (bench/results/import_stream.md). The event loop
stays responsive: parsing a chunk of the body, and checking the numbers in slices of `SLICE`
rows, each return to the loop, pipelined with the database (which works on its own core).

Duplicates within the file: inside one chunk the `Normaliser` finds them; across chunks the
numbers seen so far and the line that brought each live in a temporary table of the import's
transaction (Postgres holds them, not the daemon): adding a chunk's numbers there tells which
were seen before, and one look-up by key per chunk which are already in the list. Storing is
one transaction: the list is created if it does not exist, and the new leads of a chunk are
inserted with one statement (`store.leads.add_leads`, ``ON CONFLICT DO NOTHING``). Accepted
rows are stored even when other rows are rejected; a database error or a file that turns out
unreadable half-way stores nothing. Nothing here logs a phone number.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import gc
import heapq
import logging
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.imports.normalise import Accepted, Normaliser, Options, RejectCode, Rejected
from dialer.imports.reader import BadRow, CsvFeed, JsonFeed, Limits, RawRow
from dialer.store.engine import Database
from dialer.store.leads import add_leads
from dialer.store.records import NewLead
from dialer.store.tables import lead_lists

logger = logging.getLogger(__name__)

STORE_CHUNK = 1_000  # rows stored per statement
SLICE = 100  # rows checked between two returns to the event loop (~3 ms)
FEED_BYTES = 32_768  # bytes of the body parsed between two returns to the event loop
REJECTED_KEPT = 1_000  # rejected rows the report lists (the first by line); all are counted
DEFAULT_LIST = "default"

_SEEN_TABLE = text(
    "CREATE TEMPORARY TABLE import_seen (phone text PRIMARY KEY, line bigint NOT NULL) "
    "ON COMMIT DROP"
)
# One array parameter per column, not an IN list: asyncpg allows at most 32,767 bound values.
# Each statement looks rows up by key (never a join on the temporary table, which has no
# statistics: Postgres then scanned it whole for every chunk).
_SEEN_ADD = text(
    "INSERT INTO import_seen (phone, line) "
    "SELECT * FROM unnest(CAST(:phones AS text[]), CAST(:lines AS bigint[])) "
    "ON CONFLICT (phone) DO NOTHING RETURNING phone"
)
_SEEN_LINES = text("SELECT phone, line FROM import_seen WHERE phone = ANY(CAST(:phones AS text[]))")
_IN_LIST = text(
    "SELECT phone FROM leads WHERE list_id = :list_id AND phone = ANY(CAST(:phones AS text[]))"
)


class FileFormat(enum.StrEnum):
    CSV = "csv"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class Progress:
    phase: str  # "importing"
    done: int  # rows checked and stored so far
    total: int  # rows in the file: estimated from the bytes read until the end
    bytes_read: int = 0
    bytes_total: int = 0  # the declared length, 0 when not declared


@dataclass(frozen=True, slots=True)
class ImportReport:
    campaign_id: int
    list_id: int
    list_name: str
    format: FileFormat
    delimiter: str | None
    phone_column: str
    rows: int  # records read, blank lines not counted
    blank_lines: int
    inserted: int
    rejected: tuple[Rejected, ...]  # the first `REJECTED_KEPT`, by line
    zone_sources: dict[str, int]
    skipped_concurrent: int  # accepted, but another import stored the number first
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)  # rejected rows by code
    rejected_count: int = 0  # every rejected row


class Upload:
    """A lead file arriving in chunks (an HTTP body), parsed as it comes.

    `start()` reads until the header is known, so a file unreadable from its start is refused
    before anything is stored; `batches()` then gives the rows as they are parsed. A problem
    found later (`reader.ImportFormatError`) ends the import and stores nothing."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        fmt: FileFormat = FileFormat.CSV,
        *,
        delimiter: str | None = None,
        phone_column: str | None = None,
        size: int = 0,
        limits: Limits = Limits(),  # noqa: B008 (frozen)
    ) -> None:
        self.format = fmt
        self.feed: CsvFeed | JsonFeed = (
            JsonFeed(phone_column=phone_column, limits=limits)
            if fmt is FileFormat.JSON
            else CsvFeed(delimiter=delimiter, phone_column=phone_column, limits=limits)
        )
        self._chunks = chunks
        self.size = size
        self.bytes_read = 0
        self.rows = 0
        self._first: list[RawRow | BadRow] = []
        self._ended = False
        self._chunk = b""  # the body's chunk being parsed, from `_at` on
        self._at = 0

    @classmethod
    def of(cls, data: bytes, fmt: FileFormat = FileFormat.CSV, **kwargs: object) -> Upload:
        """A whole file already in memory, read the same way (tests and benchmarks)."""

        async def one() -> AsyncIterator[bytes]:
            yield data

        return cls(one(), fmt, size=len(data), **kwargs)  # type: ignore[arg-type]

    async def start(self) -> None:
        while not self.feed.header_read and not self._ended:
            await self._pull(self._first)

    async def batches(self) -> AsyncIterator[list[RawRow | BadRow]]:
        await self.start()
        if self._first:
            first, self._first = self._first, []
            yield first
        while not self._ended:
            out: list[RawRow | BadRow] = []
            await self._pull(out)
            if out:
                yield out

    async def _pull(self, out: list[RawRow | BadRow]) -> None:
        """Parse the next `FEED_BYTES` of the body (a chunk that arrived larger is parsed a
        piece at a time, so its rows never pile up)."""
        if self._at >= len(self._chunk):
            try:
                self._chunk, self._at = await anext(self._chunks), 0
            except StopAsyncIteration:
                self._ended = True
                rows = self.feed.close()
                self.rows += len(rows)
                out += rows
                return
            self.bytes_read += len(self._chunk)
        piece = self._chunk[self._at : self._at + FEED_BYTES]
        self._at += FEED_BYTES
        rows = self.feed.feed(piece)
        self.rows += len(rows)
        out += rows
        await asyncio.sleep(0)

    def estimated_rows(self) -> int:
        if self._ended or not self.size or not self.bytes_read:
            return self.rows
        return max(self.rows, round(self.rows * self.size / self.bytes_read))


async def list_id_for(session: AsyncSession, campaign_id: int, name: str) -> int:
    """The id of the campaign's list called `name`, created if missing (safe under races)."""
    await session.execute(
        pg_insert(lead_lists)
        .values(campaign_id=campaign_id, name=name)
        .on_conflict_do_nothing(index_elements=[lead_lists.c.campaign_id, lead_lists.c.name])
    )
    found = await session.execute(
        select(lead_lists.c.id).where(
            lead_lists.c.campaign_id == campaign_id, lead_lists.c.name == name
        )
    )
    return int(found.scalar_one())


@dataclass
class _Tally:
    list_id: int = 0
    inserted: int = 0
    fresh: int = 0
    rejected_count: int = 0
    kept: list[tuple[int, int, Rejected]] = field(default_factory=list)  # a heap: -line first
    counts: dict[str, int] = field(default_factory=lambda: {code.value: 0 for code in RejectCode})
    zone_sources: dict[str, int] = field(
        default_factory=lambda: {"column": 0, "number": 0, "default": 0}
    )

    def reject(self, r: Rejected) -> None:
        """Count every rejected row; keep the `REJECTED_KEPT` with the lowest lines."""
        self.rejected_count += 1
        self.counts[r.code.value] += 1
        entry = (-r.line, -self.rejected_count, r)
        if len(self.kept) < REJECTED_KEPT:
            heapq.heappush(self.kept, entry)
        elif entry > self.kept[0]:
            heapq.heapreplace(self.kept, entry)

    def rejected(self) -> tuple[Rejected, ...]:
        return tuple(r for _, _, r in sorted(self.kept, reverse=True))


async def _store_chunk(
    session: AsyncSession, list_id: int, accepted: list[Accepted], tally: _Tally
) -> None:
    """Store one checked chunk: numbers seen earlier in the file or already in the list are
    rejected, the rest inserted."""
    if not accepted:
        return
    phones = [a.phone for a in accepted]
    added = await session.execute(
        _SEEN_ADD, {"phones": phones, "lines": [a.line for a in accepted]}
    )
    new = set(added.scalars())
    earlier: dict[str, int] = {}
    if len(new) < len(phones):
        again = [p for p in phones if p not in new]
        found = await session.execute(_SEEN_LINES, {"phones": again})
        earlier = {phone: int(line) for phone, line in found}
    in_list = (
        set((await session.execute(_IN_LIST, {"list_id": list_id, "phones": list(new)})).scalars())
        if new
        else set()
    )
    fresh: list[NewLead] = []
    for a in accepted:
        line = earlier.get(a.phone)
        if line is not None:
            why = f"duplicate of line {line}"
            tally.reject(Rejected(a.line, RejectCode.DUPLICATE_IN_FILE, why, a.phone))
        elif a.phone in in_list:
            why = "already in the list"
            tally.reject(Rejected(a.line, RejectCode.ALREADY_IN_LIST, why, a.phone))
        else:
            fresh.append(NewLead(a.phone, a.time_zone, a.priority, None, a.extra))
            tally.zone_sources[a.zone_source] += 1
    tally.fresh += len(fresh)
    tally.inserted += await add_leads(session, list_id, fresh)


async def run_import(
    db: Database,
    campaign_id: int,
    upload: Upload,
    *,
    options: Options | None = None,
    list_name: str = DEFAULT_LIST,
    started: float | None = None,
) -> AsyncIterator[Progress | ImportReport]:
    """Yields `Progress` as it goes and the `ImportReport` last; the store's errors for the
    database and `reader.ImportFormatError` for a file unreadable half-way (then nothing was
    stored). `started` is a `time.perf_counter()` reading taken when the request came.

    Chunks go through a two-stage pipeline in the event loop itself: while Postgres stores
    chunk k, chunk k+1 is parsed and checked in slices with a return to the loop after each,
    so PBX events wait at most one slice (a few ms). (A worker thread was tried first: its
    fight for the GIL with the loop delayed the loop by up to 150 ms.)
    """
    started = time.perf_counter() if started is None else started
    normaliser = Normaliser(options or Options())
    tally = _Tally()
    with _gc_frozen():
        async for step in _pipeline(db, campaign_id, upload, normaliser, list_name, tally):
            yield step
    shape = upload.feed.shape()
    report = ImportReport(
        campaign_id=campaign_id,
        list_id=tally.list_id,
        list_name=list_name,
        format=upload.format,
        delimiter=shape.delimiter,
        phone_column=shape.phone_column,
        rows=upload.rows,
        blank_lines=shape.blank_lines,
        inserted=tally.inserted,
        rejected=tally.rejected(),
        zone_sources=tally.zone_sources,
        skipped_concurrent=tally.fresh - tally.inserted,
        seconds=round(time.perf_counter() - started, 3),
        counts=tally.counts,
        rejected_count=tally.rejected_count,
    )
    logger.info(
        "import into campaign %d list %s: %d rows, %d stored, %d rejected in %.2f s",
        campaign_id,
        list_name,
        report.rows,
        report.inserted,
        report.rejected_count,
        report.seconds,
        extra={"campaign": campaign_id},
    )
    yield report


async def _check(
    normaliser: Normaliser, rows: Sequence[RawRow | BadRow], tally: _Tally
) -> list[Accepted]:
    """The accepted rows of one chunk, checked in slices with a return to the loop after each.
    Duplicates are looked for within the chunk here; across chunks, by the database."""
    normaliser.first_line.clear()
    accepted: list[Accepted] = []
    for at in range(0, len(rows), SLICE):
        for result in normaliser.rows(rows[at : at + SLICE]):
            if isinstance(result, Accepted):
                accepted.append(result)
            else:
                tally.reject(result)
        await asyncio.sleep(0)
    return accepted


async def _pipeline(
    db: Database,
    campaign_id: int,
    upload: Upload,
    normaliser: Normaliser,
    list_name: str,
    tally: _Tally,
) -> AsyncIterator[Progress]:
    async with db.transaction() as session:
        # asyncpg prepares statements, and after five runs on a connection Postgres may
        # switch to a generic plan that cannot see the arrays' sizes: for the look-up by
        # phone it then scanned the whole table once per chunk (a 100,000-row import after a
        # few others went from 6 s to minutes). Plan each statement for its own parameters,
        # in this transaction only.
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        await session.execute(_SEEN_TABLE)
        list_id = tally.list_id = await list_id_for(session, campaign_id, list_name)
        yield Progress("importing", 0, upload.estimated_rows(), upload.bytes_read, upload.size)
        storing: asyncio.Task[None] | None = None
        done = 0
        pending: list[RawRow | BadRow] = []
        try:
            batches = upload.batches()
            ended = False
            while not ended or pending:
                if not ended and len(pending) < STORE_CHUNK:
                    try:
                        pending += await anext(batches)
                    except StopAsyncIteration:
                        ended = True
                    continue
                chunk, pending = pending[:STORE_CHUNK], pending[STORE_CHUNK:]
                accepted = await _check(normaliser, chunk, tally)
                if storing is not None:
                    task, storing = storing, None
                    await task
                    yield Progress(
                        "importing", done, upload.estimated_rows(), upload.bytes_read, upload.size
                    )
                done += len(chunk)
                storing = asyncio.create_task(_store_chunk(session, list_id, accepted, tally))
            if storing is not None:
                task, storing = storing, None
                await task
        finally:
            if storing is not None:
                storing.cancel()
                with contextlib.suppress(BaseException):
                    await storing
        yield Progress("importing", done, done, upload.bytes_read, upload.size)


_frozen = 0


@contextlib.contextmanager
def _gc_frozen() -> Iterator[None]:
    """Keep the objects that exist now out of the cyclic GC's full collections while an
    import runs: a 100,000-row import allocates enough to trigger several, and each one
    walked every object of the daemon, pausing the event loop 25-90 ms (measured). Nested
    imports share one freeze."""
    global _frozen
    if _frozen == 0:
        gc.freeze()
    _frozen += 1
    try:
        yield
    finally:
        _frozen -= 1
        if _frozen == 0:
            gc.unfreeze()
