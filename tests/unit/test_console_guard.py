"""The /api guard with console sessions: a live session cookie stands in for a bearer token,
a change needs the session's CSRF token, the event stream does not renew a session, and the
console's own routes have the body limit but need no token."""

from __future__ import annotations

import json
import time
from typing import Any

from dialer.api.auth import Principal, Role, TokenTable, digest
from dialer.api.guard import SESSION_STATE, Message, RequestGuard, Scope
from dialer.console.sessions import COOKIE, SessionTable, credential_of

TOKEN = "0123456789abcdef-admin"


class Recorder:
    def __init__(self) -> None:
        self.scopes: list[Scope] = []

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def call(
    guard: RequestGuard, method: str, path: str, headers: dict[str, str]
) -> tuple[int, Any]:
    scope: Scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await guard(scope, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], (json.loads(body) if body != b"ok" else "ok")


def make() -> tuple[RequestGuard, Recorder, SessionTable, str, str]:
    app = Recorder()
    sessions = SessionTable(idle_s=600)
    key, session = sessions.open(
        user_id=1,
        user_name="alice",
        role="agent",
        agent_id=7,
        credential=credential_of("$h"),
        now=time.monotonic(),
    )
    tokens = TokenTable({digest(TOKEN): Principal("ops", Role.ADMIN)})
    guard = RequestGuard(app, tokens, max_body=1024, max_upload=4096, sessions=sessions)
    return guard, app, sessions, key, session.csrf_token


async def test_a_session_cookie_stands_in_for_a_token() -> None:
    guard, app, _, key, _ = make()
    assert await call(guard, "GET", "/api/v1/agents/7", {}) == (
        401,
        {"detail": "missing bearer token"},
    )
    status, body = await call(guard, "GET", "/api/v1/agents/7", {"Cookie": f"{COOKIE}=nope"})
    assert (status, body["detail"]) == (401, "the session has ended: sign in again")
    assert await call(guard, "GET", "/api/v1/agents/7", {"Cookie": f"a=b; {COOKIE}={key}"}) == (
        200,
        "ok",
    )
    assert app.scopes[-1]["state"][SESSION_STATE].user_name == "alice"


async def test_a_change_with_a_session_needs_its_csrf_token() -> None:
    guard, app, _, key, csrf = make()
    cookie = {"Cookie": f"{COOKIE}={key}"}
    status, body = await call(guard, "POST", "/api/v1/agents/7/ready", cookie)
    assert (status, body["detail"]) == (403, "a change needs the session's X-CSRF-Token")
    status, _ = await call(guard, "POST", "/api/v1/agents/7/ready", {**cookie, "X-CSRF-Token": "x"})
    assert status == 403
    assert not app.scopes
    ok = await call(guard, "POST", "/api/v1/agents/7/ready", {**cookie, "X-CSRF-Token": csrf})
    assert ok == (200, "ok")


async def test_a_bearer_token_goes_first_and_needs_no_csrf_token() -> None:
    guard, app, _, key, _ = make()
    headers = {"Authorization": f"Bearer {TOKEN}", "Cookie": f"{COOKIE}={key}"}
    assert await call(guard, "POST", "/api/v1/agents/7/ready", headers) == (200, "ok")
    assert SESSION_STATE not in app.scopes[-1].get("state", {})
    headers["Authorization"] = "Bearer wrong-token-0123456789"
    assert (await call(guard, "GET", "/api/v1/agents", headers))[0] == 401


async def test_the_event_stream_does_not_renew_the_session() -> None:
    guard, _, sessions, key, _ = make()
    session = sessions.get(key, time.monotonic())
    assert session is not None
    session.last_seen -= 100
    before = session.last_seen
    await call(guard, "GET", "/api/v1/agents/7/events", {"Cookie": f"{COOKIE}={key}"})
    assert session.last_seen == before
    await call(guard, "GET", "/api/v1/agents/7/call", {"Cookie": f"{COOKIE}={key}"})
    assert session.last_seen > before


async def test_console_routes_need_no_token_but_have_the_body_limit() -> None:
    guard, app, _, _, _ = make()
    assert await call(guard, "GET", "/console", {}) == (200, "ok")
    status, _ = await call(guard, "POST", "/console/signin", {"Content-Length": "5000"})
    assert status == 413
    assert [s["path"] for s in app.scopes] == ["/console"]
