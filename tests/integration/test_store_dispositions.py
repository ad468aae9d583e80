"""Dispositions: codes must come from the attempt's campaign's list."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from dialer.store.agents import create_agent
from dialer.store.campaigns import get_disposition_codes, set_disposition_codes
from dialer.store.cdrs import start_attempts
from dialer.store.dispositions import get_disposition, record_disposition
from dialer.store.engine import Database
from dialer.store.errors import NotFound, UnknownDispositionCode
from dialer.store.records import AttemptStart
from tests.fixtures.db import T0, Seeded, seed_campaign


async def _attempt(db: Database, seeded: Seeded, agent_id: int | None = None) -> str:
    attempt_id = str(uuid.uuid4())
    async with db.transaction() as s:
        await start_attempts(
            s,
            [
                AttemptStart(
                    attempt_id=attempt_id,
                    lead_id=seeded.lead_ids[0],
                    campaign_id=seeded.campaign.id,
                    trunk_id=None,
                    owner="d1",
                    originated_at=T0,
                )
            ],
        )
        if agent_id is not None:
            await s.execute(
                text("UPDATE call_attempts SET agent_id = :a WHERE id = :i"),
                {"a": agent_id, "i": attempt_id},
            )
    return attempt_id


async def test_record_and_replace(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=1)
        await set_disposition_codes(s, seeded.campaign.id, [("SALE", "Sale"), ("CB", "Callback")])
        ann = await create_agent(s, name="ann", sip_endpoint="agent1")
        bob = await create_agent(s, name="bob", sip_endpoint="agent2")
    attempt_id = await _attempt(store_db, seeded, agent_id=ann.id)
    at = T0 + timedelta(minutes=2)
    async with store_db.transaction() as s:
        first = await record_disposition(s, attempt_id, "CB", at=at, note="call after 6pm")
    assert (first.code, first.note, first.agent_id, first.created_at) == (
        "CB",
        "call after 6pm",
        ann.id,  # the attempt's agent when none is given
        at,
    )
    async with store_db.transaction() as s:
        second = await record_disposition(s, attempt_id, "SALE", at=at, agent_id=bob.id)
        stored = await get_disposition(s, attempt_id)
    assert second.id == first.id  # replaced, one per attempt
    assert stored is not None
    assert (stored.code, stored.agent_id, stored.note) == (
        "SALE",
        bob.id,
        "",
    )


async def test_unknown_code_is_a_clear_error(store_db: Database) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=1)
        other = await seed_campaign(s, name="other", leads=1, trunk=seeded.trunk)
        await set_disposition_codes(s, seeded.campaign.id, [("SALE", "Sale"), ("NI", "No")])
        await set_disposition_codes(s, other.campaign.id, [("DNC", "Do not call")])
        assert await get_disposition_codes(s, seeded.campaign.id) == [
            ("NI", "No"),
            ("SALE", "Sale"),
        ]
    attempt_id = await _attempt(store_db, seeded)
    with pytest.raises(UnknownDispositionCode) as info:
        async with store_db.transaction() as s:
            await record_disposition(s, attempt_id, "DNC", at=T0)  # the other campaign's code
    assert info.value.allowed == ("NI", "SALE")
    assert "'DNC'" in str(info.value)
    assert "NI, SALE" in str(info.value)
    with pytest.raises(NotFound, match="no call attempt"):
        async with store_db.transaction() as s:
            await record_disposition(s, str(uuid.uuid4()), "SALE", at=T0)
    async with store_db.transaction() as s:
        assert await get_disposition(s, attempt_id) is None


async def test_database_itself_refuses_a_foreign_code(store_db: Database) -> None:
    """The composite foreign key holds even for a writer that skips the repository."""
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=1)
        other = await seed_campaign(s, name="other", leads=1, trunk=seeded.trunk)
        await set_disposition_codes(s, other.campaign.id, [("DNC", "Do not call")])
    attempt_id = await _attempt(store_db, seeded)
    with pytest.raises(IntegrityError, match="fk_dispositions_campaign_id_code"):
        async with store_db.transaction() as s:
            await s.execute(
                text(
                    "INSERT INTO dispositions (attempt_id, campaign_id, code)"
                    " VALUES (:a, :c, 'DNC')"
                ),
                {"a": attempt_id, "c": seeded.campaign.id},
            )
    with pytest.raises(IntegrityError, match="fk_dispositions_attempt_id_campaign_id"):
        async with store_db.transaction() as s:
            await s.execute(
                text(
                    "INSERT INTO dispositions (attempt_id, campaign_id, code)"
                    " VALUES (:a, :c, 'DNC')"
                ),
                {"a": attempt_id, "c": other.campaign.id},
            )
