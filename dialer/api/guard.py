"""What every /api request passes before a route reads a byte of its body.

- The bearer token is checked first (401, as the routes' own check says it): FastAPI reads and
  parses a request's body before it resolves a route's dependencies, so without this a caller
  with no token could make the daemon read and parse any body it sends.
- A request with no Authorization header may instead carry a console session cookie
  (dialer/console/sessions.py): the session must be live (401 otherwise), and a change (any
  method but GET, HEAD, OPTIONS) must carry the session's CSRF token in X-CSRF-Token (403
  otherwise). The session is put in the request's state for the routes; a request renews it,
  but an agent screen's event stream does not (it is not the person's doing).
- /console requests (the page and sign-in) need no token, but their bodies have the same limit.
- A NUL in the path or the query is refused (422 naming which): Postgres keeps no NUL in text.
- The body's size has a limit (413 naming it): `http.max_body_bytes` for every route, and
  `http.max_upload_bytes` for lead imports. A declared Content-Length over it is refused at
  once; a body sent without one is counted as it arrives and cut off there.
- A JSON body (every route's but the lead import's, which reads its file as it arrives) is
  read whole, within that limit, and checked by `dialer.api.bodycheck` (UTF-8, depth, numbers,
  NUL): a problem is a 422 naming it, before FastAPI parses the body.

Roles are still the routes' business (dialer.api.deps); this only keeps strangers and floods
out. Pure ASGI, no framework: it wraps the app.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import cookie_parser

from dialer.api.auth import TokenTable
from dialer.api.bodycheck import json_body_problem
from dialer.console.sessions import COOKIE, CSRF_HEADER, SessionTable, csrf_ok

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_UPLOAD = re.compile(r"^/api/v1/campaigns/[^/]+/leads$")
_STREAM = re.compile(r"^/api/v1/agents/[^/]+/events$")  # reads a session without renewing it
SESSION_STATE = "console_session"  # the request state's key for the session (deps.principal)
_CSRF = CSRF_HEADER.lower().encode()


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body too large: the limit is {limit} bytes")
        self.limit = limit


async def _reply(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _reply_field(send: Send, where: str | list[str | int], message: str) -> None:
    """422 in FastAPI's own shape (a list of errors, each with its location)."""
    loc = [where] if isinstance(where, str) else where
    body = json.dumps({"detail": [{"loc": loc, "msg": message, "type": "value_error"}]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 422,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    def __init__(
        self,
        app: App,
        tokens: TokenTable,
        max_body: int,
        max_upload: int,
        sessions: SessionTable | None = None,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.sessions = sessions
        self.max_body = max_body
        self.max_upload = max_upload

    def limit(self, method: str, path: str) -> int:
        return self.max_upload if method == "POST" and _UPLOAD.match(path) else self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        console = path == "/console" or path.startswith("/console/")
        if scope["type"] != "http" or not (path.startswith("/api/") or console):
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        if not console:
            authorization = headers.get(b"authorization")
            cookie = self._session_cookie(headers)
            if authorization is None and cookie is not None and self.sessions is not None:
                session = self.sessions.get(cookie, time.monotonic(), touch=not _STREAM.match(path))
                if session is None:
                    await _reply(send, 401, "the session has ended: sign in again", [])
                    return
                csrf = headers.get(_CSRF)
                if not csrf_ok(session, scope.get("method", ""), csrf and csrf.decode("latin-1")):
                    await _reply(send, 403, f"a change needs the session's {CSRF_HEADER}", [])
                    return
                scope.setdefault("state", {})[SESSION_STATE] = session
            else:
                problem = self._token_problem(authorization or b"")
                if problem is not None:
                    await _reply(send, 401, problem, [(b"www-authenticate", b"Bearer")])
                    return
        # Postgres stores no NUL in text: a path or query carrying one is refused here, not
        # with a 500 from the database.
        for where, raw in (("path", path.encode()), ("query", scope.get("query_string", b""))):
            if b"\x00" in raw or b"%00" in raw.lower():
                await _reply_field(send, where, "must not contain a NUL character")
                return
        limit = self.limit(scope.get("method", ""), path)
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _reply(send, 400, "Content-Length is not a number", [])
                return
            if size > limit:
                await _reply(
                    send, 413, f"request body too large: {size} bytes, the limit is {limit}", []
                )
                return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message.get("type") == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked(message: Message) -> None:
            nonlocal started
            if message.get("type") == "http.response.start":
                started = True
            await send(message)

        method = scope.get("method", "")
        upload = method == "POST" and _UPLOAD.match(path) is not None
        ctype = headers.get(b"content-type", b"application/json").lower()
        inner: Receive = counted
        if not upload and method in ("POST", "PUT", "PATCH") and b"json" in ctype:
            try:
                body, more = await _whole_body(counted)
            except BodyTooLarge as exc:
                await _reply(send, 413, str(exc), [])
                return
            refused = json_body_problem(body) if body else None
            if refused is not None:
                await _reply_field(send, *refused)
                return
            inner = _replay(body, more, receive)
        try:
            await self.app(scope, inner, tracked)
        except BodyTooLarge as exc:
            if started:
                raise
            await _reply(send, 413, str(exc), [])

    @staticmethod
    def _session_cookie(headers: dict[bytes, bytes]) -> str | None:
        raw = headers.get(b"cookie")
        if raw is None:
            return None
        return cookie_parser(raw.decode("latin-1")).get(COOKIE) or None

    def _token_problem(self, authorization: bytes) -> str | None:
        scheme, _, token = authorization.decode("latin-1").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return "missing bearer token"
        if self.tokens.lookup(token.strip()) is None:
            return "unknown bearer token"
        return None


async def _whole_body(receive: Receive) -> tuple[bytes, list[Message]]:
    """The request's body, and any message that came instead of its end (a disconnect)."""
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message.get("type") != "http.request":
            return b"".join(parts), [message]
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts), []


def _replay(body: bytes, more: list[Message], receive: Receive) -> Receive:
    """A `receive` that gives the body already read as one message, then what was after it."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}, *more]

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
