"""Postgres storage: tables, the database handle, and small repository modules.

- `engine`: `Database` (async engine on asyncpg, one session per task via `transaction()`)
- `tables`: the schema (Alembic migrations in ``migrations/`` create it)
- `campaigns`, `agents`: trunks, campaigns, lead lists, disposition codes, agents
- `leads`: bulk import and leasing (``FOR UPDATE SKIP LOCKED``)
- `cdrs`: call attempts, written in batches; ending one moves its lead on (`retry`)
- `cleanup`: close what a stopped or dead daemon left open
- `dispositions`, `summary`
Errors derive from `StoreError`; an unreachable database raises `StoreUnavailable`.
"""

from __future__ import annotations

from dialer.store.engine import Database, database_url
from dialer.store.errors import NotFound, StoreError, StoreUnavailable, UnknownDispositionCode

__all__ = [
    "Database",
    "NotFound",
    "StoreError",
    "StoreUnavailable",
    "UnknownDispositionCode",
    "database_url",
]
