"""Each campaign's rule settings (`dialer.rules.policy.CampaignRules`), one row per campaign in
``campaign_rules``. A campaign without a row has the ``none`` preset: around the clock, no caps,
the default retry rules (the DNC lists, the 72-hour lock and the lifetime cap hold anyway).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.rules.policy import CampaignRules, Preset, preset_rules, rules_from_row, rules_to_row
from dialer.rules.policy import within_preset as _within_preset
from dialer.store.tables import campaign_rules

_COLUMNS = [c for c in campaign_rules.c if c.name not in ("campaign_id", "updated_at")]


async def get_rules(session: AsyncSession, campaign_id: int) -> CampaignRules:
    row = (
        await session.execute(select(*_COLUMNS).where(campaign_rules.c.campaign_id == campaign_id))
    ).one_or_none()
    if row is None:
        return preset_rules(Preset.NONE)
    return rules_from_row(dict(row._mapping))


async def get_rules_many(
    session: AsyncSession, campaign_ids: Sequence[int]
) -> dict[int, CampaignRules]:
    found = {
        r.campaign_id: rules_from_row(dict(r._mapping))
        for r in await session.execute(
            select(campaign_rules.c.campaign_id, *_COLUMNS).where(
                campaign_rules.c.campaign_id.in_(list(campaign_ids))
            )
        )
    }
    return {cid: found.get(cid) or preset_rules(Preset.NONE) for cid in campaign_ids}


async def set_rules(session: AsyncSession, campaign_id: int, rules: CampaignRules) -> None:
    """Store `rules` for the campaign (replacing its settings). Raises ValueError if they go
    beyond their preset's bounds (a campaign may narrow a legal preset, never widen it)."""
    problems = _within_preset(rules)
    if problems:
        raise ValueError("; ".join(problems))
    values = rules_to_row(rules)
    stmt = pg_insert(campaign_rules).values(campaign_id=campaign_id, **values)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[campaign_rules.c.campaign_id],
            set_={**{k: stmt.excluded[k] for k in values}, "updated_at": func.now()},
        )
    )


async def set_preset(
    session: AsyncSession,
    campaign_id: int,
    preset: Preset,
    *,
    default_zone: str = "UTC",
    holidays: Iterable[date] = (),
) -> CampaignRules:
    """Give the campaign a preset's rules (hours, caps; default retry rules)."""
    rules = preset_rules(preset, default_zone=default_zone, holidays=holidays)
    await set_rules(session, campaign_id, rules)
    return rules
