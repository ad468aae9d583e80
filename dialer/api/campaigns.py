"""Campaigns: create, edit, start, pause, resume, stop, statistics, disposition codes, lists.

The database holds the campaign's status; the running engine gets the same change at once
(`Engine.add_campaign`, `pause_campaign`, `resume_campaign`, `stop_campaign`); other daemons
on the same database follow the table within `dialer.campaign_poll_s` (dialer/engine/follow.py).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from dialer.api import queries
from dialer.api import stats as stats_mod
from dialer.api.audit import audited
from dialer.api.auth import Principal
from dialer.api.deps import (
    COMMON_ERRORS,
    Anyone,
    Conflict,
    Ctx,
    FieldError,
    Staff,
    errors,
    not_stopping,
)
from dialer.api.lifecycle import Action, next_status
from dialer.api.models import (
    CampaignCreate,
    CampaignOut,
    CampaignUpdate,
    DispositionCode,
    DispositionCodes,
    LeadListOut,
    StatsOut,
)
from dialer.core.refusals import campaign_refusal, capability_refusal
from dialer.domain.abandon import caller_id_or_none, no_caller_id_reason
from dialer.store import agents as agent_repo
from dialer.store import campaigns as campaign_repo
from dialer.store.abandonment import campaign_abandonment
from dialer.store.errors import NotFound
from dialer.store.records import Campaign, CampaignStatus
from dialer.store.summary import campaign_summary

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["campaigns"], responses=errors(*COMMON_ERRORS))

CampaignPath = Annotated[str, Path(description="the campaign's id, or its name")]


def campaign_out(c: Campaign) -> CampaignOut:
    return CampaignOut(
        id=c.id,
        name=c.name,
        status=c.status,
        pacing_mode=c.pacing_mode,
        caller_id=c.caller_id,
        trunk_id=c.trunk_id,
        ring_timeout_s=c.ring_timeout_s,
        max_attempts=c.max_attempts,
        wrapup_s=c.wrapup_s,
        hold_s=c.hold_s,
        created_at=c.created_at,
        updated_at=c.updated_at,
        callback_number=c.callback_number,
        name_prompt=c.name_prompt,
        amd_enabled=c.amd_enabled,
        machine_message=c.machine_message,
        lines_per_agent=c.lines_per_agent,
        preview_timeout_s=c.preview_timeout_s,
        network_failure_cap=c.network_failure_cap,
        cause_results={k: dict(v) for k, v in c.cause_results.items()},
        max_cps=c.max_cps,
    )


@router.get("/campaigns", summary="List campaigns")
async def list_campaigns(
    ctx: Ctx, who: Staff, status: CampaignStatus | None = None
) -> list[CampaignOut]:
    async with ctx.db.transaction() as s:
        return [campaign_out(c) for c in await campaign_repo.list_campaigns(s, status)]


@router.post(
    "/campaigns",
    status_code=201,
    summary="Create a campaign (status draft)",
    responses=errors(404, 409),
)
async def create_campaign(body: CampaignCreate, ctx: Ctx, who: Staff) -> CampaignOut:
    async with ctx.db.transaction() as s:
        try:
            trunk = await queries.trunk_by_ref(s, body.trunk)
        except NotFound as exc:
            raise FieldError(("body", "trunk"), str(exc)) from None
        if await _name_taken(s, body.name):
            raise Conflict(f"a campaign named {body.name!r} exists")
        c = await campaign_repo.create_campaign(
            s,
            name=body.name,
            trunk_id=trunk.id,
            caller_id=body.caller_id,
            callback_number=body.callback_number,
            name_prompt=body.name_prompt,
            pacing_mode=body.pacing_mode,
            ring_timeout_s=body.ring_timeout_s,
            max_attempts=body.max_attempts,
            wrapup_s=body.wrapup_s,
            hold_s=body.hold_s,
            amd_enabled=body.amd_enabled,
            machine_message=body.machine_message,
            lines_per_agent=body.lines_per_agent,
            preview_timeout_s=body.preview_timeout_s,
            network_failure_cap=body.network_failure_cap,
            cause_results=body.cause_results,
            max_cps=body.max_cps,
        )
        if body.dispositions:
            await campaign_repo.set_disposition_codes(
                s, c.id, [(d.code, d.label) for d in body.dispositions]
            )
        await audited(s, who, "create", f"campaign {c.name}", after=_dump(c))
    logger.info("campaign %s created by %s", c.name, who.name, extra={"campaign": c.name})
    return campaign_out(c)


async def _name_taken(s: Any, name: str) -> bool:
    try:
        await campaign_repo.get_campaign_by_name(s, name)
    except NotFound:
        return False
    return True


@router.get("/campaigns/{campaign}", summary="One campaign", responses=errors(404))
async def get_campaign(campaign: CampaignPath, ctx: Ctx, who: Staff) -> CampaignOut:
    async with ctx.db.transaction() as s:
        return campaign_out(await queries.campaign_by_ref(s, campaign))


@router.patch(
    "/campaigns/{campaign}",
    summary="Edit a campaign (takes effect at once)",
    responses=errors(404, 409),
)
async def edit_campaign(
    campaign: CampaignPath, body: CampaignUpdate, ctx: Ctx, who: Staff
) -> CampaignOut:
    values = body.model_dump(exclude_none=True)
    async with ctx.db.transaction() as s:
        current = await queries.campaign_by_ref(s, campaign)
        if "trunk" in values:
            try:
                trunk = await queries.trunk_by_ref(s, values.pop("trunk"))
            except NotFound as exc:
                raise FieldError(("body", "trunk"), str(exc)) from None
            if trunk.id != current.trunk_id and current.status is CampaignStatus.RUNNING:
                raise Conflict("pause or stop the campaign before moving it to another trunk")
            values["trunk_id"] = trunk.id
        else:
            trunk = await campaign_repo.get_trunk(s, current.trunk_id)
        caller_id = values.get("caller_id", current.caller_id)
        if current.status in _DIALING and caller_id_or_none(caller_id, trunk.caller_id) is None:
            raise Conflict(no_caller_id_reason(current.name, trunk.name))
        if current.status in _DIALING and "amd_enabled" in values:
            edited = dataclasses.replace(current, amd_enabled=values["amd_enabled"])
            refused = capability_refusal(edited, ctx.engine.core.capabilities)
            if refused is not None:
                raise Conflict(refused)
        renamed = "name" in values and values["name"] != current.name
        if renamed and await _name_taken(s, values["name"]):
            raise Conflict(f"a campaign named {values['name']!r} exists")
        if "pacing_mode" in values:
            values["pacing_mode"] = values["pacing_mode"].value
        if values.get("max_cps") == 0:
            values["max_cps"] = None  # no limit of its own: the trunk's alone
        updated = await queries.update_campaign(s, current.id, values)
        trunk_now = await campaign_repo.get_trunk(s, updated.trunk_id)
        await audited(
            s, who, "edit", f"campaign {current.name}", before=_dump(current), after=_dump(updated)
        )
    if updated.id in ctx.engine.campaigns:
        ctx.engine.update_campaign(updated, trunk_now)
    logger.info(
        "campaign %s edited by %s: %s",
        updated.name,
        who.name,
        ", ".join(sorted(values)) or "nothing",
        extra={"campaign": updated.name},
    )
    return campaign_out(updated)


_DIALING = (CampaignStatus.RUNNING, CampaignStatus.PAUSED)


def _dump(c: Campaign) -> dict[str, Any]:
    return campaign_out(c).model_dump(mode="json")


async def _act(ctx: Ctx, ref: str, action: Action, who: Principal) -> CampaignOut:
    if action in (Action.START, Action.RESUME):
        not_stopping(ctx)
    async with ctx.db.transaction() as s:
        c = await queries.campaign_by_ref(s, ref)
        target = next_status(action, c.status)
        if action in (Action.START, Action.RESUME):
            # Every call must show a number: refuse before anything is dialed.
            t = await campaign_repo.get_trunk(s, c.trunk_id)
            if caller_id_or_none(c.caller_id, t.caller_id) is None:
                raise Conflict(no_caller_id_reason(c.name, t.name))
            # A row stored before the PBX value grammar (or by hand) is not dialed.
            # So is one needing a capability the PBX lacks (answering-machine detection).
            refused = campaign_refusal(c, t, ctx.engine.core.capabilities)
            if refused is not None:
                raise Conflict(refused)
        before = c.status.value
        c = await campaign_repo.set_campaign_status(s, c.id, target)
        await audited(
            s,
            who,
            action.value,
            f"campaign {c.name}",
            before={"status": before},
            after={"status": c.status.value},
        )
        trunk = await campaign_repo.get_trunk(s, c.trunk_id)
        agents = await agent_repo.list_agents(s, c.id)
    engine = ctx.engine
    if action in (Action.START, Action.RESUME):
        engine.add_campaign(c, trunk, [(a.id, a.sip_endpoint) for a in agents])
    elif c.id in engine.campaigns:
        if action is Action.PAUSE:
            engine.pause_campaign(c.id)
        else:
            await engine.stop_campaign(c.id)
        engine.update_campaign(c, trunk)
    logger.info("campaign %s: %s by %s", c.name, action.value, who.name, extra={"campaign": c.name})
    return campaign_out(c)


@router.post(
    "/campaigns/{campaign}/start",
    summary="Start dialing (its agents are called)",
    responses=errors(404, 409),
)
async def start_campaign(campaign: CampaignPath, ctx: Ctx, who: Staff) -> CampaignOut:
    return await _act(ctx, campaign, Action.START, who)


@router.post(
    "/campaigns/{campaign}/pause",
    summary="No new calls; calls in progress go on",
    responses=errors(404, 409),
)
async def pause_campaign(campaign: CampaignPath, ctx: Ctx, who: Staff) -> CampaignOut:
    return await _act(ctx, campaign, Action.PAUSE, who)


@router.post(
    "/campaigns/{campaign}/resume", summary="Dial again after a pause", responses=errors(404, 409)
)
async def resume_campaign(campaign: CampaignPath, ctx: Ctx, who: Staff) -> CampaignOut:
    return await _act(ctx, campaign, Action.RESUME, who)


@router.post(
    "/campaigns/{campaign}/stop",
    summary="Stop: no new calls, leased leads returned",
    responses=errors(404, 409),
)
async def stop_campaign(campaign: CampaignPath, ctx: Ctx, who: Staff) -> CampaignOut:
    return await _act(ctx, campaign, Action.STOP, who)


@router.get("/campaigns/{campaign}/stats", summary="Live statistics", responses=errors(404))
async def campaign_stats(
    campaign: CampaignPath,
    ctx: Ctx,
    who: Staff,
    window_s: Annotated[float, Query(gt=0, le=31 * 86400)] = 3600.0,
) -> StatsOut:
    now = datetime.now(UTC)
    async with ctx.db.transaction() as s:
        c = await queries.campaign_by_ref(s, campaign)
        window = await campaign_summary(s, c.id, since=now - timedelta(seconds=window_s))
        total = await campaign_summary(s, c.id)
        rates = await campaign_abandonment(s, c.id, now)  # US and UK rates
        lists = await queries.lead_lists_with_counts(s, c.id)
    run = ctx.engine.campaigns.get(c.id)
    return StatsOut.model_validate(
        {
            "campaign": campaign_out(c),
            "live": stats_mod.live(run, ctx.dial_levels.get(c.name)),
            "window_s": window_s,
            "window": stats_mod.figures(window),
            "total": stats_mod.figures(total),
            "leads": {k.value: v for k, v in total.leads.items()},
            "compliance": stats_mod.compliance(rates),
            "lists": [_list_out(x) for x in lists],
        }
    )


@router.get(
    "/campaigns/{campaign}/dispositions",
    summary="The campaign's disposition codes",
    responses=errors(404),
)
async def get_dispositions(campaign: CampaignPath, ctx: Ctx, who: Anyone) -> list[DispositionCode]:
    async with ctx.db.transaction() as s:
        c = await queries.campaign_by_ref(s, campaign)
        codes = await campaign_repo.get_disposition_codes(s, c.id)
    return [DispositionCode(code=code, label=label) for code, label in codes]


@router.put(
    "/campaigns/{campaign}/dispositions",
    summary="Add codes or change labels (codes in use are never removed)",
    responses=errors(404, 409),
)
async def put_dispositions(
    campaign: CampaignPath, body: DispositionCodes, ctx: Ctx, who: Staff
) -> list[DispositionCode]:
    async with ctx.db.transaction() as s:
        c = await queries.campaign_by_ref(s, campaign)
        before = await campaign_repo.get_disposition_codes(s, c.id)
        await campaign_repo.set_disposition_codes(s, c.id, [(d.code, d.label) for d in body.codes])
        codes = await campaign_repo.get_disposition_codes(s, c.id)
        await audited(
            s,
            who,
            "dispositions",
            f"campaign {c.name}",
            before={"codes": dict(before)},
            after={"codes": dict(codes)},
        )
    return [DispositionCode(code=code, label=label) for code, label in codes]


@router.get(
    "/campaigns/{campaign}/lists",
    summary="Lead lists with their leads by status",
    responses=errors(404),
)
async def get_lists(campaign: CampaignPath, ctx: Ctx, who: Staff) -> list[LeadListOut]:
    async with ctx.db.transaction() as s:
        c = await queries.campaign_by_ref(s, campaign)
        lists = await queries.lead_lists_with_counts(s, c.id)
    return [_list_out(x) for x in lists]


def _list_out(x: queries.ListCounts) -> LeadListOut:
    return LeadListOut(
        id=x.id, name=x.name, leads=x.leads, invalid=x.invalid, unreachable=x.unreachable
    )
