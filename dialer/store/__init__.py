"""Postgres storage: tables, the database handle, and small repository modules.

- `engine`: `Database` (async engine on asyncpg, one session per task via `transaction()`)
- `tables`: the schema (Alembic migrations in ``migrations/`` create it)
- `campaigns`, `agents`: trunks, campaigns, lead lists, disposition codes, agents
- `leads`: bulk import and leasing (``FOR UPDATE SKIP LOCKED``)
- `cdrs`: call attempts, written in batches; ending one moves its lead on (`retry`)
- `cleanup`: close what a stopped or dead daemon left open
- `dispositions`, `summary`
Errors derive from `StoreError` (`errors`); an unreachable database raises `StoreUnavailable`.
`records` holds the plain values the rest of the dialer (its pure core included) shares with
the store: importing it loads no database code.
"""
