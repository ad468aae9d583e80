"""A campaign's abandonment from its CDRs, as both regulators count it (US and UK rates).

One grouped query gives the campaign's answered calls per minute of their origination
(connected within the 2 s grace, abandoned or connected late, machine verdicts); the figures
come from `dialer.rules.abandonment.report`, with the campaign's AMD false-positive rate from
its rules (`rules_config`). Served by ix_call_attempts_campaign_id_originated_at.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.pacing.ledger import GRACE_S
from dialer.rules.abandonment import AbandonmentReport, MinuteCounts, report
from dialer.store import rules_config
from dialer.store.records import require_aware

_MINUTES = text(
    """
    SELECT floor(extract(epoch FROM originated_at) / 60)::bigint AS minute,
           count(*) FILTER (WHERE result = 'connected'
                              AND coalesce(answer_to_agent_ms, 0) <= :grace_ms) AS connected,
           count(*) FILTER (WHERE result = 'abandoned'
                              OR (result = 'connected' AND answer_to_agent_ms > :grace_ms))
             AS abandoned,
           count(*) FILTER (WHERE result = 'machine') AS machines
    FROM call_attempts
    WHERE campaign_id = :campaign AND result IN ('connected', 'abandoned', 'machine')
      AND originated_at < CAST(:until AS timestamptz)
    GROUP BY 1
    ORDER BY 1
    """
)


def epoch_minute(at: datetime) -> int:
    return int(at.timestamp() // 60)


def minute_start(minute: int) -> datetime:
    return datetime.fromtimestamp(minute * 60, UTC)


async def answered_per_minute(
    session: AsyncSession, campaign_id: int, until: datetime
) -> list[MinuteCounts]:
    """The campaign's answered calls originated before `until`, counted per minute."""
    require_aware("until", until)
    rows = await session.execute(
        _MINUTES, {"campaign": campaign_id, "until": until, "grace_ms": GRACE_S * 1000}
    )
    return [MinuteCounts(int(r.minute), r.connected, r.abandoned, r.machines) for r in rows]


async def campaign_abandonment(
    session: AsyncSession, campaign_id: int, now: datetime
) -> AbandonmentReport:
    """The US rate over the campaign's life and the last 30 days, the UK rate over the last
    24 hours and its worst 24 hours, at `now` (calls originated up to the end of now's
    minute count)."""
    require_aware("now", now)
    rules = await rules_config.get_rules(session, campaign_id)
    minute = epoch_minute(now)
    buckets = await answered_per_minute(session, campaign_id, minute_start(minute + 1))
    return report(buckets, minute, rules.amd_false_positive_rate)
