"""The rules on the real Postgres: DNC lists and the 72-hour lock in the lease query, calling
hours and caps at the lease (`RulesStore`), per-campaign retry rules, callbacks, the check right
before the originate, and the explanations (`dialer leads why`, campaign reasons, history)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from dialer.domain.results import CallResult
from dialer.rules.caps import Caps
from dialer.rules.dnc import DncSource
from dialer.rules.policy import Preset, customise, preset_rules
from dialer.rules.retry import ResultRule
from dialer.rules.verdict import Reason
from dialer.store import agents as agent_repo
from dialer.store import callbacks as callback_repo
from dialer.store import campaigns as campaign_repo
from dialer.store import dnc, explain, rules_config
from dialer.store.cdrs import end_attempts, start_attempts
from dialer.store.dispositions import record_disposition
from dialer.store.engine import Database
from dialer.store.leads import add_leads, lease_leads
from dialer.store.records import (
    AttemptEnd,
    AttemptStart,
    CampaignStatus,
    LeasedLead,
    NewLead,
)
from dialer.store.rules_gateway import RulesStore
from dialer.store.tables import ALL_TABLES
from tests.fixtures.db import ROOT, T0, phone, seed_campaign


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


async def lead_row(db: Database, lead_id: int) -> object:
    async with db.transaction() as s:
        return (await s.execute(text("SELECT * FROM leads WHERE id = :i"), {"i": lead_id})).one()


async def call(
    db: Database, lead: LeasedLead, at: datetime, result: CallResult, owner: str = "d1"
) -> str:
    """One whole attempt for a leased lead, ended at `at` + 20 s."""
    attempt = str(uuid.uuid4())
    async with db.transaction() as s:
        await start_attempts(s, [AttemptStart(attempt, lead.id, lead.campaign_id, None, owner, at)])
        await end_attempts(s, [AttemptEnd(attempt, at + timedelta(seconds=20), result)])
    return attempt


# -- do-not-call ---------------------------------------------------------------------------


async def test_numbers_on_a_global_or_own_list_are_never_leased(store_db: Database) -> None:
    async with store_db.transaction() as s:
        a = await seed_campaign(s, name="a", leads=6)
        b = await seed_campaign(s, name="b", leads=6, trunk=a.trunk)
        national = await dnc.create_list(s, "national")
        mine = await dnc.create_list(s, "a-only", a.campaign.id)
        theirs = await dnc.create_list(s, "b-only", b.campaign.id)
        await dnc.add_numbers(s, national.id, [phone(1)])
        await dnc.add_numbers(s, mine.id, [phone(2)])
        await dnc.add_numbers(s, theirs.id, [phone(3)])
    async with store_db.transaction() as s:
        leased_a = await lease_leads(s, a.campaign.id, 100, T0, "d1", 60)
        leased_b = await lease_leads(s, b.campaign.id, 100, T0, "d1", 60)
    assert sorted(x.phone for x in leased_a) == [phone(i) for i in (0, 3, 4, 5)]
    assert sorted(x.phone for x in leased_b) == [phone(i) for i in (0, 2, 4, 5)]
    async with store_db.transaction() as s:
        hits = await dnc.hits(s, phone(1), a.campaign.id)
    assert [(h.list_name, h.campaign_id, h.source) for h in hits] == [
        ("national", None, DncSource.IMPORT)
    ]


def test_dnc_property_random_lists_never_leased(store_db_url: str) -> None:
    """Property over random lists: whatever numbers are on which lists, leasing a campaign dry
    never hands out a number listed globally or for that campaign, and hands out every other."""

    async def run(
        listed: list[tuple[int, str]], count: int, round_size: int
    ) -> tuple[set[str], set[str]]:
        db = Database(store_db_url, pool_size=2, max_overflow=2)
        try:
            async with db.transaction() as s:
                names = ", ".join(t.name for t in ALL_TABLES)
                await s.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                a = await seed_campaign(s, name="a", leads=count)
                b = await seed_campaign(s, name="b", leads=1, trunk=a.trunk)
                lists = {
                    "global": await dnc.create_list(s, "global"),
                    "own": await dnc.create_list(s, "own", a.campaign.id),
                    "other": await dnc.create_list(s, "other", b.campaign.id),
                }
                for n, scope in listed:
                    await dnc.add_numbers(s, lists[scope].id, [phone(n)])
            store = RulesStore(db, "p", 60, clock=lambda: T0)
            got: set[str] = set()
            while batch := await store.lease(a.campaign.id, round_size):
                got |= {x.phone for x in batch}
            blocked = {phone(n) for n, scope in listed if scope in ("global", "own")}
            return got, blocked
        finally:
            await db.dispose()

    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        count=st.integers(1, 25),
        listed=st.lists(
            st.tuples(st.integers(0, 30), st.sampled_from(["global", "own", "other"])),
            max_size=30,
        ),
        round_size=st.integers(1, 7),
    )
    def prop(count: int, listed: list[tuple[int, str]], round_size: int) -> None:
        got, blocked = asyncio.run(run(listed, count, round_size))
        assert not got & blocked
        assert got == {phone(i) for i in range(count)} - blocked

    prop()


async def test_opt_out_and_import(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=3)
        target = await dnc.opt_out(s, phone(0), note="asked on the call")
        assert target.name == "opt-out" and target.campaign_id is None
        imported = await dnc.ensure_list(s, "imported", seeded.campaign.id)
        report = await dnc.import_numbers(
            s, imported.id, ["+33 6 10 00 00 01", "# comment", "", "nonsense", phone(1)]
        )
    assert (report.added, report.already_listed) == (1, 0)
    assert report.rejected == (
        (4, "not a phone number: (1) The string supplied did not seem to be a phone number."),
    )
    async with store_db.transaction() as s:
        leased = await lease_leads(s, seeded.campaign.id, 10, T0, "d1", 60)
    assert [x.phone for x in leased] == [phone(2)]


# -- the 72-hour lock --------------------------------------------------------------------


async def test_abandoned_call_locks_the_number_for_72_hours_in_every_campaign(
    store_db: Database,
) -> None:
    async with store_db.transaction() as s:
        a = await seed_campaign(s, name="a", leads=1)
        b = await seed_campaign(s, name="b", leads=1, trunk=a.trunk)  # the same number
        (lead_a,) = await lease_leads(s, a.campaign.id, 1, T0, "d1", 60)
    await call(store_db, lead_a, T0, CallResult.ABANDONED)
    for hours, expected in ((1, 0), (71.99, 0), (72.01, 1)):
        at = T0 + timedelta(hours=hours)
        async with store_db.transaction() as s:
            got = await lease_leads(s, b.campaign.id, 5, at, f"d-{hours}", 60)
            assert len(got) == expected, hours
    async with store_db.transaction() as s:
        assert await dnc.last_abandoned(s, phone(0)) == T0 + timedelta(seconds=20)


# -- calling hours and caps at the lease ------------------------------------------------


async def zone_campaign(db: Database, zones: list[str], preset: Preset) -> tuple[int, list[int]]:
    async with db.transaction() as s:
        trunk = await campaign_repo.create_trunk(
            s, name="t", endpoint="trunk", max_channels=10, max_cps=10
        )
        c = await campaign_repo.create_campaign(
            s,
            name="zones",
            trunk_id=trunk.id,
            caller_id="+15550000000",
            max_attempts=5,
            status=CampaignStatus.RUNNING,
        )
        lst = await campaign_repo.create_lead_list(s, c.id, "l")
        await add_leads(
            s,
            lst.id,
            [
                NewLead(phone=f"+1202555{i:04d}", time_zone=z, next_call_at=T0)
                for i, z in enumerate(zones)
            ],
        )
        await rules_config.set_preset(s, c.id, preset)
        ids = list((await s.execute(text("SELECT id FROM leads ORDER BY id"))).scalars())
    return c.id, ids


async def test_lead_outside_its_window_waits_until_it_opens(store_db: Database) -> None:
    cid, (ny, tokyo, unset) = await zone_campaign(
        store_db, ["America/New_York", "Asia/Tokyo", "UTC"], Preset.US
    )
    # Tuesday 2030-01-08 15:00 UTC: 10:00 in New York, midnight in Tokyo; the third lead has
    # no zone and a +1 202 (Washington DC) number: 10:00 there too.
    clock = Clock(utc(2030, 1, 8, 15, 0))
    store = RulesStore(store_db, "d1", 60, clock=clock)
    leased = await store.lease(cid, 10)
    assert sorted(x.id for x in leased) == [ny, unset]
    row = await lead_row(store_db, tokyo)
    assert (row.status, row.lease_owner) == ("new", None)  # type: ignore[attr-defined]
    assert row.next_call_at == utc(2030, 1, 8, 23, 0)  # type: ignore[attr-defined]  # 08:00 JST
    assert await store.lease(cid, 10) == []  # nothing more until then
    async with store_db.transaction() as s:
        why = await explain.explain_lead(s, tokyo, clock.now)
    assert {b.reason for b in why.verdict.blockers} == {Reason.OUTSIDE_HOURS, Reason.RETRY_DUE}
    assert why.dialable_at == utc(2030, 1, 8, 23, 0)
    assert "opens Wed 2030-01-09 08:00 JST" in explain.render_explanation(why)
    clock.now = utc(2030, 1, 8, 23, 0)
    assert [x.id for x in await store.lease(cid, 10)] == [tokyo]


async def test_russian_daily_cap_defers_to_the_next_local_morning(store_db: Database) -> None:
    cid, (lead_id,) = await zone_campaign(store_db, ["Europe/Moscow"], Preset.RU_DEBT)
    clock = Clock(utc(2030, 1, 8, 7, 0))  # Tuesday 10:00 MSK
    store = RulesStore(store_db, "d1", 60, clock=clock)
    (lead,) = await store.lease(cid, 5)
    await call(store_db, lead, clock.now, CallResult.BUSY)  # busy: retry after 10 minutes
    clock.now = utc(2030, 1, 8, 8, 0)
    assert await store.lease(cid, 5) == []
    row = await lead_row(store_db, lead_id)
    assert row.next_call_at == utc(2030, 1, 9, 5, 0)  # type: ignore[attr-defined]  # Wed 08:00 MSK


async def test_campaign_retry_rules_override_the_defaults(store_db: Database) -> None:
    async with store_db.transaction() as s:
        mine = await seed_campaign(s, name="mine", leads=1)
        other = await seed_campaign(s, name="other", leads=1, trunk=mine.trunk)
        await rules_config.set_rules(
            s,
            mine.campaign.id,
            customise(
                preset_rules(Preset.NONE),
                retry={CallResult.BUSY: ResultRule(retry_after=timedelta(minutes=5))},
            ),
        )
        (a,) = await lease_leads(s, mine.campaign.id, 1, T0, "d1", 60)
        (b,) = await lease_leads(s, other.campaign.id, 1, T0, "d1", 60)
    await call(store_db, a, T0, CallResult.BUSY)
    await call(store_db, b, T0, CallResult.BUSY)
    ended = T0 + timedelta(seconds=20)
    assert (await lead_row(store_db, a.id)).next_call_at == ended + timedelta(minutes=5)  # type: ignore[attr-defined]
    assert (await lead_row(store_db, b.id)).next_call_at == ended + timedelta(minutes=10)  # type: ignore[attr-defined]


async def test_rules_beyond_the_preset_are_refused(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=0)
        await rules_config.set_preset(s, seeded.campaign.id, Preset.RU_DEBT)
        wide = preset_rules(Preset.RU_DEBT)
        wide = type(wide)(wide.preset, wide.hours, wide.default_zone, Caps(per_day=3))
        with pytest.raises(ValueError, match="per_day=3 exceeds the ru_debt preset"):
            await rules_config.set_rules(s, seeded.campaign.id, wide)
        assert (await rules_config.get_rules(s, seeded.campaign.id)).caps.per_day == 1


# -- the check right before the originate --------------------------------------------------


async def test_number_listed_after_the_lease_is_refused_before_the_originate(
    store_db: Database,
) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=2)
    store = RulesStore(store_db, "d1", 60, clock=lambda: T0)
    first, second = await store.lease(seeded.campaign.id, 2)
    assert await store.refuse_reason(first) is None
    async with store_db.transaction() as s:
        await dnc.opt_out(s, first.phone, campaign_id=seeded.campaign.id)
    refused = await store.refuse_reason(first)
    assert refused is not None and "opt-out-campaign-1" in refused and "opt_out" in refused
    assert await store.refuse_reason(second) is None


async def test_pre_dial_check_fails_closed(store_db_url: str) -> None:
    db = Database("postgresql+asyncpg://postgres@127.0.0.1:1/none", connect_timeout_s=1)
    store = RulesStore(db, "d1", 60)
    lead = LeasedLead(1, 1, 1, phone(0), "UTC", 0, 0, {}, T0)
    try:
        refused = await store.refuse_reason(lead)
    finally:
        await db.dispose()
    assert refused is not None and "pre-dial rules check failed" in refused


# -- callbacks -----------------------------------------------------------------------------


async def test_callback_goes_first_to_its_agent_and_overrides_done(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=3, max_attempts=1)
        ann = await agent_repo.create_agent(
            s, name="ann", sip_endpoint="agent1", campaign_id=seeded.campaign.id
        )
    clock = Clock(T0)
    store = RulesStore(store_db, "d1", 60, clock=clock)
    (lead, *_rest) = await store.lease(seeded.campaign.id, 3)
    attempt = await call(store_db, lead, T0, CallResult.CONNECTED)
    assert (await lead_row(store_db, lead.id)).status == "done"  # type: ignore[attr-defined]
    await store.release([x.id for x in _rest])
    async with store_db.transaction() as s:
        cb = await callback_repo.schedule(
            s,
            lead.id,
            T0 + timedelta(hours=1),
            agent_id=ann.id,
            note="after lunch",
            created_by="ann",
        )
    clock.now = T0 + timedelta(minutes=30)
    assert await store.lease_callbacks(seeded.campaign.id, [ann.id]) == []  # not yet due
    clock.now = T0 + timedelta(hours=1)
    # the regular lease leaves it alone; the agent is not ready: not leased as a callback
    assert lead.id not in {x.id for x in await store.lease(seeded.campaign.id, 10)}
    assert await store.lease_callbacks(seeded.campaign.id, []) == []
    (due,) = await store.lease_callbacks(seeded.campaign.id, [ann.id])
    assert (due.id, due.callback_id, due.callback_agent_id) == (lead.id, cb.id, ann.id)
    assert await store.refuse_reason(due) is None
    second = str(uuid.uuid4())
    await store.write_starts(
        [AttemptStart(second, lead.id, lead.campaign_id, None, "d1", clock.now)]
    )
    await store.write_ends(
        [AttemptEnd(second, clock.now + timedelta(seconds=30), CallResult.CONNECTED)]
    )
    async with store_db.transaction() as s:
        assert (await callback_repo.get(s, cb.id)).status == "done"
        await campaign_repo.set_disposition_codes(s, seeded.campaign.id, [("sale", "Sale")])
        await record_disposition(s, attempt, "sale", at=T0 + timedelta(minutes=1), note="2 boxes")
        history = await explain.lead_history(s, lead.id)
    assert [(h.result, h.disposition, h.note) for h in history] == [
        ("connected", "sale", "2 boxes"),
        ("connected", None, None),
    ]
    text_out = explain.render_history(lead.id, history)
    assert "disposition sale" in text_out and "note '2 boxes'" in text_out


async def test_callback_given_back_undialed_is_pending_again(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=1)
        cb = await callback_repo.schedule(s, seeded.lead_ids[0], T0)
    store = RulesStore(store_db, "d1", 60, clock=lambda: T0)
    (due,) = await store.lease_callbacks(seeded.campaign.id, [])
    assert due.callback_agent_id is None
    await store.release([due.id])
    async with store_db.transaction() as s:
        assert (await callback_repo.get(s, cb.id)).status == "pending"
    assert [x.id for x in await store.lease_callbacks(seeded.campaign.id, [])] == [due.id]


# -- explanations --------------------------------------------------------------------------


async def test_campaign_reasons_count_every_lead(store_db: Database) -> None:
    cid, ids = await zone_campaign(
        store_db,
        ["America/New_York", "America/New_York", "Asia/Tokyo", "America/New_York"],
        Preset.US,
    )
    now = utc(2030, 1, 8, 15, 0)
    async with store_db.transaction() as s:
        listed = await dnc.create_list(s, "national")
        await dnc.add_numbers(s, listed.id, ["+12025550001"])
        await s.execute(text("UPDATE leads SET status = 'done' WHERE id = :i"), {"i": ids[3]})
        counts = await explain.campaign_reasons(s, cid, now)
    assert counts.total == 4
    assert dict(counts.by_reason) == {
        "dialable_now": 1,
        "dnc": 1,
        "outside_hours": 1,
        "done": 1,
    }
    assert "outside_hours" in explain.render_campaign_reasons(counts)


async def test_ring_time_below_15_seconds_is_refused(store_db: Database) -> None:
    async with store_db.transaction() as s:
        trunk = await campaign_repo.create_trunk(
            s, name="t", endpoint="trunk", max_channels=1, max_cps=1
        )
        with pytest.raises(ValueError, match="ring_timeout_s must be at least 15 s"):
            await campaign_repo.create_campaign(
                s, name="short", trunk_id=trunk.id, caller_id="+1", ring_timeout_s=10
            )
    with pytest.raises(IntegrityError, match="ck_campaigns_ring_timeout_min_15"):
        async with store_db.transaction() as s:
            await s.execute(
                text(
                    "INSERT INTO campaigns (name, caller_id, trunk_id, ring_timeout_s)"
                    " VALUES ('raw', '+1', :t, 14)"
                ),
                {"t": trunk.id},
            )


def test_cli_leads_why_and_campaign_reasons(store_db_url: str) -> None:
    async def seed() -> int:
        db = Database(store_db_url)
        try:
            async with db.transaction() as s:
                names = ", ".join(t.name for t in ALL_TABLES)
                await s.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                seeded = await seed_campaign(s, leads=2)
                await campaign_repo.set_campaign_status(
                    s, seeded.campaign.id, CampaignStatus.PAUSED
                )
                await dnc.opt_out(s, phone(0))
                return seeded.lead_ids[0]
        finally:
            await db.dispose()

    lead_id = asyncio.run(seed())

    def dialer(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "dialer", *args, "--db-url", store_db_url],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    why = dialer("leads", "why", str(lead_id))
    assert why.returncode == 0, why.stderr
    assert "NOT DIALABLE: 3 reason(s)" in why.stdout  # paused, listed, due in 2030
    assert "[campaign_paused]" in why.stdout and "[dnc] on do-not-call list 'opt-out'" in why.stdout
    assert "+33610000000" not in why.stdout  # numbers are masked
    reasons = dialer("campaign", "reasons", "spring")
    assert reasons.returncode == 0, reasons.stderr
    assert "2 leads" in reasons.stdout and "campaign_paused" in reasons.stdout
    missing = dialer("leads", "why", "999999")
    assert missing.returncode == 1 and "no lead with id 999999" in missing.stderr
    rules = dialer(
        "campaign", "rules", "spring", "--preset", "ru_debt", "--time-zone", "Europe/Moscow"
    )
    assert rules.returncode == 0, rules.stderr
    assert "Sat: 09:00-20:00" in rules.stdout and "per_day=1" in rules.stdout
