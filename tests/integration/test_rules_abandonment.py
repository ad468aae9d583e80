"""Abandonment as the regulators count it, from the CDRs in the real Postgres
(`dialer.store.abandonment`): the US rate over the life and 30 days, the UK rate over the last
24 hours and its worst 24 hours, with the machine estimate and the campaign's own AMD
false-positive rate."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from dialer.domain.results import CallResult
from dialer.rules.abandonment import AbandonFigures
from dialer.rules.policy import customise
from dialer.store import rules_config
from dialer.store.abandonment import campaign_abandonment, epoch_minute
from dialer.store.cdrs import end_attempts, start_attempts
from dialer.store.engine import Database
from dialer.store.records import AttemptEnd, AttemptStart
from tests.fixtures.db import T0, seed_campaign

NOW = T0 + timedelta(days=40)


async def calls(
    db: Database,
    campaign_id: int,
    lead_ids: list[int],
    at: datetime,
    result: CallResult,
    *,
    latency_ms: int | None = None,
) -> None:
    """One attempt per lead, originated at `at`, answered 5 s later when a person answered."""
    starts, ends = [], []
    for lead_id in lead_ids:
        attempt = str(uuid.uuid4())
        starts.append(AttemptStart(attempt, lead_id, campaign_id, None, "d1", at))
        answered = result in (CallResult.CONNECTED, CallResult.ABANDONED, CallResult.MACHINE)
        answer = at + timedelta(seconds=5) if answered else None
        connect = (
            answer + timedelta(milliseconds=latency_ms)
            if answer is not None and result is CallResult.CONNECTED and latency_ms is not None
            else None
        )
        ends.append(
            AttemptEnd(
                attempt,
                at + timedelta(seconds=60),
                result,
                answer_at=answer,
                agent_connect_at=connect,
            )
        )
    async with db.transaction() as s:
        await start_attempts(s, starts)
        await end_attempts(s, ends)


async def test_us_and_uk_rates_from_the_cdrs(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=200, max_attempts=9)
        other = await seed_campaign(s, name="other", leads=5, trunk=seeded.trunk)
    cid = seeded.campaign.id
    ids = list(seeded.lead_ids)
    # 35 days ago (life only): 50 connected, 10 abandoned.
    await calls(
        store_db, cid, ids[0:50], NOW - timedelta(days=35), CallResult.CONNECTED, latency_ms=3
    )
    await calls(store_db, cid, ids[50:60], NOW - timedelta(days=35), CallResult.ABANDONED)
    # 10 days ago (30 days): 20 connected, 1 abandoned, 1 connected 2.5 s after the answer.
    ten = NOW - timedelta(days=10)
    await calls(store_db, cid, ids[60:80], ten, CallResult.CONNECTED, latency_ms=40)
    await calls(store_db, cid, ids[80:81], ten, CallResult.ABANDONED)
    await calls(store_db, cid, ids[81:82], ten, CallResult.CONNECTED, latency_ms=2500)
    # 2 hours ago (24 hours): 30 connected, 1 abandoned, 40 machines, busy and cancelled calls.
    two = NOW - timedelta(hours=2)
    await calls(store_db, cid, ids[82:112], two, CallResult.CONNECTED, latency_ms=40)
    await calls(store_db, cid, ids[112:113], two, CallResult.ABANDONED)
    await calls(store_db, cid, ids[113:153], two, CallResult.MACHINE)
    await calls(store_db, cid, ids[153:163], two, CallResult.BUSY)
    await calls(store_db, cid, ids[163:170], two, CallResult.CANCELLED)
    # After `NOW`, and in another campaign: never counted.
    await calls(store_db, cid, ids[170:180], NOW + timedelta(minutes=2), CallResult.ABANDONED)
    await calls(store_db, other.campaign.id, list(other.lead_ids), two, CallResult.ABANDONED)

    async with store_db.transaction() as s:
        r = await campaign_abandonment(s, cid, NOW)
    assert (r.fp_rate, r.fp_rate_is_default) == (0.10, True)
    assert r.life == AbandonFigures(100, 13, 40)
    assert r.last_30d == AbandonFigures(50, 3, 40)
    assert r.last_24h == AbandonFigures(30, 1, 40)
    assert r.life.us_rate == pytest.approx(13 / 113)
    assert r.last_30d.us_rate == pytest.approx(3 / 53)
    # Ofcom: 10 % of 40 machine verdicts were people: 4 more abandoned live calls.
    assert r.last_24h.uk_rate(r.fp_rate) == pytest.approx((1 + 4) / (31 + 4))
    worst = r.worst_24h
    assert worst is not None
    # the worst 24 hours are 35 days ago: 10 abandoned of 60
    assert worst.figures == AbandonFigures(50, 10, 0)
    assert worst.rate == pytest.approx(10 / 60)
    assert worst.start_minute <= epoch_minute(NOW - timedelta(days=35)) < worst.start_minute + 1440

    # The campaign measured its detection: 2.5 % of machine verdicts were people.
    async with store_db.transaction() as s:
        rules = await rules_config.get_rules(s, cid)
        await rules_config.set_rules(s, cid, customise(rules, amd_false_positive_rate=0.025))
        measured = await campaign_abandonment(s, cid, NOW)
    assert (measured.fp_rate, measured.fp_rate_is_default) == (0.025, False)
    assert measured.last_24h.uk_rate(measured.fp_rate) == pytest.approx(2 / 32)


async def test_a_campaign_without_live_calls(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=3)
    await calls(store_db, seeded.campaign.id, list(seeded.lead_ids), NOW, CallResult.BUSY)
    async with store_db.transaction() as s:
        r = await campaign_abandonment(s, seeded.campaign.id, NOW)
    assert r.life == AbandonFigures() and r.worst_24h is None
    assert r.last_24h.us_rate is None and r.last_24h.uk_rate(r.fp_rate) is None
