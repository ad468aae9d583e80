"""Trunks, the PBX connection, the daemon's status, and an unauthenticated health check."""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path

from dialer import __version__
from dialer.api import queries
from dialer.api.audit import audited
from dialer.api.context import ApiContext
from dialer.api.deps import COMMON_ERRORS, Admin, Conflict, Ctx, Staff, errors
from dialer.api.models import PbxOut, StatusOut, TrunkCreate, TrunkOut, TrunkUpdate
from dialer.domain.abandon import no_caller_id_reason
from dialer.store import campaigns as campaign_repo
from dialer.store.records import CampaignStatus, Trunk

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["system"], responses=errors(*COMMON_ERRORS))
health_router = APIRouter(tags=["system"])


def in_use(ctx: ApiContext, trunk_id: int) -> int:
    return sum(len(run.calls) for run in ctx.engine.campaigns.values() if run.trunk.id == trunk_id)


def trunk_out(ctx: ApiContext, t: Trunk) -> TrunkOut:
    return TrunkOut(
        id=t.id,
        name=t.name,
        endpoint=t.endpoint,
        max_channels=t.max_channels,
        max_cps=t.max_cps,
        dial_prefix=t.dial_prefix,
        caller_id=t.caller_id,
        cps_burst=t.cps_burst,
        in_use=in_use(ctx, t.id),
    )


def pbx_out(ctx: ApiContext) -> PbxOut:
    p = ctx.settings.pbx
    return PbxOut(
        kind=p.kind, host=p.host, port=p.port, connected=bool(ctx.engine.stats()["pbx_up"])
    )


@router.get("/trunks", summary="Trunks with their channel limits and channels in use")
async def list_trunks(ctx: Ctx, who: Staff) -> list[TrunkOut]:
    async with ctx.db.transaction() as s:
        trunks = await campaign_repo.list_trunks(s)
    return [trunk_out(ctx, t) for t in trunks]


def _trunk_dump(t: Trunk) -> dict[str, Any]:
    return {
        "name": t.name,
        "endpoint": t.endpoint,
        "max_channels": t.max_channels,
        "max_cps": t.max_cps,
        "dial_prefix": t.dial_prefix,
        "caller_id": t.caller_id,
        "cps_burst": t.cps_burst,
    }


@router.post("/trunks", status_code=201, summary="Add a trunk (admin)", responses=errors(409))
async def create_trunk(body: TrunkCreate, ctx: Ctx, who: Admin) -> TrunkOut:
    async with ctx.db.transaction() as s:
        if any(t.name == body.name for t in await campaign_repo.list_trunks(s)):
            raise Conflict(f"a trunk named {body.name!r} exists")
        t = await campaign_repo.create_trunk(
            s,
            name=body.name,
            endpoint=body.endpoint,
            max_channels=body.max_channels,
            max_cps=body.max_cps,
            dial_prefix=body.dial_prefix,
            caller_id=body.caller_id,
            cps_burst=body.cps_burst,
        )
        await audited(s, who, "create", f"trunk {t.name}", after=_trunk_dump(t))
    logger.info("trunk %s created by %s", t.name, who.name, extra={"trunk": t.name})
    return trunk_out(ctx, t)


@router.patch(
    "/trunks/{trunk}",
    summary="Change a trunk's limits (admin; at once)",
    responses=errors(404, 409),
)
async def edit_trunk(
    trunk: Annotated[str, Path(description="the trunk's id, or its name")],
    body: TrunkUpdate,
    ctx: Ctx,
    who: Admin,
) -> TrunkOut:
    async with ctx.db.transaction() as s:
        current = await queries.trunk_by_ref(s, trunk)
        values = body.model_dump(exclude_none=True)
        if values.get("cps_burst") == 0:
            values["cps_burst"] = None  # no burst setting: up to the second's rate
        if values.get("caller_id") == "":
            # Campaigns that dial (or may resume) and rely on this trunk's caller ID keep one.
            for c in await campaign_repo.list_campaigns(s):
                dialing = c.status in (CampaignStatus.RUNNING, CampaignStatus.PAUSED)
                if c.trunk_id == current.id and dialing and not c.caller_id:
                    raise Conflict(no_caller_id_reason(c.name, current.name))
        t = await queries.update_trunk(s, current.id, values)
        await audited(
            s,
            who,
            "edit",
            f"trunk {current.name}",
            before=_trunk_dump(current),
            after=_trunk_dump(t),
        )
    ctx.engine.update_trunk(t)
    logger.info("trunk %s edited by %s", t.name, who.name, extra={"trunk": t.name})
    return trunk_out(ctx, t)


@router.get("/pbx", summary="The PBX and whether the daemon is connected to it")
async def pbx_state(ctx: Ctx, who: Staff) -> PbxOut:
    return pbx_out(ctx)


@router.get("/status", summary="The daemon: PBX link, campaigns, agents")
async def status(ctx: Ctx, who: Staff) -> StatusOut:
    async with ctx.db.transaction() as s:
        campaigns = await campaign_repo.list_campaigns(s)
    engine = ctx.engine
    rows: list[dict[str, Any]] = []
    for c in campaigns:
        run = engine.campaigns.get(c.id)
        if run is None and c.status not in (CampaignStatus.RUNNING, CampaignStatus.PAUSED):
            continue
        rows.append(
            {
                "id": c.id,
                "name": c.name,
                "status": c.status.value,
                "loaded": run is not None,
                "paused": run.paused if run is not None else False,
                "calls_in_flight": len(run.calls) if run is not None else 0,
                "dialed": run.dialed if run is not None else 0,
                "answered": run.answered if run is not None else 0,
                "agents_by_state": dict(run.agents_by_state()) if run is not None else {},
                "dial_level": ctx.dial_levels.get(c.name),
            }
        )
    return StatusOut(
        version=__version__,
        uptime_s=round(time.time() - ctx.started_at, 1),
        stopping=ctx.stopping,
        pbx=pbx_out(ctx),
        cdr_pending=engine.cdr.pending,
        campaigns=rows,
    )


@health_router.get("/health", summary="Liveness (no token needed)")
async def health(ctx: Ctx) -> dict[str, Any]:
    return {"ok": not ctx.stopping, "pbx_connected": bool(ctx.engine.stats()["pbx_up"])}
