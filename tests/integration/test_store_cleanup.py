"""Closing what a stopped daemon (or a dead one) left open."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from dialer.domain.results import CallResult
from dialer.store.cdrs import end_attempts, get_attempt, open_attempt_ids, start_attempts
from dialer.store.cleanup import close_open_attempts, release_expired_leases
from dialer.store.engine import Database
from dialer.store.leads import lease_leads
from dialer.store.records import AttemptEnd, AttemptStart, CloseReport
from tests.fixtures.db import T0, Seeded, seed_campaign


def _start(seeded: Seeded, lead_id: int, owner: str) -> AttemptStart:
    return AttemptStart(
        attempt_id=str(uuid.uuid4()),
        lead_id=lead_id,
        campaign_id=seeded.campaign.id,
        trunk_id=seeded.trunk.id,
        owner=owner,
        originated_at=T0,
    )


async def _leads(db: Database) -> dict[int, Any]:
    async with db.transaction() as s:
        rows = await s.execute(
            text("SELECT id, status, attempts, lease_owner, next_call_at FROM leads ORDER BY id")
        )
        return {r.id: r for r in rows}


async def test_close_open_attempts_of_one_owner(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=8)
        mine = await lease_leads(s, seeded.campaign.id, 5, T0, "d1", 600)
        theirs = await lease_leads(s, seeded.campaign.id, 2, T0, "d2", 600)
        # d1: 3 calls in flight, 1 already ended, 1 leased but not dialed yet
        starts = [_start(seeded, lead.id, "d1") for lead in mine[:4]]
        other = _start(seeded, theirs[0].id, "d2")
        await start_attempts(s, [*starts, other])
        await end_attempts(
            s, [AttemptEnd(starts[3].attempt_id, T0 + timedelta(seconds=5), CallResult.BUSY)]
        )
    stop = T0 + timedelta(minutes=1)
    async with store_db.transaction() as s:
        report = await close_open_attempts(s, "d1", stop)
    assert report == CloseReport(attempts_closed=3, leads_released=4)
    async with store_db.transaction() as s:
        closed = [await get_attempt(s, st.attempt_id) for st in starts[:3]]
        assert await open_attempt_ids(s) == [other.attempt_id]
        busy = await get_attempt(s, starts[3].attempt_id)
    assert all(a.result is CallResult.CANCELLED and a.hangup_at == stop for a in closed)
    assert all(a.hangup_cause_text == "dialer stopped" for a in closed)
    assert busy.result is CallResult.BUSY  # an attempt that had ended is left alone
    leads = await _leads(store_db)
    for lead in mine[:3]:
        row = leads[lead.id]
        assert (row.status, row.attempts, row.lease_owner) == ("new", 0, None)
        assert row.next_call_at == stop  # dialable again at once
    assert (leads[mine[3].id].status, leads[mine[3].id].attempts) == ("retry", 1)
    assert (leads[mine[4].id].status, leads[mine[4].id].lease_owner) == ("new", None)
    assert all(leads[x.id].lease_owner == "d2" for x in theirs)  # another owner's untouched
    async with store_db.transaction() as s:
        # nothing left for a second stop
        assert await close_open_attempts(s, "d1", stop) == CloseReport(0, 0)


async def test_release_expired_leases(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=6)
        dead = await lease_leads(s, seeded.campaign.id, 3, T0, "dead", 60)
        alive = await lease_leads(s, seeded.campaign.id, 2, T0, "alive", 600)
        dead_call = _start(seeded, dead[0].id, "dead")
        alive_call = _start(seeded, alive[0].id, "alive")
        await start_attempts(s, [dead_call, alive_call])
    async with store_db.transaction() as s:
        # not expired yet
        assert await release_expired_leases(s, T0 + timedelta(seconds=59)) == CloseReport(0, 0)
    sweep = T0 + timedelta(seconds=61)
    async with store_db.transaction() as s:
        report = await release_expired_leases(s, sweep)
        swept = await get_attempt(s, dead_call.attempt_id)
        assert await open_attempt_ids(s) == [alive_call.attempt_id]
    assert report == CloseReport(attempts_closed=1, leads_released=3)
    assert swept.result is CallResult.CANCELLED
    assert swept.hangup_cause_text == "lease expired"
    leads = await _leads(store_db)
    assert all(leads[x.id].status == "new" and leads[x.id].lease_owner is None for x in dead)
    assert all(leads[x.id].lease_owner == "alive" for x in alive)
    async with store_db.transaction() as s:
        again = await lease_leads(s, seeded.campaign.id, 10, sweep, "d3", 60)
    assert sorted(x.id for x in again) == sorted([*(x.id for x in dead), seeded.lead_ids[5]])
