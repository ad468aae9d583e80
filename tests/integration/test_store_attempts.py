"""Call attempts (CDRs): batch writes, and what an attempt's end does to its lead."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text, update

from dialer.domain.results import CallResult
from dialer.store.cdrs import (
    end_attempts,
    get_attempt,
    give_back,
    start_attempts,
    update_attempts,
)
from dialer.store.engine import Database
from dialer.store.leads import lease_leads
from dialer.store.records import AttemptEnd, AttemptProgress, AttemptStart, LeadStatus
from dialer.store.retry import next_lead_state
from dialer.store.tables import campaigns, leads
from tests.fixtures.db import T0, Seeded, seed_campaign


@contextmanager
def count_statements(db: Database) -> Iterator[list[str]]:
    """The SQL statements sent to Postgres inside the block (one entry per round trip)."""
    sent: list[str] = []

    def before(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", before)
    try:
        yield sent
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", before)


def _start(seeded: Seeded, lead_id: int, owner: str = "d1", at_s: float = 0) -> AttemptStart:
    return AttemptStart(
        attempt_id=str(uuid.uuid4()),
        lead_id=lead_id,
        campaign_id=seeded.campaign.id,
        trunk_id=seeded.trunk.id,
        owner=owner,
        originated_at=T0 + timedelta(seconds=at_s),
    )


async def _lead(db: Database, lead_id: int) -> Any:
    async with db.transaction() as s:
        return (
            await s.execute(
                text(
                    "SELECT status, attempts, next_call_at, last_result, lease_owner,"
                    " lease_expires_at, network_failures FROM leads WHERE id = :i"
                ),
                {"i": lead_id},
            )
        ).one()


async def test_batch_of_50_written_in_one_statement_each(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=50)
        await lease_leads(s, seeded.campaign.id, 50, T0, "d1", 300)
    starts = [_start(seeded, lead, at_s=i * 0.02) for i, lead in enumerate(seeded.lead_ids)]
    ring = [
        AttemptProgress(st.attempt_id, ring_at=st.originated_at + timedelta(seconds=1))
        for st in starts
    ]
    answer = [
        AttemptProgress(
            st.attempt_id,
            answer_at=st.originated_at + timedelta(seconds=5),
            agent_connect_at=st.originated_at + timedelta(seconds=5, milliseconds=30),
        )
        for st in starts[:20]
    ]
    ends = [
        AttemptEnd(
            st.attempt_id,
            hangup_at=st.originated_at + timedelta(seconds=60),
            result=CallResult.CONNECTED if i < 20 else CallResult.NO_ANSWER,
            cause=16 if i < 20 else 19,
            cause_text="Normal Clearing" if i < 20 else "No answer",
        )
        for i, st in enumerate(starts)
    ]
    async with store_db.transaction() as s:
        with count_statements(store_db) as sent:
            assert await start_attempts(s, starts) == 50
        assert len(sent) == 1
        with count_statements(store_db) as sent:
            # ring and answer of the same calls in one batch are merged, one statement
            assert await update_attempts(s, ring + answer) == 50
        assert len(sent) == 1
        with count_statements(store_db) as sent:
            ended = await end_attempts(s, ends)
        assert len(sent) == 1
    assert len(ended) == 50
    by_id = {e.attempt_id: e for e in ended}
    first = await _attempt(store_db, starts[0].attempt_id)
    assert first.ring_at == T0 + timedelta(seconds=1)
    assert first.answer_at == T0 + timedelta(seconds=5)
    assert first.answer_to_agent_ms == 30  # computed from answer and agent connect
    assert first.result is CallResult.CONNECTED
    assert first.hangup_cause == 16
    assert first.hangup_cause_text == "Normal Clearing"
    assert by_id[starts[0].attempt_id].lead_status is LeadStatus.DONE
    last = by_id[starts[49].attempt_id]
    assert last.lead_status is LeadStatus.RETRY
    assert last.lead_attempts == 1
    assert last.next_call_at == starts[49].originated_at + timedelta(seconds=60, hours=2)
    unanswered = await _attempt(store_db, starts[49].attempt_id)
    assert unanswered.answer_at is None
    assert unanswered.answer_to_agent_ms is None


async def _attempt(db: Database, attempt_id: str) -> Any:
    async with db.transaction() as s:
        return await get_attempt(s, attempt_id)


async def test_start_is_idempotent(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=1)
        st = _start(seeded, seeded.lead_ids[0])
        assert await start_attempts(s, [st]) == 1
        assert await start_attempts(s, [st]) == 0
        assert await start_attempts(s, []) == 0


@pytest.mark.parametrize("result", list(CallResult))
async def test_retry_rule_per_result(store_db: Database, result: CallResult) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=1, max_attempts=5)
        lead_id = seeded.lead_ids[0]
        await s.execute(update(leads).where(leads.c.id == lead_id).values(attempts=1))
        await lease_leads(s, seeded.campaign.id, 1, T0, "d1", 300)
        st = _start(seeded, lead_id)
        await start_attempts(s, [st])
    hangup = T0 + timedelta(seconds=42)
    async with store_db.transaction() as s:
        (ended,) = await end_attempts(s, [AttemptEnd(st.attempt_id, hangup, result)])
    expected = next_lead_state(1, 5, result, hangup)
    lead = await _lead(store_db, lead_id)
    assert (ended.lead_status, ended.lead_attempts, ended.next_call_at) == (
        expected.status,
        expected.attempts,
        expected.next_call_at,
    )
    assert (lead.status, lead.attempts, lead.next_call_at) == (
        expected.status.value,
        expected.attempts,
        expected.next_call_at,
    )
    assert lead.lease_owner is None
    assert lead.lease_expires_at is None
    # the written figures, spelled out
    delay = {
        CallResult.BUSY: timedelta(minutes=10),
        CallResult.NO_ANSWER: timedelta(hours=2),
        CallResult.FAILED: timedelta(minutes=5),
        CallResult.DECLINED: timedelta(hours=24),
        CallResult.UNAVAILABLE: timedelta(hours=1),
        CallResult.ABANDONED: timedelta(hours=72),
        CallResult.CANCELLED: timedelta(0),
        CallResult.MACHINE: timedelta(hours=4),
        CallResult.UNKNOWN: timedelta(hours=2),  # as a no-answer
    }
    if result in (CallResult.CONNECTED, CallResult.INVALID):
        assert lead.status == "done"
        assert lead.attempts == 2
    elif result is CallResult.UNREACHABLE:  # never an attempt's result; final, not counted
        assert (lead.status, lead.attempts) == ("done", 1)
    elif result is CallResult.CANCELLED:
        assert lead.status == "retry"
        assert lead.attempts == 1
        assert lead.next_call_at == hangup
        assert lead.last_result is None  # a cancelled attempt is not the lead's last result
    elif result is CallResult.FAILED:  # the network's fault: not counted, retried soon
        assert (lead.status, lead.attempts) == ("retry", 1)
        assert lead.next_call_at == hangup + delay[result]
        assert lead.last_result == "failed"
    else:
        assert lead.status == "retry"
        assert lead.attempts == 2
        assert lead.next_call_at == hangup + delay[result]
        assert lead.last_result == result.value


async def _end_one(
    db: Database, seeded: Any, lead_id: int, result: CallResult, at: datetime
) -> str:
    async with db.transaction() as s:
        # leased, as the engine's leads are while they are dialed
        await s.execute(
            update(leads)
            .where(leads.c.id == lead_id)
            .values(status="dialing", lease_owner="d1", lease_expires_at=at + timedelta(1))
        )
        st = _start(seeded, lead_id, at_s=(at - T0).total_seconds())
        await start_attempts(s, [st])
        await end_attempts(s, [AttemptEnd(st.attempt_id, at + timedelta(seconds=1), result)])
    return st.attempt_id


async def test_network_failures_in_a_row_end_unreachable(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=1, max_attempts=2)
        await s.execute(update(campaigns).values(network_failure_cap=3))
    lead_id = seeded.lead_ids[0]
    at = T0
    # A busy line between failures starts the count again; failures never count as attempts.
    for result in (CallResult.FAILED, CallResult.FAILED, CallResult.BUSY, CallResult.FAILED):
        await _end_one(store_db, seeded, lead_id, result, at)
        at += timedelta(hours=1)
    lead = await _lead(store_db, lead_id)
    assert (lead.status, lead.attempts, lead.network_failures) == ("retry", 1, 1)
    await _end_one(store_db, seeded, lead_id, CallResult.FAILED, at)
    await _end_one(store_db, seeded, lead_id, CallResult.FAILED, at + timedelta(hours=1))
    lead = await _lead(store_db, lead_id)
    assert (lead.status, lead.attempts, lead.last_result) == ("done", 1, "unreachable")
    assert lead.network_failures == 3


async def test_give_back_puts_the_lead_back_as_it_was(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=3, max_attempts=5)
    busy_lead, invalid_lead, failed_lead = seeded.lead_ids
    await _end_one(store_db, seeded, busy_lead, CallResult.BUSY, T0)
    before = {i: await _lead(store_db, i) for i in (invalid_lead, failed_lead)}
    ids = [
        await _end_one(store_db, seeded, busy_lead, CallResult.NO_ANSWER, T0 + timedelta(1)),
        await _end_one(store_db, seeded, invalid_lead, CallResult.INVALID, T0),
        await _end_one(store_db, seeded, failed_lead, CallResult.FAILED, T0),
    ]
    assert (await _lead(store_db, invalid_lead)).status == "done"
    async with store_db.transaction() as s:
        # the no-answer is not one the trunk failed: its lead keeps its result
        assert await give_back(s, ids) == 2
        assert await give_back(s, ids) == 0  # once
    for i in (invalid_lead, failed_lead):
        after = await _lead(store_db, i)
        old = before[i]
        assert (after.status, after.attempts, after.last_result, after.next_call_at) == (
            old.status,
            old.attempts,
            old.last_result,
            old.next_call_at,
        )
        assert after.network_failures == 0
    assert (await _lead(store_db, busy_lead)).last_result == "no_answer"
    # the attempts stay as they happened, marked as the trunk's fault
    invalid = await _attempt(store_db, ids[1])
    assert invalid.result is CallResult.INVALID


async def test_cancelled_fresh_lead_is_new_and_dialable_now(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=1)
        (leased,) = await lease_leads(s, seeded.campaign.id, 1, T0, "d1", 300)
        st = _start(seeded, leased.id)
        await start_attempts(s, [st])
        await end_attempts(s, [AttemptEnd(st.attempt_id, T0, CallResult.CANCELLED)])
        again = await lease_leads(s, seeded.campaign.id, 1, T0, "d2", 300)
    assert [x.id for x in again] == [leased.id]
    assert again[0].attempts == 0


async def test_cap_reached_makes_the_lead_done(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=1, max_attempts=2)
    lead_id = seeded.lead_ids[0]
    now = T0
    statuses = []
    for _ in range(2):
        async with store_db.transaction() as s:
            (leased,) = await lease_leads(s, seeded.campaign.id, 1, now, "d1", 300)
            st = _start(seeded, leased.id)
            await start_attempts(s, [st])
            (ended,) = await end_attempts(s, [AttemptEnd(st.attempt_id, now, CallResult.BUSY)])
        statuses.append((ended.lead_status, ended.lead_attempts))
        now = ended.next_call_at
    assert statuses == [(LeadStatus.RETRY, 1), (LeadStatus.DONE, 2)]
    async with store_db.transaction() as s:
        assert await lease_leads(s, seeded.campaign.id, 1, now + timedelta(days=9), "d1", 9) == []
    assert (await _lead(store_db, lead_id)).status == "done"


async def test_ending_twice_counts_once(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=1)
        await lease_leads(s, seeded.campaign.id, 1, T0, "d1", 300)
        st = _start(seeded, seeded.lead_ids[0])
        await start_attempts(s, [st])
        end = AttemptEnd(st.attempt_id, T0 + timedelta(seconds=9), CallResult.BUSY)
        # twice in one batch, then again in a later batch
        assert len(await end_attempts(s, [end, end])) == 1
    async with store_db.transaction() as s:
        late = AttemptEnd(st.attempt_id, T0 + timedelta(seconds=30), CallResult.NO_ANSWER)
        assert await end_attempts(s, [late]) == []
        # an attempt that was never started is ignored too
        ghost = AttemptEnd(str(uuid.uuid4()), T0, CallResult.BUSY)
        assert await end_attempts(s, [ghost]) == []
    lead = await _lead(store_db, seeded.lead_ids[0])
    assert (lead.attempts, lead.last_result) == (1, "busy")
    stored = await _attempt(store_db, st.attempt_id)
    assert stored.result is CallResult.BUSY
    assert stored.hangup_at == T0 + timedelta(seconds=9)


async def test_end_carries_progress_and_latency(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=2)
        agent = (
            await s.execute(
                text(
                    "INSERT INTO agents (name, sip_endpoint) VALUES ('ann', 'agent1') RETURNING id"
                )
            )
        ).scalar_one()
        await lease_leads(s, seeded.campaign.id, 2, T0, "d1", 300)
        a, b = _start(seeded, seeded.lead_ids[0]), _start(seeded, seeded.lead_ids[1])
        await start_attempts(s, [a, b])
        await end_attempts(
            s,
            [
                AttemptEnd(
                    a.attempt_id,
                    T0 + timedelta(seconds=90),
                    CallResult.CONNECTED,
                    cause=16,
                    ring_at=T0 + timedelta(seconds=1),
                    answer_at=T0 + timedelta(seconds=6),
                    agent_connect_at=T0 + timedelta(seconds=6, milliseconds=14),
                    agent_id=agent,
                    answer_to_agent_ms=13,  # measured on the daemon's clock: wins
                ),
                AttemptEnd(
                    b.attempt_id,
                    T0 + timedelta(seconds=8),
                    CallResult.ABANDONED,
                    answer_at=T0 + timedelta(seconds=4),
                ),
            ],
        )
    got_a = await _attempt(store_db, a.attempt_id)
    got_b = await _attempt(store_db, b.attempt_id)
    assert (got_a.agent_id, got_a.answer_to_agent_ms, got_a.ring_at) == (
        agent,
        13,
        T0 + timedelta(seconds=1),
    )
    assert got_b.answer_at == T0 + timedelta(seconds=4)
    assert got_b.answer_to_agent_ms is None
    lead_b = await _lead(store_db, seeded.lead_ids[1])
    assert lead_b.next_call_at == T0 + timedelta(seconds=8, hours=72)
