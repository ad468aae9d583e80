"""A campaign's history from real CDRs in Postgres, put back into an abandonment ledger and a
predictive pacer: the windows equal what was stored, in two statements whatever the CDR count."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event

from dialer.pacing.history import restore_ledger, restore_pacer
from dialer.pacing.ledger import AbandonLedger
from dialer.pacing.predictive import PredictivePacer
from dialer.store.engine import Database
from dialer.store.gateway import PgEngineStore
from tests.fixtures.db import T0, seed_campaign
from tests.integration.cdr_history import history_rows, write_rows

LOOP_NOW = 12_345.0


async def test_history_restores_the_windows_and_the_estimates(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=1)
        other = await seed_campaign(s, name="other", leads=1, trunk=seeded.trunk)
    rows, expected = history_rows(seeded.campaign.id, seeded.lead_ids[0], seeded.trunk.id, T0)
    noise, _ = history_rows(other.campaign.id, other.lead_ids[0], other.trunk.id, T0)
    await write_rows(store_db, rows + noise[:300])
    store = PgEngineStore(store_db, "test", 60.0, clock=lambda: T0)

    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(store_db.engine.sync_engine, "before_cursor_execute", count)
    try:
        history = await store.campaign_history(seeded.campaign)
    finally:
        event.remove(store_db.engine.sync_engine, "before_cursor_execute", count)
    selects = [s for s in statements if "call_attempts" in s]
    assert len(selects) == 2, statements  # one aggregate, one bounded recent read

    assert history.wall_now == T0.timestamp()
    assert (history.life_answered, history.life_abandoned) == expected.life
    assert history.wrapup_s == seeded.campaign.wrapup_s
    assert all(t >= T0.timestamp() - 30 * 86_400 - 60 for t, _, _ in history.minutes)
    assert len(history.recent) == 500
    ages = [T0.timestamp() - o.originated_at for o in history.recent]
    assert ages == sorted(ages, reverse=True)  # oldest first, the newest last
    newest = min(
        (T0 - r["originated_at"]).total_seconds() for r in rows if r["result"] != "cancelled"
    )
    assert abs(ages[-1] - newest) < 0.001  # the most recent attempt (cancelled ones left out)

    ledger = AbandonLedger()
    restore_ledger(ledger, history, LOOP_NOW)
    day, month, life = ledger.counts(LOOP_NOW)
    assert (day.answered, day.abandoned) == expected.day
    assert (month.answered, month.abandoned) == expected.month
    assert (life.answered, life.abandoned) == expected.life
    assert day.rate == 8 / 208

    pacer = PredictivePacer()
    restore_pacer(pacer, history, LOOP_NOW)
    answered = [o for o in history.recent if o.answered_at is not None]
    assert pacer.contact.count == 500
    assert pacer.answer_time.count == len(answered)
    assert pacer.talk_time.count == sum(1 for o in history.recent if o.talk_s is not None)
    assert abs(pacer.answer_time.view().mean - 6.0) < 0.01  # answered 6 s after the originate
    assert abs(pacer.talk_time.view().mean - 60.0) < 0.01
    assert pacer.ledger.counts(LOOP_NOW)[:2] == ledger.counts(LOOP_NOW)[:2]
    assert pacer.ledger.life == life


async def test_a_campaign_with_no_calls_has_an_empty_history(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=1)
    store = PgEngineStore(store_db, "test", 60.0, clock=lambda: T0 + timedelta(days=1))
    history = await store.campaign_history(seeded.campaign)
    assert history.empty
    ledger = AbandonLedger()
    restore_ledger(ledger, history, LOOP_NOW)
    assert ledger.life.answered == 0
