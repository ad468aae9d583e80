"""Migration 0004 (the abandon message per campaign, a caller ID per trunk) keeps what is stored:
up from 0003 with campaigns, trunks and leads in place, down again, and up once more."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from dialer.store.migrate import alembic_config
from tests.fixtures.db import database_name, recreate_database


async def _run(url: str, *statements: str) -> list[list[Any]]:
    """Each statement in its own transaction; the rows of each."""
    engine = create_async_engine(url)
    out: list[list[Any]] = []
    try:
        for statement in statements:
            async with engine.begin() as conn:
                result = await conn.execute(text(statement))
                out.append(list(result) if result.returns_rows else [])
    finally:
        await engine.dispose()
    return out


def run(url: str, *statements: str) -> list[list[Any]]:
    return asyncio.run(_run(url, *statements))


def columns(url: str, table: str) -> set[str]:
    (rows,) = run(
        url,
        f"SELECT column_name FROM information_schema.columns WHERE table_name = '{table}'",
    )
    return {r[0] for r in rows}


def test_upgrade_and_downgrade_keep_the_data() -> None:
    url = recreate_database(database_name() + "_m0004")
    cfg = alembic_config(url)
    command.upgrade(cfg, "0003")
    run(
        url,
        "INSERT INTO trunks (id, name, max_channels, max_cps, endpoint)"
        " VALUES (1, 'carrier', 10, 5, 'trunk')",
        "INSERT INTO campaigns (id, name, caller_id, trunk_id, amd_enabled, machine_message)"
        " VALUES (1, 'own', '+15550000000', 1, true, 'dialer/abandon'),"
        " (2, 'lent', '+15550000001', 1, false, '')",
        "INSERT INTO lead_lists (id, campaign_id, name) VALUES (1, 1, 'l')",
        "INSERT INTO leads (list_id, campaign_id, phone) VALUES (1, 1, '+155510030000001')",
    )

    command.upgrade(cfg, "0004")
    (campaigns, trunks, leads) = run(
        url,
        "SELECT id, caller_id, amd_enabled, machine_message, callback_number, name_prompt"
        " FROM campaigns ORDER BY id",
        "SELECT id, caller_id FROM trunks",
        "SELECT phone FROM leads",
    )
    # Existing campaigns: their settings as they were, no call-back number, no name prompt.
    assert [tuple(r) for r in campaigns] == [
        (1, "+15550000000", True, "dialer/abandon", "", ""),
        (2, "+15550000001", False, "", "", ""),
    ]
    assert [tuple(r) for r in trunks] == [(1, "")]
    assert [r[0] for r in leads] == ["+155510030000001"]

    run(
        url,
        "UPDATE trunks SET caller_id = '+15550009999'",
        "UPDATE campaigns SET callback_number = '+442079460123',"
        " name_prompt = 'dialer/campaign-1' WHERE id = 1",
        "UPDATE campaigns SET caller_id = '' WHERE id = 2",  # relies on the trunk's now
    )
    # The database refuses what the API refuses.
    for bad in (
        "UPDATE campaigns SET callback_number = '02079460123' WHERE id = 1",
        "UPDATE campaigns SET name_prompt = '../secret' WHERE id = 1",
        "UPDATE campaigns SET name_prompt = 'a&b' WHERE id = 1",
    ):
        with pytest.raises(IntegrityError, match="ck_campaigns_"):
            run(url, bad)

    command.downgrade(cfg, "0003")
    assert "callback_number" not in columns(url, "campaigns")
    assert "name_prompt" not in columns(url, "campaigns")
    assert "caller_id" not in columns(url, "trunks")
    (campaigns, leads) = run(
        url,
        "SELECT id, caller_id, amd_enabled, machine_message FROM campaigns ORDER BY id",
        "SELECT phone FROM leads",
    )
    # The campaign that used its trunk's caller ID keeps it as its own: 0003 code reads only
    # the campaign's.
    assert [tuple(r) for r in campaigns] == [
        (1, "+15550000000", True, "dialer/abandon"),
        (2, "+15550009999", False, ""),
    ]
    assert [r[0] for r in leads] == ["+155510030000001"]

    command.upgrade(cfg, "0004")
    (campaigns,) = run(url, "SELECT id, callback_number, name_prompt FROM campaigns ORDER BY id")
    assert [tuple(r) for r in campaigns] == [(1, "", ""), (2, "", "")]
