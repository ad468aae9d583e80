"""SQL the API needs that the store's repositories do not have (yet): edits, look-ups by
name, list counts, an agent's last call, a lead's campaign."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.domain.results import CallResult
from dialer.store import agents as agent_repo
from dialer.store import campaigns as campaign_repo
from dialer.store.errors import NotFound
from dialer.store.records import Agent, Campaign, LeadStatus, Trunk
from dialer.store.tables import agents, call_attempts, campaigns, lead_lists, leads, trunks

MAX_ID = 2**63 - 1  # Postgres's bigint


def is_id(ref: int | str) -> bool:
    """Digits (ASCII only: ``int("³")`` fails) name an id; anything else a name."""
    return isinstance(ref, int) or (ref.isascii() and ref.isdigit())


def as_id(ref: int | str, what: str) -> int:
    """The id `ref` names; `NotFound` outside bigint's ids (no row has it; never sent to
    Postgres)."""
    value = int(ref)
    if not 1 <= value <= MAX_ID:
        raise NotFound(f"no {what} with id {value}")
    return value


async def campaign_by_ref(session: AsyncSession, ref: int | str) -> Campaign:
    """By id (digits) or by name; `NotFound` otherwise."""
    if is_id(ref):
        return await campaign_repo.get_campaign(session, as_id(ref, "campaign"))
    return await campaign_repo.get_campaign_by_name(session, str(ref))


async def trunk_by_ref(session: AsyncSession, ref: int | str) -> Trunk:
    if is_id(ref):
        return await campaign_repo.get_trunk(session, as_id(ref, "trunk"))
    found = (
        await session.execute(select(trunks.c.id).where(trunks.c.name == str(ref)))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no trunk named {ref!r}")
    return await campaign_repo.get_trunk(session, int(found))


async def agent_by_ref(session: AsyncSession, ref: int | str) -> Agent:
    if is_id(ref):
        return await agent_repo.get_agent(session, as_id(ref, "agent"))
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


@dataclass(frozen=True, slots=True)
class ListCounts:
    """A lead list's leads by status, and how many ended as numbers that do not exist
    (`invalid`) or that failed on the network on every call (`unreachable`)."""

    id: int
    name: str
    leads: dict[str, int]
    invalid: int
    unreachable: int


async def lead_lists_with_counts(session: AsyncSession, campaign_id: int) -> list[ListCounts]:
    """Each of the campaign's lists with its leads by status and its invalid numbers."""
    last = leads.c.last_result
    rows = await session.execute(
        select(
            lead_lists.c.id,
            lead_lists.c.name,
            leads.c.status,
            func.count(leads.c.id),
            func.count(leads.c.id).filter(last == CallResult.INVALID.value),
            func.count(leads.c.id).filter(last == CallResult.UNREACHABLE.value),
        )
        .select_from(lead_lists)
        .outerjoin(leads, leads.c.list_id == lead_lists.c.id)
        .where(lead_lists.c.campaign_id == campaign_id)
        .group_by(lead_lists.c.id, lead_lists.c.name, leads.c.status)
        .order_by(lead_lists.c.id)
    )
    out: dict[int, tuple[str, dict[str, int], list[int]]] = {}
    for list_id, name, status, n, invalid, unreachable in rows:
        _, counts, ended = out.setdefault(list_id, (name, {s.value: 0 for s in LeadStatus}, [0, 0]))
        if status is not None:
            counts[status] = int(n)
        ended[0] += int(invalid)
        ended[1] += int(unreachable)
    return [
        ListCounts(i, name, counts, ended[0], ended[1]) for i, (name, counts, ended) in out.items()
    ]


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
