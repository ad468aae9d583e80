"""The auth matrix, over HTTP against a running daemon: every endpoint × no token, an unknown
token, and each role. A role that may use an endpoint gets past authentication and reaches the
endpoint's own checks (a deliberately invalid body gives 422, an unknown name 404, a state
that does not allow it 409); a role that may not gets 403 before the body is even looked at.
Also: an agent acts only on itself, and no token or phone number reaches the log."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rig.asterisk import Asterisk
from tests.integration.api_daemon import (
    AGENT_NAME,
    TOKENS,
    Daemon,
    start_daemon,
    truncate_all,
    unique,
    write_config,
)

pytestmark = [pytest.mark.rig]

ADMIN, SUPERVISOR, AGENT = "admin", "supervisor", "agent"
STAFF = frozenset({ADMIN, SUPERVISOR})
EVERYONE = frozenset({ADMIN, SUPERVISOR, AGENT})
ONLY_ADMIN = frozenset({ADMIN})


@dataclass(frozen=True)
class World:
    daemon: Daemon
    campaign: str
    trunk: str
    me: int  # the agent the agent token acts as
    other: int  # another agent
    lead_id: int
    phones: tuple[str, ...]


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, asterisk: Asterisk, store_db_url: str
) -> Iterator[World]:
    asyncio.run(truncate_all(store_db_url))
    tmp = tmp_path_factory.mktemp("api-auth")
    daemon = start_daemon(tmp, write_config(tmp, asterisk, store_db_url))
    try:
        with daemon.client(ADMIN) as http:
            trunk = unique("trunk")
            r = http.post(
                "/api/v1/trunks",
                json={"name": trunk, "endpoint": "trunk", "max_channels": 10, "max_cps": 5},
            )
            assert r.status_code == 201, r.text
            campaign = unique("auth")
            r = http.post(
                "/api/v1/campaigns",
                json={
                    "name": campaign,
                    "trunk": trunk,
                    "caller_id": "+15550000000",
                    "dispositions": [{"code": "sale"}],
                },
            )
            assert r.status_code == 201, r.text
            me = http.post(
                "/api/v1/agents",
                json={"name": AGENT_NAME, "sip_endpoint": "agent1", "campaign": campaign},
            ).json()["id"]
            other = http.post(
                "/api/v1/agents",
                json={"name": unique("other"), "sip_endpoint": "agent2", "campaign": campaign},
            ).json()["id"]
            phones = ("+14155552671", "+442079460958")
            r = http.post(
                f"/api/v1/campaigns/{campaign}/leads",
                content="phone\n" + "\n".join(phones) + "\n",
                headers={"Content-Type": "text/csv"},
            )
            assert r.status_code == 200, r.text
            assert r.json()["inserted"] == 2
            lead_id = _first_lead(store_db_url)
        yield World(daemon, campaign, trunk, me, other, lead_id, phones)
    finally:
        assert daemon.stop() == 0, daemon.log()[-3000:]


def _first_lead(db_url: str) -> int:
    from sqlalchemy import text

    from dialer.store.engine import Database

    async def get() -> int:
        db = Database(db_url)
        try:
            async with db.transaction() as s:
                return int((await s.execute(text("SELECT min(id) FROM leads"))).scalar_one())
        finally:
            await db.dispose()

    return asyncio.run(get())


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    allowed: frozenset[str]
    status: int  # what an allowed role gets
    body: Any = None
    csv: str | None = None


def cases(w: World) -> list[Case]:
    c, t, me, other = w.campaign, w.trunk, w.me, w.other
    return [
        Case("GET", "/api/v1/campaigns", STAFF, 200),
        Case("POST", "/api/v1/campaigns", STAFF, 422, body={}),
        Case("GET", f"/api/v1/campaigns/{c}", STAFF, 200),
        Case("PATCH", f"/api/v1/campaigns/{c}", STAFF, 422, body={"max_attempts": 0}),
        Case("POST", "/api/v1/campaigns/no-such-campaign/start", STAFF, 404),
        Case("POST", "/api/v1/campaigns/no-such-campaign/pause", STAFF, 404),
        Case("POST", "/api/v1/campaigns/no-such-campaign/resume", STAFF, 404),
        Case("POST", "/api/v1/campaigns/no-such-campaign/stop", STAFF, 404),
        Case("GET", f"/api/v1/campaigns/{c}/stats", STAFF, 200),
        Case("GET", f"/api/v1/campaigns/{c}/dispositions", EVERYONE, 200),
        Case("PUT", f"/api/v1/campaigns/{c}/dispositions", STAFF, 422, body={"codes": 1}),
        Case("GET", f"/api/v1/campaigns/{c}/lists", STAFF, 200),
        Case("POST", "/api/v1/campaigns/no-such-campaign/leads", STAFF, 404, csv="phone\n+1\n"),
        Case("GET", "/api/v1/agents", STAFF, 200),
        Case("POST", "/api/v1/agents", STAFF, 422, body={"name": ""}),
        Case("GET", f"/api/v1/agents/{me}", EVERYONE, 200),
        Case("GET", f"/api/v1/agents/{other}", STAFF, 200),
        Case("POST", f"/api/v1/agents/{me}/pause", EVERYONE, 422, body={}),
        Case("POST", f"/api/v1/agents/{other}/pause", STAFF, 409, body={"reason": "lunch"}),
        Case("POST", f"/api/v1/agents/{other}/login", STAFF, 409),
        Case("POST", f"/api/v1/agents/{other}/ready", STAFF, 409),
        Case("POST", f"/api/v1/agents/{other}/logout", STAFF, 409),
        Case("POST", f"/api/v1/agents/{other}/disposition", STAFF, 409, body={"code": "sale"}),
        Case("PUT", f"/api/v1/agents/{other}/campaign", STAFF, 422, body={}),
        Case("POST", "/api/v1/callbacks", EVERYONE, 422, body={"lead_id": w.lead_id}),
        Case("GET", "/api/v1/callbacks", STAFF, 200),
        Case("DELETE", "/api/v1/callbacks/987654", STAFF, 404),
        Case("GET", "/api/v1/leads/987654/why", EVERYONE, 404),
        Case("GET", "/api/v1/leads/987654/history", EVERYONE, 404),
        Case("GET", f"/api/v1/campaigns/{c}/reasons", STAFF, 200),
        Case("GET", "/api/v1/trunks", STAFF, 200),
        Case("POST", "/api/v1/trunks", ONLY_ADMIN, 422, body={"name": "x"}),
        Case("PATCH", f"/api/v1/trunks/{t}", ONLY_ADMIN, 422, body={"max_channels": 0}),
        Case("GET", "/api/v1/pbx", STAFF, 200),
        Case("GET", "/api/v1/status", STAFF, 200),
    ]


def _send(daemon: Daemon, case: Case, headers: dict[str, str]) -> Any:
    with daemon.client(None) as http:
        if case.csv is not None:
            return http.request(
                case.method,
                case.path,
                content=case.csv,
                headers={**headers, "Content-Type": "text/csv"},
            )
        return http.request(case.method, case.path, json=case.body, headers=headers)


def test_every_endpoint_by_role(world: World) -> None:
    failures = []
    for case in cases(world):
        for who, headers in [
            ("none", {}),
            ("unknown", {"Authorization": "Bearer not-a-known-token-at-all"}),
            ("basic", {"Authorization": "Basic YWRtaW46YWRtaW4="}),
            *((role, {"Authorization": f"Bearer {TOKENS[role]}"}) for role in TOKENS),
        ]:
            r = _send(world.daemon, case, headers)
            if who in ("none", "unknown", "basic"):
                want = 401
            else:
                want = case.status if who in case.allowed else 403
            if r.status_code != want:
                failures.append(f"{case.method} {case.path} as {who}: {r.status_code} {r.text}")
            if want == 401 and r.headers.get("www-authenticate") != "Bearer":
                failures.append(f"{case.method} {case.path} as {who}: no WWW-Authenticate")
    assert not failures, "\n".join(failures)


def test_validation_errors_name_the_field(world: World) -> None:
    with world.daemon.client(ADMIN) as http:
        r = http.post("/api/v1/campaigns", json={"trunk": world.trunk})
        assert r.status_code == 422
        assert {tuple(e["loc"]) for e in r.json()["detail"]} == {("body", "name")}
        r = http.post(
            "/api/v1/campaigns",
            json={"name": unique("c"), "trunk": world.trunk, "caller_id": "12ab"},
        )
        assert r.status_code == 422
        assert [e["loc"] for e in r.json()["detail"]] == [["body", "caller_id"]]
        r = http.patch(f"/api/v1/campaigns/{world.campaign}", json={"hold_s": 5})
        assert [e["loc"] for e in r.json()["detail"]] == [["body", "hold_s"]]
        r = http.patch(f"/api/v1/campaigns/{world.campaign}", json={"colour": "red"})
        assert r.status_code == 422
        assert [e["loc"] for e in r.json()["detail"]] == [["body", "colour"]]
        r = http.post(
            "/api/v1/campaigns",
            json={"name": unique("c"), "trunk": "no-such-trunk", "caller_id": "+15550000000"},
        )
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "trunk"]
        r = http.get(f"/api/v1/campaigns/{world.campaign}/stats", params={"window_s": -1})
        assert r.json()["detail"][0]["loc"] == ["query", "window_s"]
        r = http.post(
            "/api/v1/callbacks", json={"lead_id": world.lead_id, "at": "2030-01-06T09:00:00"}
        )
        assert r.status_code == 422  # a time without its UTC offset
        assert r.json()["detail"][0]["loc"] == ["body", "at"]


def test_unknown_ids_are_404(world: World) -> None:
    with world.daemon.client(ADMIN) as http:
        for method, path, body in [
            ("GET", "/api/v1/campaigns/987654", None),
            ("GET", "/api/v1/campaigns/no-such-name", None),
            ("GET", "/api/v1/campaigns/987654/stats", None),
            ("GET", "/api/v1/agents/987654", None),
            ("POST", "/api/v1/agents/987654/login", None),
            ("PATCH", "/api/v1/trunks/987654", {"max_channels": 3}),
            ("POST", "/api/v1/callbacks", {"lead_id": 987654, "at": "2030-01-06T09:00:00Z"}),
        ]:
            r = http.request(method, path, json=body)
            assert r.status_code == 404, (path, r.text)
            assert "987654" in r.json()["detail"] or "no-such-name" in r.json()["detail"]


def test_an_agent_acts_only_on_itself(world: World) -> None:
    with world.daemon.client(AGENT) as http:
        assert http.get(f"/api/v1/agents/{world.me}").json()["name"] == AGENT_NAME
        assert http.get(f"/api/v1/agents/{AGENT_NAME}").status_code == 200
        r = http.post(f"/api/v1/agents/{world.other}/pause", json={"reason": "x"})
        assert r.status_code == 403
        assert r.json()["detail"] == "an agent may act only on itself"
        # Its own campaign is not running: the agent gets past auth to the state check.
        r = http.post(f"/api/v1/agents/{world.me}/login")
        assert r.status_code == 409
        assert "not running" in r.json()["detail"]


def test_openapi_health_and_metrics_need_no_token(world: World) -> None:
    with world.daemon.client(None) as http:
        spec = http.get("/openapi.json").json()
        assert "/api/v1/campaigns/{campaign}/start" in spec["paths"]
        assert "HTTPBearer" in spec["components"]["securitySchemes"]
        assert http.get("/health").json()["ok"] is True
        metrics = http.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")


def test_docs_load_nothing_from_outside_the_daemon(world: World) -> None:
    with world.daemon.client(None) as http:
        page = http.get("/docs")
        assert page.status_code == 200
        html = page.text
        assert "SwaggerUIBundle" in html
        assert "http:" not in html
        assert "https:" not in html
        assert '"validatorUrl": null' in html  # no badge fetched from swagger.io
        urls = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)
        assert len(urls) == 4, urls  # stylesheet, icon, script, the OpenAPI document
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), url
            r = http.get(url)
            assert r.status_code == 200, url
            assert len(r.content) > 100, url
        kinds = {u.rsplit(".", 1)[-1]: http.get(u).headers["content-type"] for u in urls}
        assert kinds["js"].startswith(("text/javascript", "application/javascript"))
        assert kinds["css"].startswith("text/css")
        assert http.get("/openapi.json").json()["openapi"].startswith("3.")


def test_no_token_or_phone_number_in_the_log(world: World) -> None:
    log = world.daemon.log()
    assert "HTTP API listening" in log
    assert "POST /api/v1/campaigns" in log  # the access log is on, so requests were logged
    for token in TOKENS.values():
        assert token not in log
    for phone in world.phones:
        assert phone not in log
        assert phone[1:] not in log


def test_a_bad_tokens_file_stops_start_up_naming_the_key(
    tmp_path: Path, asterisk: Asterisk, store_db_url: str
) -> None:
    config = write_config(tmp_path, asterisk, store_db_url)
    (tmp_path / "tokens.toml").write_text('[[tokens]]\nname = "x"\nrole = "boss"\ntoken = "t"\n')
    with pytest.raises(RuntimeError, match="exit 2") as info:
        start_daemon(tmp_path, config, wait_s=20)
    assert "http.tokens_file" in str(info.value)
    assert "'role' must be admin, supervisor or agent" in str(info.value)


def test_a_busy_http_port_stops_start_up_naming_the_key(
    tmp_path: Path, asterisk: Asterisk, store_db_url: str
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        config = write_config(tmp_path, asterisk, store_db_url, http_port=port)
        with pytest.raises(RuntimeError, match="exit 2") as info:
            start_daemon(tmp_path, config, wait_s=30)
    assert f"http.port: cannot listen on 127.0.0.1:{port}: Address already in use" in str(
        info.value
    )


def _raw(daemon: Daemon, request: bytes) -> str:
    """Send raw bytes; the status line and body of the reply (the connection is then closed,
    whatever part of a declared body was never sent)."""
    host, port = daemon.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(request)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while data := s.recv(65536):
            chunks.append(data)
    return b"".join(chunks).decode("latin-1")


def test_the_token_is_checked_before_a_body_is_read(world: World) -> None:
    # A gigabyte declared, one byte sent: refused at once, not read.
    head = (
        "POST /api/v1/campaigns HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000000000\r\n"
    )
    reply = _raw(world.daemon, (head + "\r\n{").encode())
    assert reply.startswith("HTTP/1.1 401"), reply[:200]
    assert "missing bearer token" in reply
    reply = _raw(
        world.daemon, (head + "Authorization: Bearer nope-nope-nope-nope\r\n\r\n{").encode()
    )
    assert reply.startswith("HTTP/1.1 401"), reply[:200]
    # With a token, the size: 413 naming the limit, before the body is read.
    reply = _raw(world.daemon, (head + f"Authorization: Bearer {TOKENS[ADMIN]}\r\n\r\n{{").encode())
    assert reply.startswith("HTTP/1.1 413"), reply[:200]
    assert "1000000000 bytes, the limit is 1048576" in reply


def test_bodies_over_their_limit_get_413(world: World) -> None:
    with world.daemon.client(ADMIN) as http:
        big = {"name": "x" * (1_048_576 + 10), "trunk": world.trunk}
        r = http.post("/api/v1/campaigns", json=big)
        assert r.status_code == 413, r.text
        assert "the limit is 1048576" in r.json()["detail"]
        # A lead import may be larger (http.max_upload_bytes): 2 MB of rows get through to
        # the import, which reports each bad row.
        rows = "phone\n" + "+15551000000\n" * 160_000
        assert len(rows) > 2_000_000
        r = http.post(
            f"/api/v1/campaigns/{world.campaign}/leads",
            content=rows,
            params={"check": "format"},
            headers={"Content-Type": "text/csv"},
        )
        assert r.status_code == 200, r.text[:300]


def test_huge_ids_and_nul_bytes_are_422_not_500(world: World) -> None:
    with world.daemon.client(ADMIN) as http:
        huge = 2**70
        r = http.get(f"/api/v1/leads/{huge}/why")
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path", "lead_id"]
        assert http.delete(f"/api/v1/callbacks/{huge}").status_code == 422
        r = http.post("/api/v1/callbacks", json={"lead_id": huge, "at": "2031-01-01T10:00:00Z"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "lead_id"]
        body = {"name": "nul\x00trunk", "endpoint": "trunk", "max_channels": 1, "max_cps": 1}
        r = http.post("/api/v1/trunks", json=body)
        assert r.status_code == 422, r.text
        assert r.json()["detail"][0]["loc"] == ["body", "name"]
        assert "NUL" in r.json()["detail"][0]["msg"]
        r = http.get("/api/v1/campaigns/a%00b")
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["path"], r.text
        r = http.get("/api/v1/campaigns", params={"status": "x\x00"})
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query"], r.text
