"""The Alembic migrations: they build exactly `dialer/store/tables.py`, and go down and up."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from dialer.store.errors import StoreUnavailable
from dialer.store.migrate import alembic_config, upgrade
from dialer.store.tables import ALL_TABLES, metadata
from tests.fixtures.db import ROOT, database_name, recreate_database

# The newest revision (0002 added the dialing rules, 0003 AMD per campaign, 0006 agent
# owners, 0007 the pacer's calibration, 0008 durable call progress,
# 0009 refused call records, 0010 the audit log, 0011 preview and power settings,
# 0012 what the carrier's answers mean, 0013 the console's users, 0014 a campaign's own
# calls-per-second limit).
HEAD = "0014_call_rate_limits"


def _diff(connection: Connection) -> list[Any]:
    return list(compare_metadata(MigrationContext.configure(connection), metadata))


async def _inspect(url: str) -> tuple[list[Any], set[str], str | None]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff)
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            version = (
                await conn.execute(text("SELECT version_num FROM alembic_version"))
            ).scalar_one_or_none()
        return diff, tables, version
    finally:
        await engine.dispose()


def test_migrated_schema_matches_tables(store_db_url: str) -> None:
    diff, tables, version = asyncio.run(_inspect(store_db_url))
    assert diff == []
    assert {t.name for t in ALL_TABLES} | {"alembic_version"} == tables
    assert version == HEAD


def test_downgrade_to_base_and_up_again() -> None:
    url = recreate_database(database_name() + "_migrations")
    cfg = alembic_config(url)
    command.upgrade(cfg, "head")
    command.downgrade(cfg, "base")
    _, tables, version = asyncio.run(_inspect(url))
    assert tables == {"alembic_version"}
    assert version is None
    command.upgrade(cfg, "head")
    diff, tables, version = asyncio.run(_inspect(url))
    assert diff == []
    assert version == HEAD


def test_alembic_cli_takes_x_url() -> None:
    """The command line as an operator runs it, with -x url= naming the database."""
    url = recreate_database(database_name() + "_cli")
    env = {**os.environ, "DIALER_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none"}
    done = subprocess.run(
        [sys.executable, "-m", "alembic", "-x", f"url={url}", "upgrade", "head"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    _, tables, version = asyncio.run(_inspect(url))
    assert version == HEAD
    assert "leads" in tables


def test_upgrade_on_closed_port_raises_store_unavailable() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StoreUnavailable, match=rf"unreachable at 127\.0\.0\.1:{port}/dialer"):
        upgrade(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/dialer")
