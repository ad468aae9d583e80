"""One running daemon per name: a Postgres advisory lock its process holds while it runs.

A daemon takes over what earlier processes of its name left (`dialer.domain.identity`), which is
right only when they are dead. Postgres knows: the lock lives in one connection of the living
process and goes when that connection closes, at once when the process dies (the kernel closes
its sockets; only a host that vanished from the network holds it until TCP gives up). A second
daemon started with a name in use is refused instead of taking over live calls.

The lock's connection is checked now and then: lost with the database (an outage, a restart),
it is taken again when the database is back; held by another process meanwhile, this daemon
must stop (`NameTaken`).
"""

from __future__ import annotations

import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from dialer.store.engine import Database

logger = logging.getLogger(__name__)

_KEY = "hashtextextended('dialer-daemon:' || :name, 0)"
_TRY = text(f"SELECT pg_try_advisory_lock({_KEY})")
_UNLOCK = text(f"SELECT pg_advisory_unlock({_KEY})")


class NameTaken(Exception):
    """Another running daemon holds this name."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"another daemon named {name!r} is running (it holds the name in the database); "
            "give each daemon its own dialer.owner"
        )
        self.name = name


class NameLock:
    def __init__(self, db: Database, name: str) -> None:
        self._db = db
        self.name = name
        self._conn: AsyncConnection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None

    async def acquire(self) -> None:
        """Take the name; `NameTaken` if a living process has it. Database errors propagate."""
        conn = await self._db.engine.connect()
        try:
            got = (await conn.execute(_TRY, {"name": self.name})).scalar_one()
            await conn.commit()  # the lock is the session's; no transaction left open
        except BaseException:
            await conn.close()
            raise
        if not got:
            await conn.close()
            raise NameTaken(self.name)
        self._conn = conn

    async def check(self) -> None:
        """Still ours? Retake it if its connection died; `NameTaken` if another process has it
        now. Database errors propagate (the caller tries again later)."""
        if self._conn is not None:
            try:
                await self._conn.execute(text("SELECT 1"))
                await self._conn.commit()
                return
            except Exception as exc:
                logger.warning("the connection holding the daemon's name dropped: %s", exc)
                await self._discard()
        await self.acquire()
        logger.info("the daemon's name is held again")

    async def release(self) -> None:
        conn = self._conn
        if conn is None:
            return
        try:
            await conn.execute(_UNLOCK, {"name": self.name})
            await conn.commit()
            self._conn = None
            await conn.close()  # back to the pool, without the lock
        except Exception as exc:
            logger.debug("releasing the daemon's name: %s", exc)
            await self._discard()

    async def _discard(self) -> None:
        """Close the lock's connection for good (not back to the pool: it may hold the lock)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.invalidate()
                await conn.close()
            except Exception as exc:
                logger.debug("closing the name lock's connection: %s", exc)
