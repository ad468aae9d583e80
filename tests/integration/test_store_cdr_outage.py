"""Call records against the real Postgres: a record the database refuses is set apart without
blocking the rest, and a spool replayed twice writes each record once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import text

from dialer.domain.results import CallResult
from dialer.engine.cdr import CdrWriter
from dialer.store.engine import Database
from dialer.store.gateway import PgEngineStore
from dialer.store.leads import lease_leads
from dialer.store.records import AttemptEnd, AttemptProgress, AttemptStart
from dialer.store.spool import Spool, decode
from tests.fixtures.db import T0, seed_campaign


async def test_a_refused_record_is_kept_apart_and_blocks_nothing(
    store_db: Database, tmp_path: Path
) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=3)
        leased = await lease_leads(s, seeded.campaign.id, 3, T0, "d1", 600)
    store = PgEngineStore(store_db, "d1", 600)
    cdr = CdrWriter(store, 0.05, spool=Spool(tmp_path / "spool.jsonl"))
    good = [
        AttemptStart(str(uuid.uuid4()), lead.id, seeded.campaign.id, seeded.trunk.id, "d1", T0)
        for lead in leased
    ]
    # A lead that no longer exists (deleted while its call was in flight): the foreign key
    # refuses this start, and would refuse the whole batch.
    bad = AttemptStart(str(uuid.uuid4()), 999_999, seeded.campaign.id, seeded.trunk.id, "d1", T0)
    for record in (good[0], bad, good[1], good[2]):
        cdr.start(record)
    cdr.end(AttemptEnd(good[0].attempt_id, T0 + timedelta(seconds=30), CallResult.BUSY))
    assert await cdr.flush()
    async with store_db.transaction() as s:
        ids = {str(r[0]) for r in await s.execute(text("SELECT id FROM call_attempts"))}
        letters = list(await s.execute(text("SELECT kind, record, error FROM cdr_dead_letters")))
        busy = (
            await s.execute(
                text("SELECT result FROM call_attempts WHERE id = :i"), {"i": good[0].attempt_id}
            )
        ).scalar_one()
    assert ids == {g.attempt_id for g in good}
    assert busy == "busy"
    ((kind, record, error),) = letters
    assert (kind, decode(record)) == ("start", bad)
    assert "ForeignKeyViolation" in error
    assert "999999" not in error.split("DETAIL")[0]  # the message, not the bound values
    assert cdr.dead_letters == 1


async def test_a_spool_replayed_twice_writes_each_record_once(
    store_db: Database, tmp_path: Path
) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=2)
        leased = await lease_leads(s, seeded.campaign.id, 2, T0, "d1", 600)
    starts = [
        AttemptStart(str(uuid.uuid4()), lead.id, seeded.campaign.id, seeded.trunk.id, "d1", T0)
        for lead in leased
    ]
    at = T0 + timedelta(seconds=3)
    records = [
        *starts,
        AttemptProgress(starts[0].attempt_id, ring_at=at, answer_at=at),
        AttemptEnd(starts[0].attempt_id, T0 + timedelta(seconds=40), CallResult.ABANDONED),
        AttemptEnd(starts[1].attempt_id, T0 + timedelta(seconds=20), CallResult.NO_ANSWER),
    ]
    path = tmp_path / "spool.jsonl"
    Spool(path).spill(records)
    copy = path.read_bytes()
    store = PgEngineStore(store_db, "d1", 600)
    assert await CdrWriter(store, 0.05, spool=Spool(path)).replay()
    assert not path.exists()
    path.write_bytes(copy)  # a replay cut short after its writes, run again
    assert await CdrWriter(store, 0.05, spool=Spool(path)).replay()
    async with store_db.transaction() as s:
        rows = list(
            await s.execute(text("SELECT id, result, answer_at FROM call_attempts ORDER BY id"))
        )
        leads = list(
            await s.execute(
                text("SELECT attempts FROM leads WHERE id = ANY(:i)"), {"i": [x.id for x in leased]}
            )
        )
    assert len(rows) == 2
    assert {str(r.id): r.result for r in rows} == {
        starts[0].attempt_id: "abandoned",
        starts[1].attempt_id: "no_answer",
    }
    assert sorted(r.attempts for r in leads) == [1, 1]  # each end counted once
