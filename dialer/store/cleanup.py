"""Closing what a daemon left open: at a clean stop, or after another daemon died.

Open attempts are ended as ``cancelled`` (the attempt does not count and the lead is dialable
again), then every lease still held is given back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.domain.results import CallResult
from dialer.store.cdrs import end_attempts, open_attempt_ids
from dialer.store.leads import release_all_leases
from dialer.store.records import AttemptEnd, CloseReport, LeadStatus, require_aware
from dialer.store.tables import call_attempts, leads

STOPPED_TEXT = "dialer stopped"
EXPIRED_TEXT = "lease expired"


async def close_open_attempts(session: AsyncSession, owner: str, now: datetime) -> CloseReport:
    """For a clean stop of `owner`: its attempts with no hang-up get hang-up `now` and result
    cancelled, their leads are released, and so is any other lead `owner` still leases."""
    require_aware("now", now)
    ids = await open_attempt_ids(session, owner=owner)
    ended = await _cancel(session, ids, now, STOPPED_TEXT)
    released = await release_all_leases(session, owner=owner)
    return CloseReport(attempts_closed=len(ended), leads_released=len(ended) + released)


async def release_expired_leases(session: AsyncSession, now: datetime) -> CloseReport:
    """Sweep for dead owners: leads whose lease expired at `now` are released, and the open
    attempts on them are ended as cancelled (hang-up `now`, cause text "lease expired")."""
    require_aware("now", now)
    rows = await session.execute(
        select(call_attempts.c.id)
        .join(leads, leads.c.id == call_attempts.c.lead_id)
        .where(
            call_attempts.c.hangup_at.is_(None),
            leads.c.status == LeadStatus.DIALING.value,
            leads.c.lease_owner.is_not(None),  # lets ix_leads_lease_expires_at serve it
            leads.c.lease_expires_at <= now,
        )
        .order_by(call_attempts.c.id)
    )
    ended = await _cancel(session, [str(i) for i in rows.scalars()], now, EXPIRED_TEXT)
    released = await release_all_leases(session, expired_at=now)
    return CloseReport(attempts_closed=len(ended), leads_released=len(ended) + released)


async def _cancel(session: AsyncSession, ids: list[str], now: datetime, why: str) -> list[str]:
    ends = [
        AttemptEnd(attempt_id=i, hangup_at=now, result=CallResult.CANCELLED, cause_text=why)
        for i in ids
    ]
    return [e.attempt_id for e in await end_attempts(session, ends)]
