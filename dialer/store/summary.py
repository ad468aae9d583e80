"""A campaign's figures: attempts per result, abandonment, answer-to-agent latency, per agent.

Abandonment rate = abandoned / answered, where answered = connected + abandoned (see
`CallResult`). Latency percentiles are `percentile_disc`: each is a latency that was actually
measured (the smallest value with at least that fraction of calls at or below it), over the
connected attempts that have one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.domain.results import CallResult
from dialer.store.leads import count_leads_by_status
from dialer.store.records import LeadStatus, require_aware
from dialer.store.tables import agents, call_attempts, dispositions


@dataclass(frozen=True, slots=True)
class LatencyStats:
    count: int
    p50_ms: int | None
    p99_ms: int | None
    max_ms: int | None


@dataclass(frozen=True, slots=True)
class AgentCounts:
    agent_id: int
    name: str
    attempts: int  # attempts that reached this agent
    connected: int
    dispositions: int


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    campaign_id: int
    since: datetime | None
    until: datetime | None
    attempts: int
    in_progress: int
    by_result: Mapping[CallResult, int]  # every result, zeros included
    latency: LatencyStats
    agents: tuple[AgentCounts, ...]
    dispositions: Mapping[str, int]  # by code
    leads: Mapping[LeadStatus, int]  # every status, zeros included; not limited to the window

    @property
    def connected(self) -> int:
        return self.by_result[CallResult.CONNECTED]

    @property
    def abandoned(self) -> int:
        return self.by_result[CallResult.ABANDONED]

    @property
    def answered(self) -> int:
        return self.connected + self.abandoned

    @property
    def abandonment_rate(self) -> float | None:
        """abandoned / answered, or None before any call was answered."""
        return self.abandoned / self.answered if self.answered else None


async def campaign_summary(
    session: AsyncSession,
    campaign_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
) -> CampaignSummary:
    """Figures over the campaign's attempts originated in [since, until) (all by default)."""
    require_aware("since", since)
    require_aware("until", until)
    window = [call_attempts.c.campaign_id == campaign_id]
    if since is not None:
        window.append(call_attempts.c.originated_at >= since)
    if until is not None:
        window.append(call_attempts.c.originated_at < until)
    where = and_(*window)

    by_result = dict.fromkeys(CallResult, 0)
    in_progress = 0
    rows = await session.execute(
        select(call_attempts.c.result, func.count()).where(where).group_by(call_attempts.c.result)
    )
    for result, n in rows:
        if result is None:
            in_progress = int(n)
        else:
            by_result[CallResult(result)] = int(n)

    latency_ms = call_attempts.c.answer_to_agent_ms
    lat = (
        await session.execute(
            select(
                func.count(latency_ms),
                func.percentile_disc(0.5).within_group(latency_ms),
                func.percentile_disc(0.99).within_group(latency_ms),
                func.max(latency_ms),
            ).where(
                where,
                call_attempts.c.result == CallResult.CONNECTED.value,
                latency_ms.is_not(None),
            )
        )
    ).one()
    latency = LatencyStats(
        count=int(lat[0]),
        p50_ms=_int_or_none(lat[1]),
        p99_ms=_int_or_none(lat[2]),
        max_ms=_int_or_none(lat[3]),
    )

    per_agent: Select[Any] = (
        select(
            agents.c.id,
            agents.c.name,
            func.count(call_attempts.c.id),
            func.count(call_attempts.c.id).filter(
                call_attempts.c.result == CallResult.CONNECTED.value
            ),
            func.count(dispositions.c.id),
        )
        .select_from(call_attempts)
        .join(agents, agents.c.id == call_attempts.c.agent_id)
        .outerjoin(dispositions, dispositions.c.attempt_id == call_attempts.c.id)
        .where(where)
        .group_by(agents.c.id, agents.c.name)
        .order_by(agents.c.name)
    )
    agent_counts = tuple(
        AgentCounts(
            agent_id=r[0],
            name=r[1],
            attempts=int(r[2]),
            connected=int(r[3]),
            dispositions=int(r[4]),
        )
        for r in await session.execute(per_agent)
    )

    codes = await session.execute(
        select(dispositions.c.code, func.count())
        .select_from(dispositions)
        .join(call_attempts, call_attempts.c.id == dispositions.c.attempt_id)
        .where(where)
        .group_by(dispositions.c.code)
        .order_by(dispositions.c.code)
    )

    return CampaignSummary(
        campaign_id=campaign_id,
        since=since,
        until=until,
        attempts=sum(by_result.values()) + in_progress,
        in_progress=in_progress,
        by_result=by_result,
        latency=latency,
        agents=agent_counts,
        dispositions={code: int(n) for code, n in codes},
        leads=await count_leads_by_status(session, campaign_id),
    )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)
