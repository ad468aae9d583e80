"""Call attempts (CDRs): written at originate, updated as the call goes on, closed at hang-up.

Each function writes a whole batch in ONE statement (arrays unnested server-side), because the
daemon flushes attempts in batches (~50 attempts/s at full pace). Write order within a flush:
starts, then progress, then ends.

`end_attempts` closes attempts and, in the same statement, moves their leads on per the retry
rules (`retry.py`): attempts+1 (unless the rule does not count), last result, status, next call
time and network failures in a row (`network_failure_cap` of them end the lead `unreachable`),
and frees the lease. An attempt that failed on the network or as invalid keeps the lead as it
was before (`lead_before`): `give_back` puts it back so when the trunk breaker finds the trunk,
not the number, at fault. Ending is idempotent: an attempt that already has a hang-up is left
alone and its lead is not touched again, so a late hang-up after a stop-time close cannot count
twice. A batch must not hold two attempts of one lead; the lease makes that so, since a lead is
leased again only after its attempt's end was written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.domain.results import CallResult
from dialer.store._sql import rowcount
from dialer.store.errors import NotFound
from dialer.store.records import (
    Attempt,
    AttemptEnd,
    AttemptProgress,
    AttemptStart,
    EndedAttempt,
    LeadStatus,
    require_uuid,
)
from dialer.store.retry import DEFAULT_POLICY, RetryPolicy
from dialer.store.tables import call_attempts

_START = text(
    """
    INSERT INTO call_attempts
        (id, lead_id, campaign_id, trunk_id, owner, originated_at, pbx_unique_id)
    SELECT * FROM unnest(
        CAST(:ids AS uuid[]), CAST(:lead_ids AS bigint[]), CAST(:campaign_ids AS bigint[]),
        CAST(:trunk_ids AS bigint[]), CAST(:owners AS text[]),
        CAST(:originated AS timestamptz[]), CAST(:pbx_ids AS text[]))
    ON CONFLICT (id) DO NOTHING
    """
)

# Latency from answer to agent, when the daemon did not give it: from the two timestamps.
_LATENCY = """
    COALESCE(v.answer_to_agent_ms, a.answer_to_agent_ms,
             (SELECT CASE WHEN d < 0 THEN 0 ELSE d END FROM (SELECT
                 round(1000 * extract(epoch FROM
                     COALESCE(v.agent_connect_at, a.agent_connect_at)
                     - COALESCE(v.answer_at, a.answer_at)))::int AS d) AS computed))
"""

_PROGRESS = text(
    f"""
    UPDATE call_attempts AS a SET
        ring_at = COALESCE(v.ring_at, a.ring_at),
        answer_at = COALESCE(v.answer_at, a.answer_at),
        agent_connect_at = COALESCE(v.agent_connect_at, a.agent_connect_at),
        agent_id = COALESCE(v.agent_id, a.agent_id),
        pbx_unique_id = COALESCE(v.pbx_unique_id, a.pbx_unique_id),
        answer_to_agent_ms = {_LATENCY},
        message_at = COALESCE(v.message_at, a.message_at),
        outcome = COALESCE(v.outcome, a.outcome)
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:ring AS timestamptz[]), CAST(:answer AS timestamptz[]),
        CAST(:agent_connect AS timestamptz[]), CAST(:agent_ids AS bigint[]),
        CAST(:pbx_ids AS text[]), CAST(:latencies AS int[]),
        CAST(:messages AS timestamptz[]), CAST(:outcomes AS text[]))
      AS v(id, ring_at, answer_at, agent_connect_at, agent_id, pbx_unique_id, answer_to_agent_ms,
           message_at, outcome)
    WHERE a.id = v.id AND a.hangup_at IS NULL
    """
)

# In an UPDATE every l.* on the right-hand side is the row's value before the update.
_END = text(
    f"""
    WITH v AS (
        SELECT * FROM unnest(
            CAST(:ids AS uuid[]), CAST(:hangup AS timestamptz[]), CAST(:results AS text[]),
            CAST(:causes AS int[]), CAST(:cause_texts AS text[]),
            CAST(:ring AS timestamptz[]), CAST(:answer AS timestamptz[]),
            CAST(:agent_connect AS timestamptz[]), CAST(:agent_ids AS bigint[]),
            CAST(:latencies AS int[]), CAST(:counts AS boolean[]), CAST(:finals AS boolean[]),
            CAST(:retry_after_s AS float8[]), CAST(:messages AS timestamptz[]))
          AS v(id, hangup_at, result, cause, cause_text, ring_at, answer_at, agent_connect_at,
               agent_id, answer_to_agent_ms, counts, final, retry_after_s, message_at)
    ), ended AS (
        UPDATE call_attempts AS a SET
            hangup_at = v.hangup_at,
            result = v.result,
            hangup_cause = v.cause,
            hangup_cause_text = v.cause_text,
            ring_at = COALESCE(v.ring_at, a.ring_at),
            answer_at = COALESCE(v.answer_at, a.answer_at),
            agent_connect_at = COALESCE(v.agent_connect_at, a.agent_connect_at),
            agent_id = COALESCE(v.agent_id, a.agent_id),
            answer_to_agent_ms = {_LATENCY},
            message_at = COALESCE(v.message_at, a.message_at),
            lead_before = CASE WHEN v.result IN ('failed', 'invalid') THEN (
                SELECT jsonb_build_object(
                    'attempts', b.attempts, 'last_result', b.last_result,
                    'next_call_at', b.next_call_at, 'network_failures', b.network_failures)
                FROM leads AS b WHERE b.id = a.lead_id) END
        FROM v
        WHERE a.id = v.id AND a.hangup_at IS NULL
        RETURNING a.id, a.lead_id, a.campaign_id, v.result, v.hangup_at, v.counts, v.final,
                  v.retry_after_s
    ), ruled AS (
        -- A campaign's own retry rules (campaign_rules.retry_rules, per result) override the
        -- batch's policy; a campaign without them keeps it. An unknown result follows the
        -- no-answer rule (dialer.rules.retry).
        SELECT e.id, e.lead_id, e.campaign_id, e.result, e.hangup_at,
               COALESCE(CAST(r.retry_rules -> e.rule ->> 'counts' AS boolean), e.counts)
                   AS counts,
               COALESCE(CAST(r.retry_rules -> e.rule ->> 'final' AS boolean), e.final)
                   AS final,
               COALESCE(CAST(r.retry_rules -> e.rule ->> 'retry_after_s' AS float8),
                        e.retry_after_s) AS retry_after_s
        FROM (SELECT *, CASE result WHEN 'unknown' THEN 'no_answer' ELSE result END AS rule
              FROM ended) AS e
        LEFT JOIN campaign_rules AS r ON r.campaign_id = e.campaign_id
    )
    UPDATE leads AS l SET
        attempts = l.attempts + CASE WHEN e.counts THEN 1 ELSE 0 END,
        -- network failures in a row (dialer.store.retry.network_after)
        network_failures = CASE WHEN e.result = 'failed' THEN l.network_failures + 1
                                WHEN e.counts THEN 0 ELSE l.network_failures END,
        last_result = CASE
            WHEN e.result = 'failed' AND l.network_failures + 1 >= c.network_failure_cap
                THEN 'unreachable'
            WHEN e.counts OR e.result = 'failed' THEN e.result
            ELSE l.last_result
        END,
        status = CASE
            WHEN e.final THEN 'done'
            WHEN e.result = 'failed' AND l.network_failures + 1 >= c.network_failure_cap
                THEN 'done'
            WHEN e.counts AND l.attempts + 1 >= c.max_attempts THEN 'done'
            WHEN l.attempts + CASE WHEN e.counts THEN 1 ELSE 0 END = 0 THEN 'new'
            ELSE 'retry'
        END,
        next_call_at = e.hangup_at + make_interval(secs => e.retry_after_s),
        lease_owner = NULL,
        lease_expires_at = NULL
    FROM ruled AS e JOIN campaigns AS c ON c.id = e.campaign_id
    WHERE l.id = e.lead_id
    RETURNING e.id AS attempt_id, l.id AS lead_id, e.result, l.status, l.attempts,
              l.next_call_at
    """
)


async def start_attempts(session: AsyncSession, starts: Sequence[AttemptStart]) -> int:
    """Insert attempts at originate; an id already stored is skipped. Returns rows inserted."""
    if not starts:
        return 0
    result = await session.execute(
        _START,
        {
            "ids": [s.attempt_id for s in starts],
            "lead_ids": [s.lead_id for s in starts],
            "campaign_ids": [s.campaign_id for s in starts],
            "trunk_ids": [s.trunk_id for s in starts],
            "owners": [s.owner for s in starts],
            "originated": [s.originated_at for s in starts],
            "pbx_ids": [s.pbx_unique_id for s in starts],
        },
    )
    return rowcount(result)


def merge_progress(updates: Sequence[AttemptProgress]) -> list[AttemptProgress]:
    """One update per attempt, later non-None fields winning: an UPDATE ... FROM applies only
    one source row per target row, so a batch holding ring and answer of one call is merged."""
    merged: dict[str, AttemptProgress] = {}
    for u in updates:
        old = merged.get(u.attempt_id)
        if old is None:
            merged[u.attempt_id] = u
            continue
        merged[u.attempt_id] = AttemptProgress(
            attempt_id=u.attempt_id,
            ring_at=u.ring_at or old.ring_at,
            answer_at=u.answer_at or old.answer_at,
            agent_connect_at=u.agent_connect_at or old.agent_connect_at,
            agent_id=u.agent_id if u.agent_id is not None else old.agent_id,
            pbx_unique_id=u.pbx_unique_id or old.pbx_unique_id,
            answer_to_agent_ms=(
                u.answer_to_agent_ms if u.answer_to_agent_ms is not None else old.answer_to_agent_ms
            ),
            message_at=u.message_at or old.message_at,
            outcome=u.outcome or old.outcome,
        )
    return list(merged.values())


async def update_attempts(session: AsyncSession, updates: Sequence[AttemptProgress]) -> int:
    """Record ring / answer / agent connect / message / outcome (and agent, PBX id, latency)
    for many attempts. An attempt already ended is left alone (a late flush changes nothing)."""
    rows = merge_progress(updates)
    if not rows:
        return 0
    result = await session.execute(
        _PROGRESS,
        {
            "ids": [u.attempt_id for u in rows],
            "ring": [u.ring_at for u in rows],
            "answer": [u.answer_at for u in rows],
            "agent_connect": [u.agent_connect_at for u in rows],
            "agent_ids": [u.agent_id for u in rows],
            "pbx_ids": [u.pbx_unique_id for u in rows],
            "latencies": [u.answer_to_agent_ms for u in rows],
            "messages": [u.message_at for u in rows],
            "outcomes": [u.outcome.value if u.outcome is not None else None for u in rows],
        },
    )
    return rowcount(result)


async def end_attempts(
    session: AsyncSession,
    ends: Sequence[AttemptEnd],
    policy: RetryPolicy = DEFAULT_POLICY,
) -> list[EndedAttempt]:
    """Close attempts at hang-up and move their leads on, in one statement.

    Returns the attempts this call closed with their leads' new state; an attempt unknown or
    already ended is absent from the list. If one batch names an attempt twice, the first wins.
    """
    unique: dict[str, AttemptEnd] = {}
    for e in ends:
        unique.setdefault(e.attempt_id, e)
    rows = list(unique.values())
    if not rows:
        return []
    rules = [policy.rule(e.result) for e in rows]
    result = await session.execute(
        _END,
        {
            "ids": [e.attempt_id for e in rows],
            "hangup": [e.hangup_at for e in rows],
            "results": [e.result.value for e in rows],
            "causes": [e.cause for e in rows],
            "cause_texts": [e.cause_text for e in rows],
            "ring": [e.ring_at for e in rows],
            "answer": [e.answer_at for e in rows],
            "agent_connect": [e.agent_connect_at for e in rows],
            "agent_ids": [e.agent_id for e in rows],
            "latencies": [e.answer_to_agent_ms for e in rows],
            "counts": [r.counts for r in rules],
            "finals": [r.final for r in rules],
            "retry_after_s": [r.retry_after.total_seconds() for r in rules],
            "messages": [e.message_at for e in rows],
        },
    )
    return [
        EndedAttempt(
            attempt_id=str(r.attempt_id),
            lead_id=r.lead_id,
            result=CallResult(r.result),
            lead_status=LeadStatus(r.status),
            lead_attempts=r.attempts,
            next_call_at=r.next_call_at,
        )
        for r in result
    ]


async def open_attempt_ids(
    session: AsyncSession, *, owner: str | None = None, campaign_id: int | None = None
) -> list[str]:
    """Ids of attempts with no hang-up yet, optionally only `owner`'s or one campaign's."""
    stmt = select(call_attempts.c.id).where(call_attempts.c.hangup_at.is_(None))
    if owner is not None:
        stmt = stmt.where(call_attempts.c.owner == owner)
    if campaign_id is not None:
        stmt = stmt.where(call_attempts.c.campaign_id == campaign_id)
    return [str(i) for i in (await session.execute(stmt.order_by(call_attempts.c.id))).scalars()]


async def get_attempt(session: AsyncSession, attempt_id: str) -> Attempt:
    require_uuid("attempt_id", attempt_id)
    row = (
        await session.execute(select(call_attempts).where(call_attempts.c.id == attempt_id))
    ).one_or_none()
    if row is None:
        raise NotFound(f"no call attempt with id {attempt_id}")
    return _attempt(row)


def _attempt(row: Any) -> Attempt:
    return Attempt(
        id=str(row.id),
        lead_id=row.lead_id,
        campaign_id=row.campaign_id,
        trunk_id=row.trunk_id,
        agent_id=row.agent_id,
        owner=row.owner,
        pbx_unique_id=row.pbx_unique_id,
        originated_at=row.originated_at,
        ring_at=row.ring_at,
        answer_at=row.answer_at,
        agent_connect_at=row.agent_connect_at,
        message_at=row.message_at,
        outcome=CallResult(row.outcome) if row.outcome is not None else None,
        hangup_at=row.hangup_at,
        hangup_cause=row.hangup_cause,
        hangup_cause_text=row.hangup_cause_text,
        result=CallResult(row.result) if row.result is not None else None,
        answer_to_agent_ms=row.answer_to_agent_ms,
    )


# The trunk breaker's verdict: these attempts failed because of the trunk. Each lead goes back
# to what it was before that attempt (`lead_before`), unless it was dialed or leased since.
_GIVE_BACK = text(
    """
    WITH back AS (
        UPDATE call_attempts AS a SET trunk_fault = true
        WHERE a.id = ANY(CAST(:ids AS uuid[])) AND a.lead_before IS NOT NULL
          AND NOT a.trunk_fault
          AND NOT EXISTS (SELECT 1 FROM call_attempts AS x
                          WHERE x.lead_id = a.lead_id AND x.originated_at > a.originated_at)
        RETURNING a.lead_id, a.lead_before AS b
    )
    UPDATE leads AS l SET
        -- dialable again, as after a cancelled attempt (the lease made it 'dialing')
        status = CASE WHEN CAST(back.b ->> 'attempts' AS int) = 0 THEN 'new' ELSE 'retry' END,
        attempts = CAST(back.b ->> 'attempts' AS int),
        last_result = back.b ->> 'last_result',
        next_call_at = CAST(back.b ->> 'next_call_at' AS timestamptz),
        network_failures = CAST(back.b ->> 'network_failures' AS int)
    FROM back
    WHERE l.id = back.lead_id AND l.lease_owner IS NULL
    RETURNING l.id
    """
)


async def give_back(session: AsyncSession, attempt_ids: Sequence[str]) -> int:
    """Leads of attempts the trunk failed (not the number) go back as they were before: not
    counted, not invalid, not one network failure nearer `unreachable`; the attempts stay as
    they happened, marked `trunk_fault`. Returns the leads given back."""
    if not attempt_ids:
        return 0
    for i in attempt_ids:
        require_uuid("attempt_id", i)
    result = await session.execute(_GIVE_BACK, {"ids": list(attempt_ids)})
    return len(result.fetchall())
