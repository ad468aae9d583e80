"""Creating campaigns, trunks, lists, agents, and importing leads in bulk."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from dialer.store import agents as agent_repo
from dialer.store import campaigns as campaign_repo
from dialer.store.engine import Database
from dialer.store.errors import NotFound
from dialer.store.leads import add_leads, count_leads_by_status, lease_leads
from dialer.store.records import AgentState, CampaignStatus, LeadStatus, NewLead, PacingMode
from tests.fixtures.db import T0, phone


async def test_create_and_read_back(store_db: Database) -> None:
    async with store_db.transaction() as s:
        trunk = await campaign_repo.create_trunk(
            s, name="carrier", endpoint="trunk", max_channels=30, max_cps=5.5, dial_prefix="00"
        )
        made = await campaign_repo.create_campaign(
            s,
            name="spring",
            trunk_id=trunk.id,
            caller_id="+33100000000",
            pacing_mode=PacingMode.PREDICTIVE,
            ring_timeout_s=22.5,
            max_attempts=4,
            wrapup_s=15,
            hold_s=1.5,
        )
        ll = await campaign_repo.create_lead_list(s, made.id, "march")
        agent = await agent_repo.create_agent(
            s, name="ann", sip_endpoint="agent1", campaign_id=made.id
        )
        await agent_repo.create_agent(s, name="free", sip_endpoint="agent9")
    async with store_db.transaction() as s:
        assert await campaign_repo.get_trunk(s, trunk.id) == trunk
        assert trunk.max_cps == 5.5
        assert trunk.dial_prefix == "00"
        got = await campaign_repo.get_campaign_by_name(s, "spring")
        assert got == made
        assert (got.status, got.pacing_mode, got.ring_timeout_s, got.hold_s) == (
            CampaignStatus.DRAFT,
            PacingMode.PREDICTIVE,
            22.5,
            1.5,
        )
        running = await campaign_repo.set_campaign_status(s, made.id, CampaignStatus.RUNNING)
        assert running.updated_at >= made.updated_at
        assert [c.id for c in await campaign_repo.list_campaigns(s, CampaignStatus.RUNNING)] == [
            made.id
        ]
        assert await campaign_repo.list_lead_lists(s, made.id) == [ll]
        assert [a.name for a in await agent_repo.list_agents(s, made.id)] == ["ann"]
        ready = await agent_repo.set_agent_state(s, agent.id, AgentState.READY)
        assert ready.state is AgentState.READY
        moved = await agent_repo.set_agent_campaign(s, agent.id, None)
        assert moved.campaign_id is None
        with pytest.raises(NotFound):
            await campaign_repo.get_campaign(s, 999)
        with pytest.raises(NotFound):
            await agent_repo.set_agent_state(s, 999, AgentState.READY)


async def test_campaign_name_is_unique_and_values_checked(store_db: Database) -> None:
    async with store_db.transaction() as s:
        trunk = await campaign_repo.create_trunk(
            s, name="carrier", endpoint="trunk", max_channels=1, max_cps=1
        )
        await campaign_repo.create_campaign(
            s, name="spring", trunk_id=trunk.id, caller_id="+15550000001"
        )
    with pytest.raises(IntegrityError, match="uq_campaigns_name"):
        async with store_db.transaction() as s:
            await campaign_repo.create_campaign(
                s, name="spring", trunk_id=trunk.id, caller_id="+15550000001"
            )
    with pytest.raises(IntegrityError, match="ck_campaigns_max_attempts_positive"):
        async with store_db.transaction() as s:
            await campaign_repo.create_campaign(
                s, name="x", trunk_id=trunk.id, caller_id="+15550000001", max_attempts=0
            )


async def test_bulk_import_is_fast_and_skips_duplicates(store_db: Database) -> None:
    async with store_db.transaction() as s:
        trunk = await campaign_repo.create_trunk(
            s, name="carrier", endpoint="trunk", max_channels=1, max_cps=1
        )
        c = await campaign_repo.create_campaign(
            s, name="big", trunk_id=trunk.id, caller_id="+15550000001"
        )
        ll = await campaign_repo.create_lead_list(s, c.id, "all")
    batch = [
        NewLead(
            phone=phone(i),
            time_zone="Europe/Paris",
            priority=i % 3,
            extra={"n": i, "name": f"lead {i}"},
        )
        for i in range(20_000)
    ]
    started = time.perf_counter()
    async with store_db.transaction() as s:
        inserted = await add_leads(s, ll.id, batch)
    elapsed = time.perf_counter() - started
    assert inserted == 20_000
    # "thousands per second" with a wide margin for a loaded 2-core machine
    assert elapsed < 10, f"20,000 leads took {elapsed:.2f}s"
    async with store_db.transaction() as s:
        # the same phones again, plus 5 new ones, one of them twice: only the 5 go in
        again = (
            batch[:100] + [NewLead(phone(30_000 + i)) for i in range(5)] + [NewLead(phone(30_000))]
        )
        assert await add_leads(s, ll.id, again) == 5
        counts = await count_leads_by_status(s, c.id)
        row = (
            await s.execute(
                text("SELECT time_zone, extra FROM leads WHERE phone = :p"), {"p": phone(7)}
            )
        ).one()
    assert counts[LeadStatus.NEW] == 20_005
    assert counts[LeadStatus.DONE] == 0
    assert row.time_zone == "Europe/Paris"
    assert row.extra == {"n": 7, "name": "lead 7"}


async def test_import_checks(store_db: Database) -> None:
    async with store_db.transaction() as s:
        trunk = await campaign_repo.create_trunk(
            s, name="carrier", endpoint="trunk", max_channels=1, max_cps=1
        )
        c = await campaign_repo.create_campaign(
            s, name="c", trunk_id=trunk.id, caller_id="+15550000001"
        )
        ll = await campaign_repo.create_lead_list(s, c.id, "l")
        with pytest.raises(ValueError, match="unknown time zone"):
            await add_leads(s, ll.id, [NewLead(phone(1), time_zone="Mars/Olympus")])
        with pytest.raises(NotFound, match="no lead list"):
            await add_leads(s, 999, [NewLead(phone(1))])
        assert await add_leads(s, ll.id, []) == 0
        # a lead scheduled for later is not dialable before its time
        await add_leads(s, ll.id, [NewLead(phone(2), next_call_at=T0 + timedelta(hours=1))])
        assert await lease_leads(s, c.id, 5, T0, "d1", 60) == []
        assert len(await lease_leads(s, c.id, 5, T0 + timedelta(hours=1), "d1", 60)) == 1
    with pytest.raises(IntegrityError, match="ck_leads_phone_e164"):
        async with store_db.transaction() as s:
            await s.execute(
                text(
                    "INSERT INTO leads (list_id, campaign_id, phone) VALUES (:l, :c, '0612345678')"
                ),
                {"l": ll.id, "c": c.id},
            )
    async with store_db.transaction() as s:
        other = await campaign_repo.create_campaign(
            s, name="other", trunk_id=trunk.id, caller_id="+15550000001"
        )
    with pytest.raises(IntegrityError, match="fk_leads_list_id_campaign_id_lead_lists"):
        async with store_db.transaction() as s:
            await s.execute(
                text("INSERT INTO leads (list_id, campaign_id, phone) VALUES (:l, :c, '+331')"),
                {"l": ll.id, "c": other.id},
            )
