"""Trunks, campaigns, lead lists and each campaign's disposition codes.

Functions take an `AsyncSession` already in a transaction (see `Database.transaction`) and never
commit themselves, so a caller can group them.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.domain.causes import check_overrides
from dialer.domain.pbx_values import (
    check_callback_number,
    check_caller_id,
    check_dial_prefix,
    check_name,
    check_sound_name,
)
from dialer.rules.policy import validate_ring_timeout
from dialer.store.errors import NotFound
from dialer.store.records import (
    DEFAULT_NETWORK_FAILURE_CAP,
    Campaign,
    CampaignStatus,
    LeadList,
    PacingMode,
    Trunk,
)
from dialer.store.tables import campaigns, disposition_codes, lead_lists, trunks


def _trunk(row: Any) -> Trunk:
    return Trunk(
        id=row.id,
        name=row.name,
        max_channels=row.max_channels,
        max_cps=row.max_cps,
        dial_prefix=row.dial_prefix,
        endpoint=row.endpoint,
        caller_id=row.caller_id,
        cps_burst=row.cps_burst,
    )


def _campaign(row: Any) -> Campaign:
    return Campaign(
        id=row.id,
        name=row.name,
        status=CampaignStatus(row.status),
        pacing_mode=PacingMode(row.pacing_mode),
        caller_id=row.caller_id,
        trunk_id=row.trunk_id,
        ring_timeout_s=row.ring_timeout_s,
        max_attempts=row.max_attempts,
        wrapup_s=row.wrapup_s,
        hold_s=row.hold_s,
        created_at=row.created_at,
        updated_at=row.updated_at,
        amd_enabled=row.amd_enabled,
        machine_message=row.machine_message,
        callback_number=row.callback_number,
        name_prompt=row.name_prompt,
        lines_per_agent=row.lines_per_agent,
        preview_timeout_s=row.preview_timeout_s,
        network_failure_cap=row.network_failure_cap,
        cause_results=row.cause_results or {},
        max_cps=row.max_cps,
    )


async def create_trunk(
    session: AsyncSession,
    *,
    name: str,
    endpoint: str,
    max_channels: int,
    max_cps: float,
    dial_prefix: str = "",
    caller_id: str = "",
    cps_burst: int | None = None,
) -> Trunk:
    """A trunk: `endpoint` is the PBX's name for it (e.g. the PJSIP endpoint); `caller_id` is
    shown by calls of campaigns that have none of their own."""
    check_name(endpoint)
    check_dial_prefix(dial_prefix)
    caller_id = check_caller_id(caller_id)
    row = (
        await session.execute(
            insert(trunks)
            .values(
                name=name,
                endpoint=endpoint,
                max_channels=max_channels,
                max_cps=max_cps,
                dial_prefix=dial_prefix,
                caller_id=caller_id,
                cps_burst=cps_burst,
            )
            .returning(*trunks.c)
        )
    ).one()
    return _trunk(row)


async def get_trunk(session: AsyncSession, trunk_id: int) -> Trunk:
    row = (await session.execute(select(trunks).where(trunks.c.id == trunk_id))).one_or_none()
    if row is None:
        raise NotFound(f"no trunk with id {trunk_id}")
    return _trunk(row)


async def list_trunks(session: AsyncSession) -> list[Trunk]:
    rows = await session.execute(select(trunks).order_by(trunks.c.id))
    return [_trunk(r) for r in rows]


async def create_campaign(
    session: AsyncSession,
    *,
    name: str,
    trunk_id: int,
    caller_id: str,
    pacing_mode: PacingMode = PacingMode.PROGRESSIVE,
    status: CampaignStatus = CampaignStatus.DRAFT,
    ring_timeout_s: float = 25.0,
    max_attempts: int = 3,
    wrapup_s: float = 10.0,
    hold_s: float = 2.0,
    amd_enabled: bool = False,
    machine_message: str = "",
    callback_number: str = "",
    name_prompt: str = "",
    lines_per_agent: float = 2.0,
    preview_timeout_s: float = 0.0,
    network_failure_cap: int = DEFAULT_NETWORK_FAILURE_CAP,
    cause_results: Mapping[str, Mapping[str, str]] | None = None,
    max_cps: float | None = None,
) -> Campaign:
    """Raises ValueError for a ring time below 15 s (an unanswered call rings at
    least 15 s; the database refuses it too, ck_campaigns_ring_timeout_min_15), a call-back
    number that is not a valid E.164 number or a name prompt that is not a sound name
    (`dialer.domain.abandon`). `caller_id` may be '': the trunk's is used."""
    validate_ring_timeout(ring_timeout_s)
    caller_id = check_caller_id(caller_id)
    callback_number = check_callback_number(callback_number)
    name_prompt = check_sound_name(name_prompt)
    machine_message = check_sound_name(machine_message, "machine_message")
    causes = check_overrides(cause_results or {})  # raises ValueError
    if network_failure_cap < 1:
        raise ValueError(f"network_failure_cap must be at least 1, got {network_failure_cap}")
    row = (
        await session.execute(
            insert(campaigns)
            .values(
                name=name,
                trunk_id=trunk_id,
                caller_id=caller_id,
                pacing_mode=pacing_mode.value,
                status=status.value,
                ring_timeout_s=ring_timeout_s,
                max_attempts=max_attempts,
                wrapup_s=wrapup_s,
                hold_s=hold_s,
                amd_enabled=amd_enabled,
                machine_message=machine_message,
                callback_number=callback_number,
                name_prompt=name_prompt,
                lines_per_agent=lines_per_agent,
                preview_timeout_s=preview_timeout_s,
                network_failure_cap=network_failure_cap,
                cause_results=causes,
                max_cps=max_cps,
            )
            .returning(*campaigns.c)
        )
    ).one()
    return _campaign(row)


async def get_campaign(session: AsyncSession, campaign_id: int) -> Campaign:
    row = (
        await session.execute(select(campaigns).where(campaigns.c.id == campaign_id))
    ).one_or_none()
    if row is None:
        raise NotFound(f"no campaign with id {campaign_id}")
    return _campaign(row)


async def get_campaign_by_name(session: AsyncSession, name: str) -> Campaign:
    row = (await session.execute(select(campaigns).where(campaigns.c.name == name))).one_or_none()
    if row is None:
        raise NotFound(f"no campaign named {name!r}")
    return _campaign(row)


async def list_campaigns(
    session: AsyncSession, status: CampaignStatus | None = None
) -> list[Campaign]:
    stmt = select(campaigns).order_by(campaigns.c.id)
    if status is not None:
        stmt = stmt.where(campaigns.c.status == status.value)
    return [_campaign(r) for r in await session.execute(stmt)]


async def running_or(session: AsyncSession, campaign_ids: Collection[int]) -> list[Campaign]:
    """Campaigns that are running, and those in `campaign_ids` whatever their status."""
    cond = campaigns.c.status == CampaignStatus.RUNNING.value
    if campaign_ids:
        cond = or_(cond, campaigns.c.id.in_(list(campaign_ids)))
    return [_campaign(r) for r in await session.execute(select(campaigns).where(cond))]


async def set_campaign_status(
    session: AsyncSession, campaign_id: int, status: CampaignStatus
) -> Campaign:
    row = (
        await session.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign_id)
            .values(status=status.value, updated_at=func.now())
            .returning(*campaigns.c)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"no campaign with id {campaign_id}")
    return _campaign(row)


async def create_lead_list(session: AsyncSession, campaign_id: int, name: str) -> LeadList:
    row = (
        await session.execute(
            insert(lead_lists)
            .values(campaign_id=campaign_id, name=name)
            .returning(lead_lists.c.id, lead_lists.c.campaign_id, lead_lists.c.name)
        )
    ).one()
    return LeadList(id=row.id, campaign_id=row.campaign_id, name=row.name)


async def list_lead_lists(session: AsyncSession, campaign_id: int) -> list[LeadList]:
    rows = await session.execute(
        select(lead_lists.c.id, lead_lists.c.campaign_id, lead_lists.c.name)
        .where(lead_lists.c.campaign_id == campaign_id)
        .order_by(lead_lists.c.id)
    )
    return [LeadList(id=r.id, campaign_id=r.campaign_id, name=r.name) for r in rows]


async def set_disposition_codes(
    session: AsyncSession,
    campaign_id: int,
    codes: Iterable[tuple[str, str]],
) -> None:
    """Add (code, label) pairs to a campaign's list; an existing code gets the new label.

    Codes are never removed here: past dispositions refer to them.
    """
    values = [{"campaign_id": campaign_id, "code": c, "label": label} for c, label in codes]
    if not values:
        return
    stmt = pg_insert(disposition_codes).values(values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[disposition_codes.c.campaign_id, disposition_codes.c.code],
        set_={"label": stmt.excluded.label},
    )
    await session.execute(stmt)


async def get_disposition_codes(
    session: AsyncSession, campaign_id: int
) -> Sequence[tuple[str, str]]:
    """The campaign's (code, label) pairs, sorted by code."""
    rows = await session.execute(
        select(disposition_codes.c.code, disposition_codes.c.label)
        .where(disposition_codes.c.campaign_id == campaign_id)
        .order_by(disposition_codes.c.code)
    )
    return [(r.code, r.label) for r in rows]
