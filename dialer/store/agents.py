"""Agents: name, SIP endpoint (their headset), default campaign and last known state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.store.errors import NotFound
from dialer.store.records import Agent, AgentState
from dialer.store.tables import agents


def _agent(row: Any) -> Agent:
    return Agent(
        id=row.id,
        name=row.name,
        sip_endpoint=row.sip_endpoint,
        campaign_id=row.campaign_id,
        state=AgentState(row.state),
    )


_COLUMNS = (agents.c.id, agents.c.name, agents.c.sip_endpoint, agents.c.campaign_id, agents.c.state)


async def create_agent(
    session: AsyncSession,
    *,
    name: str,
    sip_endpoint: str,
    campaign_id: int | None = None,
    state: AgentState = AgentState.OFFLINE,
) -> Agent:
    row = (
        await session.execute(
            insert(agents)
            .values(
                name=name, sip_endpoint=sip_endpoint, campaign_id=campaign_id, state=state.value
            )
            .returning(*_COLUMNS)
        )
    ).one()
    return _agent(row)


async def get_agent(session: AsyncSession, agent_id: int) -> Agent:
    row = (await session.execute(select(*_COLUMNS).where(agents.c.id == agent_id))).one_or_none()
    if row is None:
        raise NotFound(f"no agent with id {agent_id}")
    return _agent(row)


async def list_agents(session: AsyncSession, campaign_id: int | None = None) -> list[Agent]:
    """All agents, or those whose campaign is `campaign_id`."""
    stmt = select(*_COLUMNS).order_by(agents.c.id)
    if campaign_id is not None:
        stmt = stmt.where(agents.c.campaign_id == campaign_id)
    return [_agent(r) for r in await session.execute(stmt)]


async def set_agent_campaign(
    session: AsyncSession, agent_id: int, campaign_id: int | None
) -> Agent:
    return await _update(session, agent_id, campaign_id=campaign_id)


async def set_agent_state(session: AsyncSession, agent_id: int, state: AgentState) -> Agent:
    return await _update(session, agent_id, state=state.value)


async def _update(session: AsyncSession, agent_id: int, **values: object) -> Agent:
    row = (
        await session.execute(
            update(agents)
            .where(agents.c.id == agent_id)
            .values(updated_at=func.now(), **values)
            .returning(*_COLUMNS)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"no agent with id {agent_id}")
    return _agent(row)
