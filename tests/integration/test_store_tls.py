"""The store over TLS to a PostgreSQL that serves it (a private server the test starts, with
a certificate it makes): the URL's `ssl` query asks for it, as in database.url."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dialer.store.engine import Database
from tests.fixtures import private_pg


async def test_the_store_connects_over_tls_when_the_url_asks() -> None:
    reason = private_pg.missing_reason()
    if reason is not None:
        pytest.skip(reason)
    server = private_pg.PrivatePostgres()
    try:
        server.init()
        server.enable_tls()
        server.start()
        url = server.create_database("dialer")
        for query, wanted in (("?ssl=require", True), ("?ssl=disable", False)):
            db = Database(url + query)
            try:
                async with db.transaction() as s:
                    over_tls = (
                        await s.execute(
                            text("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                        )
                    ).scalar_one()
            finally:
                await db.dispose()
            assert over_tls is wanted, query
    finally:
        server.remove()
