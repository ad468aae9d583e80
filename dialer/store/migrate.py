"""Run the Alembic migrations from code (the `dialer migrate` command, tests, scripts).

The migrations live in ``migrations/`` next to ``alembic.ini`` at the repository root; they are
not part of the installed package, so this works from a source checkout (or an image built
from one).
"""

from __future__ import annotations

import asyncio
import shlex
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from dialer.store.engine import describe, unavailable_from
from dialer.store.errors import DatabaseMissing

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def alembic_config(url: str, ini: Path = ALEMBIC_INI) -> Config:
    if not ini.is_file():
        raise FileNotFoundError(f"alembic.ini not found at {ini} (run from a source checkout)")
    cfg = Config(str(ini))
    cfg.attributes["url"] = url
    cfg.attributes["configure_logging"] = False  # the caller's logging setup stays in charge
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """`alembic upgrade <revision>` on `url`. Call it with no event loop running (Alembic's
    env.py runs its own). Raises `DatabaseMissing` if the server has no such database,
    `StoreUnavailable` if it cannot be reached."""
    try:
        command.upgrade(alembic_config(url), revision)
    except Exception as exc:
        if _is_missing_database(exc):
            raise DatabaseMissing(describe(url), make_url(url).database or "") from exc
        mapped = unavailable_from(exc, describe(url))
        if mapped is None:
            raise
        raise mapped from exc


def downgrade(url: str, revision: str) -> None:
    try:
        command.downgrade(alembic_config(url), revision)
    except Exception as exc:
        mapped = unavailable_from(exc, describe(url))
        if mapped is None:
            raise
        raise mapped from exc


INVALID_CATALOG_NAME = "3D000"
"""PostgreSQL's SQLSTATE for "database ... does not exist" (asyncpg's InvalidCatalogNameError)."""


def _is_missing_database(exc: BaseException | None) -> bool:
    """Whether "database ... does not exist" is `exc` or one of its causes."""
    seen = 0
    while exc is not None and seen < 10:
        for err in (exc, getattr(exc, "orig", None)):
            if getattr(err, "sqlstate", None) == INVALID_CATALOG_NAME:
                return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def create_command(url: str) -> str:
    """The shell command that creates the URL's database (PostgreSQL's `createdb`)."""
    u = make_url(url)
    args = ["createdb", "-h", u.host or "localhost", "-p", str(u.port or 5432)]
    if u.username:
        args += ["-U", u.username]
    return shlex.join([*args, u.database or ""])


def create_database(url: str) -> None:
    """CREATE DATABASE for the URL's database, connecting as the URL's role to the server's
    `postgres` database (the role needs CREATEDB). Call with no event loop running."""
    name = make_url(url).database or ""
    if not name:
        raise ValueError("the database URL names no database")

    async def create() -> None:
        engine = create_async_engine(
            make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT"
        )
        try:
            async with engine.connect() as conn:
                quoted = '"' + name.replace('"', '""') + '"'
                await conn.execute(text(f"CREATE DATABASE {quoted}"))
        finally:
            await engine.dispose()

    try:
        asyncio.run(create())
    except Exception as exc:
        mapped = unavailable_from(exc, describe(url))
        if mapped is None:
            raise
        raise mapped from exc
