"""Why a lead is (not) dialed, a campaign's leads counted by reason, and a lead's history.

Everything here reads; the verdicts come from `dialer.rules.verdict.evaluate`, the same function
the lease path and the check right before the originate use, fed with what the database holds
(lead, campaign, DNC entries, the last abandoned call to the number, the campaign's recent calls
to it, its pending callback). A campaign the daemon paused in memory only (not in the
database) is not seen here.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.rules.dnc import DncHit, DncSource
from dialer.rules.policy import CampaignRules
from dialer.rules.verdict import CallbackFact, LeadFacts, Verdict, dialable_at, evaluate
from dialer.store import rules_config
from dialer.store.callbacks import Callback
from dialer.store.errors import NotFound
from dialer.store.records import mask_phone, require_aware

CAP_LOOKBACK = timedelta(days=32)
DIALABLE_NOW = "dialable_now"

_LEADS = """
    SELECT l.id, l.campaign_id, l.phone, l.time_zone, l.status, l.attempts, l.next_call_at,
           l.lease_owner, l.lease_expires_at, l.last_result,
           c.name AS campaign_name, c.status AS campaign_status, c.max_attempts,
           cb.id AS cb_id, cb.due_at AS cb_due, cb.agent_id AS cb_agent, ag.name AS cb_agent_name
    FROM leads l
    JOIN campaigns c ON c.id = l.campaign_id
    LEFT JOIN callbacks cb ON cb.lead_id = l.id AND cb.status = 'pending'
    LEFT JOIN agents ag ON ag.id = cb.agent_id
"""

_DNC = text(
    """
    SELECT l.phone, dl.name, dl.campaign_id, d.source, d.added_at
    FROM leads l
    JOIN dnc_numbers d ON d.phone = l.phone
    JOIN dnc_lists dl ON dl.id = d.list_id
     AND (dl.campaign_id IS NULL OR dl.campaign_id = l.campaign_id)
    WHERE l.campaign_id = :campaign AND (CAST(:lead AS bigint) IS NULL OR l.id = :lead)
    ORDER BY d.added_at
    """
)

_ABANDONED = text(
    """
    SELECT l.phone, max(a.hangup_at)
    FROM leads l
    JOIN leads l2 ON l2.phone = l.phone
    JOIN call_attempts a ON a.lead_id = l2.id AND a.result = 'abandoned'
    WHERE l.campaign_id = :campaign AND (CAST(:lead AS bigint) IS NULL OR l.id = :lead)
    GROUP BY l.phone
    """
)

_RECENT = text(
    """
    SELECT l2.phone, a.originated_at
    FROM leads l2 JOIN call_attempts a ON a.lead_id = l2.id
    WHERE l2.campaign_id = :campaign
      AND a.originated_at > CAST(:since AS timestamptz)
      AND (a.result IS NULL OR a.result NOT IN ('cancelled', 'failed'))
      AND NOT a.trunk_fault
      AND (CAST(:phone AS text) IS NULL OR l2.phone = :phone)
    """
)


@dataclass(frozen=True, slots=True)
class Explanation:
    lead_id: int
    campaign_id: int
    campaign_name: str
    phone: str
    status: str
    attempts: int
    max_attempts: int
    last_result: str | None
    rules: CampaignRules
    verdict: Verdict
    dialable_at: datetime | None  # None: not by waiting alone


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    attempt_id: str
    originated_at: datetime
    answer_at: datetime | None
    hangup_at: datetime | None
    result: str | None
    cause: int | None
    cause_text: str | None
    agent: str | None
    disposition: str | None
    note: str | None
    answer_to_agent_ms: int | None


@dataclass(frozen=True, slots=True)
class CampaignReasons:
    campaign_id: int
    campaign_name: str
    total: int
    by_reason: Counter[str]  # a lead counts once under each of its reasons
    by_first_reason: Counter[str]  # ... and once under its first reason (or dialable_now)


def _facts(
    row: Any,
    dnc: dict[str, list[DncHit]],
    abandoned: dict[str, datetime],
    recent: dict[str, list[datetime]],
) -> LeadFacts:
    callback = None
    if row.cb_id is not None:
        callback = CallbackFact(row.cb_id, row.cb_due, row.cb_agent, row.cb_agent_name)
    return LeadFacts(
        lead_id=row.id,
        campaign_id=row.campaign_id,
        phone=row.phone,
        time_zone=row.time_zone,
        status=row.status,
        attempts=row.attempts,
        next_call_at=row.next_call_at,
        leased_until=row.lease_expires_at,
        lease_owner=row.lease_owner,
        campaign_status=row.campaign_status,
        max_attempts=row.max_attempts,
        dnc=tuple(dnc.get(row.phone, ())),
        last_abandoned_at=abandoned.get(row.phone),
        recent_calls=tuple(recent.get(row.phone, ())),
        callback=callback,
    )


async def _context(
    session: AsyncSession,
    campaign_id: int,
    lead_id: int | None,
    phone: str | None,
    rules: CampaignRules,
    now: datetime,
) -> tuple[dict[str, list[DncHit]], dict[str, datetime], dict[str, list[datetime]]]:
    params = {"campaign": campaign_id, "lead": lead_id}
    dnc: dict[str, list[DncHit]] = defaultdict(list)
    for p, name, cid, source, added in await session.execute(_DNC, params):
        dnc[p].append(DncHit(name, cid, DncSource(source), added))
    abandoned = {p: at for p, at in await session.execute(_ABANDONED, params)}
    recent: dict[str, list[datetime]] = defaultdict(list)
    if rules.caps.items():
        rows = await session.execute(
            _RECENT, {"campaign": campaign_id, "since": now - CAP_LOOKBACK, "phone": phone}
        )
        for p, at in rows:
            recent[p].append(at)
    return dnc, abandoned, recent


async def explain_lead(session: AsyncSession, lead_id: int, now: datetime) -> Explanation:
    """Whether the lead is dialable at `now`, and if not every reason. `NotFound` if no lead."""
    require_aware("now", now)
    row = (await session.execute(text(_LEADS + " WHERE l.id = :id"), {"id": lead_id})).one_or_none()
    if row is None:
        raise NotFound(f"no lead with id {lead_id}")
    rules = await rules_config.get_rules(session, row.campaign_id)
    dnc, abandoned, recent = await _context(
        session, row.campaign_id, lead_id, row.phone, rules, now
    )
    facts = _facts(row, dnc, abandoned, recent)
    return Explanation(
        lead_id=row.id,
        campaign_id=row.campaign_id,
        campaign_name=row.campaign_name,
        phone=row.phone,
        status=row.status,
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        last_result=row.last_result,
        rules=rules,
        verdict=evaluate(facts, rules, now),
        dialable_at=dialable_at(facts, rules, now),
    )


async def campaign_reasons(
    session: AsyncSession, campaign_id: int, now: datetime
) -> CampaignReasons:
    """The campaign's leads counted by reason: "nothing is dialing" answered at a glance.

    Evaluates every lead in Python (a few tens of microseconds each), streaming the rows.
    """
    require_aware("now", now)
    name_row = (
        await session.execute(text("SELECT name FROM campaigns WHERE id = :c"), {"c": campaign_id})
    ).one_or_none()
    if name_row is None:
        raise NotFound(f"no campaign with id {campaign_id}")
    rules = await rules_config.get_rules(session, campaign_id)
    dnc, abandoned, recent = await _context(session, campaign_id, None, None, rules, now)
    by_reason: Counter[str] = Counter()
    first: Counter[str] = Counter()
    total = 0
    stream = await session.stream(
        text(_LEADS + " WHERE l.campaign_id = :c ORDER BY l.id"), {"c": campaign_id}
    )
    async for row in stream:
        total += 1
        verdict = evaluate(_facts(row, dnc, abandoned, recent), rules, now)
        if verdict.dialable:
            by_reason[DIALABLE_NOW] += 1
            first[DIALABLE_NOW] += 1
            continue
        first[verdict.blockers[0].reason.value] += 1
        for reason in {b.reason.value for b in verdict.blockers}:
            by_reason[reason] += 1
    return CampaignReasons(campaign_id, name_row[0], total, by_reason, first)


async def lead_history(session: AsyncSession, lead_id: int) -> list[HistoryEntry]:
    """Every attempt of the lead, oldest first, with its result, agent, disposition and note.
    `NotFound` if there is no such lead."""
    rows = await session.execute(
        text(
            """
            SELECT a.id, a.originated_at, a.answer_at, a.hangup_at, a.result, a.hangup_cause,
                   a.hangup_cause_text, ag.name AS agent, d.code, d.note, a.answer_to_agent_ms
            FROM call_attempts a
            LEFT JOIN agents ag ON ag.id = a.agent_id
            LEFT JOIN dispositions d ON d.attempt_id = a.id
            WHERE a.lead_id = :id
            ORDER BY a.originated_at, a.id
            """
        ),
        {"id": lead_id},
    )
    entries = [
        HistoryEntry(str(r[0]), r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10])
        for r in rows
    ]
    if not entries:
        found = await session.execute(text("SELECT 1 FROM leads WHERE id = :id"), {"id": lead_id})
        if found.first() is None:
            raise NotFound(f"no lead with id {lead_id}")
    return entries


# -- plain-text rendering (the CLI) ------------------------------------------------------------


def _local(instant: datetime, verdict: Verdict) -> str:
    return verdict.local(instant).strftime("%a %Y-%m-%d %H:%M %Z")


def render_explanation(e: Explanation) -> str:
    v = e.verdict
    lines = [
        f"lead {e.lead_id} ({mask_phone(e.phone)}) in campaign {e.campaign_name!r} "
        f"[{e.campaign_id}]: status {e.status}, {e.attempts}/{e.max_attempts} attempts"
        + (f", last result {e.last_result}" if e.last_result else ""),
        f"time zone: {v.zones.describe()}; local time {_local(v.at, v)}",
        f"policy: {e.rules.preset}",
    ]
    if v.dialable:
        closes = (
            f" (calling window closes {_local(v.window_closes_at, v)})"
            if v.window_closes_at
            else ""
        )
        lines.append(f"DIALABLE NOW{closes}")
        if v.callback_due is not None:
            lines.append(f"  as the callback for {v.callback_due.for_whom}")
    else:
        lines.append(f"NOT DIALABLE: {len(v.blockers)} reason(s)")
        for b in v.blockers:
            lines.append(f"  - [{b.reason.value}] {b.detail}")
        if e.dialable_at is not None:
            lines.append(f"dialable from {_local(e.dialable_at, v)} if nothing else changes")
        else:
            lines.append("will not become dialable by waiting")
    lines.extend(f"note: {n}" for n in v.notes)
    return "\n".join(lines)


def render_history(lead_id: int, entries: Sequence[HistoryEntry]) -> str:
    if not entries:
        return f"lead {lead_id}: no call attempts"
    lines = [f"lead {lead_id}: {len(entries)} attempt(s)"]
    for h in entries:
        took = (
            f"{(h.hangup_at - h.originated_at).total_seconds():.1f}s"
            if h.hangup_at is not None
            else "open"
        )
        parts = [
            f"{h.originated_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
            f"result {h.result or 'in progress'}",
            f"({took}, cause {h.cause})" if h.cause is not None else f"({took})",
        ]
        if h.agent:
            parts.append(f"agent {h.agent}")
        if h.disposition:
            parts.append(f"disposition {h.disposition}")
        if h.note:
            parts.append(f"note {h.note!r}")
        if h.cause_text and h.result == "cancelled":
            parts.append(f"[{h.cause_text}]")
        lines.append("  " + "  ".join(parts))
    return "\n".join(lines)


def render_callback(cb: Callback) -> str:
    """The lead's open callback, one line (after its history)."""
    who = f"agent {cb.agent_name or cb.agent_id}" if cb.agent_id is not None else "anyone"
    return f"callback {cb.status}: {cb.due_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC for {who}"


def render_campaign_reasons(r: CampaignReasons) -> str:
    lines = [f"campaign {r.campaign_name!r} [{r.campaign_id}]: {r.total} leads"]
    lines.append(f"  {'dialable now':<22}{r.by_reason.get(DIALABLE_NOW, 0):>9}")
    lines.append("  by reason (a lead counts under each of its reasons; first reason in brackets):")
    for reason, n in sorted(r.by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
        if reason == DIALABLE_NOW:
            continue
        lines.append(f"  {reason:<22}{n:>9}  [{r.by_first_reason.get(reason, 0)}]")
    return "\n".join(lines)
