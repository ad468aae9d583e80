"""The web console's page and its sign-in: GET /console (the page), the page's files under
/console/static, POST /console/signin, POST /console/signout, GET /console/session.

Sign-in takes a name and a password (JSON only: a form on another site cannot post it), checks
the password against the account's Argon2 hash in a worker thread (at most two at once, so
guessing cannot starve the dialer's event loop), and answers with a session cookie (HttpOnly,
SameSite=Strict, Secure when the API serves TLS) and the session's CSRF token, which the page
sends in X-CSRF-Token with every change. Failed sign-ins are limited per name and per client
address (dialer/console/throttle.py; 429 with Retry-After past the limit, the password not
checked), logged without the password, and written to the audit log with the successful
sign-ins and sign-outs.

With a session the page uses the ordinary /api/v1 routes (dialer/api/guard.py accepts the
cookie there); bearer tokens work as before.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from dialer.api.audit import audited
from dialer.api.auth import Principal, Role
from dialer.api.context import ApiContext
from dialer.api.deps import COMMON_ERRORS, Ctx, errors
from dialer.api.models import Request as Body
from dialer.console.passwords import Checked
from dialer.console.sessions import COOKIE, CSRF_HEADER, Session, credential_of, csrf_ok
from dialer.store import audit, users

logger = logging.getLogger(__name__)

router = APIRouter(tags=["console"], responses=errors(*COMMON_ERRORS))

STATIC_DIR = Path(__file__).resolve().parents[1] / "console" / "static"
STATIC_URL = "/console/static"

# The page loads only its own files; nothing may frame it.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class SigninBody(Body):
    name: Annotated[str, Field(min_length=1, max_length=100)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class SessionOut(BaseModel):
    name: str
    role: str
    agent_id: int | None
    csrf_token: str
    csrf_header: str = CSRF_HEADER
    idle_s: float
    language: str


def _session_out(ctx: ApiContext, session: Session) -> SessionOut:
    return SessionOut(
        name=session.user_name,
        role=session.role,
        agent_id=session.agent_id,
        csrf_token=session.csrf_token,
        idle_s=ctx.sessions.idle_s,
        language=ctx.settings.console.language,
    )


@router.get("/console", include_in_schema=False)
async def page() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)


def _address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def _same_origin(request: Request) -> None:
    """A browser names the page that sent a request in Origin: only this server's own."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    host = request.headers.get("host", "")
    if origin not in (f"http://{host}", f"https://{host}"):
        raise HTTPException(403, "sign-in only from the console's own page")


async def _verify(ctx: ApiContext, stored_hash: str | None, password: str) -> Checked:
    async with ctx.hashing:
        return await asyncio.to_thread(ctx.passwords.verify, stored_hash, password)


async def _refused(ctx: ApiContext, name: str, address: str, reason: str) -> None:
    ctx.throttle.failed(name, address, time.monotonic())
    logger.warning("console sign-in refused: name %r from %s (%s)", name, address, reason)
    async with ctx.db.transaction() as s:
        await audit.record(
            s,
            who=name,
            role="unknown",
            action="sign in refused",
            target="console",
            after={"address": address, "reason": reason},
        )


@router.post(
    "/console/signin",
    summary="Sign in to the console: a session cookie",
    responses=errors(429),
)
async def signin(request: Request, body: SigninBody, ctx: Ctx) -> JSONResponse:
    _same_origin(request)
    address = _address(request)
    refusal = ctx.throttle.refusal(body.name, address, time.monotonic())
    if refusal is not None:
        wait = max(1, math.ceil(refusal.retry_after_s))
        logger.warning(
            "console sign-in refused: name %r from %s (too many failures by %s; %d s to wait)",
            body.name,
            address,
            refusal.by,
            wait,
        )
        raise HTTPException(
            429,
            f"too many failed sign-ins: try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    async with ctx.db.transaction() as s:
        user = await users.find_user(s, body.name)
    checked = await _verify(ctx, user.password_hash if user is not None else None, body.password)
    if user is None or not checked.ok:
        await _refused(
            ctx, body.name, address, "unknown name" if user is None else "wrong password"
        )
        raise HTTPException(401, "wrong name or password")
    if user.disabled:
        await _refused(ctx, body.name, address, "account disabled")
        raise HTTPException(403, "this account is disabled")
    password_hash = user.password_hash
    if checked.needs_rehash:
        async with ctx.hashing:
            password_hash = await asyncio.to_thread(ctx.passwords.hash, body.password)
    ctx.throttle.succeeded(body.name)
    key, session = ctx.sessions.open(
        user_id=user.id,
        user_name=user.name,
        role=user.role,
        agent_id=user.agent_id,
        credential=credential_of(password_hash),
        now=time.monotonic(),
    )
    async with ctx.db.transaction() as s:
        if password_hash != user.password_hash:
            await users.set_password_hash(s, user.id, password_hash)
        await audited(
            s,
            Principal(user.name, Role(user.role)),
            "sign in",
            "console",
            after={"address": address},
        )
    logger.info("console: %s (%s) signed in from %s", user.name, user.role, address)
    response = JSONResponse(_session_out(ctx, session).model_dump())
    response.set_cookie(
        COOKIE,
        key,
        httponly=True,
        samesite="strict",
        secure=bool(ctx.settings.http.tls_cert),
        path="/",
    )
    return response


def _live_session(request: Request, ctx: ApiContext) -> tuple[str, Session] | None:
    key = request.cookies.get(COOKIE, "")
    session = ctx.sessions.get(key, time.monotonic())
    return None if session is None else (key, session)


@router.get("/console/session", summary="The console session of this cookie, and its CSRF token")
async def current_session(request: Request, ctx: Ctx) -> SessionOut:
    found = _live_session(request, ctx)
    if found is None:
        raise HTTPException(401, "not signed in")
    return _session_out(ctx, found[1])


@router.post("/console/signout", status_code=204, summary="End this console session")
async def signout(request: Request, ctx: Ctx) -> Response:
    found = _live_session(request, ctx)
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    if found is None:
        return response
    key, session = found
    if not csrf_ok(session, request.method, request.headers.get(CSRF_HEADER)):
        raise HTTPException(403, f"a change needs the session's {CSRF_HEADER}")
    ctx.sessions.end(key)
    async with ctx.db.transaction() as s:
        await audited(
            s,
            Principal(session.user_name, Role(session.role)),
            "sign out",
            "console",
            after={"address": _address(request)},
        )
    logger.info("console: %s signed out", session.user_name)
    return response
