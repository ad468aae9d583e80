"""Closing what a stopped daemon (or a dead one) left open."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from dialer.domain.results import CallResult
from dialer.store.cdrs import (
    end_attempts,
    get_attempt,
    open_attempt_ids,
    start_attempts,
    update_attempts,
)
from dialer.store.cleanup import close_open_attempts, release_expired_leases
from dialer.store.engine import Database
from dialer.store.leads import lease_leads
from dialer.store.records import AttemptEnd, AttemptProgress, AttemptStart, CloseReport
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
        # what their durable progress says: one rang only, one was answered and waited for an
        # agent, one was connected to an agent
        rang, answered, talked = (st.attempt_id for st in starts[:3])
        at = T0 + timedelta(seconds=3)
        await update_attempts(
            s,
            [
                AttemptProgress(rang, ring_at=at),
                AttemptProgress(answered, ring_at=at, answer_at=at),
                AttemptProgress(
                    talked, answer_at=at, agent_connect_at=at, outcome=CallResult.CONNECTED
                ),
            ],
        )
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
    # Closed by their evidence, never as "cancelled" (which would make them dialable at once).
    assert [a.result for a in closed] == [
        CallResult.UNKNOWN,
        CallResult.ABANDONED,
        CallResult.CONNECTED,
    ]
    assert all(a.hangup_at == stop for a in closed)
    assert all(a.hangup_cause_text == "dialer stopped" for a in closed)
    assert busy.result is CallResult.BUSY  # an attempt that had ended is left alone
    leads = await _leads(store_db)
    unknown, abandoned, connected = (leads[lead.id] for lead in mine[:3])
    assert (unknown.status, unknown.attempts, unknown.lease_owner) == ("retry", 1, None)
    assert unknown.next_call_at == stop + timedelta(hours=2)  # as a no-answer, never sooner
    assert (abandoned.status, abandoned.next_call_at) == ("retry", stop + timedelta(hours=72))
    assert connected.status == "done"
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
        dead_answered = _start(seeded, dead[0].id, "dead")
        dead_silent = _start(seeded, dead[1].id, "dead")
        alive_call = _start(seeded, alive[0].id, "alive")
        await start_attempts(s, [dead_answered, dead_silent, alive_call])
        at = T0 + timedelta(seconds=4)
        await update_attempts(s, [AttemptProgress(dead_answered.attempt_id, answer_at=at)])
    async with store_db.transaction() as s:
        # not expired yet
        assert await release_expired_leases(s, T0 + timedelta(seconds=59)) == CloseReport(0, 0)
    sweep = T0 + timedelta(seconds=61)
    async with store_db.transaction() as s:
        report = await release_expired_leases(s, sweep)
        answered = await get_attempt(s, dead_answered.attempt_id)
        silent = await get_attempt(s, dead_silent.attempt_id)
        assert await open_attempt_ids(s) == [alive_call.attempt_id]
    assert report == CloseReport(attempts_closed=2, leads_released=3)
    # The person who answered the dead daemon's call was abandoned: 72 hours before a new call.
    assert (answered.result, answered.hangup_cause_text) == (CallResult.ABANDONED, "lease expired")
    assert silent.result is CallResult.UNKNOWN
    leads = await _leads(store_db)
    assert leads[dead[0].id].next_call_at == sweep + timedelta(hours=72)
    assert leads[dead[1].id].next_call_at == sweep + timedelta(hours=2)
    assert leads[dead[2].id].status == "new"  # leased, never dialed: dialable again at once
    assert all(leads[x.id].lease_owner is None for x in dead)
    assert all(leads[x.id].lease_owner == "alive" for x in alive)
    async with store_db.transaction() as s:
        again = await lease_leads(s, seeded.campaign.id, 10, sweep, "d3", 60)
    assert sorted(x.id for x in again) == sorted([dead[2].id, seeded.lead_ids[5]])
