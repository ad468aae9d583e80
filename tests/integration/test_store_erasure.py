"""Erasing a person's data on request, on the real Postgres (and through the CLI)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from dialer.domain.results import CallResult
from dialer.store import callbacks, dnc
from dialer.store.cdrs import end_attempts, start_attempts
from dialer.store.dispositions import record_disposition
from dialer.store.engine import Database
from dialer.store.erasure import LeadBusy, erase_lead, placeholder
from dialer.store.errors import NotFound
from dialer.store.leads import lease_leads
from dialer.store.records import AttemptEnd, AttemptStart
from dialer.store.summary import campaign_summary
from tests.fixtures.db import ROOT, T0, seed_campaign


async def _row(db: Database, lead_id: int) -> dict[str, object]:
    async with db.transaction() as s:
        row = (
            await s.execute(
                text("SELECT phone, extra, status, attempts FROM leads WHERE id = :i"),
                {"i": lead_id},
            )
        ).one()
    return dict(row._mapping)


async def test_erasure_removes_the_person_and_keeps_the_counts(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=3)
        lead_id = seeded.lead_ids[0]
        await s.execute(
            text("UPDATE leads SET extra = CAST(:e AS jsonb) WHERE id = :i"),
            {"e": '{"name": "Marie Curie", "city": "Paris"}', "i": lead_id},
        )
        await s.execute(
            text("INSERT INTO disposition_codes (campaign_id, code) VALUES (:c, 'sale')"),
            {"c": seeded.campaign.id},
        )
        (phone,) = (
            await s.execute(text("SELECT phone FROM leads WHERE id = :i"), {"i": lead_id})
        ).one()
        await lease_leads(s, seeded.campaign.id, 1, T0, "d1", 600)
        aid = str(uuid.uuid4())
        await start_attempts(
            s, [AttemptStart(aid, lead_id, seeded.campaign.id, seeded.trunk.id, "d1", T0)]
        )
        await end_attempts(s, [AttemptEnd(aid, T0 + timedelta(seconds=40), CallResult.ABANDONED)])
        await record_disposition(s, aid, "sale", at=T0, note="lives at 3 rue X, call after 6")
        await callbacks.schedule(s, lead_id, T0 + timedelta(days=4), note="ask for Marie")
        before = await campaign_summary(s, seeded.campaign.id)

    async with store_db.transaction() as s:
        done = await erase_lead(s, lead_id, T0 + timedelta(hours=1), dnc=True)
    assert (done.notes_cleared, done.callbacks_cancelled, done.on_dnc) == (2, 1, True)
    row = await _row(store_db, lead_id)
    assert (row["phone"], row["extra"], row["status"]) == (placeholder(lead_id), {}, "done")
    async with store_db.transaction() as s:
        notes = list(await s.execute(text("SELECT note FROM dispositions")))
        cbs = list(await s.execute(text("SELECT status, note FROM callbacks")))
        results = list(await s.execute(text("SELECT result FROM call_attempts")))
        after = await campaign_summary(s, seeded.campaign.id)
        hits = await dnc.hits(s, phone, seeded.campaign.id)
        leased = await lease_leads(s, seeded.campaign.id, 10, T0 + timedelta(days=10), "d2", 60)
        text_dump = str(
            list(await s.execute(text("SELECT * FROM leads WHERE id = :i"), {"i": lead_id}))
        )
    assert notes == [("",)] and cbs == [("cancelled", "")]
    assert results == [("abandoned",)]  # the call record stays, with its result
    assert (after.attempts, after.abandoned, dict(after.by_result)) == (
        before.attempts,
        before.abandoned,
        dict(before.by_result),
    )
    assert hits  # on the opt-out list: never called again, by any campaign
    assert lead_id not in [x.id for x in leased]
    assert "Marie" not in text_dump and phone not in text_dump


async def test_a_lead_being_dialed_or_unknown_is_not_erased(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=1)
        await lease_leads(s, seeded.campaign.id, 1, T0, "d1", 600)
    async with store_db.transaction() as s:
        with pytest.raises(LeadBusy, match="being dialed"):
            await erase_lead(s, seeded.lead_ids[0], T0)
        with pytest.raises(NotFound):
            await erase_lead(s, 987654, T0)


def test_the_cli_erases_a_lead(store_db_url: str) -> None:
    async def seed() -> int:
        db = Database(store_db_url)
        try:
            async with db.transaction() as s:
                await s.execute(text("TRUNCATE leads, lead_lists, campaigns, trunks CASCADE"))
                seeded = await seed_campaign(s, leads=1)
                return seeded.lead_ids[0]
        finally:
            await db.dispose()

    lead_id = asyncio.run(seed())
    out = subprocess.run(
        [sys.executable, "-m", "dialer", "leads", "erase", str(lead_id), "--dnc"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DIALER_DATABASE_URL": store_db_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert f"lead {lead_id} erased" in out.stdout and "opt-out list" in out.stdout
