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
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    text,
    true,
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
# Leads on a do-not-call list one lease sets aside at most (a row update each, ~0.1 ms).
SET_ASIDE_PER_LEASE = 2_048

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
    *,
    max_rounds: int = 16,
) -> list[LeasedLead]:
    """Lease up to `limit` dialable leads of a campaign to `owner`, best first.

    Dialable: status new or retry, ``next_call_at <= now``, attempts below the campaign's cap,
    no lease or an expired one, the number on no do-not-call list and not locked after an
    abandoned call, and no open callback. (Calling hours and the caps over time depend on the
    lead's zone: `rules_gateway.RulesStore.lease` checks them on what this returns.)
    In one statement per round::

        WITH cand AS (SELECT id, <on a do-not-call list> AS listed ...
                      ORDER BY priority DESC, next_call_at, id LIMIT want + extra
                      FOR UPDATE OF leads SKIP LOCKED),
             ranked AS (SELECT id, listed, row_number() OVER (PARTITION BY listed ...) FROM cand)
        UPDATE leads SET status = (listed ? 'blocked' : 'dialing'), lease_owner=...
        FROM ranked WHERE leads.id = ranked.id AND (listed OR rank <= want) RETURNING ...

    A candidate whose number is on a list is not leased but set aside as ``blocked``: it
    leaves the dialable index, so no later lease scans past it again (it is new or retry again
    when its number leaves every list, `dnc.remove_number`). While a round finds listed leads,
    the next one looks further ahead (`extra` grows), so a run of listed leads at the head of
    the order is cleared once. Setting aside costs a row update each, so one call sets aside
    at most `SET_ASIDE_PER_LEASE`; past that a last round skips listed leads without touching
    them (as every lease did before), so a long listed run never delays the dialing.

    Rows another transaction has locked are skipped, not waited for; a row that another leaser
    changed and committed after this statement's snapshot is re-checked against the WHERE
    clause by Postgres once locked (and then no longer matches), so no lead is leased twice.
    """
    require_aware("now", now)
    rows: list[Any] = []
    extra = 0
    set_aside = 0
    for _ in range(max_rounds):
        want = limit - len(rows)
        if want <= 0:
            break
        skip = set_aside >= SET_ASIDE_PER_LEASE
        statement = _lease_statement(
            campaign_id, want, extra, now, owner, lease_seconds, skip_listed=skip
        )
        got = list(await session.execute(statement))
        rows.extend(r for r in got if not r.listed)
        blocked = sum(1 for r in got if r.listed)
        if not blocked or skip:
            break
        set_aside += blocked
        logger.info(
            "%d leads set aside: their numbers are on a do-not-call list",
            blocked,
            extra={"campaign": campaign_id},
        )
        extra = max(0, min(SET_ASIDE_PER_LEASE - set_aside, max(256, 4 * extra)))
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


def _lease_statement(
    campaign_id: int,
    want: int,
    extra: int,
    now: datetime,
    owner: str,
    lease_seconds: float,
    *,
    skip_listed: bool = False,
) -> Any:
    expires = now + timedelta(seconds=lease_seconds)
    cap = select(campaigns.c.max_attempts).where(campaigns.c.id == campaign_id).scalar_subquery()
    # A number on a do-not-call list (global or this campaign's) is never
    # leased: the lead is set aside as blocked, or skipped (see `lease_leads`).
    listed = number_blocked(leads.c.phone, leads.c.campaign_id)
    order = (leads.c.priority.desc(), leads.c.next_call_at, leads.c.id)
    cand = (
        select(
            leads.c.id,
            leads.c.priority,
            leads.c.next_call_at,
            (false() if skip_listed else listed).label("listed"),
        )
        .where(
            ~listed if skip_listed else true(),
            leads.c.campaign_id == campaign_id,
            _IS_DIALABLE,
            leads.c.next_call_at <= now,
            leads.c.attempts < cap,
            or_(leads.c.lease_owner.is_(None), leads.c.lease_expires_at <= now),
            # A number locked for 72 h after an abandoned call is not leased; a lead with an
            # open callback is leased only as that callback (`RulesStore.lease_callbacks`).
            ~abandon_locked(leads.c.phone, now),
            ~has_open_callback(leads.c.id),
        )
        .order_by(*order)
        .limit(want + extra)
        .with_for_update(skip_locked=True, of=leads)
        .cte("cand")
    )
    ranked = select(
        cand.c.id,
        cand.c.listed,
        func.row_number()
        .over(
            partition_by=cand.c.listed,
            order_by=(cand.c.priority.desc(), cand.c.next_call_at, cand.c.id),
        )
        .label("rank"),
    ).cte("ranked")
    return (
        update(leads)
        .where(leads.c.id == ranked.c.id, or_(ranked.c.listed, ranked.c.rank <= want))
        .values(
            status=case(
                (ranked.c.listed, literal(LeadStatus.BLOCKED.value)),
                else_=literal(LeadStatus.DIALING.value),
            ),
            lease_owner=case((ranked.c.listed, null()), else_=literal(owner)),
            lease_expires_at=case(
                (ranked.c.listed, null()),
                else_=literal(expires, type_=leads.c.lease_expires_at.type),
            ),
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
            ranked.c.listed,
        )
    )


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


def released_status() -> ColumnElement[str]:
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
        .values(status=released_status(), lease_owner=None, lease_expires_at=None)
    )
    return rowcount(result)


async def skip_lead(session: AsyncSession, owner: str, lead_id: int, until: datetime) -> bool:
    """Give back a lead `owner` leased and an agent skipped in preview: dialable again at
    `until`, its attempts unchanged. Whether it was `owner`'s to give back."""
    require_aware("until", until)
    result = await session.execute(
        update(leads)
        .where(
            leads.c.id == lead_id,
            leads.c.lease_owner == owner,
            leads.c.status == LeadStatus.DIALING.value,
        )
        .values(
            status=released_status(), lease_owner=None, lease_expires_at=None, next_call_at=until
        )
    )
    return rowcount(result) == 1


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
        .values(status=released_status(), lease_owner=None, lease_expires_at=None)
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
