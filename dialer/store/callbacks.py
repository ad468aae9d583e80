"""Callbacks: call a lead again at a set time, for one named agent or for anyone.

Rules:
- At most one open callback per lead (a new one replaces the pending one).
- When due, the lead goes first: the engine asks for due callbacks every few seconds
  (`rules_gateway.RulesStore.lease_callbacks`) and puts them at the front of its buffer. A
  callback for a named agent is leased only while that agent is ready, and the engine then
  keeps that agent for it; a callback for anyone goes to whichever agent is free.
- A due callback overrides "done", the lifetime attempt cap and the retry schedule (a person
  asked for it), but never a do-not-call list, calling hours or the caps: a callback that falls
  outside them waits (its due time moves to when they allow the call). The 72-hour lock after
  an abandoned call holds for a callback for anyone; a callback to a named agent goes through
  it, because that agent is reserved for the call (leased only while the agent is ready, the
  agent kept free from the originate, the answered call handed to that agent).
- Lifecycle: pending → taken (leased with its lead) → done (the attempt ended) or back to
  pending (the lead was given back undialed, or the attempt was cancelled before the network
  saw it); cancelled by a person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.store._sql import rowcount
from dialer.store.errors import NotFound
from dialer.store.records import require_aware
from dialer.store.tables import agents, callbacks, leads


@dataclass(frozen=True, slots=True)
class Callback:
    id: int
    lead_id: int
    campaign_id: int
    due_at: datetime
    agent_id: int | None
    status: str
    note: str
    created_by: str
    agent_name: str | None = None


def _callback(row: object) -> Callback:
    r = row._mapping  # type: ignore[attr-defined]
    return Callback(
        id=r["id"],
        lead_id=r["lead_id"],
        campaign_id=r["campaign_id"],
        due_at=r["due_at"],
        agent_id=r["agent_id"],
        status=r["status"],
        note=r["note"],
        created_by=r["created_by"],
        agent_name=r.get("agent_name"),
    )


_SELECT = select(*callbacks.c, agents.c.name.label("agent_name")).select_from(
    callbacks.outerjoin(agents, agents.c.id == callbacks.c.agent_id)
)


async def schedule(
    session: AsyncSession,
    lead_id: int,
    due_at: datetime,
    *,
    agent_id: int | None = None,
    note: str = "",
    created_by: str = "",
) -> Callback:
    """Schedule a callback (replacing the lead's pending one). Raises `NotFound` for an unknown
    lead, ValueError for an agent of another campaign."""
    require_aware("due_at", due_at)
    lead = (
        await session.execute(
            select(leads.c.id, leads.c.campaign_id).where(leads.c.id == lead_id).with_for_update()
        )
    ).one_or_none()
    if lead is None:
        raise NotFound(f"no lead with id {lead_id}")
    if agent_id is not None:
        agent = (
            await session.execute(select(agents.c.campaign_id).where(agents.c.id == agent_id))
        ).one_or_none()
        if agent is None:
            raise NotFound(f"no agent with id {agent_id}")
        if agent.campaign_id not in (None, lead.campaign_id):
            raise ValueError(f"agent {agent_id} works on another campaign than lead {lead_id}")
    await session.execute(
        update(callbacks)
        .where(callbacks.c.lead_id == lead_id, callbacks.c.status == "pending")
        .values(status="cancelled")
    )
    new_id = (
        await session.execute(
            callbacks.insert()
            .values(
                lead_id=lead_id,
                campaign_id=lead.campaign_id,
                due_at=due_at,
                agent_id=agent_id,
                note=note,
                created_by=created_by,
            )
            .returning(callbacks.c.id)
        )
    ).scalar_one()
    return await get(session, new_id)


async def get(session: AsyncSession, callback_id: int) -> Callback:
    row = (await session.execute(_SELECT.where(callbacks.c.id == callback_id))).one_or_none()
    if row is None:
        raise NotFound(f"no callback with id {callback_id}")
    return _callback(row)


async def open_for_lead(session: AsyncSession, lead_id: int) -> Callback | None:
    """The lead's pending or taken callback."""
    row = (
        await session.execute(
            _SELECT.where(
                callbacks.c.lead_id == lead_id, callbacks.c.status.in_(["pending", "taken"])
            )
        )
    ).one_or_none()
    return None if row is None else _callback(row)


async def list_pending(session: AsyncSession, campaign_id: int | None = None) -> list[Callback]:
    stmt = _SELECT.where(callbacks.c.status == "pending").order_by(callbacks.c.due_at)
    if campaign_id is not None:
        stmt = stmt.where(callbacks.c.campaign_id == campaign_id)
    return [_callback(r) for r in await session.execute(stmt)]


async def cancel(session: AsyncSession, callback_id: int) -> bool:
    result = await session.execute(
        update(callbacks)
        .where(callbacks.c.id == callback_id, callbacks.c.status == "pending")
        .values(status="cancelled")
    )
    return rowcount(result) > 0


async def finish_taken(session: AsyncSession, lead_ids: Sequence[int], *, dialed: bool) -> int:
    """The taken callbacks of these leads: done when their call went out (`dialed`), else
    pending again."""
    if not lead_ids:
        return 0
    result = await session.execute(
        update(callbacks)
        .where(callbacks.c.lead_id.in_(list(lead_ids)), callbacks.c.status == "taken")
        .values(
            status="done" if dialed else "pending",
            **({} if dialed else {"taken_at": None, "taken_by": None}),
        )
    )
    return rowcount(result)


def has_open_callback(lead_id: ColumnElement[int]) -> ColumnElement[bool]:
    """True when the lead has a pending or taken callback: the lease query leaves such a lead
    to `RulesStore.lease_callbacks`, so it goes out as that callback (to its agent)."""
    test = exists(
        select(1)
        .where(callbacks.c.lead_id == lead_id, callbacks.c.status.in_(["pending", "taken"]))
        .correlate_except(callbacks)  # the lead comes from the enclosing query
    )
    return select(test).scalar_subquery()  # a per-row sub-plan: see `dnc.number_blocked`
