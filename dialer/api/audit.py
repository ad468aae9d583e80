"""The audit log over HTTP (GET /api/v1/audit, staff), and the one way routes write to it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.api.auth import Principal
from dialer.api.deps import COMMON_ERRORS, Ctx, Staff, errors
from dialer.api.models import Instant
from dialer.store import audit

router = APIRouter(prefix="/api/v1", tags=["audit"], responses=errors(*COMMON_ERRORS))


async def audited(
    s: AsyncSession,
    who: Principal,
    action: str,
    target: str,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Record a change made through the API, in the transaction that makes it."""
    await audit.record(
        s,
        who=who.name,
        role=who.role.value,
        action=action,
        target=target,
        before=before,
        after=after,
    )


class AuditOut(BaseModel):
    id: int
    at: datetime
    who: str
    role: str
    action: str
    target: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    text: str


@router.get("/audit", summary="Who changed what and when, newest first (staff)")
async def list_audit(
    ctx: Ctx,
    who: Staff,
    since: Instant | None = None,
    target: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[AuditOut]:
    async with ctx.db.transaction() as s:
        found = await audit.entries(s, since=since, target=target, limit=limit)
    return [
        AuditOut(
            id=e.id,
            at=e.at,
            who=e.who,
            role=e.role,
            action=e.action,
            target=e.target,
            before=dict(e.before) if e.before is not None else None,
            after=dict(e.after) if e.after is not None else None,
            text=audit.render(e),
        )
        for e in found
    ]
