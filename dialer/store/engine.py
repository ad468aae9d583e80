"""The database handle: one async engine and its session factory, built by the composition root.

Use: ``async with db.transaction() as session: await leads.lease_leads(session, ...)``. Each task
takes its own session this way (an AsyncSession must never be shared between concurrent tasks);
the transaction commits when the block exits normally and rolls back on an exception.
Sessions use ``expire_on_commit=False``: the store returns plain frozen records anyway.

Connection trouble becomes `StoreUnavailable` naming ``host:port/database``: asyncpg raises a
bare `ConnectionRefusedError`/`OSError` or `TimeoutError` when it cannot connect, and
SQLAlchemy a `DBAPIError` with no statement (the connect step) or with `connection_invalidated`
(the link dropped under a statement).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from dialer.store.errors import StoreUnavailable

logger = logging.getLogger(__name__)

DEFAULT_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/dialer"
URL_ENV = "DIALER_DATABASE_URL"


def database_url(explicit: str | None = None) -> str:
    """The URL to use: `explicit` if given, else $DIALER_DATABASE_URL, else the default."""
    return explicit or os.environ.get(URL_ENV) or DEFAULT_URL


def describe(url: str | URL) -> str:
    """``host:port/database`` of a URL, for messages; never the password."""
    u = make_url(url)
    return f"{u.host or 'localhost'}:{u.port or 5432}/{u.database or ''}"


def unavailable_from(exc: BaseException, target: str) -> StoreUnavailable | None:
    """The `StoreUnavailable` that `exc` stands for, or None if it is an ordinary SQL error."""
    if isinstance(exc, TimeoutError):
        return StoreUnavailable(target, "connection timed out")
    if isinstance(exc, OSError):
        # asyncio's strerror is "Connect call failed (...)"; the errno text says why.
        reason = os.strerror(exc.errno) if exc.errno else str(exc) or type(exc).__name__
        return StoreUnavailable(target, reason)
    if isinstance(exc, DBAPIError) and (exc.statement is None or exc.connection_invalidated):
        return StoreUnavailable(target, str(exc.orig) if exc.orig is not None else str(exc))
    return None


def sqlstate_of(exc: BaseException) -> str:
    """The SQLSTATE Postgres answered with (asyncpg's error under SQLAlchemy's), or "?"."""
    for err in (
        exc,
        getattr(exc, "orig", None),
        getattr(getattr(exc, "orig", None), "__cause__", None),
    ):
        state = getattr(err, "sqlstate", None)
        if isinstance(state, str):
            return state
    return "?"


class Database:
    """An async engine on asyncpg plus its session factory."""

    def __init__(
        self,
        url: str,
        *,
        # Ten connections at most, all kept open: the check before every originate and the
        # CDR writer take one each, often several at once, and an overflow connection is
        # closed when given back (a new connection, TLS negotiation included, per use).
        pool_size: int = 10,
        max_overflow: int = 0,
        connect_timeout_s: float = 5.0,
        echo: bool = False,
    ) -> None:
        self.url = make_url(url)
        self.target = describe(self.url)
        self.engine: AsyncEngine = create_async_engine(
            self.url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_pre_ping=True,
            echo=echo,
            connect_args={"timeout": connect_timeout_s},
        )
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(
            self.engine, expire_on_commit=False
        )

    def __repr__(self) -> str:
        return f"Database({self.target!r})"

    async def ping(self) -> None:
        """Connect and run ``SELECT 1``; raises `StoreUnavailable` if that fails."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:
            mapped = unavailable_from(exc, self.target)
            if mapped is None:
                raise
            raise mapped from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A new session in a transaction: commit on normal exit, roll back on error."""
        try:
            async with self.sessions() as session, session.begin():
                yield session
        except Exception as exc:
            mapped = unavailable_from(exc, self.target)
            if mapped is None:
                raise
            raise mapped from exc

    async def dispose(self) -> None:
        await self.engine.dispose()
