"""A campaign's summary figures, on a data set whose answers are known."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from dialer.domain.results import CallResult
from dialer.store.agents import create_agent
from dialer.store.campaigns import set_disposition_codes
from dialer.store.cdrs import end_attempts, start_attempts
from dialer.store.dispositions import record_disposition
from dialer.store.engine import Database
from dialer.store.leads import lease_leads
from dialer.store.records import AttemptEnd, AttemptStart, LeadStatus
from dialer.store.summary import campaign_summary
from tests.fixtures.db import T0, Seeded, seed_campaign


def _start(seeded: Seeded, lead_id: int, at: timedelta) -> AttemptStart:
    return AttemptStart(
        attempt_id=str(uuid.uuid4()),
        lead_id=lead_id,
        campaign_id=seeded.campaign.id,
        trunk_id=seeded.trunk.id,
        owner="d1",
        originated_at=T0 + at,
    )


async def test_summary_figures(store_db: Database) -> None:
    # 200 connected (latency 1..200 ms, ann odd / bob even), 50 abandoned, 30 busy,
    # 20 no answer, 5 failed, 3 cancelled, 2 still in progress; 320 leads, 10 never dialed.
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=320, max_attempts=3)
        other = await seed_campaign(s, name="other", leads=3, trunk=seeded.trunk)
        await set_disposition_codes(s, seeded.campaign.id, [("SALE", ""), ("NI", "")])
        ann = await create_agent(s, name="ann", sip_endpoint="agent1")
        bob = await create_agent(s, name="bob", sip_endpoint="agent2")
        leased = await lease_leads(s, seeded.campaign.id, 310, T0, "d1", 3600)
        await lease_leads(s, other.campaign.id, 3, T0, "d1", 3600)
    plan = (
        [CallResult.CONNECTED] * 200
        + [CallResult.ABANDONED] * 50
        + [CallResult.BUSY] * 30
        + [CallResult.NO_ANSWER] * 20
        + [CallResult.FAILED] * 5
        + [CallResult.CANCELLED] * 3
    )
    starts = [_start(seeded, lead.id, timedelta(seconds=i)) for i, lead in enumerate(leased)]
    ends = []
    for i, (st, result) in enumerate(zip(starts, plan, strict=False)):
        answer = st.originated_at + timedelta(seconds=5)
        connected = result is CallResult.CONNECTED
        ends.append(
            AttemptEnd(
                st.attempt_id,
                st.originated_at + timedelta(seconds=30),
                result,
                answer_at=answer if result.answered else None,
                agent_connect_at=answer + timedelta(milliseconds=i + 1) if connected else None,
                agent_id=(ann.id if i % 2 == 0 else bob.id) if connected else None,
            )
        )
    other_start = _start(other, other.lead_ids[0], timedelta(0))
    async with store_db.transaction() as s:
        await start_attempts(s, [*starts, other_start])
        await end_attempts(s, ends)
        await end_attempts(s, [AttemptEnd(other_start.attempt_id, T0, CallResult.ABANDONED)])
        for st in starts[:3]:
            await record_disposition(s, st.attempt_id, "SALE", at=T0)
        await record_disposition(s, starts[3].attempt_id, "NI", at=T0)

    async with store_db.transaction() as s:
        summary = await campaign_summary(s, seeded.campaign.id)

    assert summary.attempts == 310
    assert summary.in_progress == 2
    assert dict(summary.by_result) == {
        CallResult.CONNECTED: 200,
        CallResult.ABANDONED: 50,
        CallResult.BUSY: 30,
        CallResult.NO_ANSWER: 20,
        CallResult.FAILED: 5,
        CallResult.CANCELLED: 3,
        CallResult.MACHINE: 0,
        CallResult.UNKNOWN: 0,
        CallResult.INVALID: 0,
        CallResult.DECLINED: 0,
        CallResult.UNAVAILABLE: 0,
        CallResult.UNREACHABLE: 0,
    }
    assert (summary.answered, summary.connected, summary.abandoned) == (250, 200, 50)
    assert summary.abandonment_rate == pytest.approx(0.2)
    assert summary.latency.count == 200
    assert (summary.latency.p50_ms, summary.latency.p99_ms, summary.latency.max_ms) == (
        100,
        198,
        200,
    )
    assert [(a.name, a.attempts, a.connected, a.dispositions) for a in summary.agents] == [
        ("ann", 100, 100, 2),  # attempts 0 and 2 are ann's; 1 and 3 bob's
        ("bob", 100, 100, 2),
    ]
    assert dict(summary.dispositions) == {"NI": 1, "SALE": 3}
    assert dict(summary.leads) == {
        # never dialed, the cancelled ones and the network failures (not counted)
        LeadStatus.NEW: 10 + 3 + 5,
        LeadStatus.RETRY: 50 + 30 + 20,
        LeadStatus.DIALING: 2,
        LeadStatus.DONE: 200,
        LeadStatus.BLOCKED: 0,
    }

    async with store_db.transaction() as s:
        # a window: attempts originated in [T0+100s, T0+250s) -> 100 connected, 50 abandoned
        window = await campaign_summary(
            s,
            seeded.campaign.id,
            since=T0 + timedelta(seconds=100),
            until=T0 + timedelta(seconds=250),
        )
        empty = await campaign_summary(s, seeded.campaign.id, since=T0 + timedelta(days=365))
    assert window.by_result[CallResult.CONNECTED] == 100
    assert window.by_result[CallResult.ABANDONED] == 50
    assert window.attempts == 150
    assert window.abandonment_rate == pytest.approx(1 / 3)
    assert (empty.attempts, empty.abandonment_rate, empty.latency.p50_ms, empty.agents) == (
        0,
        None,
        None,
        (),
    )
