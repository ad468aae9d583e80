"""PgEngineStore: the engine's storage port, driven the way the engine drives it."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import text

from dialer.domain.results import CallResult
from dialer.store import agents as agent_repo
from dialer.store import campaigns as campaign_repo
from dialer.store.engine import Database
from dialer.store.gateway import PgEngineStore
from dialer.store.records import (
    AttemptEnd,
    AttemptProgress,
    AttemptStart,
    CampaignStatus,
    LeadStatus,
)
from tests.fixtures.db import T0, seed_campaign


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_engine_store_round(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=5)
        await seed_campaign(s, name="idle", leads=1, trunk=seeded.trunk)
        await campaign_repo.set_campaign_status(s, seeded.campaign.id, CampaignStatus.RUNNING)
        ann = await agent_repo.create_agent(
            s, name="ann", sip_endpoint="agent1", campaign_id=seeded.campaign.id
        )
        await agent_repo.create_agent(s, name="zed", sip_endpoint="agent2")
    clock = Clock(T0)
    store = PgEngineStore(store_db, "d1", 60, clock=clock)

    ((campaign, trunk, agents),) = await store.running_campaigns()
    assert campaign.id == seeded.campaign.id
    assert trunk == seeded.trunk
    assert agents == [ann]

    leads = await store.lease(campaign.id, 3)
    assert [x.id for x in leads] == list(seeded.lead_ids[:3])
    await store.release([leads[2].id])
    starts = [
        AttemptStart(str(uuid.uuid4()), lead.id, campaign.id, trunk.id, "d1", T0)
        for lead in leads[:2]
    ]
    clock.now = T0 + timedelta(seconds=40)
    assert await store.renew() == 2
    await store.write_starts(starts)
    await store.write_progress(
        [AttemptProgress(starts[0].attempt_id, ring_at=T0 + timedelta(seconds=1))]
    )
    ended = await store.write_ends(
        [AttemptEnd(starts[0].attempt_id, T0 + timedelta(seconds=20), CallResult.BUSY)]
    )
    assert [(e.attempt_id, e.lead_status) for e in ended] == [
        (starts[0].attempt_id, LeadStatus.RETRY)
    ]
    clock.now = T0 + timedelta(seconds=90)  # d1's lease would have expired without the renewal
    took = await store.take_over_expired()  # nothing expired: d1 renewed
    assert (took.calls, took.leads_released) == ((), 0)
    assert await store.close_open() == 1
    async with store_db.transaction() as s:
        rows = await s.execute(text("SELECT id, status, lease_owner FROM leads ORDER BY id"))
        status = {r.id: (r.status, r.lease_owner) for r in rows}
    assert status[leads[0].id] == ("retry", None)
    # closed at stop with no evidence of an answer: unknown, retried as a no-answer
    assert status[leads[1].id] == ("retry", None)
    assert status[leads[2].id] == ("new", None)
