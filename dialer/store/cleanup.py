"""Closing what a daemon left open: at a clean stop, or taking over what a dead one left (its
leases expired, or it was this daemon's predecessor of the same name).

An open attempt closed without its hang-up ends with what its durable progress shows
(`dialer.domain.recovery`): its known outcome, else abandoned when it was answered, else
unknown (retried as a no-answer). Then the leases still held are given back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.domain.identity import SEPARATOR, name_of
from dialer.domain.recovery import PbxRecord
from dialer.domain.results import CallResult
from dialer.store._sql import rowcount
from dialer.store.cdrs import end_attempts
from dialer.store.leads import release_all_leases, released_status
from dialer.store.records import (
    CloseReport,
    EndedAttempt,
    LeadStatus,
    LeftCall,
    Takeover,
    require_aware,
)
from dialer.store.tables import agents, call_attempts, daemons, leads

STOPPED_TEXT = "dialer stopped"
GONE_TEXT = "ended while no dialer followed it"


def _left_call(r: Any) -> LeftCall:
    return LeftCall(
        attempt_id=str(r.id),
        lead_id=r.lead_id,
        campaign_id=r.campaign_id,
        originated_at=r.originated_at,
        ring_at=r.ring_at,
        answer_at=r.answer_at,
        agent_connect_at=r.agent_connect_at,
        agent_id=r.agent_id,
        message_at=r.message_at,
        outcome=CallResult(r.outcome) if r.outcome is not None else None,
    )


_LEFT_COLUMNS = (
    call_attempts.c.id,
    call_attempts.c.lead_id,
    call_attempts.c.campaign_id,
    call_attempts.c.originated_at,
    call_attempts.c.ring_at,
    call_attempts.c.answer_at,
    call_attempts.c.agent_connect_at,
    call_attempts.c.agent_id,
    call_attempts.c.message_at,
    call_attempts.c.outcome,
)


_PBX_RECORDS = text(
    """
    SELECT uniqueid, min(answer) FILTER (WHERE answer > 0) AS answered, max("end") AS ended,
           (array_agg(disposition ORDER BY "end" DESC NULLS LAST))[1] AS disposition
    FROM pbx_cdr WHERE uniqueid = ANY(CAST(:ids AS text[])) GROUP BY uniqueid
    """
)


async def pbx_records(session: AsyncSession, attempt_ids: Sequence[str]) -> dict[str, PbxRecord]:
    """The PBX's own records of these calls (pbx_cdr, one per call: a call bridged to an agent
    may have several rows)."""
    if not attempt_ids:
        return {}
    rows = await session.execute(_PBX_RECORDS, {"ids": list(attempt_ids)})
    return {
        r.uniqueid: PbxRecord(
            answered_at=datetime.fromtimestamp(r.answered, UTC) if r.answered else None,
            disposition=r.disposition or "",
            ended_at=datetime.fromtimestamp(r.ended, UTC) if r.ended else None,
        )
        for r in rows
    }


async def close_by_evidence(
    session: AsyncSession, calls: Sequence[LeftCall], now: datetime, why: str
) -> list[EndedAttempt]:
    """End `calls` (gone from the PBX) with what their progress and the PBX's own records
    show; returns those this closed, with their leads' new state."""
    pbx = await pbx_records(session, [c.attempt_id for c in calls])
    ends = [c.closed(now, why, pbx.get(c.attempt_id)) for c in calls]
    return await end_attempts(session, ends)


async def _open_calls(session: AsyncSession, where: ColumnElement[bool]) -> list[LeftCall]:
    rows = await session.execute(
        select(*_LEFT_COLUMNS)
        .where(call_attempts.c.hangup_at.is_(None), where)
        .order_by(call_attempts.c.id)
    )
    return [_left_call(r) for r in rows]


async def close_open_attempts(session: AsyncSession, owner: str, now: datetime) -> CloseReport:
    """For a clean stop of `owner`: its attempts with no hang-up end by their evidence at `now`,
    their leads are released, and so is any other lead `owner` still leases."""
    require_aware("now", now)
    calls = await _open_calls(session, call_attempts.c.owner == owner)
    ended = await close_by_evidence(session, calls, now, STOPPED_TEXT)
    released = await release_all_leases(session, owner=owner)
    return CloseReport(attempts_closed=len(ended), leads_released=len(ended) + released)


async def take_over_expired(
    session: AsyncSession, owner: str, now: datetime, lease_s: float
) -> Takeover:
    """`owner` takes over the leads whose lease expired at `now` (their daemon stopped renewing:
    it died): the open attempts on them become `owner`'s, to be closed by their evidence or
    adopted against the PBX, with their leads leased to `owner`; the leads they leased and never
    dialed are released. The expired leads are locked as they are taken (SKIP LOCKED, and the
    renewed lease no longer matches), so two daemons sweeping at once never take one call."""
    require_aware("now", now)
    taken = await session.execute(
        update(leads)
        .where(
            leads.c.id.in_(
                select(leads.c.id)
                .where(
                    leads.c.status == LeadStatus.DIALING.value,
                    leads.c.lease_owner.is_not(None),  # lets ix_leads_lease_expires_at serve it
                    leads.c.lease_expires_at <= now,
                )
                .with_for_update(skip_locked=True)
            ),
            leads.c.lease_expires_at <= now,
        )
        .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_s))
        .returning(leads.c.id)
    )
    lead_ids = [r.id for r in taken]
    if not lead_ids:
        return Takeover((), {}, 0)
    rows = await session.execute(
        update(call_attempts)
        .where(call_attempts.c.hangup_at.is_(None), call_attempts.c.lead_id.in_(lead_ids))
        .values(owner=owner)
        .returning(*_LEFT_COLUMNS)
    )
    calls = tuple(sorted((_left_call(r) for r in rows), key=lambda c: c.attempt_id))
    dialed = {c.lead_id for c in calls}
    released = await session.execute(
        update(leads)
        .where(leads.c.id.in_([i for i in lead_ids if i not in dialed]))
        .values(status=released_status(), lease_owner=None, lease_expires_at=None)
    )
    return Takeover(calls, {}, rowcount(released))


def _predecessor(column: ColumnElement[str | None], owner: str) -> ColumnElement[bool]:
    """`column` names an earlier process of `owner`'s name."""
    return and_(
        column.is_not(None),
        func.split_part(column, SEPARATOR, 1) == name_of(owner),
        column != owner,
    )


async def take_over_predecessors(
    session: AsyncSession, owner: str, now: datetime, lease_s: float, agent_lease_s: float
) -> Takeover:
    """`owner` (a new process) takes over what earlier processes of its name left: their open
    attempts (still to be closed or adopted against the PBX) with the leads under them, their
    agents with their headset legs; the leads they leased and never dialed are released, and
    their `daemons` rows go. Names are unique per running daemon, so they are dead."""
    require_aware("now", now)
    rows = await session.execute(
        update(call_attempts)
        .where(call_attempts.c.hangup_at.is_(None), _predecessor(call_attempts.c.owner, owner))
        .values(owner=owner)
        .returning(*_LEFT_COLUMNS)
    )
    calls = tuple(sorted((_left_call(r) for r in rows), key=lambda c: c.attempt_id))
    kept = [c.lead_id for c in calls]
    if kept:
        await session.execute(
            update(leads)
            .where(leads.c.id.in_(kept), leads.c.status == LeadStatus.DIALING.value)
            .values(lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_s))
        )
    released = await session.execute(
        update(leads)
        .where(
            leads.c.status == LeadStatus.DIALING.value,
            _predecessor(leads.c.lease_owner, owner),
        )
        .values(status=released_status(), lease_owner=None, lease_expires_at=None)
    )
    legs = await session.execute(
        update(agents)
        .where(_predecessor(agents.c.owner, owner))
        .values(owner=owner, owner_expires_at=now + timedelta(seconds=agent_lease_s))
        .returning(agents.c.id, agents.c.leg_id)
    )
    agent_legs = {r.id: r.leg_id for r in legs}
    await session.execute(delete(daemons).where(_predecessor(daemons.c.owner, owner)))
    return Takeover(calls, agent_legs, rowcount(released))
