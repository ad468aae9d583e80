"""Erasing a person's personal data on request, keeping what the statistics need.

What goes: the lead's number and custom fields (name, address, anything imported), the notes
agents and supervisors wrote about its calls and callbacks; pending callbacks are cancelled.
What stays: the lead row itself, done for good and with a placeholder number that can never be
dialed (`+999` and the lead's id: 999 is no country's code), and its call records (times,
results, causes), which hold no personal data and which the abandonment windows, caps and
statistics count. With `dnc`, the number first goes on the global opt-out list, so the person
is never called again by any campaign (the one place it is then kept, for that purpose).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.store import dnc as dnc_repo
from dialer.store._sql import rowcount
from dialer.store.errors import NotFound, StoreError
from dialer.store.records import LeadStatus, require_aware
from dialer.store.tables import call_attempts, callbacks, dispositions, leads

PLACEHOLDER_PREFIX = "+999"


def placeholder(lead_id: int) -> str:
    """The erased lead's number: E.164 in form, unique, and no country's."""
    return f"{PLACEHOLDER_PREFIX}{lead_id:011d}"


class LeadBusy(StoreError):
    """The lead is leased for a call right now."""


@dataclass(frozen=True, slots=True)
class Erasure:
    lead_id: int
    notes_cleared: int
    callbacks_cancelled: int
    on_dnc: bool


async def erase_lead(
    session: AsyncSession, lead_id: int, now: datetime, *, dnc: bool = False
) -> Erasure:
    """Erase lead `lead_id`'s personal data (see the module). `NotFound` for an unknown lead."""
    require_aware("now", now)
    row = (
        await session.execute(
            select(leads.c.id, leads.c.phone, leads.c.status)
            .where(leads.c.id == lead_id)
            .with_for_update()
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"no lead with id {lead_id}")
    if row.status == LeadStatus.DIALING.value:
        # Its call's end would move it on again: erase once the call is over.
        raise LeadBusy(f"lead {lead_id} is being dialed; erase it once the call has ended")
    if dnc and not row.phone.startswith(PLACEHOLDER_PREFIX):
        await dnc_repo.opt_out(session, row.phone, note="erasure request")
    await session.execute(
        update(leads)
        .where(leads.c.id == lead_id)
        .values(
            phone=placeholder(lead_id),
            extra=literal({}, leads.c.extra.type),
            status=LeadStatus.DONE.value,
            lease_owner=None,
            lease_expires_at=None,
        )
    )
    attempts = select(call_attempts.c.id).where(call_attempts.c.lead_id == lead_id)
    notes = await session.execute(
        update(dispositions)
        .where(dispositions.c.attempt_id.in_(attempts.scalar_subquery()), dispositions.c.note != "")
        .values(note="")
    )
    cleared = rowcount(notes)
    cleared += rowcount(
        await session.execute(
            update(callbacks)
            .where(callbacks.c.lead_id == lead_id, callbacks.c.note != "")
            .values(note="")
        )
    )
    cancelled = await session.execute(
        update(callbacks)
        .where(callbacks.c.lead_id == lead_id, callbacks.c.status == "pending")
        .values(status="cancelled")
    )
    return Erasure(lead_id, cleared, rowcount(cancelled), dnc)
