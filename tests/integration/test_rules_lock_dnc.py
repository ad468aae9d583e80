"""The dialing rules on the real Postgres, second part: the 72-hour lock lifted for a
callback to a named agent (and only for it), leads on a do-not-call list set aside at the lease
and given back when their number leaves the lists, and the CLI's side of both."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text

from dialer.domain.results import CallResult
from dialer.rules.verdict import Reason
from dialer.store import agents as agent_repo
from dialer.store import callbacks as callback_repo
from dialer.store import campaigns as campaign_repo
from dialer.store import dnc, explain, rules_config
from dialer.store import leads as leads_module
from dialer.store.cdrs import end_attempts, start_attempts
from dialer.store.engine import Database
from dialer.store.leads import lease_leads
from dialer.store.records import AttemptEnd, AttemptStart, CampaignStatus
from dialer.store.rules_gateway import RulesStore
from dialer.store.tables import ALL_TABLES
from tests.fixtures.db import ROOT, T0, phone, seed_campaign


async def abandoned_call(db: Database, lead_id: int, campaign_id: int, at: datetime) -> None:
    """A call to the lead that a person answered and no agent got."""
    attempt = str(uuid.uuid4())
    async with db.transaction() as s:
        await start_attempts(s, [AttemptStart(attempt, lead_id, campaign_id, None, "old", at)])
        end = AttemptEnd(
            attempt,
            at + timedelta(seconds=20),
            CallResult.ABANDONED,
            answer_at=at + timedelta(seconds=5),
        )
        await end_attempts(s, [end])


async def lead_status(db: Database, lead_id: int) -> str:
    async with db.transaction() as s:
        return str(
            (
                await s.execute(text("SELECT status FROM leads WHERE id = :i"), {"i": lead_id})
            ).scalar_one()
        )


# -- the 72-hour lock and callbacks --------------------------------------------------------


async def test_lock_is_lifted_for_a_callback_to_a_named_agent_only(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=3, max_attempts=5)
        await campaign_repo.set_campaign_status(s, seeded.campaign.id, CampaignStatus.RUNNING)
        ann = await agent_repo.create_agent(
            s, name="ann", sip_endpoint="agent1", campaign_id=seeded.campaign.id
        )
    named, anyone, plain = seeded.lead_ids
    cid = seeded.campaign.id
    for lead_id in seeded.lead_ids:
        await abandoned_call(store_db, lead_id, cid, T0)
    due = T0 + timedelta(hours=1)
    async with store_db.transaction() as s:
        await callback_repo.schedule(s, named, due, agent_id=ann.id, created_by="sup")
        await callback_repo.schedule(s, anyone, due, created_by="sup")
        before = await explain.explain_lead(s, named, T0 + timedelta(minutes=30))
        locked = await explain.explain_lead(s, anyone, due)
    # `dialer leads why` says both: the lock lifted because ann is reserved; locked until T.
    assert [b.reason for b in before.verdict.blockers] == [Reason.CALLBACK_LATER]
    assert before.dialable_at == due
    text_named = explain.render_explanation(before)
    assert "lifted for the callback, agent ann is reserved for it" in text_named
    assert [b.reason for b in locked.verdict.blockers] == [Reason.ABANDON_LOCK]
    lock_ends = T0 + timedelta(seconds=20, hours=72)
    assert locked.verdict.blockers[0].until == lock_ends
    assert locked.dialable_at == lock_ends
    assert "72-hour lock after an abandoned call" in explain.render_explanation(locked)

    store = RulesStore(store_db, "d1", 60, clock=lambda: due)
    # The ordinary lease takes none of them (locked, or waiting as a callback).
    assert await store.lease(cid, 10) == []
    assert await store.lease_callbacks(cid, []) == []  # ann not ready: nothing
    (got,) = await store.lease_callbacks(cid, [ann.id])
    assert (got.id, got.callback_agent_id) == (named, ann.id)
    assert await store.refuse_reason(got) is None  # right before the originate: may go
    # The same lead leased as an ordinary lead (no reserved agent) is refused by the lock.
    ordinary = replace(got, callback_id=None, callback_agent_id=None)
    refused = await store.refuse_reason(ordinary)
    assert refused is not None and "72-hour lock" in refused
    # Once the lock has passed the callback for anyone goes, and the plain lead is leased.
    later = RulesStore(store_db, "d2", 60, clock=lambda: lock_ends + timedelta(minutes=1))
    assert [x.id for x in await later.lease_callbacks(cid, [])] == [anyone]
    assert [x.id for x in await later.lease(cid, 10)] == [plain]
    assert plain != named


# -- leads set aside as on a do-not-call list ----------------------------------------------


async def test_listed_leads_are_set_aside_and_come_back_when_unlisted(
    store_db: Database,
) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=6)
        await campaign_repo.set_campaign_status(s, seeded.campaign.id, CampaignStatus.RUNNING)
        national = await dnc.create_list(s, "national")
        own = await dnc.create_list(s, "own", seeded.campaign.id)
        await dnc.add_numbers(s, national.id, [phone(0), phone(1), phone(2)])
        await dnc.add_numbers(s, own.id, [phone(2)])  # on two lists
    cid = seeded.campaign.id
    ids = seeded.lead_ids
    async with store_db.transaction() as s:
        # Only 2 asked for: the three listed leads come first in the order and are set aside,
        # the next rounds fill the two places.
        got = await lease_leads(s, cid, 2, T0, "d1", 60)
    assert [x.id for x in got] == [ids[3], ids[4]]
    assert [await lead_status(store_db, i) for i in ids[:3]] == ["blocked"] * 3
    async with store_db.transaction() as s:
        # Set aside, they are not in the dialable index any more: the plan shows no scan of
        # them, and a count of what the lease looks at says so.
        dialable = (
            await s.execute(
                text(
                    "SELECT count(*) FROM leads WHERE campaign_id = :c "
                    "AND status IN ('new', 'retry')"
                ),
                {"c": cid},
            )
        ).scalar_one()
        assert dialable == 1  # lead 5; 3 and 4 are leased
        why = await explain.explain_lead(s, ids[0], T0)
    assert [b.reason for b in why.verdict.blockers] == [Reason.DNC]
    assert "status blocked" in explain.render_explanation(why)

    # A supervisor takes phone(0) off the list: its lead is dialable again at once. phone(2)
    # is still on the campaign's own list: it stays aside.
    async with store_db.transaction() as s:
        assert await dnc.remove_number(s, national.id, phone(0))
        assert await dnc.remove_number(s, national.id, phone(2))
    assert await lead_status(store_db, ids[0]) == "new"
    assert await lead_status(store_db, ids[2]) == "blocked"
    # A number dropped some other way (rows deleted by hand) comes back at the daemon's next
    # periodic check.
    async with store_db.transaction() as s:
        await s.execute(text("DELETE FROM dnc_numbers WHERE phone = :p"), {"p": phone(1)})
        why_gone = await explain.explain_lead(s, ids[1], T0)
    assert [b.reason for b in why_gone.verdict.blockers] == [Reason.BLOCKED]
    store = RulesStore(store_db, "d2", 60, clock=lambda: T0)
    leased = {x.id for x in await store.lease(cid, 10)}
    assert leased == {ids[0], ids[1], ids[5]}
    assert await lead_status(store_db, ids[2]) == "blocked"
    async with store_db.transaction() as s:
        counts = await explain.campaign_reasons(s, cid, T0)
    assert counts.by_reason["dnc"] == 1


def test_cli_amd_rate_and_unknown_lead_history(store_db_url: str) -> None:
    async def seed() -> None:
        db = Database(store_db_url)
        try:
            async with db.transaction() as s:
                names = ", ".join(t.name for t in ALL_TABLES)
                await s.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                await seed_campaign(s, name="uk", leads=1)
        finally:
            await db.dispose()

    async def stored_rate() -> float | None:
        db = Database(store_db_url)
        try:
            async with db.transaction() as s:
                return (await rules_config.get_rules(s, 1)).amd_false_positive_rate
        finally:
            await db.dispose()

    asyncio.run(seed())

    def dialer(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dialer", *args, "--db-url", store_db_url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    shown = dialer("campaign", "rules", "uk")
    assert shown.returncode == 0, shown.stderr
    assert "AMD false-positive rate (UK abandonment estimate): 10.0% (default assumption)" in (
        shown.stdout
    )
    set_ = dialer("campaign", "rules", "uk", "--amd-false-positive-rate", "4%")
    assert set_.returncode == 0, set_.stderr
    assert "4.0% (measured)" in set_.stdout
    assert asyncio.run(stored_rate()) == 0.04
    preset = dialer("campaign", "rules", "uk", "--preset", "uk")
    assert preset.returncode == 0 and "4.0% (measured)" in preset.stdout  # kept by a preset
    bad = dialer("campaign", "rules", "uk", "--amd-false-positive-rate", "100%")
    assert bad.returncode == 1 and "--amd-false-positive-rate" in bad.stderr
    assert asyncio.run(stored_rate()) == 0.04  # nothing lost
    back = dialer("campaign", "rules", "uk", "--amd-false-positive-rate", "default")
    assert back.returncode == 0 and "10.0% (default assumption)" in back.stdout
    missing = dialer("leads", "history", "424242")
    assert missing.returncode == 1 and "no lead with id 424242" in missing.stderr


async def test_a_long_listed_run_is_set_aside_a_slice_per_lease_without_delaying(
    store_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(leads_module, "SET_ASIDE_PER_LEASE", 3)
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=14)
        national = await dnc.create_list(s, "national")
        await dnc.add_numbers(s, national.id, [phone(i) for i in range(10)])  # the head
    cid = seeded.campaign.id

    async def statuses() -> dict[str, int]:
        async with store_db.transaction() as s:
            rows = await s.execute(
                text("SELECT status, count(*) FROM leads WHERE campaign_id = :c GROUP BY 1"),
                {"c": cid},
            )
            return {r[0]: r[1] for r in rows}

    async with store_db.transaction() as s:
        first = await lease_leads(s, cid, 2, T0, "d1", 60)
    # Two rounds set 5 aside (2, then 3: the cap is checked between rounds), then a last round
    # skips the other listed leads and still leases two.
    assert [x.phone for x in first] == [phone(10), phone(11)]
    assert await statuses() == {"blocked": 5, "dialing": 2, "new": 7}
    async with store_db.transaction() as s:
        second = await lease_leads(s, cid, 2, T0, "d1", 60)
    assert [x.phone for x in second] == [phone(12), phone(13)]
    assert await statuses() == {"blocked": 10, "dialing": 4}
