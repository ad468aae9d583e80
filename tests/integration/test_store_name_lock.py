"""One running daemon per name: the advisory lock on the real Postgres."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dialer.store.engine import Database
from dialer.store.name_lock import NameLock, NameTaken


async def _drop_lock_connections(db: Database) -> None:
    """What a database restart does to the sessions holding advisory locks in it."""
    async with db.transaction() as s:
        await s.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_locks"
                " WHERE locktype = 'advisory' AND pid <> pg_backend_pid()"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            )
        )


async def test_a_name_is_held_by_one_process_and_taken_again_after_a_drop(
    store_db_url: str,
) -> None:
    mine, theirs = Database(store_db_url), Database(store_db_url)
    try:
        first = NameLock(mine, "d1")
        await first.acquire()
        with pytest.raises(NameTaken, match="another daemon named 'd1' is running"):
            await NameLock(theirs, "d1").acquire()
        other_name = NameLock(theirs, "d10")
        await other_name.acquire()  # another name is free
        await other_name.release()
        await first.check()  # still ours: nothing to do
        # The database drops the lock's connection (a restart, an outage): the next check
        # takes the name again.
        await _drop_lock_connections(theirs)
        await first.check()
        assert first.held
        with pytest.raises(NameTaken):
            await NameLock(theirs, "d1").acquire()
        # ... unless another process took it meanwhile: then this one must stop.
        await _drop_lock_connections(theirs)
        usurper = NameLock(theirs, "d1")
        await usurper.acquire()
        with pytest.raises(NameTaken):
            await first.check()
        assert not first.held
        await usurper.release()
        await first.acquire()  # released: free again
        await first.release()
    finally:
        await mine.dispose()
        await theirs.dispose()
