"""What every /api request passes before a route reads a byte of its body.

- The bearer token is checked first (401, as the routes' own check says it): FastAPI reads and
  parses a request's body before it resolves a route's dependencies, so without this a caller
  with no token could make the daemon read and parse any body it sends.
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
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from dialer.api.auth import TokenTable
from dialer.api.bodycheck import json_body_problem

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_UPLOAD = re.compile(r"^/api/v1/campaigns/[^/]+/leads$")


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
    def __init__(self, app: App, tokens: TokenTable, max_body: int, max_upload: int) -> None:
        self.app = app
        self.tokens = tokens
        self.max_body = max_body
        self.max_upload = max_upload

    def limit(self, method: str, path: str) -> int:
        return self.max_upload if method == "POST" and _UPLOAD.match(path) else self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/"):
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        problem = self._token_problem(headers.get(b"authorization", b""))
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
