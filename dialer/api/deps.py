"""Dependencies shared by the routes: the context, who is asking, and the API's errors.

Status codes: a missing or unknown token is 401 (with ``WWW-Authenticate: Bearer``), a role
that may not use the endpoint 403, an unknown id or name in the path 404, a body or query that
does not validate 422 naming the field (FastAPI's shape: ``{"detail": [{"loc": [...], "msg":
...}]}``), an action the current state does not allow 409, and a database that cannot be
reached 503.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from dialer.api.auth import EVERYONE, STAFF, Principal, Role
from dialer.api.context import ApiContext
from dialer.api.guard import SESSION_STATE
from dialer.api.models import MAX_ROW_ID
from dialer.console.sessions import Session, credential_of
from dialer.store import users
from dialer.store.errors import NotFound

logger = logging.getLogger(__name__)

RECHECK_S = 30.0  # how often a session's account is read again (disabled? new password?)

_bearer = HTTPBearer(auto_error=False, description="a token from http.tokens_file")


class ApiError(Exception):
    status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Conflict(ApiError):
    """The request is fine but the current state does not allow it."""

    status = 409


class Forbidden(ApiError):
    status = 403


class Unavailable(ApiError):
    status = 503


class FieldError(Exception):
    """A 422 naming one field, in the same shape as FastAPI's validation errors."""

    def __init__(self, loc: Sequence[str | int], message: str) -> None:
        super().__init__(message)
        self.loc = tuple(loc)
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"detail": [{"loc": list(self.loc), "msg": self.message, "type": "value_error"}]}


def get_ctx(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ApiContext, Depends(get_ctx)]


async def principal(
    request: Request,
    ctx: Ctx,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if creds is None or not creds.credentials:
        session: Session | None = request.scope.get("state", {}).get(SESSION_STATE)
        if session is not None:  # checked by the guard: live, CSRF token given for changes
            return await session_principal(ctx, session)
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    who = ctx.tokens.lookup(creds.credentials)
    if who is None:
        raise HTTPException(401, "unknown bearer token", headers={"WWW-Authenticate": "Bearer"})
    return who


async def session_principal(ctx: ApiContext, session: Session) -> Principal:
    """Who a console session stands for. Its account is read again every RECHECK_S: a disabled
    account or a changed password ends its sessions (401)."""
    now = time.monotonic()
    if now - session.checked_at >= RECHECK_S:
        async with ctx.db.transaction() as s:
            try:
                user = await users.get_user(s, session.user_id)
            except NotFound:  # the account is gone
                user = None
        if (
            user is None
            or user.disabled
            or credential_of(user.password_hash) != session.credential
            or user.role != session.role
            or user.agent_id != session.agent_id
        ):
            ended = ctx.sessions.end_user(session.user_id)
            logger.info("console: %d session(s) of %s ended", ended, session.user_name)
            raise HTTPException(401, "the session has ended: sign in again")
        session.checked_at = now
    return principal_of(session)


def principal_of(session: Session) -> Principal:
    agent = str(session.agent_id) if session.agent_id is not None else None
    return Principal(session.user_name, Role(session.role), agent)


def allow(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    async def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise HTTPException(403, f"role {who.role.value} may not do this (only {allowed})")
        return who

    return check


Admin = Annotated[Principal, Depends(allow(Role.ADMIN))]
Staff = Annotated[Principal, Depends(allow(*STAFF))]
Anyone = Annotated[Principal, Depends(allow(*EVERYONE))]


def require_self(who: Principal, agent_id: int, agent_name: str) -> None:
    """An agent acts only on itself; staff act on anyone."""
    if who.role is Role.AGENT and not who.acts_as_agent(agent_id, agent_name):
        raise Forbidden("an agent may act only on itself")


def not_stopping(ctx: ApiContext) -> None:
    if ctx.stopping:
        raise Unavailable("the daemon is stopping")


# A row id in a path, as Postgres keeps it (bigint): larger is 422, never sent to the database.
IdPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


# -- the error answers, as the OpenAPI schema documents them -------------------------------


class ErrorOut(BaseModel):
    detail: str


class FieldProblemOut(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class FieldErrorsOut(BaseModel):
    detail: list[FieldProblemOut]


_ERRORS: dict[int, tuple[str, type[BaseModel]]] = {
    400: ("a malformed request (a Content-Length that is not a number)", ErrorOut),
    401: ("missing or unknown bearer token", ErrorOut),
    403: ("the token's role may not do this", ErrorOut),
    404: ("no such id or name", ErrorOut),
    409: ("the current state does not allow it, or it conflicts with existing data", ErrorOut),
    413: ("the request's body is over the size limit", ErrorOut),
    429: ("too many failed sign-ins: try again after Retry-After seconds", ErrorOut),
    422: ("a malformed path, query or body: each problem names its field in `loc`", FieldErrorsOut),
    503: ("the database is unreachable, or the daemon is stopping", ErrorOut),
}
# What any /api/v1 request may get: the request guard's answers (dialer.api.guard) and the
# routes' common failures.
COMMON_ERRORS = (400, 401, 403, 413, 422, 503)


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route or router: the error answers `codes` stand for."""
    return {code: {"description": _ERRORS[code][0], "model": _ERRORS[code][1]} for code in codes}
