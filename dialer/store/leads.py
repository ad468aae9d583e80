"""Leads: bulk import, and leasing dialable leads to one daemon at a time.

A lease hands a lead to one owner (a daemon instance id) until an expiry: `lease_leads` picks
dialable leads and marks them ``dialing`` for that owner in one statement, skipping rows another
transaction holds (``FOR UPDATE SKIP LOCKED``), so concurrent leasers never get the same lead and
never wait on each other. The lease ends when the attempt ends (`cdrs.end_attempts`), when the
owner gives the lead back unused (`release_leads`), on a clean stop (`cleanup.close_open_attempts`)
or, if the owner died, when the lease has expired (`cleanup.release_expired_leases`). A daemon
with calls longer than its lease renews its leases (`renew_leases`) as a heartbeat.
"""

from __future__ import annotations

import json
import logging
import zoneinfo
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.store._sql import rowcount
from dialer.store.callbacks import has_open_callback
from dialer.store.dnc import abandon_locked, number_blocked
from dialer.store.errors import NotFound
from dialer.store.records import LeadStatus, LeasedLead, NewLead, require_aware
from dialer.store.tables import campaigns, lead_lists, leads

logger = logging.getLogger(__name__)

# Leads per INSERT statement: big enough to be fast, small enough to keep one statement's
# arrays in the low megabytes.
IMPORT_CHUNK = 10_000

_INSERT_LEADS = text(
    """
    INSERT INTO leads (list_id, campaign_id, phone, time_zone, priority, next_call_at, extra)
    SELECT ll.id, ll.campaign_id, v.phone, v.time_zone, v.priority,
           COALESCE(v.next_call_at, now()), v.extra::jsonb
    FROM lead_lists AS ll,
         unnest(CAST(:phones AS text[]), CAST(:zones AS text[]), CAST(:priorities AS int[]),
                CAST(:next_calls AS timestamptz[]), CAST(:extras AS text[]))
           AS v(phone, time_zone, priority, next_call_at, extra)
    WHERE ll.id = :list_id
    ON CONFLICT (list_id, phone) DO NOTHING
    """
)

DIALABLE = (LeadStatus.NEW.value, LeadStatus.RETRY.value)
# Written as SQL literals, not bound parameters: asyncpg runs prepared statements, which
# Postgres turns into generic plans after five runs, and a generic plan can use the partial
# index ix_leads_dialable (WHERE status IN ('new', 'retry')) only if the query's own status
# filter visibly implies that predicate. With a parameter it sorted the whole campaign instead.
_IS_DIALABLE = leads.c.status.in_([literal_column(f"'{v}'") for v in DIALABLE])


async def add_leads(session: AsyncSession, list_id: int, new_leads: Sequence[NewLead]) -> int:
    """Insert leads into a list; returns how many were inserted.

    A phone already in the list is skipped (not an error), so an import can be re-run.
    Raises `NotFound` if the list does not exist and `ValueError` on an unknown time zone.
    """
    for zone in {lead.time_zone for lead in new_leads}:
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {zone!r}") from None
    inserted = 0
    for start in range(0, len(new_leads), IMPORT_CHUNK):
        chunk = new_leads[start : start + IMPORT_CHUNK]
        result = await session.execute(
            _INSERT_LEADS,
            {
                "list_id": list_id,
                "phones": [lead.phone for lead in chunk],
                "zones": [lead.time_zone for lead in chunk],
                "priorities": [lead.priority for lead in chunk],
                "next_calls": [lead.next_call_at for lead in chunk],
                "extras": [json.dumps(dict(lead.extra)) if lead.extra else "{}" for lead in chunk],
            },
        )
        inserted += rowcount(result)
    if new_leads and inserted == 0:
        found = await session.execute(select(lead_lists.c.id).where(lead_lists.c.id == list_id))
        if found.first() is None:
            raise NotFound(f"no lead list with id {list_id}")
    return inserted


async def lease_leads(
    session: AsyncSession,
    campaign_id: int,
    limit: int,
    now: datetime,
    owner: str,
    lease_seconds: float,
) -> list[LeasedLead]:
    """Lease up to `limit` dialable leads of a campaign to `owner`, best first.

    Dialable: status new or retry, ``next_call_at <= now``, attempts below the campaign's cap,
    no lease or an expired one, the number on no do-not-call list and not locked after an
    abandoned call, and no open callback. (Calling hours and the caps over time depend on the
    lead's zone: `rules_gateway.RulesStore.lease` checks them on what this returns.)
    In one statement::

        WITH picked AS (SELECT id ... ORDER BY priority DESC, next_call_at, id LIMIT n
                        FOR UPDATE OF leads SKIP LOCKED)
        UPDATE leads SET status='dialing', lease_owner=..., lease_expires_at=...
        FROM picked WHERE leads.id = picked.id RETURNING ...

    Rows another transaction has locked are skipped, not waited for; a row that another leaser
    changed and committed after this statement's snapshot is re-checked against the WHERE
    clause by Postgres once locked (and then no longer matches), so no lead is leased twice.
    """
    require_aware("now", now)
    if limit <= 0:
        return []
    expires = now + timedelta(seconds=lease_seconds)
    cap = select(campaigns.c.max_attempts).where(campaigns.c.id == campaign_id).scalar_subquery()
    picked = (
        select(leads.c.id)
        .where(
            leads.c.campaign_id == campaign_id,
            _IS_DIALABLE,
            leads.c.next_call_at <= now,
            leads.c.attempts < cap,
            or_(leads.c.lease_owner.is_(None), leads.c.lease_expires_at <= now),
            # Issue 5 (rules): a number on a do-not-call list (global or this campaign's) or
            # locked for 72 h after an abandoned call is never leased; a lead with an open
            # callback is leased only as that callback (`RulesStore.lease_callbacks`).
            ~number_blocked(leads.c.phone, leads.c.campaign_id),
            ~abandon_locked(leads.c.phone, now),
            ~has_open_callback(leads.c.id),
        )
        .order_by(leads.c.priority.desc(), leads.c.next_call_at, leads.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=leads)
        .cte("picked")
    )
    stmt = (
        update(leads)
        .where(leads.c.id == picked.c.id)
        .values(
            status=LeadStatus.DIALING.value,
            lease_owner=owner,
            lease_expires_at=expires,
        )
        .returning(
            leads.c.id,
            leads.c.campaign_id,
            leads.c.list_id,
            leads.c.phone,
            leads.c.time_zone,
            leads.c.attempts,
            leads.c.priority,
            leads.c.extra,
            leads.c.next_call_at,
            leads.c.lease_expires_at,
        )
    )
    rows = list(await session.execute(stmt))
    # RETURNING does not keep the subquery's order.
    rows.sort(key=lambda r: (-r.priority, r.next_call_at, r.id))
    return [
        LeasedLead(
            id=r.id,
            campaign_id=r.campaign_id,
            list_id=r.list_id,
            phone=r.phone,
            time_zone=r.time_zone,
            attempts=r.attempts,
            priority=r.priority,
            extra=r.extra,
            lease_expires_at=r.lease_expires_at,
        )
        for r in rows
    ]


async def renew_leases(
    session: AsyncSession, owner: str, now: datetime, lease_seconds: float
) -> int:
    """Push the expiry of every lease `owner` holds to now + `lease_seconds` (a heartbeat)."""
    require_aware("now", now)
    result = await session.execute(
        update(leads)
        .where(leads.c.lease_owner == owner, leads.c.status == LeadStatus.DIALING.value)
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
    )
    return rowcount(result)


def _released_status() -> ColumnElement[str]:
    # Only a lead that has had no counted attempt is "new" again.
    return case(
        (leads.c.attempts == 0, literal(LeadStatus.NEW.value)), else_=LeadStatus.RETRY.value
    )


async def release_leads(session: AsyncSession, owner: str, lead_ids: Sequence[int]) -> int:
    """Give back leads `owner` leased but did not dial; they are dialable again at once.

    Leads that are no longer leased by `owner` are left alone. Returns how many were released.
    """
    if not lead_ids:
        return 0
    result = await session.execute(
        update(leads)
        .where(
            leads.c.id.in_(list(lead_ids)),
            leads.c.lease_owner == owner,
            leads.c.status == LeadStatus.DIALING.value,
        )
        .values(status=_released_status(), lease_owner=None, lease_expires_at=None)
    )
    return rowcount(result)


async def release_all_leases(
    session: AsyncSession, *, owner: str | None = None, expired_at: datetime | None = None
) -> int:
    """Release the leases of `owner`, and/or those expired at `expired_at`, without touching
    attempts. Use `cleanup` for a stop or a sweep: it closes the open attempts first."""
    require_aware("expired_at", expired_at)
    conditions = [leads.c.status == LeadStatus.DIALING.value, leads.c.lease_owner.is_not(None)]
    if owner is not None:
        conditions.append(leads.c.lease_owner == owner)
    if expired_at is not None:
        conditions.append(leads.c.lease_expires_at <= expired_at)
    result = await session.execute(
        update(leads)
        .where(and_(*conditions))
        .values(status=_released_status(), lease_owner=None, lease_expires_at=None)
    )
    return rowcount(result)


async def count_leads_by_status(session: AsyncSession, campaign_id: int) -> dict[LeadStatus, int]:
    """Every status with its count (zero included)."""
    rows = await session.execute(
        select(leads.c.status, func.count())
        .where(leads.c.campaign_id == campaign_id)
        .group_by(leads.c.status)
    )
    counts = dict.fromkeys(LeadStatus, 0)
    for status, n in rows:
        counts[LeadStatus(status)] = int(n)
    return counts
