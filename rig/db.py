"""A scratch database on the local Postgres for tests, the demo and benchmarks."""

from __future__ import annotations

import asyncio
import os

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

SERVER_URL = os.environ.get(
    "DIALER_RIG_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


def url_for(database: str) -> str:
    return make_url(SERVER_URL).set(database=database).render_as_string(hide_password=False)


async def _recreate(database: str) -> None:
    engine = create_async_engine(SERVER_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            quoted = '"' + database.replace('"', '""') + '"'
            await conn.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
            await conn.execute(text(f"CREATE DATABASE {quoted}"))
    finally:
        await engine.dispose()


def recreate_database(database: str) -> str:
    """Drop and create `database`; returns its asyncpg URL. Call with no event loop running.
    Raises OSError when Postgres is unreachable."""
    asyncio.run(_recreate(database))
    return url_for(database)
