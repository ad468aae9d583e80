"""Agents: list and create them, move them to another campaign, log in (calls the headset),
ready, pause with a reason, log out, the result (disposition) of the last call with a note, and
callbacks.

An agent's token acts only on that agent. Live states come from the engine; an agent whose
campaign is not running here is ``logged_out``. Log-in needs the agent's campaign running in
this daemon and the agent not owned by another daemon (409 otherwise).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy.ext.asyncio import AsyncSession

from dialer.api import queries
from dialer.api.audit import audited
from dialer.api.auth import Principal, Role
from dialer.api.context import ApiContext
from dialer.api.deps import (
    COMMON_ERRORS,
    Anyone,
    Conflict,
    Ctx,
    FieldError,
    Forbidden,
    IdPath,
    Staff,
    errors,
    not_stopping,
    require_self,
)
from dialer.api.models import (
    AgentCreate,
    AgentMove,
    AgentMoveOut,
    AgentOut,
    CallbackCreate,
    CallbackOut,
    DispositionBody,
    DispositionOut,
    PauseBody,
)
from dialer.domain import agent as ag
from dialer.domain.results import CallResult
from dialer.rules.verdict import Reason
from dialer.store import agents as agent_repo
from dialer.store import callbacks
from dialer.store.dispositions import record_disposition
from dialer.store.errors import NotFound
from dialer.store.explain import explain_lead
from dialer.store.records import Agent

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["agents"], responses=errors(*COMMON_ERRORS))

AgentPath = Annotated[str, Path(description="the agent's id, or its name")]
_ROW_WAIT_S = 2.0  # how long to wait for a just-finished call's record to be written


async def agent_out(
    ctx: ApiContext, a: Agent, owners: Mapping[int, str | None] | None = None
) -> AgentOut:
    """The agent as the API shows it: its live state here, and the daemon that owns it (from
    `owners`, else read now)."""
    if owners is None:
        async with ctx.db.transaction() as s:
            owners = await agent_repo.agent_owners(s, [a.id], datetime.now(UTC))
    owner = owners.get(a.id)
    here = owner is not None and owner == ctx.engine.owner
    try:
        _, live = ctx.engine.find_agent(str(a.id))
    except KeyError:
        return AgentOut(
            id=a.id,
            name=a.name,
            sip_endpoint=a.sip_endpoint,
            campaign_id=a.campaign_id,
            state=ag.AgentState.LOGGED_OUT.value,
            owner=owner,
            owned_here=here,
        )
    return AgentOut(
        id=a.id,
        name=a.name,
        sip_endpoint=a.sip_endpoint,
        campaign_id=a.campaign_id,
        state=live.state.value,
        pause_reason=live.pause_reason,
        calls=live.calls,
        owner=owner,
        owned_here=here,
    )


async def _agent(ctx: ApiContext, ref: str, who: Principal) -> Agent:
    async with ctx.db.transaction() as s:
        a = await queries.agent_by_ref(s, ref)
    require_self(who, a.id, a.name)
    return a


@router.get("/agents", summary="Agents with their live state", responses=errors(404))
async def list_agents(ctx: Ctx, who: Staff, campaign: str | None = None) -> list[AgentOut]:
    async with ctx.db.transaction() as s:
        campaign_id = (await queries.campaign_by_ref(s, campaign)).id if campaign else None
        agents = await agent_repo.list_agents(s, campaign_id)
        owners = await agent_repo.agent_owners(s, [a.id for a in agents], datetime.now(UTC))
    return [await agent_out(ctx, a, owners) for a in agents]


@router.post(
    "/agents",
    status_code=201,
    summary="Create an agent (name and SIP endpoint)",
    responses=errors(404, 409),
)
async def create_agent(body: AgentCreate, ctx: Ctx, who: Staff) -> AgentOut:
    async with ctx.db.transaction() as s:
        campaign_id = None
        if body.campaign is not None:
            try:
                campaign_id = (await queries.campaign_by_ref(s, body.campaign)).id
            except NotFound as exc:
                raise FieldError(("body", "campaign"), str(exc)) from None
        existing = await agent_repo.list_agents(s)
        for field, value in (("name", body.name), ("sip_endpoint", body.sip_endpoint)):
            if any(getattr(a, field) == value for a in existing):
                raise Conflict(f"an agent with {field} {value!r} exists")
        a = await agent_repo.create_agent(
            s, name=body.name, sip_endpoint=body.sip_endpoint, campaign_id=campaign_id
        )
        await audited(
            s,
            who,
            "create",
            f"agent {a.name}",
            after={"sip_endpoint": a.sip_endpoint, "campaign_id": a.campaign_id},
        )
    if campaign_id is not None and campaign_id in ctx.engine.campaigns:
        ctx.engine.add_agent(campaign_id, a.id, a.sip_endpoint)
    logger.info("agent %s created by %s", a.name, who.name, extra={"agent": a.id})
    return await agent_out(ctx, a)


@router.get("/agents/{agent}", summary="One agent and its live state", responses=errors(404))
async def get_agent(agent: AgentPath, ctx: Ctx, who: Anyone) -> AgentOut:
    return await agent_out(ctx, await _agent(ctx, agent, who))


@router.put(
    "/agents/{agent}/campaign",
    summary="Move the agent to another campaign (after its current call and wrap-up if busy)",
    responses=errors(404, 409),
)
async def move_agent(agent: AgentPath, body: AgentMove, ctx: Ctx, who: Staff) -> AgentMoveOut:
    """Stored at once. In this daemon an idle agent (ready, paused, logged out) moves at once,
    its headset leg kept up; one on a call or in wrap-up moves when that ends, never dropping
    the call. Other daemons follow within `dialer.campaign_poll_s`. A campaign this daemon
    does not run logs the agent out here. 409 while the agent has pending callbacks of its
    own in its campaign (reassign or cancel them first)."""
    async with ctx.db.transaction() as s:
        a = await queries.agent_by_ref(s, agent)
        try:
            target = await queries.campaign_by_ref(s, body.campaign)
        except NotFound as exc:
            raise FieldError(("body", "campaign"), str(exc)) from None
        if a.campaign_id is not None and a.campaign_id != target.id:
            kept = [
                cb.id
                for cb in await callbacks.list_pending(s, a.campaign_id)
                if cb.agent_id == a.id
            ]
            if kept:
                raise Conflict(
                    f"agent {a.name} has {len(kept)} pending callback(s) of its own in its "
                    f"campaign (ids {', '.join(map(str, kept[:10]))}): reassign or cancel them "
                    "first"
                )
        moved = await agent_repo.set_agent_campaign(s, a.id, target.id)
        await audited(
            s,
            who,
            "move",
            f"agent {a.name}",
            before={"campaign_id": a.campaign_id},
            after={"campaign_id": target.id},
        )
    now = ctx.engine.move_agent(a.id, target.id, a.sip_endpoint)
    logger.info(
        "agent %s moved to campaign %s by %s%s",
        a.name,
        target.name,
        who.name,
        "" if now else " (after its current call)",
        extra={"agent": a.id, "campaign": target.name},
    )
    out = await agent_out(ctx, moved)
    return AgentMoveOut(**out.model_dump(), moved="now" if now else "after_call")


@router.post(
    "/agents/{agent}/login",
    status_code=202,
    summary="Log in: call the headset",
    responses=errors(404, 409),
)
async def login(agent: AgentPath, ctx: Ctx, who: Anyone) -> AgentOut:
    not_stopping(ctx)
    a = await _agent(ctx, agent, who)
    engine = ctx.engine
    key = str(a.id)
    try:
        engine.find_agent(key)
    except KeyError:
        if a.campaign_id is None or a.campaign_id not in engine.campaigns:
            raise Conflict(f"agent {a.name}'s campaign is not running in this daemon") from None
        engine.add_agent(a.campaign_id, a.id, a.sip_endpoint)
    _, live = engine.find_agent(key)
    if live.state is ag.AgentState.LOGGED_OUT:
        # With several daemons, the agent must be this one's (or nobody's) first.
        holder = await engine.claim_agent(key)
        if holder is not None:
            raise Conflict(f"agent {a.name} belongs to another daemon ({holder})")
        _, live = engine.find_agent(key)
        if live.state is not ag.AgentState.LOGGED_OUT:
            raise Conflict(f"agent {a.name} is already logged in ({live.state.value})")
        engine.login_agent(key)
    elif live.state is not ag.AgentState.LOGGING_IN:
        raise Conflict(f"agent {a.name} is already logged in ({live.state.value})")
    logger.info("agent %s: log-in by %s", a.name, who.name, extra={"agent": a.id})
    return await agent_out(ctx, a)


def _control(ctx: ApiContext, a: Agent) -> str:
    key = str(a.id)
    try:
        ctx.engine.find_agent(key)
    except KeyError:
        raise Conflict(f"agent {a.name} is not logged in") from None
    return key


@router.post(
    "/agents/{agent}/ready", summary="Ready for calls (ends a pause)", responses=errors(404, 409)
)
async def ready(agent: AgentPath, ctx: Ctx, who: Anyone) -> AgentOut:
    a = await _agent(ctx, agent, who)
    ctx.engine.resume_agent(_control(ctx, a))
    logger.info("agent %s: ready by %s", a.name, who.name, extra={"agent": a.id})
    return await agent_out(ctx, a)


@router.post(
    "/agents/{agent}/pause",
    summary="Pause (after the current call and wrap-up)",
    responses=errors(404, 409),
)
async def pause(agent: AgentPath, body: PauseBody, ctx: Ctx, who: Anyone) -> AgentOut:
    a = await _agent(ctx, agent, who)
    ctx.engine.pause_agent(_control(ctx, a), body.reason)
    logger.info("agent %s: pause (%s) by %s", a.name, body.reason, who.name, extra={"agent": a.id})
    return await agent_out(ctx, a)


@router.post(
    "/agents/{agent}/logout",
    summary="Log out (after the current call and wrap-up)",
    responses=errors(404, 409),
)
async def logout(agent: AgentPath, ctx: Ctx, who: Anyone) -> AgentOut:
    a = await _agent(ctx, agent, who)
    ctx.engine.logout_agent(_control(ctx, a))
    logger.info("agent %s: log-out by %s", a.name, who.name, extra={"agent": a.id})
    return await agent_out(ctx, a)


def _engine_call_of(ctx: ApiContext, agent_id: int) -> str | None:
    """The agent's current call, else its last finished one, as this daemon knows them."""
    key = str(agent_id)
    try:
        _, live = ctx.engine.find_agent(key)
    except KeyError:
        live = None
    if live is not None and live.call_id is not None:
        return live.call_id
    for record in reversed(ctx.engine.finished):
        if record.agent_id == key:
            return record.call_id
    return None


@router.post(
    "/agents/{agent}/disposition",
    status_code=201,
    summary="The result of the agent's current or last call, with a note (ends wrap-up)",
    responses=errors(404, 409),
)
async def disposition(
    agent: AgentPath, body: DispositionBody, ctx: Ctx, who: Anyone
) -> DispositionOut:
    a = await _agent(ctx, agent, who)
    engine_call = _engine_call_of(ctx, a.id)
    attempt_id = body.attempt_id or engine_call
    # The call's record may still be queued in the CDR writer.
    await ctx.engine.cdr.flush()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _ROW_WAIT_S
    while True:
        async with ctx.db.transaction() as s:
            if attempt_id is None:
                attempt_id = await queries.last_attempt_of_agent(s, a.id)
                if attempt_id is None:
                    raise Conflict(f"agent {a.name} has had no call")
            owner = await queries.attempt_campaign_and_agent(s, attempt_id)
            if owner is not None:
                # An agent writes results only on its own calls: one connected to it, or the
                # one this daemon gave it (its agent may not be stored yet).
                if who.role is Role.AGENT and owner[1] != a.id and attempt_id != engine_call:
                    raise Forbidden("that call was not this agent's")
                d = await record_disposition(
                    s, attempt_id, body.code, at=datetime.now(UTC), agent_id=a.id, note=body.note
                )
                break
        if loop.time() > deadline:
            raise NotFound(f"no call attempt with id {attempt_id}")
        await asyncio.sleep(0.1)
    with contextlib.suppress(KeyError):  # not logged in here: no wrap-up to end
        ctx.engine.end_wrapup(str(a.id))
    logger.info(
        "agent %s: disposition %s by %s",
        a.name,
        d.code,
        who.name,
        extra={"agent": a.id, "call": d.attempt_id},
    )
    return DispositionOut(
        attempt_id=d.attempt_id,
        campaign_id=d.campaign_id,
        agent_id=d.agent_id,
        code=d.code,
        note=d.note,
        created_at=d.created_at,
    )


def callback_out(cb: callbacks.Callback) -> CallbackOut:
    return CallbackOut(
        id=cb.id,
        lead_id=cb.lead_id,
        campaign_id=cb.campaign_id,
        at=cb.due_at,
        agent_id=cb.agent_id,
        agent_name=cb.agent_name,
        note=cb.note,
        by=cb.created_by,
        status=cb.status,
    )


# What no callback may go around: the person's opt-out and the calls the rules allow them.
_NEVER_CALLED = frozenset(
    {
        Reason.DNC,
        Reason.BLOCKED,
        Reason.CAP_PER_DAY,
        Reason.CAP_ROLLING_24H,
        Reason.CAP_PER_WEEK,
        Reason.CAP_PER_MONTH,
    }
)
# A lead finished by its attempts or a final result is not called back either, unless it was
# finished by talking to an agent: asking to be called back is what a person does then.
_FINISHED = frozenset({Reason.DONE, Reason.ATTEMPT_CAP})
_PAST_SLACK = timedelta(seconds=60)


async def _check_callback_rules(
    s: AsyncSession, lead_id: int, at: datetime, *, named_agent: bool
) -> None:
    """A callback is never in the past, nor for a lead the rules would not call at that time:
    on a do-not-call list, over a per-day, 24-hour, week or month cap, done or at its attempt
    cap (unless its last call reached an agent: the person asked to be called back); nor
    inside the 72 hours after an abandoned call unless it reserves a named agent (a repeat call
    within 72 hours only with an agent there for it, as the UK rule allows). 422 naming the
    field and every reason."""
    if at < datetime.now(UTC) - _PAST_SLACK:
        raise FieldError(("body", "at"), f"{at.isoformat()} is in the past")
    e = await explain_lead(s, lead_id, at.astimezone(UTC))
    talked = e.last_result == CallResult.CONNECTED.value
    refused = [
        b
        for b in e.verdict.blockers
        if b.reason in _NEVER_CALLED
        or (b.reason in _FINISHED and not talked)
        or (b.reason is Reason.ABANDON_LOCK and not named_agent)
    ]
    if refused:
        why = "; ".join(f"{b.reason.value}: {b.detail}" for b in refused)
        raise FieldError(("body", "lead_id"), f"lead {lead_id} may not be called then ({why})")


@router.post(
    "/callbacks",
    status_code=201,
    summary="Schedule a callback for a lead",
    responses=errors(404, 409),
)
async def create_callback(body: CallbackCreate, ctx: Ctx, who: Anyone) -> CallbackOut:
    """To a named agent or to anyone; it replaces the lead's pending callback. An agent
    schedules callbacks for its own campaign's leads."""
    async with ctx.db.transaction() as s:
        lead = await queries.get_lead(s, body.lead_id)
        if who.role is Role.AGENT:
            me = await queries.agent_by_ref(s, who.agent or "")
            if me.campaign_id != lead.campaign_id:
                raise Forbidden("an agent schedules callbacks only for its campaign's leads")
        assignee: int | None = None
        if body.agent is not None:
            try:
                assignee = (await queries.agent_by_ref(s, body.agent)).id
            except NotFound as exc:
                raise FieldError(("body", "agent"), str(exc)) from None
        await _check_callback_rules(s, lead.id, body.at, named_agent=assignee is not None)
        try:
            cb = await callbacks.schedule(
                s, lead.id, body.at, agent_id=assignee, note=body.note, created_by=who.name
            )
        except ValueError as exc:
            raise FieldError(("body", "agent"), str(exc)) from None
        if who.role is not Role.AGENT:
            await audited(
                s,
                who,
                "callback",
                f"lead {lead.id}",
                after={"at": cb.due_at.isoformat(), "agent_id": assignee},
            )
    logger.info(
        "callback %d for lead %d at %s by %s",
        cb.id,
        lead.id,
        cb.due_at.isoformat(),
        who.name,
        extra={"lead": lead.id},
    )
    return callback_out(cb)


@router.get("/callbacks", summary="Pending callbacks, soonest first", responses=errors(404))
async def list_callbacks(ctx: Ctx, who: Staff, campaign: str | None = None) -> list[CallbackOut]:
    async with ctx.db.transaction() as s:
        campaign_id = (await queries.campaign_by_ref(s, campaign)).id if campaign else None
        pending = await callbacks.list_pending(s, campaign_id)
    return [callback_out(cb) for cb in pending]


@router.delete(
    "/callbacks/{callback_id}",
    status_code=204,
    summary="Cancel a pending callback",
    responses=errors(404, 409),
)
async def cancel_callback(callback_id: IdPath, ctx: Ctx, who: Staff) -> None:
    async with ctx.db.transaction() as s:
        cb = await callbacks.get(s, callback_id)  # 404 when unknown
        if not await callbacks.cancel(s, callback_id):
            raise Conflict(f"callback {callback_id} is no longer pending")
        await audited(
            s,
            who,
            "cancel callback",
            f"lead {cb.lead_id}",
            before={"callback_id": callback_id, "at": cb.due_at.isoformat()},
        )
    logger.info("callback %d cancelled by %s", callback_id, who.name)
