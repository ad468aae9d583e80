"""A campaign's history from its CDRs, for the daemon to restore its abandonment windows and
pacing estimates at start (dialer/pacing/history.py).

Two statements, whatever the number of CDRs:
- one aggregate over the campaign's live-answered attempts (connected or abandoned): counts per
  minute of the answer over the last `span_s` (30 days by default, at most 43,200 rows) and, in
  the same pass, the older ones in one row, so the life totals need no second scan;
- the last `recent` finished attempts (the index on campaign and originate time, read backwards).
Abandoned as in dialer/pacing/ledger.py: the result is abandoned, or an agent came later than the
grace after the answer.
The first statement also gives, for the last few hours, the same counts of other daemons' calls
alone: the daemon reads those minutes again now and then (`others_minutes`, one statement over a
few hours of the campaign's CDRs), and what grew is new to its windows (dialer/pacing/others.py).
"""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.domain.results import CallResult
from dialer.pacing.history import CampaignHistory, StoredOutcome
from dialer.pacing.ledger import GRACE_S, WINDOWS_S
from dialer.pacing.others import MINUTE_S, since_for
from dialer.store.records import require_aware
from dialer.store.tables import campaigns

RECENT = 500  # finished attempts replayed into the pacer's estimates


def _others(since: str) -> str:
    """Attempts of daemons other than `:owner` answered (machines: dialed) from `:{since}` on;
    the originate bound (an answer comes within the hour) lets the index serve it."""
    return f"""owner <> :owner
          AND originated_at >= CAST(:{since} AS timestamptz) - interval '1 hour'
          AND COALESCE(answer_at, originated_at) >= CAST(:{since} AS timestamptz)"""


_SEED_COLUMNS = """,
           count(*) FILTER (WHERE other AND NOT machine) AS others_answered,
           count(*) FILTER (WHERE other AND abandoned) AS others_abandoned,
           count(*) FILTER (WHERE other AND machine) AS others_machines"""


def _per_minute(minute: str, where: str, seed: bool = False) -> str:
    """Live answers, abandoned ones and machine verdicts per minute of the answer (of the
    originate for a machine without an answer time), of the attempts `where` selects; with
    `seed`, the same counts of other daemons' attempts from `:others_since` on, apart."""
    columns, other = "", ""
    if seed:
        columns, other = _SEED_COLUMNS, f",\n               {_others('others_since')} AS other"
    return f"""
    SELECT {minute} AS minute,
           count(*) FILTER (WHERE NOT machine) AS answered,
           count(*) FILTER (WHERE abandoned) AS abandoned,
           count(*) FILTER (WHERE machine) AS machines{columns}
    FROM (
        SELECT COALESCE(answer_at, originated_at) AS t,
               result = 'machine' AS machine,
               result = 'abandoned' OR answer_to_agent_ms > :grace_ms AS abandoned{other}
        FROM call_attempts
        WHERE campaign_id = :campaign AND result IN ('connected', 'abandoned', 'machine')
          {where}
    ) AS answered
    GROUP BY 1
    ORDER BY 1 NULLS FIRST
    """


_MINUTE = "CASE WHEN t >= :since THEN floor(extract(epoch FROM t) / 60) END"
_MINUTES = text(_per_minute(_MINUTE, ""))
_MINUTES_SEED = text(_per_minute(_MINUTE, "", seed=True))
# Several daemons on one campaign: the live answers (and machines) other daemons
# recorded since `since`, per minute; each daemon adds what grew to its windows now and then.
_OTHERS = text(_per_minute("floor(extract(epoch FROM t) / 60)", f"AND {_others('since')}"))

_RECENT = text(
    """
    SELECT originated_at, answer_at, agent_connect_at, hangup_at, result, answer_to_agent_ms
    FROM call_attempts
    WHERE campaign_id = :campaign AND hangup_at IS NOT NULL AND result IS NOT NULL
      AND result <> 'cancelled'
    ORDER BY originated_at DESC
    LIMIT :limit
    """
)

_LIVE = (CallResult.CONNECTED.value, CallResult.ABANDONED.value)


async def campaign_history(
    session: AsyncSession,
    campaign_id: int,
    now: datetime,
    *,
    wrapup_s: float,
    span_s: float = max(WINDOWS_S),
    recent: int = RECENT,
    owner: str | None = None,
) -> CampaignHistory:
    """The campaign's minute counts over the last `span_s` before `now`, its life totals and its
    last `recent` finished attempts (oldest first). With `owner` (the daemon reading it), also
    the per-minute counts of the other daemons' calls of the last few hours, in the same
    statement (`CampaignHistory.others`)."""
    require_aware("now", now)
    wall_now = now.timestamp()
    grace_ms = round(GRACE_S * 1000)
    minutes: list[tuple[float, int, int]] = []
    machine_minutes: list[tuple[float, int]] = []
    others: list[tuple[float, int, int, int]] = []
    life_answered = life_abandoned = 0
    params: dict[str, object] = {
        "campaign": campaign_id,
        "since": datetime.fromtimestamp(wall_now - span_s, now.tzinfo),
        "grace_ms": grace_ms,
    }
    others_since = None
    if owner is not None:
        # minute aligned, and within the span (whose minutes are the only ones grouped)
        others_since = max(
            since_for(wall_now), math.ceil((wall_now - span_s) / MINUTE_S) * MINUTE_S
        )
        params["owner"] = owner
        params["others_since"] = datetime.fromtimestamp(others_since, now.tzinfo)
    rows = await session.execute(_MINUTES if owner is None else _MINUTES_SEED, params)
    for row in rows:
        minute, answered, abandoned, machines = row[:4]
        life_answered += int(answered)
        life_abandoned += int(abandoned)
        if minute is not None:
            if answered:
                minutes.append((float(minute) * 60.0, int(answered), int(abandoned)))
            if machines:
                machine_minutes.append((float(minute) * 60.0, int(machines)))
            if owner is not None and any(row[4:7]):
                others.append((float(minute) * 60.0, int(row[4]), int(row[5]), int(row[6])))
    outcomes: list[StoredOutcome] = []
    for r in await session.execute(_RECENT, {"campaign": campaign_id, "limit": recent}):
        originated = r.originated_at.timestamp()
        ended = r.hangup_at.timestamp()
        answer = r.answer_at.timestamp() if r.answer_at is not None else None
        connect = r.agent_connect_at.timestamp() if r.agent_connect_at is not None else None
        live = r.result in _LIVE and answer is not None
        abandoned = live and (
            r.result == CallResult.ABANDONED.value
            or (r.answer_to_agent_ms is not None and r.answer_to_agent_ms > grace_ms)
        )
        if live and connect is not None and r.result == CallResult.CONNECTED.value:
            known = connect
        elif answer is not None:
            known = answer  # abandoned (within the grace of it) or a machine
        else:
            known = ended
        outcomes.append(
            StoredOutcome(
                originated_at=originated,
                answered_at=answer if live else None,
                known_at=max(originated, min(known, ended)),
                abandoned=abandoned,
                talk_s=max(0.0, ended - connect)
                if connect is not None and r.result == CallResult.CONNECTED.value
                else None,
                ended_at=ended,
            )
        )
    outcomes.reverse()
    saved = (
        await session.execute(
            select(campaigns.c.pacer_threshold, campaigns.c.pacer_abandons_seen).where(
                campaigns.c.id == campaign_id
            )
        )
    ).one_or_none()
    calibration = None
    if saved is not None and saved.pacer_threshold is not None:
        calibration = (float(saved.pacer_threshold), int(saved.pacer_abandons_seen or 0))
    return CampaignHistory(
        wall_now=wall_now,
        minutes=tuple(minutes),
        life_answered=life_answered,
        life_abandoned=life_abandoned,
        recent=tuple(outcomes),
        wrapup_s=wrapup_s,
        machine_minutes=tuple(machine_minutes),
        calibration=calibration,
        others_since=others_since,
        others=tuple(others),
    )


async def save_calibration(
    session: AsyncSession, campaign_id: int, threshold: float, abandons_seen: int
) -> None:
    """Keep the predictive pacer's calibration for the next start (`CampaignHistory`)."""
    if not 0.0 < threshold <= 1.0 or abandons_seen < 0:
        raise ValueError(f"need 0 < threshold <= 1 and abandons_seen >= 0, got {threshold}")
    await session.execute(
        update(campaigns)
        .where(campaigns.c.id == campaign_id)
        .values(pacer_threshold=threshold, pacer_abandons_seen=abandons_seen)
    )


async def others_minutes(
    session: AsyncSession, campaign_id: int, owner: str, since: datetime
) -> list[tuple[float, int, int, int]]:
    """(minute start, answered, abandoned, machines) of the campaign's finished attempts of
    daemons other than `owner` answered (or, for machines, dialed) at or after `since`."""
    require_aware("since", since)
    rows = await session.execute(
        _OTHERS,
        {
            "campaign": campaign_id,
            "owner": owner,
            "since": since,
            "grace_ms": round(GRACE_S * 1000),
        },
    )
    return [(float(m) * 60.0, int(a), int(ab), int(mc)) for m, a, ab, mc in rows]
