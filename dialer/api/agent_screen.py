"""The agent's screen over HTTP: its live state and the call on screen, and a stream of its
changes.

- GET /api/v1/agents/{agent}/call: the agent's state (since when, pause reason, when wrap-up
  ends) and, on a call or in the wrap-up after one, that call: the lead's name, number, time
  zone and local time, its imported fields, its earlier attempts with their results,
  dispositions and notes, and the campaign's disposition codes.
- GET /api/v1/agents/{agent}/events: server-sent events. `state` (the same state as above)
  at once and whenever the engine changes the agent or its call (dialer/console/screen.py's
  hub, fed by the engine's observer events; nothing polls the engine); `signed_out` when the
  console session that opened the stream has ended; a comment every KEEPALIVE_S so proxies
  keep the connection. The stream ends when the daemon stops.

An agent reads only its own screen; staff read anyone's. The result itself is given through
POST /api/v1/agents/{agent}/disposition, as everywhere else.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from dialer.api import queries
from dialer.api.auth import Principal
from dialer.api.context import ApiContext
from dialer.api.deps import (
    COMMON_ERRORS,
    Anyone,
    Ctx,
    errors,
    not_stopping,
    require_self,
    session_principal,
)
from dialer.api.guard import SESSION_STATE
from dialer.api.leads import attempt_out
from dialer.api.models import AttemptHistoryOut
from dialer.console.screen import AgentScreen, agent_screen, lead_card, local_time
from dialer.console.sessions import COOKIE, Session
from dialer.store import campaigns as campaign_repo
from dialer.store import explain
from dialer.store.records import Agent

router = APIRouter(prefix="/api/v1", tags=["agents"], responses=errors(*COMMON_ERRORS))

AgentPath = Annotated[str, Path(description="the agent's id, or its name")]
KEEPALIVE_S = 15.0


class AgentStateOut(BaseModel):
    agent_id: int
    state: str
    since: float | None
    pause_reason: str | None
    pending: str | None
    wrapup_ends_at: float | None
    campaign_id: int | None
    campaign: str | None
    calls: int
    call_id: str | None
    lead_id: int | None


class CodeOut(BaseModel):
    code: str
    label: str


class LeadCardOut(BaseModel):
    id: int
    name: str
    phone: str
    time_zone: str
    local_time: str
    fields: dict[str, str]
    attempts: int


class GivenOut(BaseModel):
    code: str
    note: str | None


class CallCardOut(BaseModel):
    attempt_id: str
    lead: LeadCardOut
    dispositions: list[CodeOut]
    history: list[AttemptHistoryOut]
    given: GivenOut | None  # the result already given for this call, if any


class AgentCallOut(BaseModel):
    agent: AgentStateOut
    call: CallCardOut | None


async def _agent(ctx: ApiContext, ref: str, who: Principal) -> Agent:
    async with ctx.db.transaction() as s:
        a = await queries.agent_by_ref(s, ref)
    require_self(who, a.id, a.name)
    return a


def _screen(ctx: ApiContext, agent_id: int) -> AgentScreen:
    return agent_screen(ctx.engine, agent_id, time.time(), asyncio.get_running_loop().time())


@router.get(
    "/agents/{agent}/call",
    summary="The agent's state and the call on its screen",
    responses=errors(404, 409),
)
async def agent_call(agent: AgentPath, ctx: Ctx, who: Anyone) -> AgentCallOut:
    a = await _agent(ctx, agent, who)
    screen = _screen(ctx, a.id)
    state = AgentStateOut(**screen.as_json())
    if screen.call_id is None or screen.lead_id is None or screen.campaign_id is None:
        return AgentCallOut(agent=state, call=None)
    async with ctx.db.transaction() as s:
        lead = await queries.get_lead(s, screen.lead_id)
        history = await explain.lead_history(s, lead.id)
        codes = await campaign_repo.get_disposition_codes(s, screen.campaign_id)
    card = lead_card(lead.extra)
    now, zone = local_time(lead.time_zone, datetime.now(UTC))
    given = next((h for h in history if h.attempt_id == screen.call_id), None)
    return AgentCallOut(
        agent=state,
        call=CallCardOut(
            attempt_id=screen.call_id,
            lead=LeadCardOut(
                id=lead.id,
                name=card.name,
                phone=lead.phone,
                time_zone=zone,
                local_time=now,
                fields=card.fields,
                attempts=lead.attempts,
            ),
            dispositions=[CodeOut(code=c, label=label) for c, label in codes],
            history=[attempt_out(h) for h in history if h.attempt_id != screen.call_id],
            given=GivenOut(code=given.disposition, note=given.note)
            if given is not None and given.disposition is not None
            else None,
        ),
    )


def _event(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


@router.get(
    "/agents/{agent}/events",
    summary="Server-sent events: the agent's state whenever it changes",
    response_class=StreamingResponse,
    responses=errors(404, 409),
)
async def agent_events(
    request: Request, agent: AgentPath, ctx: Ctx, who: Anyone
) -> StreamingResponse:
    a = await _agent(ctx, agent, who)
    not_stopping(ctx)
    session: Session | None = request.scope.get("state", {}).get(SESSION_STATE)
    cookie = request.cookies.get(COOKIE, "")

    async def session_ended() -> bool:
        if session is None:
            return False
        if ctx.sessions.get(cookie, time.monotonic(), touch=False) is None:
            return True
        try:
            await session_principal(ctx, session)
        except HTTPException:
            return True
        return False

    async def stream() -> AsyncIterator[str]:
        queue = ctx.screens.open(a.id)
        try:
            yield "retry: 3000\n\n"
            last: AgentScreen | None = None
            while not ctx.screens.closed:
                if await session_ended():
                    yield _event("signed_out", {})
                    return
                screen = _screen(ctx, a.id)
                if screen != last:
                    yield _event("state", screen.as_json())
                    last = screen
                try:
                    awake = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if not awake:
                    return
        finally:
            ctx.screens.shut(a.id, queue)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
