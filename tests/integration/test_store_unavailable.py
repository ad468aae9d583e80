"""An unreachable Postgres raises StoreUnavailable naming host:port, not a raw traceback."""

from __future__ import annotations

import socket

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dialer.store.engine import Database, describe
from dialer.store.errors import StoreError, StoreUnavailable


def _closed_port() -> int:
    """A loopback port with nothing listening: bound then released by us."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_ping_on_closed_port() -> None:
    port = _closed_port()
    db = Database(f"postgresql+asyncpg://postgres:secret@127.0.0.1:{port}/dialer")
    try:
        with pytest.raises(StoreUnavailable) as info:
            await db.ping()
    finally:
        await db.dispose()
    err = info.value
    assert isinstance(err, StoreError)
    assert err.target == f"127.0.0.1:{port}/dialer"
    assert str(err).startswith(f"database unreachable at 127.0.0.1:{port}/dialer: ")
    assert "refused" in err.reason.lower()
    assert "secret" not in str(err)
    assert "secret" not in repr(db)


async def test_transaction_on_closed_port() -> None:
    port = _closed_port()
    db = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/dialer")
    try:
        with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}"):
            async with db.transaction() as s:
                await s.execute(text("SELECT 1"))
    finally:
        await db.dispose()


async def test_missing_database_is_unavailable_too(store_db_url: str) -> None:
    db = Database(store_db_url.rsplit("/", 1)[0] + "/dialer_no_such_db")
    try:
        with pytest.raises(StoreUnavailable, match="does not exist"):
            await db.ping()
    finally:
        await db.dispose()


async def test_sql_errors_are_not_mistaken_for_unavailability(store_db: Database) -> None:
    await store_db.ping()
    with pytest.raises(DBAPIError, match="no_such_column") as info:
        async with store_db.transaction() as s:
            await s.execute(text("SELECT no_such_column FROM leads"))
    assert not isinstance(info.value, StoreUnavailable)


def test_describe_hides_password() -> None:
    assert describe("postgresql+asyncpg://u:pw@db.local:6543/x") == "db.local:6543/x"
    assert describe("postgresql+asyncpg://u@127.0.0.1/x") == "127.0.0.1:5432/x"


async def test_connection_killed_mid_transaction(store_db: Database) -> None:
    """A backend that dies under a transaction (restart, failover) reads as unavailable, and
    the next transaction gets a fresh connection."""
    with pytest.raises(StoreUnavailable, match=r"127\.0\.0\.1:5432"):
        await _query_on_a_killed_connection(store_db)
    async with store_db.transaction() as s:
        assert (await s.execute(text("SELECT 2"))).scalar_one() == 2


async def _query_on_a_killed_connection(db: Database) -> None:
    async with db.transaction() as s:
        pid = (await s.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with db.transaction() as killer:
            killed = await killer.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
            assert killed.scalar_one() is True
        await s.execute(text("SELECT 1"))
