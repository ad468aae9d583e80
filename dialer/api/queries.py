"""SQL the API needs that the store's repositories do not have (yet): edits, look-ups by
name, list counts, an agent's last call, a lead's campaign."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.store import agents as agent_repo
from dialer.store import campaigns as campaign_repo
from dialer.store.errors import NotFound
from dialer.store.records import Agent, Campaign, LeadStatus, Trunk
from dialer.store.tables import agents, call_attempts, campaigns, lead_lists, leads, trunks


def is_id(ref: int | str) -> bool:
    return isinstance(ref, int) or ref.isdigit()


async def campaign_by_ref(session: AsyncSession, ref: int | str) -> Campaign:
    """By id (digits) or by name; `NotFound` otherwise."""
    if is_id(ref):
        return await campaign_repo.get_campaign(session, int(ref))
    return await campaign_repo.get_campaign_by_name(session, str(ref))


async def trunk_by_ref(session: AsyncSession, ref: int | str) -> Trunk:
    if is_id(ref):
        return await campaign_repo.get_trunk(session, int(ref))
    found = (
        await session.execute(select(trunks.c.id).where(trunks.c.name == str(ref)))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no trunk named {ref!r}")
    return await campaign_repo.get_trunk(session, int(found))


async def agent_by_ref(session: AsyncSession, ref: int | str) -> Agent:
    if is_id(ref):
        return await agent_repo.get_agent(session, int(ref))
    found = (
        await session.execute(select(agents.c.id).where(agents.c.name == str(ref)))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no agent named {ref!r}")
    return await agent_repo.get_agent(session, int(found))


async def update_campaign(
    session: AsyncSession, campaign_id: int, values: Mapping[str, Any]
) -> Campaign:
    if values:
        result = await session.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign_id)
            .values(updated_at=func.now(), **values)
            .returning(campaigns.c.id)
        )
        if result.first() is None:
            raise NotFound(f"no campaign with id {campaign_id}")
    return await campaign_repo.get_campaign(session, campaign_id)


async def update_trunk(session: AsyncSession, trunk_id: int, values: Mapping[str, Any]) -> Trunk:
    if values:
        result = await session.execute(
            update(trunks).where(trunks.c.id == trunk_id).values(**values).returning(trunks.c.id)
        )
        if result.first() is None:
            raise NotFound(f"no trunk with id {trunk_id}")
    return await campaign_repo.get_trunk(session, trunk_id)


async def lead_lists_with_counts(
    session: AsyncSession, campaign_id: int
) -> list[tuple[int, str, dict[str, int]]]:
    """(id, name, {status: count}) for each of the campaign's lists."""
    rows = await session.execute(
        select(lead_lists.c.id, lead_lists.c.name, leads.c.status, func.count(leads.c.id))
        .select_from(lead_lists)
        .outerjoin(leads, leads.c.list_id == lead_lists.c.id)
        .where(lead_lists.c.campaign_id == campaign_id)
        .group_by(lead_lists.c.id, lead_lists.c.name, leads.c.status)
        .order_by(lead_lists.c.id)
    )
    out: dict[int, tuple[str, dict[str, int]]] = {}
    for list_id, name, status, n in rows:
        counts = out.setdefault(list_id, (name, {s.value: 0 for s in LeadStatus}))[1]
        if status is not None:
            counts[status] = int(n)
    return [(i, name, counts) for i, (name, counts) in out.items()]


async def last_attempt_of_agent(session: AsyncSession, agent_id: int) -> str | None:
    row = (
        await session.execute(
            select(call_attempts.c.id)
            .where(call_attempts.c.agent_id == agent_id)
            .order_by(call_attempts.c.originated_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return None if row is None else str(row)


async def attempt_campaign_and_agent(
    session: AsyncSession, attempt_id: str
) -> tuple[int, int | None] | None:
    row = (
        await session.execute(
            select(call_attempts.c.campaign_id, call_attempts.c.agent_id).where(
                call_attempts.c.id == attempt_id
            )
        )
    ).one_or_none()
    return None if row is None else (int(row[0]), row[1])


@dataclass(frozen=True, slots=True)
class LeadRow:
    id: int
    campaign_id: int
    status: LeadStatus
    attempts: int
    extra: Mapping[str, Any]
    phone: str = ""
    time_zone: str = "UTC"


async def get_lead(session: AsyncSession, lead_id: int) -> LeadRow:
    stmt = select(
        leads.c.id,
        leads.c.campaign_id,
        leads.c.status,
        leads.c.attempts,
        leads.c.extra,
        leads.c.phone,
        leads.c.time_zone,
    ).where(leads.c.id == lead_id)
    row = (await session.execute(stmt)).one_or_none()
    if row is None:
        raise NotFound(f"no lead with id {lead_id}")
    return LeadRow(
        row.id,
        row.campaign_id,
        LeadStatus(row.status),
        row.attempts,
        row.extra,
        row.phone,
        row.time_zone,
    )
