"""Preview: the lead shown to an agent before it is dialed, and the agent's two answers to it,
dial or skip with a reason.

In a preview campaign every ready agent is shown one lead (GET .../offer; the same offer is
published on MQTT under the agent's topic, `.../agents/<id>/offer`). The agent dials it (the
answered call goes to that agent) or skips it: the lead goes back to its list, dialable again
in an hour, and the skip with its reason is kept in the audit log. A campaign with
`preview_timeout_s` dials the lead by itself after that long. An agent who pauses or logs out
gives its lead back.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from dialer.api.agents import AgentPath, _agent
from dialer.api.audit import audited
from dialer.api.context import ApiContext
from dialer.api.deps import COMMON_ERRORS, Anyone, Conflict, Ctx, errors
from dialer.api.models import Request
from dialer.core.campaign import Offer

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["agents"], responses=errors(*COMMON_ERRORS))


class OfferOut(BaseModel):
    lead_id: int
    phone: str
    time_zone: str
    attempts: int
    extra: dict[str, Any]
    offered_at: datetime
    dial_by: datetime | None = Field(
        description="when it is dialed by itself; null: it waits for the agent"
    )


class SkipBody(Request):
    reason: Annotated[str, Field(min_length=1, max_length=200)]


def _offer_out(ctx: ApiContext, offer: Offer) -> OfferOut:
    clock = ctx.engine.core.clock
    lead = offer.lead
    return OfferOut(
        lead_id=lead.id,
        phone=lead.phone,
        time_zone=lead.time_zone,
        attempts=lead.attempts,
        extra=dict(lead.extra),
        offered_at=clock.at(offer.offered_at),
        dial_by=clock.at(offer.dial_by) if offer.dial_by is not None else None,
    )


def _offer(ctx: ApiContext, agent_id: int, name: str) -> Offer:
    offer = ctx.engine.offer_of(str(agent_id))
    if offer is None:
        raise Conflict(f"no lead is offered to agent {name}")
    return offer


@router.get(
    "/agents/{agent}/offer",
    summary="Preview: the lead shown to the agent",
    responses=errors(404, 409),
)
async def get_offer(agent: AgentPath, ctx: Ctx, who: Anyone) -> OfferOut:
    a = await _agent(ctx, agent, who)
    return _offer_out(ctx, _offer(ctx, a.id, a.name))


@router.post(
    "/agents/{agent}/offer/dial",
    status_code=202,
    summary="Preview: dial the lead shown to the agent (the answer goes to that agent)",
    responses=errors(404, 409),
)
async def dial_offer(agent: AgentPath, ctx: Ctx, who: Anyone) -> OfferOut:
    a = await _agent(ctx, agent, who)
    offer = _offer(ctx, a.id, a.name)
    ctx.engine.dial_offer(str(a.id))
    logger.info("agent %s: dials lead %d", a.name, offer.lead.id, extra={"agent": a.id})
    return _offer_out(ctx, offer)


@router.post(
    "/agents/{agent}/offer/skip",
    summary="Preview: skip the lead shown to the agent, with a reason",
    responses=errors(404, 409),
)
async def skip_offer(agent: AgentPath, body: SkipBody, ctx: Ctx, who: Anyone) -> OfferOut:
    a = await _agent(ctx, agent, who)
    offer = _offer(ctx, a.id, a.name)
    ctx.engine.skip_offer(str(a.id), body.reason)
    async with ctx.db.transaction() as s:
        await audited(s, who, "skip", f"lead {offer.lead.id}", after={"reason": body.reason})
    return _offer_out(ctx, offer)
