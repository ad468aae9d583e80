"""Numbers that must not be dialed: do-not-call lists, and the 72-hour lock after an abandoned
call. Lists are global (``campaign_id`` NULL) or per campaign; entries say where they came from
(`dialer.rules.dnc.DncSource`).

`number_blocked` and `abandon_locked` are the SQL filters the lease query adds
(`leads.lease_leads`), so a blocked number is never leased; a lead the lease finds on a list is
set aside (status ``blocked``) so that no later lease scans past it again, and
`release_unlisted` gives it back once its number is on no list (at once on `remove_number`,
and by the daemon's periodic check for removals made some other way). `blocks_for` gathers what
the check right before the originate and `dialer leads why` need, in one round trip.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Exists,
    case,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from dialer.domain.pbx_values import is_e164
from dialer.rules.dnc import DncHit, DncSource, normalize
from dialer.rules.retry import ABANDON_LOCK
from dialer.store._sql import rowcount
from dialer.store.errors import NotFound
from dialer.store.records import LeadStatus, mask_phone, require_aware
from dialer.store.tables import call_attempts, dnc_lists, dnc_numbers, leads

OPT_OUT_LIST = "opt-out"  # the global list a callee's opt-out goes to

_ADD_NUMBERS = text(
    """
    INSERT INTO dnc_numbers (list_id, phone, source, note)
    SELECT :list_id, p, :source, :note FROM unnest(CAST(:phones AS text[])) AS p
    ON CONFLICT (list_id, phone) DO NOTHING
    """
)


@dataclass(frozen=True, slots=True)
class DncList:
    id: int
    name: str
    campaign_id: int | None  # None: global


@dataclass(frozen=True, slots=True)
class ImportReport:
    added: int
    already_listed: int
    rejected: tuple[tuple[int, str], ...]  # (line number, why), the number itself left out


# -- lease filters -----------------------------------------------------------------------------


def number_blocked(
    phone: ColumnElement[str], campaign_id: ColumnElement[int]
) -> ColumnElement[bool]:
    """True when `phone` is on a global list or on a list of `campaign_id` (served by
    ix_dnc_numbers_phone).

    Written as a scalar ``(SELECT EXISTS (...))``, not a bare ``EXISTS``: Postgres turns a bare
    ``NOT EXISTS`` into an anti-join over every candidate lead, then sorts them all (250 ms for
    100,000 leads); as a per-row sub-plan the lease keeps its ordered index scan and stops at
    its LIMIT.
    """
    return _scalar(
        exists(
            select(1)
            .select_from(dnc_numbers.join(dnc_lists, dnc_lists.c.id == dnc_numbers.c.list_id))
            .where(
                dnc_numbers.c.phone == phone,
                or_(dnc_lists.c.campaign_id.is_(None), dnc_lists.c.campaign_id == campaign_id),
            )
            .correlate_except(dnc_numbers, dnc_lists)  # the lead's columns come from outside
        )
    )


def _scalar(test: Exists) -> ColumnElement[bool]:
    return select(test).scalar_subquery()


def abandon_locked(phone: ColumnElement[str], now: datetime) -> ColumnElement[bool]:
    """True when a call to `phone` (any lead, any campaign) was abandoned within 72 hours
    (served by ix_leads_phone and the partial index ix_call_attempts_abandoned); a scalar
    sub-plan, like `number_blocked`."""
    other = leads.alias("lock_lead")
    return _scalar(
        exists(
            select(1)
            .select_from(other.join(call_attempts, call_attempts.c.lead_id == other.c.id))
            .where(
                other.c.phone == phone,
                call_attempts.c.result == "abandoned",
                call_attempts.c.hangup_at > now - ABANDON_LOCK,
            )
            .correlate_except(other, call_attempts)
        )
    )


# -- lists and numbers --------------------------------------------------------------------------


async def create_list(session: AsyncSession, name: str, campaign_id: int | None = None) -> DncList:
    row = (
        await session.execute(
            pg_insert(dnc_lists)
            .values(name=name, campaign_id=campaign_id)
            .returning(dnc_lists.c.id, dnc_lists.c.name, dnc_lists.c.campaign_id)
        )
    ).one()
    return DncList(row.id, row.name, row.campaign_id)


async def get_list(session: AsyncSession, name: str) -> DncList:
    row = (
        await session.execute(
            select(dnc_lists.c.id, dnc_lists.c.name, dnc_lists.c.campaign_id).where(
                dnc_lists.c.name == name
            )
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"no do-not-call list named {name!r}")
    return DncList(row.id, row.name, row.campaign_id)


async def ensure_list(session: AsyncSession, name: str, campaign_id: int | None = None) -> DncList:
    """The list `name`, created if missing; raises ValueError if it exists with another scope."""
    await session.execute(
        pg_insert(dnc_lists)
        .values(name=name, campaign_id=campaign_id)
        .on_conflict_do_nothing(index_elements=[dnc_lists.c.name])
    )
    found = await get_list(session, name)
    if found.campaign_id != campaign_id:
        scope = "global" if found.campaign_id is None else f"campaign {found.campaign_id}"
        raise ValueError(f"do-not-call list {name!r} exists already ({scope})")
    return found


async def list_lists(session: AsyncSession) -> list[tuple[DncList, int]]:
    """Every list with its number count."""
    rows = await session.execute(
        select(
            dnc_lists.c.id,
            dnc_lists.c.name,
            dnc_lists.c.campaign_id,
            func.count(dnc_numbers.c.phone),
        )
        .outerjoin(dnc_numbers, dnc_numbers.c.list_id == dnc_lists.c.id)
        .group_by(dnc_lists.c.id)
        .order_by(dnc_lists.c.id)
    )
    return [(DncList(r[0], r[1], r[2]), int(r[3])) for r in rows]


async def add_numbers(
    session: AsyncSession,
    list_id: int,
    phones: Sequence[str],
    source: DncSource = DncSource.IMPORT,
    note: str = "",
) -> int:
    """Add E.164 numbers to a list; a number already there is kept as it was. Returns how many
    were added. Raises ValueError on a number not in E.164 form."""
    bad = [p for p in phones if not is_e164(p)]
    if bad:
        raise ValueError(f"not E.164: {mask_phone(bad[0])!r} (and {len(bad) - 1} more)")
    if not phones:
        return 0
    added = 0
    # One statement per chunk with the numbers as one array parameter (unnest), not one
    # parameter per value: asyncpg allows at most 32767 parameters in a statement.
    for start in range(0, len(phones), 50_000):
        chunk = sorted(set(phones[start : start + 50_000]))
        result = await session.execute(
            _ADD_NUMBERS,
            {"list_id": list_id, "phones": chunk, "source": source.value, "note": note},
        )
        added += rowcount(result)
    return added


async def import_numbers(
    session: AsyncSession,
    list_id: int,
    lines: Iterable[str],
    *,
    default_region: str | None = None,
    source: DncSource = DncSource.IMPORT,
) -> ImportReport:
    """Import one number per line (blank lines and ``#`` comments skipped), normalised to E.164
    (`dialer.rules.dnc.normalize`); a line that is not a number is reported, not imported."""
    phones: list[str] = []
    rejected: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        raw = line.split("#", 1)[0].strip().split(",", 1)[0].strip()
        if not raw:
            continue
        try:
            phones.append(normalize(raw, default_region))
        except ValueError as exc:
            rejected.append((number, str(exc)))
    unique = sorted(set(phones))
    added = await add_numbers(session, list_id, unique, source)
    return ImportReport(added, len(unique) - added, tuple(rejected))


async def remove_number(session: AsyncSession, list_id: int, phone: str) -> bool:
    """Take `phone` off a list. Its leads that the lease had set aside as blocked and that no
    other list still blocks are dialable again at once (new, or retry after a counted call)."""
    result = await session.execute(
        delete(dnc_numbers).where(dnc_numbers.c.list_id == list_id, dnc_numbers.c.phone == phone)
    )
    removed = rowcount(result) > 0
    if removed:
        await release_unlisted(session, phone=phone)
    return removed


async def release_unlisted(
    session: AsyncSession, *, phone: str | None = None, campaign_id: int | None = None
) -> int:
    """Leads set aside as blocked (`leads.lease_leads`) whose number is on no list that applies
    to them any more go back to new (no counted call yet) or retry; returns how many. By
    `phone` (served by ix_leads_phone) or by `campaign_id` (by ix_leads_campaign_id_status)."""
    conditions = [
        leads.c.status == LeadStatus.BLOCKED.value,
        ~number_blocked(leads.c.phone, leads.c.campaign_id),
    ]
    if phone is not None:
        conditions.append(leads.c.phone == phone)
    if campaign_id is not None:
        conditions.append(leads.c.campaign_id == campaign_id)
    result = await session.execute(
        update(leads)
        .where(*conditions)
        .values(
            status=case(
                (leads.c.attempts == 0, literal(LeadStatus.NEW.value)),
                else_=literal(LeadStatus.RETRY.value),
            )
        )
    )
    return rowcount(result)


async def opt_out(
    session: AsyncSession, phone: str, *, campaign_id: int | None = None, note: str = ""
) -> DncList:
    """The callee asked not to be called again: add the number to the global opt-out list (or,
    with `campaign_id`, to that campaign's opt-out list). Takes effect for the next lease and
    for the check right before every originate."""
    name = OPT_OUT_LIST if campaign_id is None else f"{OPT_OUT_LIST}-campaign-{campaign_id}"
    target = await ensure_list(session, name, campaign_id)
    await add_numbers(session, target.id, [phone], DncSource.OPT_OUT, note)
    return target


# -- look-ups ----------------------------------------------------------------------------------


async def hits(session: AsyncSession, phone: str, campaign_id: int) -> list[DncHit]:
    """Every list entry that blocks `phone` for `campaign_id`."""
    rows = await session.execute(
        select(
            dnc_lists.c.name, dnc_lists.c.campaign_id, dnc_numbers.c.source, dnc_numbers.c.added_at
        )
        .select_from(dnc_numbers.join(dnc_lists, dnc_lists.c.id == dnc_numbers.c.list_id))
        .where(
            dnc_numbers.c.phone == phone,
            or_(dnc_lists.c.campaign_id.is_(None), dnc_lists.c.campaign_id == campaign_id),
        )
        .order_by(dnc_numbers.c.added_at)
    )
    return [DncHit(r.name, r.campaign_id, DncSource(r.source), r.added_at) for r in rows]


async def last_abandoned(session: AsyncSession, phone: str) -> datetime | None:
    """The latest hang-up of an abandoned call to `phone` (any campaign)."""
    found = await session.execute(
        select(func.max(call_attempts.c.hangup_at))
        .select_from(leads.join(call_attempts, call_attempts.c.lead_id == leads.c.id))
        .where(leads.c.phone == phone, call_attempts.c.result == "abandoned")
    )
    value: datetime | None = found.scalar_one_or_none()
    return value


_BLOCKS_FOR = text(
    """
    SELECT
      (SELECT coalesce(json_agg(json_build_array(dl.name, dl.campaign_id, d.source,
                                                 d.added_at) ORDER BY d.added_at), '[]')
         FROM dnc_numbers d JOIN dnc_lists dl ON dl.id = d.list_id
        WHERE d.phone = :phone AND (dl.campaign_id IS NULL OR dl.campaign_id = :campaign))
        AS dnc,
      (SELECT max(a.hangup_at) FROM leads l JOIN call_attempts a ON a.lead_id = l.id
        WHERE l.phone = :phone AND a.result = 'abandoned') AS abandoned,
      (SELECT coalesce(array_agg(a.originated_at), '{}') FROM leads l
         JOIN call_attempts a ON a.lead_id = l.id
        WHERE l.phone = :phone AND l.campaign_id = :campaign
          AND a.originated_at > CAST(:since AS timestamptz)
          AND (a.result IS NULL OR a.result NOT IN ('cancelled', 'failed'))
          AND NOT a.trunk_fault) AS recent
    """
)


@dataclass(frozen=True, slots=True)
class NumberBlocks:
    dnc: tuple[DncHit, ...]
    last_abandoned_at: datetime | None
    recent_calls: tuple[datetime, ...]


async def blocks_for(
    session: AsyncSession | AsyncConnection, phone: str, campaign_id: int, since: datetime
) -> NumberBlocks:
    """DNC entries, the last abandoned call and the campaign's calls since `since` for one
    number, in one statement (the check right before the originate)."""
    require_aware("since", since)
    row = (
        await session.execute(
            _BLOCKS_FOR, {"phone": phone, "campaign": campaign_id, "since": since}
        )
    ).one()
    entries = json.loads(row.dnc) if isinstance(row.dnc, str) else row.dnc
    found = tuple(
        DncHit(name, cid, DncSource(source), datetime.fromisoformat(added))
        for name, cid, source, added in entries
    )
    return NumberBlocks(found, row.abandoned, tuple(row.recent))


async def blocked_phones(
    session: AsyncSession, phones: Sequence[str], campaign_id: int
) -> set[str]:
    """Which of `phones` a list blocks for `campaign_id` (used by tests and imports)."""
    if not phones:
        return set()
    rows = await session.execute(
        select(dnc_numbers.c.phone)
        .select_from(dnc_numbers.join(dnc_lists, dnc_lists.c.id == dnc_numbers.c.list_id))
        .where(
            dnc_numbers.c.phone.in_(list(phones)),
            or_(dnc_lists.c.campaign_id.is_(None), dnc_lists.c.campaign_id == campaign_id),
        )
    )
    return {r[0] for r in rows}


__all__ = [
    "OPT_OUT_LIST",
    "DncList",
    "ImportReport",
    "NumberBlocks",
    "abandon_locked",
    "add_numbers",
    "blocked_phones",
    "blocks_for",
    "create_list",
    "ensure_list",
    "get_list",
    "hits",
    "import_numbers",
    "last_abandoned",
    "list_lists",
    "number_blocked",
    "opt_out",
    "release_unlisted",
    "remove_number",
]
