"""The CDR writer when the database is away or refuses a record: nothing lost, nothing blocked.
Pure: an in-memory store stands for the database (the SQL is tested on Postgres in
tests/integration/test_store_cdr_outage.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.domain.results import CallResult
from dialer.engine.cdr import CdrWriter
from dialer.store.errors import StoreRefused, StoreUnavailable
from dialer.store.records import AttemptEnd, AttemptProgress, AttemptStart
from dialer.store.spool import Spool, SpoolError, decode, encode

T0 = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)


def start(lead: int) -> AttemptStart:
    return AttemptStart(str(uuid.uuid4()), lead, 1, 1, "d#1", T0)


class MemoryStore:
    """Writes kept in lists; `away` makes every write fail as a lost database would;
    `refused_leads` are leads whose records the database refuses (a vanished key)."""

    def __init__(self) -> None:
        self.starts: dict[str, AttemptStart] = {}
        self.progress: list[AttemptProgress] = []
        self.ends: dict[str, AttemptEnd] = {}
        self.dead: list[tuple[str, str, str]] = []
        self.away = False
        self.refused_leads: set[int] = set()
        self.writes = 0

    def _check(self) -> None:
        self.writes += 1
        if self.away:
            raise StoreUnavailable("127.0.0.1:5432/t", "connection refused")

    async def write_starts(self, starts: Sequence[AttemptStart]) -> None:
        self._check()
        if any(s.lead_id in self.refused_leads for s in starts):
            raise StoreRefused("ForeignKeyViolationError: lead_id not present in leads")
        for s in starts:
            self.starts.setdefault(s.attempt_id, s)  # ON CONFLICT DO NOTHING

    async def write_progress(self, updates: Sequence[AttemptProgress]) -> None:
        self._check()
        self.progress.extend(updates)

    async def write_ends(self, ends: Sequence[AttemptEnd]) -> object:
        self._check()
        for e in ends:
            if e.attempt_id in self.starts:
                self.ends.setdefault(e.attempt_id, e)  # an attempt ends once
        return None

    async def write_dead_letters(self, letters: Sequence[tuple[str, str, str]]) -> None:
        self._check()
        self.dead.extend(letters)


def writer(store: MemoryStore, tmp_path: Path, max_pending: int = 100) -> CdrWriter:
    return CdrWriter(store, 0.01, max_pending=max_pending, spool=Spool(tmp_path / "spool.jsonl"))


async def test_a_refused_record_is_set_apart_and_the_others_written(tmp_path: Path) -> None:
    store = MemoryStore()
    store.refused_leads = {13}
    cdr = writer(store, tmp_path)
    starts = [start(lead) for lead in range(1, 21)]
    for s in starts:
        cdr.start(s)
    assert await cdr.flush()
    assert sorted(s.lead_id for s in store.starts.values()) == [
        lead for lead in range(1, 21) if lead != 13
    ]
    ((kind, record, error),) = store.dead
    assert (kind, decode(record)) == ("start", starts[12])
    assert "ForeignKeyViolationError" in error
    assert cdr.dead_letters == 1 and cdr.pending == 0 and not cdr.failing
    # ... and later writes are not blocked by it
    cdr.start(start(21))
    assert await cdr.flush()
    assert len(store.starts) == 20


async def test_the_database_away_keeps_then_spools_then_replays_once(tmp_path: Path) -> None:
    store = MemoryStore()
    cdr = writer(store, tmp_path, max_pending=5)
    store.away = True
    first = [start(lead) for lead in range(1, 4)]
    for s in first:
        cdr.start(s)
    assert not await cdr.flush()
    assert cdr.failing and cdr.pending == 3 and cdr.spooled == 0  # under the bound: memory
    more = [start(lead) for lead in range(4, 8)]
    for s in more:
        cdr.start(s)
    cdr.end(AttemptEnd(first[0].attempt_id, T0 + timedelta(seconds=9), CallResult.BUSY))
    assert not await cdr.flush()
    assert (cdr.pending, cdr.spooled) == (0, 8)  # past the bound: to the spool file
    assert Spool(tmp_path / "spool.jsonl").count() == 8
    # A new daemon (same spool) starts while the database is still away, then it is back.
    again = writer(store, tmp_path, max_pending=5)
    assert again.spooled == 8
    assert not await again.replay()
    store.away = False
    cdr.start(start(8))  # the first writer's own record, after the spool
    assert await again.replay()
    assert await cdr.flush()  # its replay finds the file gone: nothing twice
    assert sorted(s.lead_id for s in store.starts.values()) == list(range(1, 9))
    assert list(store.ends) == [first[0].attempt_id]
    assert not (tmp_path / "spool.jsonl").exists() and again.spooled == 0


async def test_a_stop_with_the_database_away_spools_everything(tmp_path: Path) -> None:
    store = MemoryStore()
    cdr = writer(store, tmp_path)
    store.away = True
    cdr.start(start(1))
    cdr.progress(AttemptProgress(str(uuid.uuid4()), ring_at=T0))
    assert not await cdr.flush()
    cdr.spill()
    assert (cdr.pending, cdr.spooled) == (0, 2)
    held = Spool(tmp_path / "spool.jsonl").read()
    assert (len(held.starts), len(held.progress), len(held.ends)) == (1, 1, 0)


_times = st.none() | st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(
    lead=st.integers(1, 2**62),
    ring=_times,
    result=st.sampled_from(list(CallResult)),
    cause=st.none() | st.integers(0, 127),
    text=st.none() | st.text(max_size=40),
)
def test_spool_lines_round_trip(
    lead: int, ring: datetime | None, result: CallResult, cause: int | None, text: str | None
) -> None:
    aid = str(uuid.uuid4())
    records = [
        AttemptStart(aid, lead, 2, None, "d#x", T0, aid),
        AttemptProgress(aid, ring_at=ring, agent_id=lead, outcome=CallResult.CONNECTED),
        AttemptEnd(aid, T0, result, cause=cause, cause_text=text, ring_at=ring),
    ]
    for r in records:
        line = encode(r)
        assert "\n" not in line
        assert decode(line) == r


def test_a_spool_cut_mid_line_by_a_crash_keeps_the_complete_lines(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.jsonl")
    spool.spill([start(1), start(2)])
    with spool.path.open("a") as f:
        f.write(encode(start(3))[:30])  # the crash cut this write
    assert [s.lead_id for s in spool.read().starts] == [1, 2]
    spool.path.write_text('{"kind":"start"}\n' + encode(start(4)) + "\n")
    with pytest.raises(SpoolError, match="line 1"):
        spool.read()
