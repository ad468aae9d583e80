"""`dialer migrate`'s helpers for a database that does not exist yet (no database needed)."""

from __future__ import annotations

from asyncpg.exceptions import InvalidCatalogNameError
from sqlalchemy.exc import DBAPIError

from dialer.store.errors import DatabaseMissing
from dialer.store.migrate import _is_missing_database, create_command


def test_the_create_command_names_server_role_and_database() -> None:
    url = "postgresql+asyncpg://dialer:pw@db.example:6432/calls"
    assert create_command(url) == "createdb -h db.example -p 6432 -U dialer calls"
    assert create_command("postgresql+asyncpg:///x") == "createdb -h localhost -p 5432 x"


def test_a_missing_database_is_told_from_other_errors() -> None:
    missing = InvalidCatalogNameError('database "calls" does not exist')
    outer = RuntimeError("alembic")
    outer.__cause__ = DBAPIError(None, None, missing)
    assert _is_missing_database(outer)
    assert _is_missing_database(missing)
    assert not _is_missing_database(OSError(111, "refused"))
    assert not _is_missing_database(None)


def test_the_message_names_the_database_and_server() -> None:
    exc = DatabaseMissing("127.0.0.1:5432/calls", "calls")
    assert str(exc) == 'database "calls" does not exist on the server at 127.0.0.1:5432'
    assert exc.server == "127.0.0.1:5432"
