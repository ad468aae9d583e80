"""The audit log: who changed what, and when, with the state before and after.

Written in the same transaction as the change it records, so there is no change without its
entry and no entry for a change that was rolled back. `who` is a token's name (the API) or
`cli:<os user>` (the database-side CLI); `target` names the thing changed ("campaign spring",
"agent 12", "lead 345", "dnc list opt-out").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.store.tables import audit_log


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    who: str
    role: str
    action: str
    target: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None


async def record(
    session: AsyncSession,
    *,
    who: str,
    role: str,
    action: str,
    target: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    await session.execute(
        insert(audit_log).values(
            who=who,
            role=role,
            action=action,
            target=target,
            before=dict(before) if before is not None else None,
            after=dict(after) if after is not None else None,
        )
    )


async def entries(
    session: AsyncSession,
    *,
    since: datetime | None = None,
    target: str | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """The newest entries first (at most `limit`), from `since`, for one `target` if given."""
    stmt = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if since is not None:
        stmt = stmt.where(audit_log.c.at >= since)
    if target is not None:
        stmt = stmt.where(audit_log.c.target == target)
    rows = await session.execute(stmt)
    return [
        AuditEntry(r.id, r.at, r.who, r.role, r.action, r.target, r.before, r.after) for r in rows
    ]


def render(e: AuditEntry) -> str:
    """One line: when, who, what, and the fields that changed."""
    changed = ""
    if e.before is not None and e.after is not None:
        keys = sorted(k for k in {*e.before, *e.after} if e.before.get(k) != e.after.get(k))
        changed = " " + ", ".join(f"{k}: {e.before.get(k)!r} -> {e.after.get(k)!r}" for k in keys)
    elif e.after is not None:
        changed = " " + ", ".join(f"{k}={v!r}" for k, v in sorted(e.after.items()))
    return f"{e.at:%Y-%m-%d %H:%M:%S} {e.who} ({e.role}) {e.action} {e.target}{changed}"
