"""Closing what a stopped daemon (or a dead one) left open."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from dialer.domain.results import CallResult
from dialer.store import agents as agent_repo
from dialer.store.cdrs import (
    end_attempts,
    get_attempt,
    open_attempt_ids,
    start_attempts,
    update_attempts,
)
from dialer.store.cleanup import (
    close_by_evidence,
    close_open_attempts,
    take_over_expired,
    take_over_predecessors,
)
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


async def test_take_over_expired(store_db: Database) -> None:
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
        took = await take_over_expired(s, "me", T0 + timedelta(seconds=59), 300)
        assert (took.calls, took.leads_released) == ((), 0)
    sweep = T0 + timedelta(seconds=61)
    async with store_db.transaction() as s:
        took = await take_over_expired(s, "me", sweep, 300)
        again = await take_over_expired(s, "other", sweep, 300)  # nothing left to take
    assert sorted(c.attempt_id for c in took.calls) == sorted(
        [dead_answered.attempt_id, dead_silent.attempt_id]
    )
    assert took.leads_released == 1  # leased by the dead daemon, never dialed
    assert (again.calls, again.leads_released) == ((), 0)
    leads = await _leads(store_db)
    assert [leads[x.id].lease_owner for x in dead] == ["me", "me", None]
    assert leads[dead[0].id].next_call_at is not None
    assert leads[dead[2].id].status == "new"  # dialable again at once
    assert all(leads[x.id].lease_owner == "alive" for x in alive)
    # The taker closes the calls the PBX no longer has by their evidence: the person who
    # answered the dead daemon's call was abandoned (72 hours), the other is unknown (2 hours).
    async with store_db.transaction() as s:
        ended = await close_by_evidence(s, took.calls, sweep, "gone")
        answered = await get_attempt(s, dead_answered.attempt_id)
        silent = await get_attempt(s, dead_silent.attempt_id)
        assert await open_attempt_ids(s) == [alive_call.attempt_id]
    assert len(ended) == 2
    assert (answered.result, answered.owner) == (CallResult.ABANDONED, "me")
    assert silent.result is CallResult.UNKNOWN
    leads = await _leads(store_db)
    assert leads[dead[0].id].next_call_at == sweep + timedelta(hours=72)
    assert leads[dead[1].id].next_call_at == sweep + timedelta(hours=2)
    assert all(leads[x.id].lease_owner is None for x in dead)


async def test_pbx_records_fill_what_the_progress_missed(store_db: Database) -> None:
    """Asterisk's own records (pbx_cdr): answered there is abandoned, else its disposition; no
    record and no answer is unknown."""
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=4)
        leased = await lease_leads(s, seeded.campaign.id, 4, T0, "d1", 600)
        calls = [_start(seeded, lead.id, "d1") for lead in leased]
        await start_attempts(s, calls)
        end = (T0 + timedelta(seconds=30)).timestamp()
        for call, answer, disposition in zip(
            calls[:3], [end - 20, 0, 0], ["ANSWERED", "NO ANSWER", "BUSY"], strict=True
        ):
            await s.execute(
                text(
                    'INSERT INTO pbx_cdr (uniqueid, disposition, start, answer, "end")'
                    " VALUES (:u, :d, :s, :a, :e)"
                ),
                {"u": call.attempt_id, "d": disposition, "s": end - 30, "a": answer, "e": end},
            )
        # a restarted "d1" takes its predecessor's calls; the PBX no longer has any of them
        took = await take_over_predecessors(s, "d1#2", T0 + timedelta(minutes=5), 300, 15)
        closed = await close_by_evidence(s, took.calls, T0 + timedelta(minutes=5), "gone")
        ended = {e.attempt_id: e for e in closed}
        rows = {c.attempt_id: await get_attempt(s, c.attempt_id) for c in calls}
    assert [ended[c.attempt_id].result for c in calls] == [
        CallResult.ABANDONED,
        CallResult.NO_ANSWER,
        CallResult.BUSY,
        CallResult.UNKNOWN,
    ]
    first = rows[calls[0].attempt_id]
    assert first.hangup_at == T0 + timedelta(seconds=30)  # Asterisk's hang-up time
    assert first.answer_at == T0 + timedelta(seconds=10)  # none of ours: Asterisk's
    assert first.hangup_cause_text == "gone; the PBX recorded ANSWERED"
    assert rows[calls[3].attempt_id].hangup_at == T0 + timedelta(minutes=5)


async def test_a_new_process_takes_over_its_predecessors_only(store_db: Database) -> None:
    me = "d1#20261207T181502.000Z"
    before = "d1#20261207T180000.000Z"
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=6)
        old = await lease_leads(s, seeded.campaign.id, 3, T0, before, 600)
        other_name = "d10#20261207T180000.000Z"  # another daemon's name, not a predecessor
        other = await lease_leads(s, seeded.campaign.id, 2, T0, other_name, 600)
        calls = [_start(seeded, lead.id, before) for lead in old[:2]]
        await start_attempts(s, [*calls, _start(seeded, other[0].id, other_name)])
        at = T0 + timedelta(seconds=2)
        await update_attempts(s, [AttemptProgress(calls[0].attempt_id, ring_at=at, answer_at=at)])
        agent = await agent_repo.create_agent(s, name="ann", sip_endpoint="agent1")
        await s.execute(
            text(
                "UPDATE agents SET owner = :o, owner_expires_at = :t, leg_id = 'leg-1'"
                " WHERE id = :i"
            ),
            {"o": before, "t": T0 + timedelta(seconds=15), "i": agent.id},
        )
    now = T0 + timedelta(seconds=20)
    async with store_db.transaction() as s:
        took = await take_over_predecessors(s, me, now, 300, 15)
    assert [c.attempt_id for c in took.calls] == sorted(c.attempt_id for c in calls)
    assert {c.attempt_id: c.answer_at for c in took.calls}[calls[0].attempt_id] == at
    assert took.agent_legs == {agent.id: "leg-1"}
    assert took.leads_released == 1  # leased by the dead process, never dialed
    leads = await _leads(store_db)
    assert [leads[x.id].lease_owner for x in old] == [me, me, None]
    assert leads[old[2].id].status == "new"
    assert all(leads[x.id].lease_owner == other_name for x in other)
    async with store_db.transaction() as s:
        assert sorted(await open_attempt_ids(s, owner=me)) == sorted(c.attempt_id for c in calls)
        again = await take_over_predecessors(s, me, now, 300, 15)
    assert (again.calls, again.agent_legs, again.leads_released) == ((), {}, 0)
