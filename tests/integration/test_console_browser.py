"""The web console in a real browser (Debian's Chromium through Playwright) against a real
`dialer run` on the Asterisk rig and Postgres: accounts made with `dialer users`, sign-in
(good and bad passwords, the per-name limit), the session cookie and CSRF token, and an
agent's whole call: log in, ready, a SIPp customer answers, the screen shows the lead, the
result is chosen with the keyboard with a note, and Postgres has it.

Each screen is saved to docs/screenshots/ (the README's console section shows them).
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from rig.asterisk import Asterisk
from rig.numbers import Behaviour, make_number
from tests.integration.api_daemon import (
    REPO,
    Daemon,
    query,
    start_daemon,
    truncate_all,
    unique,
    wait_for,
    write_config,
)

pytestmark = [pytest.mark.rig, pytest.mark.slow]

SHOTS = REPO / "docs" / "screenshots"
VIEWPORT = {"width": 980, "height": 720}
PASSWORD = "correct horse battery"
FAILURES_PER_NAME = 3


def off_loop(job: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run a helper that calls asyncio.run in a thread of its own: Playwright's sync API keeps
    an event loop running in the test's thread."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(job, *args, **kwargs).result()


def sql(db_url: str, statement: str, **params: Any) -> list[Any]:
    rows: list[Any] = off_loop(query, db_url, statement, **params)
    return rows


def expect(page: Any) -> Any:
    from playwright.sync_api import expect as pw_expect

    return pw_expect(page)


@pytest.fixture(scope="module")
def daemon(
    tmp_path_factory: pytest.TempPathFactory,
    asterisk: Asterisk,
    sipp_trunk: Any,
    agent_headsets: Any,
    store_db_url: str,
) -> Iterator[Daemon]:
    off_loop(asyncio.run, truncate_all(store_db_url))
    tmp = tmp_path_factory.mktemp("console")
    config = write_config(tmp, asterisk, store_db_url, autologin_agents=False)
    with config.open("a") as f:
        f.write(
            "[console]\n"
            "session_idle_s = 600\n"
            "signin_window_s = 300\n"
            f"signin_failures_per_name = {FAILURES_PER_NAME}\n"
            "signin_failures_per_address = 50\n"
        )
    d = start_daemon(tmp, config)
    yield d
    assert d.stop() == 0, d.log()[-3000:]


def users_cli(db_url: str, *args: str, password: str | None = None) -> str:
    """`dialer users ...` on the test database; the password, if any, on standard input."""
    out = subprocess.run(
        [sys.executable, "-m", "dialer", "users", *args, "--db-url", db_url]
        + (["--password-stdin"] if password is not None else []),
        input=f"{password}\n" if password is not None else None,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def sign_in(page: Any, daemon: Daemon, name: str, password: str) -> None:
    page.goto(f"{daemon.url}/console")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Password").press("Enter")


def test_sign_in_bad_passwords_and_the_limit(
    browser: Any, daemon: Daemon, store_db_url: str
) -> None:
    name = unique("sup")
    users_cli(store_db_url, "add", name, "--role", "supervisor", password=PASSWORD)
    assert re.search(rf"{name}\s+supervisor\s+-\s+active", users_cli(store_db_url, "list"))
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        sign_in(page, daemon, name, "not the password")
        expect(page.get_by_role("alert")).to_have_text("Wrong name or password.")
        shot(page, "console-sign-in")
        sign_in(page, daemon, name, PASSWORD)
        expect(page.locator("#who")).to_have_text(f"{name} (supervisor)")
        expect(page.get_by_role("heading", name="Signed in")).to_be_visible()
        [cookie] = [c for c in context.cookies() if c["name"] == "dialer_session"]
        assert (cookie["httpOnly"], cookie["sameSite"], cookie["secure"]) == (True, "Strict", False)

        # Sign out: the cookie no longer opens anything.
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        status = page.evaluate("fetch('/api/v1/agents').then(r => r.status)")
        assert status == 401

        # The limit: after FAILURES_PER_NAME failures of one name, even its right password is
        # refused (429), without being checked, until the window passes.
        for _ in range(FAILURES_PER_NAME):
            sign_in(page, daemon, name, "still not it")
            expect(page.get_by_role("alert")).to_have_text("Wrong name or password.")
        sign_in(page, daemon, name, PASSWORD)
        expect(page.get_by_role("alert")).to_contain_text("Too many failed sign-ins")
        # ... another name from the same address goes in.
        other = unique("sup")
        users_cli(store_db_url, "add", other, "--role", "supervisor", password=PASSWORD)
        sign_in(page, daemon, other, PASSWORD)
        expect(page.locator("#who")).to_have_text(f"{other} (supervisor)")
    finally:
        context.close()

    log = daemon.log()
    assert f"console sign-in refused: name '{name}' from 127.0.0.1 (wrong password)" in log
    assert "too many failures by name" in log
    assert "still not it" not in log and "not the password" not in log
    assert PASSWORD not in log
    rows = sql(
        store_db_url,
        "SELECT who, role, action, after->>'reason' AS reason FROM audit_log "
        "WHERE target = 'console' AND who = :n ORDER BY id",
        n=name,
    )
    assert [(r.action, r.reason) for r in rows] == [
        ("sign in refused", "wrong password"),
        ("sign in", None),
        ("sign out", None),
        *[("sign in refused", "wrong password")] * FAILURES_PER_NAME,
    ]

    # A disabled account: refused with its right password.
    users_cli(store_db_url, "disable", other)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        sign_in(page, daemon, other, PASSWORD)
        expect(page.get_by_role("alert")).to_have_text("This account is disabled.")
        # Enabled again with a new password: the old one no longer opens it.
        users_cli(store_db_url, "enable", other)
        users_cli(store_db_url, "passwd", other, password="a brand new passphrase")
        sign_in(page, daemon, other, PASSWORD)
        expect(page.get_by_role("alert")).to_have_text("Wrong name or password.")
        sign_in(page, daemon, other, "a brand new passphrase")
        expect(page.locator("#who")).to_have_text(f"{other} (supervisor)")
    finally:
        context.close()
    actions = sql(
        store_db_url,
        "SELECT action FROM audit_log WHERE target = :t ORDER BY id",
        t=f"user {other}",
    )
    assert [a.action for a in actions] == ["create", "disable", "enable", "set password"]


def test_a_change_without_the_csrf_token_is_refused(
    browser: Any, daemon: Daemon, store_db_url: str
) -> None:
    with daemon.client("admin") as admin:
        r = admin.post("/api/v1/agents", json={"name": unique("csrf"), "sip_endpoint": "agent9"})
        assert r.status_code == 201, r.text
        agent = r.json()
    name = unique("ag")
    users_cli(
        store_db_url, "add", name, "--role", "agent", "--agent", agent["name"], password=PASSWORD
    )
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        sign_in(page, daemon, name, PASSWORD)
        expect(page.locator("#who")).to_have_text(f"{name} (agent)")
        expect(page.locator("#state")).to_have_text("Logged out")
        path = f"/api/v1/agents/{agent['id']}/pause"
        fetch = (
            "([path, headers]) => fetch(path, {method: 'POST', headers: "
            "{'Content-Type': 'application/json', ...headers}, body: '{\"reason\": \"x\"}'})"
            ".then(async r => [r.status, await r.text()])"
        )
        status, body = page.evaluate(fetch, [path, {}])
        assert status == 403 and "X-CSRF-Token" in body
        status, _ = page.evaluate(fetch, [path, {"X-CSRF-Token": "guessed"}])
        assert status == 403
        token = page.evaluate("fetch('/console/session').then(r => r.json())")["csrf_token"]
        status, body = page.evaluate(fetch, [path, {"X-CSRF-Token": token}])
        assert status == 409 and "not logged in" in body  # past the CSRF check
        # Reads need no token; another agent is out of reach.
        assert page.evaluate(f"fetch('/api/v1/agents/{agent['id']}').then(r => r.status)") == 200
        assert page.evaluate("fetch('/api/v1/agents').then(r => r.status)") == 403
    finally:
        context.close()
    # Bearer tokens work as before, with no CSRF token.
    with daemon.client("admin") as admin:
        assert admin.post(path, json={"reason": "x"}).status_code == 409


def test_an_agents_call_on_the_screen(browser: Any, daemon: Daemon, store_db_url: str) -> None:
    number = make_number(Behaviour.ANSWER, 0.5, 5.0, 901)
    agent_name = unique("alice")
    campaign = unique("camp")
    with daemon.client("admin") as admin:
        trunk = unique("trunk")
        body = {"name": trunk, "endpoint": "trunk", "max_channels": 4, "max_cps": 5}
        assert admin.post("/api/v1/trunks", json=body).status_code == 201
        body = {
            "name": campaign,
            "trunk": trunk,
            "caller_id": "+15550000000",
            "ring_timeout_s": 15,
            "max_attempts": 3,
            "wrapup_s": 60,
            "hold_s": 1.0,
            "dispositions": [
                {"code": "callback", "label": "Call back"},
                {"code": "no_sale", "label": "No sale"},
                {"code": "sale", "label": "Sale"},
            ],
        }
        r = admin.post("/api/v1/campaigns", json=body)
        assert r.status_code == 201, r.text
        campaign_id = r.json()["id"]
        body = {"name": agent_name, "sip_endpoint": "agent10", "campaign": campaign}
        r = admin.post("/api/v1/agents", json=body)
        assert r.status_code == 201, r.text
        agent_id = r.json()["id"]
        csv = (
            f"phone,name,time_zone,plan,balance\n{number},Ada Lovelace,Europe/London,gold,120.50\n"
        )
        r = admin.post(
            f"/api/v1/campaigns/{campaign}/leads",
            content=csv,
            params={"check": "format"},
            headers={"Content-Type": "text/csv"},
        )
        assert r.status_code == 200 and r.json()["inserted"] == 1, r.text
    [lead] = sql(store_db_url, "SELECT id FROM leads WHERE phone = :p", p=number)
    # An earlier call of this lead, with its result and note, for the history.
    sql(
        store_db_url,
        "INSERT INTO call_attempts (id, lead_id, campaign_id, owner, originated_at, answer_at, "
        "hangup_at, result) VALUES (gen_random_uuid(), :l, :c, 'earlier', now() - interval "
        "'2 days', now() - interval '2 days', now() - interval '2 days' + interval '1 minute', "
        "'connected') RETURNING id",
        l=lead.id,
        c=campaign_id,
    )
    sql(
        store_db_url,
        "INSERT INTO dispositions (attempt_id, campaign_id, code, note) SELECT id, campaign_id, "
        "'callback', 'asked to be called back on Monday' FROM call_attempts WHERE lead_id = :l "
        "RETURNING id",
        l=lead.id,
    )
    user = unique("alice-user")
    users_cli(
        store_db_url, "add", user, "--role", "agent", "--agent", agent_name, password=PASSWORD
    )
    with daemon.client("admin") as admin:
        assert admin.post(f"/api/v1/campaigns/{campaign}/start").status_code == 200

    context = browser.new_context(viewport=VIEWPORT, timezone_id="UTC")
    page = context.new_page()
    page.set_default_timeout(20_000)
    try:
        sign_in(page, daemon, user, PASSWORD)
        expect(page.locator("#who")).to_have_text(f"{user} (agent)")
        expect(page.locator("#state")).to_have_text("Logged out")
        expect(page.locator("#link")).to_have_text("Live")  # the event stream is open
        # Log in with the keyboard: Tab to the button, Enter. The headset is called.
        page.locator("#btn-login").focus()
        page.keyboard.press("Enter")
        expect(page.locator("#state")).to_have_text("Ready")
        # The campaign dials the lead, the SIPp customer answers and is given to the agent:
        # the screen changes by itself (server-sent events).
        expect(page.locator("#state")).to_have_text("On a call")
        expect(page.locator("#lead-name")).to_have_text("Ada Lovelace")
        expect(page.locator("#lead-phone")).to_have_text(number)
        expect(page.locator("#lead-zone")).to_have_text("Europe/London")
        expect(page.locator("#lead-fields")).to_contain_text("plan")
        expect(page.locator("#lead-fields")).to_contain_text("120.50")
        history = page.locator("#history tbody tr")
        expect(history).to_have_count(1)
        expect(history.first).to_contain_text("asked to be called back on Monday")
        expect(page.locator("#codes button")).to_have_count(3)
        shot(page, "console-agent-call")

        # The customer hangs up: wrap-up, with its countdown.
        expect(page.locator("#state")).to_have_text("Wrap-up", timeout=30_000)
        expect(page.locator("#wrapup")).to_be_visible()
        left = page.locator("#wrapup-left").inner_text()
        assert re.fullmatch(r"[01]:\d\d", left), left
        # The note, then the result by its key (3: sale), then Enter on the focused Save.
        page.locator("#note").focus()
        page.keyboard.type("wants the gold plan")
        page.keyboard.press("Escape")
        page.keyboard.press("3")
        expect(page.locator('#codes button[data-code="sale"]')).to_have_attribute(
            "aria-pressed", "true"
        )
        expect(page.locator("#dispose-save")).to_be_focused()
        shot(page, "console-agent-wrapup")
        page.keyboard.press("Enter")
        # Saved: the wrap-up ends at once and the agent is ready for the next call.
        expect(page.locator("#state")).to_have_text("Ready")

        # Pause with a reason, from the keyboard too.
        page.locator("#pause-input").focus()
        page.keyboard.type("coffee")
        page.keyboard.press("Enter")
        expect(page.locator("#state")).to_have_text("Paused")
        expect(page.locator("#pause-reason")).to_have_text("coffee")
        shot(page, "console-agent-paused")
        # Russian texts from the catalogue.
        page.get_by_label("Language").select_option("ru")
        expect(page.locator("#state")).to_have_text("Пауза")
        expect(page.locator("#btn-ready")).to_have_text("Готов")
        page.locator("#btn-logout").click()
        expect(page.locator("#state")).to_have_text("Не в линии")
    finally:
        context.close()
        with daemon.client("admin") as admin:
            admin.post(f"/api/v1/campaigns/{campaign}/stop")

    # The call's record and the lead's history have the result and the note.
    rows = wait_for(
        lambda: sql(
            store_db_url,
            "SELECT a.result, a.agent_id, d.code, d.note, d.agent_id AS by_agent "
            "FROM call_attempts a JOIN dispositions d ON d.attempt_id = a.id "
            "WHERE a.lead_id = :l AND a.owner <> 'earlier'",
            l=lead.id,
        ),
        10,
        "the call's record",
    )
    assert [tuple(r) for r in rows] == [
        ("connected", agent_id, "sale", "wants the gold plan", agent_id)
    ]
    with daemon.client("admin") as admin:
        h = admin.get(f"/api/v1/leads/{lead.id}/history").json()
    assert [(a["result"], a["disposition"], a["note"], a["agent"]) for a in h["attempts"]] == [
        ("connected", "callback", "asked to be called back on Monday", None),
        ("connected", "sale", "wants the gold plan", agent_name),
    ]


def test_a_script_follows_an_agent_and_the_stream_ends_with_the_daemon(daemon: Daemon) -> None:
    """The event stream with a bearer token (scripts), and a daemon stopping under an open
    stream ends it cleanly (the response finishes; it is not cut off at the shutdown timeout).
    This stops the module's daemon: it is the module's last test."""
    lines: list[str] = []
    failed: list[BaseException] = []
    with daemon.client("admin") as admin:
        r = admin.post("/api/v1/agents", json={"name": unique("sse"), "sip_endpoint": "agent11"})
        assert r.status_code == 201, r.text
        agent = r.json()

        def follow() -> None:
            try:
                with admin.stream("GET", f"/api/v1/agents/{agent['id']}/events") as reply:
                    assert reply.status_code == 200
                    assert reply.headers["content-type"].startswith("text/event-stream")
                    lines.extend(reply.iter_lines())
            except BaseException as exc:
                failed.append(exc)

        reader = threading.Thread(target=follow)
        reader.start()
        try:
            wait_for(lambda: any(x.startswith("data:") for x in list(lines)), 10, "the first state")
        finally:
            assert daemon.stop() == 0, daemon.log()[-3000:]
            reader.join(30)
    assert not reader.is_alive()
    assert not failed, failed
    events = [x for x in lines if x.startswith("event:")]
    first = json.loads(next(x for x in lines if x.startswith("data:"))[len("data:") :])
    assert events[0] == "event: state"
    assert (first["agent_id"], first["state"], first["call_id"]) == (
        agent["id"],
        "logged_out",
        None,
    )
