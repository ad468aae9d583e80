"""Dispositions: the code (from the campaign's list) and note an agent gives a call.

One disposition per attempt; recording again (the agent corrects it during wrap-up) replaces
it. The database enforces that the code is one of the attempt's campaign's codes; this module
checks first, so the caller gets `UnknownDispositionCode` listing the allowed codes.
"""

from __future__ import annotations

from datetime import datetime
from typing import NoReturn

from sqlalchemy import and_, literal, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.store.errors import NotFound, UnknownDispositionCode
from dialer.store.records import Disposition, require_aware, require_uuid
from dialer.store.tables import call_attempts, disposition_codes, dispositions


async def record_disposition(
    session: AsyncSession,
    attempt_id: str,
    code: str,
    *,
    at: datetime,
    agent_id: int | None = None,
    note: str = "",
) -> Disposition:
    """Store `code` and `note` for an attempt; `agent_id` defaults to the attempt's agent."""
    require_uuid("attempt_id", attempt_id)
    require_aware("at", at)
    source = (
        select(
            call_attempts.c.id,
            call_attempts.c.campaign_id,
            (
                literal(agent_id, dispositions.c.agent_id.type)
                if agent_id is not None
                else call_attempts.c.agent_id
            ),
            disposition_codes.c.code,
            literal(note, dispositions.c.note.type),
            literal(at, dispositions.c.created_at.type),
        )
        .join(
            disposition_codes,
            and_(
                disposition_codes.c.campaign_id == call_attempts.c.campaign_id,
                disposition_codes.c.code == code,
            ),
        )
        .where(call_attempts.c.id == attempt_id)
    )
    stmt = pg_insert(dispositions).from_select(
        ["attempt_id", "campaign_id", "agent_id", "code", "note", "created_at"], source
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[dispositions.c.attempt_id],
        set_={
            "agent_id": stmt.excluded.agent_id,
            "code": stmt.excluded.code,
            "note": stmt.excluded.note,
            "created_at": stmt.excluded.created_at,
        },
    ).returning(*dispositions.c)
    row = (await session.execute(upsert)).one_or_none()
    if row is None:
        await _explain_refusal(session, attempt_id, code)
    return Disposition(
        id=row.id,
        attempt_id=str(row.attempt_id),
        campaign_id=row.campaign_id,
        agent_id=row.agent_id,
        code=row.code,
        note=row.note,
        created_at=row.created_at,
    )


async def _explain_refusal(session: AsyncSession, attempt_id: str, code: str) -> NoReturn:
    campaign_id = (
        await session.execute(
            select(call_attempts.c.campaign_id).where(call_attempts.c.id == attempt_id)
        )
    ).scalar_one_or_none()
    if campaign_id is None:
        raise NotFound(f"no call attempt with id {attempt_id}")
    allowed = (
        await session.execute(
            select(disposition_codes.c.code)
            .where(disposition_codes.c.campaign_id == campaign_id)
            .order_by(disposition_codes.c.code)
        )
    ).scalars()
    raise UnknownDispositionCode(code, campaign_id, tuple(allowed))


async def get_disposition(session: AsyncSession, attempt_id: str) -> Disposition | None:
    require_uuid("attempt_id", attempt_id)
    row = (
        await session.execute(select(dispositions).where(dispositions.c.attempt_id == attempt_id))
    ).one_or_none()
    if row is None:
        return None
    return Disposition(
        id=row.id,
        attempt_id=str(row.attempt_id),
        campaign_id=row.campaign_id,
        agent_id=row.agent_id,
        code=row.code,
        note=row.note,
        created_at=row.created_at,
    )
