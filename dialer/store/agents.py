"""Agents: name, SIP endpoint (their headset), default campaign and last known state; and the
agent lease (`owner`, `owner_expires_at`): which daemon owns the agent (`lease_agents`,
`claim_agent`, `release_agents`; the rules are in `dialer.domain.ownership`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, insert, null, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.domain.ownership import claim_quota
from dialer.domain.pbx_values import check_name
from dialer.store._sql import rowcount
from dialer.store.errors import NotFound
from dialer.store.records import Agent, AgentLeases, AgentState, require_aware
from dialer.store.tables import agents, daemons


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
    check_name(sip_endpoint, "sip_endpoint")
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


async def agents_of(
    session: AsyncSession, campaign_ids: Collection[int], agent_ids: Collection[int]
) -> list[Agent]:
    """The agents of the campaigns in `campaign_ids`, and those in `agent_ids`."""
    conds = []
    if campaign_ids:
        conds.append(agents.c.campaign_id.in_(list(campaign_ids)))
    if agent_ids:
        conds.append(agents.c.id.in_(list(agent_ids)))
    if not conds:
        return []
    return [_agent(r) for r in await session.execute(select(*_COLUMNS).where(or_(*conds)))]


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


# -- agent leases --------------------------------------------------------------------------


def _free_for(owner: str, now: datetime) -> ColumnElement[bool]:
    """Nobody owns the agent, `owner` does, or its owner's lease has expired."""
    return or_(agents.c.owner.is_(None), agents.c.owner == owner, agents.c.owner_expires_at < now)


async def lease_agents(
    session: AsyncSession,
    owner: str,
    now: datetime,
    lease_s: float,
    want: Mapping[int, int],
    held: Collection[int],
    *,
    campaign_ids: Collection[int] = (),
    settling: Mapping[int, int] | None = None,
) -> AgentLeases:
    """One round of `owner`'s agent leases, in a few short statements:

    - `owner`'s row in `daemons` says it runs `campaign_ids` until now + `lease_s` (the
      other live rows are counted: `AgentLeases.other_daemons`);
    - the agents in `held` but not in `want` are given back;
    - those in both are renewed to now + `lease_s`; one that another daemon owns now (it
      claimed the agent after this one stalled past its lease) is reported `lost`;
    - the others in `want` (agent id -> the campaign this daemon has it in) are claimed when
      nobody owns them or their lease expired, at most `claim_quota` per campaign, the other
      daemons of a campaign being those whose `daemons` row lists it and has not expired, and
      the owners of its agents' live leases. Rows another transaction holds are skipped (SKIP
      LOCKED); those in `settling` (agents of campaigns `owner` has just started, which other
      daemons may be about to start too) are claimed so only when no other daemon is on the
      database;
      Postgres re-checks a row's WHERE once it has the lock, so no agent gets two owners.
    """
    require_aware("now", now)
    until = now + timedelta(seconds=lease_s)
    ids = sorted(set(campaign_ids))
    await session.execute(
        pg_insert(daemons)
        .values(owner=owner, campaign_ids=ids, seen_until=until)
        .on_conflict_do_update(
            index_elements=[daemons.c.owner], set_={"campaign_ids": ids, "seen_until": until}
        )
    )
    give_back = [a for a in held if a not in want]
    released: set[int] = set()
    if give_back:
        released = set(
            (
                await session.execute(
                    update(agents)
                    .where(agents.c.owner == owner, agents.c.id.in_(give_back))
                    .values(owner=null(), owner_expires_at=null())
                    .returning(agents.c.id)
                )
            ).scalars()
        )
    keep = [a for a in held if a in want]
    owned: set[int] = set()
    if keep:
        owned = set(
            (
                await session.execute(
                    update(agents)
                    .where(agents.c.id.in_(keep), _free_for(owner, now))
                    .values(owner=owner, owner_expires_at=until)
                    .returning(agents.c.id)
                )
            ).scalars()
        )
    lost: dict[int, str | None] = {}
    if len(owned) < len(keep):
        gone = [a for a in keep if a not in owned]
        lost = {a: None for a in gone}
        rows = await session.execute(
            select(agents.c.id, agents.c.owner).where(agents.c.id.in_(gone))
        )
        lost.update({r.id: r.owner for r in rows})
    alive = await session.execute(
        select(func.count()).where(daemons.c.owner != owner, daemons.c.seen_until >= now)
    )
    other_daemons = alive.scalar_one()
    if settling and not other_daemons:
        want = {**want, **settling}
    candidates: dict[int, list[int]] = defaultdict(list)
    for agent_id, campaign_id in want.items():
        if agent_id not in owned and agent_id not in lost:
            candidates[campaign_id].append(agent_id)
    if candidates:
        others = await _other_daemons(session, owner, now, list(candidates))
        for campaign_id, ids in sorted(candidates.items()):
            total = sum(1 for c in want.values() if c == campaign_id)
            mine = sum(1 for a in owned if want[a] == campaign_id)
            quota = claim_quota(total, mine, others.get(campaign_id, 0))
            if quota <= 0:
                continue
            pick = (
                select(agents.c.id)
                .where(agents.c.id.in_(ids), _free_for(owner, now))
                .order_by(agents.c.id)
                .limit(quota)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
            claimed = (
                await session.execute(
                    update(agents)
                    .where(agents.c.id.in_(pick))
                    .values(owner=owner, owner_expires_at=until)
                    .returning(agents.c.id)
                )
            ).scalars()
            owned.update(claimed)
    return AgentLeases(frozenset(owned), lost, frozenset(released), other_daemons)


_OTHER_DAEMONS = text(
    """
    SELECT campaign_id, count(*) FROM (
        SELECT campaign_id, owner AS who FROM agents
         WHERE campaign_id = ANY(:ids) AND owner IS NOT NULL AND owner <> :me
           AND owner_expires_at >= :now
        UNION
        SELECT run, owner FROM daemons CROSS JOIN LATERAL unnest(campaign_ids) AS run
         WHERE run = ANY(:ids) AND owner <> :me AND seen_until >= :now
    ) AS running GROUP BY campaign_id
    """
)


async def _other_daemons(
    session: AsyncSession, owner: str, now: datetime, campaign_ids: list[int]
) -> dict[int, int]:
    """Campaign id -> how many daemons other than `owner` run it: those whose live `daemons`
    row lists it, and the owners of its agents' live leases."""
    rows = await session.execute(_OTHER_DAEMONS, {"ids": campaign_ids, "me": owner, "now": now})
    return {r[0]: r[1] for r in rows}


async def claim_agent(
    session: AsyncSession, owner: str, now: datetime, lease_s: float, agent_id: int
) -> str | None:
    """Claim one agent for `owner` (a log-in over the API): None when `owner` owns it now,
    else the daemon that does. Waits for a row another transaction holds (a short one)."""
    require_aware("now", now)
    got = (
        await session.execute(
            update(agents)
            .where(agents.c.id == agent_id, _free_for(owner, now))
            .values(owner=owner, owner_expires_at=now + timedelta(seconds=lease_s))
            .returning(agents.c.id)
        )
    ).one_or_none()
    if got is not None:
        return None
    holder = (
        await session.execute(select(agents.c.owner).where(agents.c.id == agent_id))
    ).one_or_none()
    if holder is None:
        raise NotFound(f"no agent with id {agent_id}")
    return str(holder.owner)


async def release_agents(
    session: AsyncSession, owner: str, agent_ids: Collection[int] | None = None
) -> int:
    """Give back `owner`'s agents (all of them, and its `daemons` row, when `agent_ids` is
    None: a clean stop). Returns how many agents."""
    stmt = update(agents).where(agents.c.owner == owner)
    if agent_ids is not None:
        stmt = stmt.where(agents.c.id.in_(list(agent_ids)))
    else:
        await session.execute(delete(daemons).where(daemons.c.owner == owner))
    return rowcount(
        await session.execute(stmt.values(owner=null(), owner_expires_at=null(), leg_id=null()))
    )


async def agent_legs(session: AsyncSession, agent_ids: Collection[int]) -> dict[int, str | None]:
    """Each agent's noted headset leg (None: none)."""
    if not agent_ids:
        return {}
    rows = await session.execute(
        select(agents.c.id, agents.c.leg_id).where(agents.c.id.in_(list(agent_ids)))
    )
    return {r.id: r.leg_id for r in rows}


async def set_agent_leg(
    session: AsyncSession, owner: str, agent_id: int, leg_id: str | None
) -> bool:
    """Note the channel of `owner`'s headset leg for the agent (None: no leg). False when
    `owner` does not own the agent."""
    result = await session.execute(
        update(agents).where(agents.c.id == agent_id, agents.c.owner == owner).values(leg_id=leg_id)
    )
    return rowcount(result) == 1


async def agent_owners(
    session: AsyncSession, agent_ids: Collection[int], now: datetime
) -> dict[int, str | None]:
    """Agent id -> the daemon whose lease on it has not expired at `now`, or None."""
    require_aware("now", now)
    rows = await session.execute(
        select(agents.c.id, agents.c.owner, agents.c.owner_expires_at).where(
            agents.c.id.in_(list(agent_ids))
        )
    )
    return {
        r.id: r.owner if r.owner_expires_at is not None and r.owner_expires_at >= now else None
        for r in rows
    }
