"""Why a lead is (not) dialed, its history and a campaign's reasons over the HTTP API of a real
`dialer run` daemon, with the same text as the database-side CLI; and the campaign statistics'
US and UK abandonment rates, over HTTP and in `dialer campaign stats`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from dialer.domain.results import CallResult
from dialer.store import dnc
from dialer.store.cdrs import end_attempts, start_attempts
from dialer.store.engine import Database
from dialer.store.records import AttemptEnd, AttemptStart
from rig.asterisk import Asterisk
from tests.integration.api_daemon import AGENT_NAME, REPO, TOKENS, Daemon, serve_one, unique

pytestmark = [pytest.mark.rig]

AT = "2031-03-04T15:30:00+00:00"  # a fixed instant, so the API's and the CLI's text match


@pytest.fixture(scope="module")
def daemon(
    tmp_path_factory: pytest.TempPathFactory, asterisk: Asterisk, store_db_url: str
) -> Iterator[Daemon]:
    yield from serve_one(tmp_path_factory, asterisk, store_db_url, "rules-api")


def run_db(db_url: str, job: Any) -> Any:
    async def main() -> Any:
        db = Database(db_url)
        try:
            async with db.transaction() as s:
                return await job(s)
        finally:
            await db.dispose()

    return asyncio.run(main())


def new_campaign(daemon: Daemon, numbers: list[str]) -> tuple[str, list[int]]:
    """A draft campaign with leads for `numbers` (through the API); returns its name and the
    lead ids, in the order of `numbers`."""
    with daemon.client("admin") as admin:
        trunk = unique("trunk")
        body = {"name": trunk, "endpoint": "trunk", "max_channels": 4, "max_cps": 2}
        assert admin.post("/api/v1/trunks", json=body).status_code == 201
        name = unique("why")
        body = {"name": name, "trunk": trunk, "caller_id": "+15550000000"}
        assert admin.post("/api/v1/campaigns", json=body).status_code == 201
        csv = "phone\n" + "\n".join(numbers) + "\n"
        r = admin.post(
            f"/api/v1/campaigns/{name}/leads",
            content=csv,
            headers={"Content-Type": "text/csv"},
        )
        assert r.status_code == 200 and r.json()["inserted"] == len(numbers), r.text

    async def ids(s: Any) -> list[int]:
        rows = await s.execute(
            text(
                "SELECT l.phone, l.id FROM leads l JOIN campaigns c ON c.id = l.campaign_id "
                "WHERE c.name = :n"
            ),
            {"n": name},
        )
        by_phone = {p: i for p, i in rows}
        return [by_phone[n] for n in numbers]

    return name, run_db(daemon_db_url(daemon), ids)


def daemon_db_url(daemon: Daemon) -> str:
    for line in daemon.config.read_text().splitlines():
        if line.startswith("url = "):
            return line.split('"')[1]
    raise AssertionError("no database url in the daemon's configuration")


def cli(*args: str, db_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dialer", *args, "--db-url", db_url],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_why_history_and_reasons_match_the_cli(daemon: Daemon, store_db_url: str) -> None:
    numbers = ["+14155550101", "+14155550102", "+14155550103"]
    name, (listed, plain, called_back) = new_campaign(daemon, numbers)

    async def opt_out(s: Any) -> None:
        await dnc.opt_out(s, numbers[0], note="asked on the call")

    run_db(store_db_url, opt_out)
    with daemon.client("supervisor") as http:
        r = http.get(f"/api/v1/leads/{listed}/why", params={"at": AT})
        assert r.status_code == 200, r.text
        why = r.json()
        assert why["dialable"] is False
        assert {b["reason"] for b in why["blockers"]} == {"campaign_not_running", "dnc"}
        dnc_block = next(b for b in why["blockers"] if b["reason"] == "dnc")
        assert "opt-out" in dnc_block["detail"] and dnc_block["until"] is None
        assert why["phone"] != numbers[0] and why["phone"].endswith(numbers[0][-2:])  # masked
        assert why["dialable_at"] is None
        assert why["at"].startswith("2031-03-04T15:30:00")
        same = cli("leads", "why", str(listed), "--at", AT, db_url=store_db_url)
        assert same.returncode == 0, same.stderr
        assert why["text"] == same.stdout.rstrip("\n")

        # A callback scheduled over the API shows in the history, as in the CLI.
        body = {"lead_id": called_back, "at": "2031-03-05T10:00:00+00:00", "note": "after 10"}
        assert http.post("/api/v1/callbacks", json=body).status_code == 201
        r = http.get(f"/api/v1/leads/{called_back}/history")
        assert r.status_code == 200, r.text
        history = r.json()
        assert history["attempts"] == []
        assert history["callback"]["status"] == "pending"
        assert history["callback"]["note"] == "after 10"
        same = cli("leads", "history", str(called_back), db_url=store_db_url)
        assert same.returncode == 0, same.stderr
        assert history["text"] == same.stdout.rstrip("\n")
        assert "callback pending: 2031-03-05 10:00 UTC for anyone" in history["text"]
        r = http.get(f"/api/v1/leads/{called_back}/why", params={"at": AT})
        assert {b["reason"] for b in r.json()["blockers"]} == {
            "campaign_not_running",
            "callback_later",
        }

        r = http.get(f"/api/v1/campaigns/{name}/reasons", params={"at": AT})
        assert r.status_code == 200, r.text
        reasons = r.json()
        assert (reasons["total"], reasons["dialable_now"]) == (3, 0)
        assert reasons["by_reason"] == {
            "campaign_not_running": 3,
            "dnc": 1,
            "callback_later": 1,
        }
        assert reasons["by_first_reason"] == {"campaign_not_running": 3}
        same = cli("campaign", "reasons", name, "--at", AT, db_url=store_db_url)
        assert same.returncode == 0, same.stderr
        assert reasons["text"] == same.stdout.rstrip("\n")
        assert plain not in (listed, called_back)

        # Unknown ids are 404, as in the rest of the API.
        for path in ("/leads/987654/why", "/leads/987654/history", "/campaigns/nope/reasons"):
            r = http.get(f"/api/v1{path}")
            assert r.status_code == 404, (path, r.text)
        assert "no lead with id 987654" in http.get("/api/v1/leads/987654/why").json()["detail"]
        r = http.get(f"/api/v1/leads/{listed}/why", params={"at": "2031-03-04T15:30:00"})
        assert r.status_code == 422  # an instant without its offset is refused
    with daemon.client(None) as anonymous:
        assert anonymous.get(f"/api/v1/leads/{listed}/why").status_code == 401


def test_agents_read_only_their_campaigns_leads(daemon: Daemon) -> None:
    mine, (my_lead,) = new_campaign(daemon, ["+14155550201"])
    _, (their_lead,) = new_campaign(daemon, ["+14155550202"])
    with daemon.client("admin") as admin:
        body = {"name": AGENT_NAME, "sip_endpoint": unique("sip"), "campaign": mine}
        assert admin.post("/api/v1/agents", json=body).status_code == 201
    with daemon.client("agent") as agent:
        assert agent.get(f"/api/v1/leads/{my_lead}/why").status_code == 200
        assert agent.get(f"/api/v1/leads/{my_lead}/history").status_code == 200
        r = agent.get(f"/api/v1/leads/{their_lead}/why")
        assert r.status_code == 403 and "own campaign" in r.json()["detail"]
        assert agent.get(f"/api/v1/leads/{their_lead}/history").status_code == 403
        assert agent.get(f"/api/v1/campaigns/{mine}/reasons").status_code == 403
        assert agent.get("/api/v1/leads/987654/why").status_code == 404


def test_campaign_stats_give_the_us_and_uk_rates(daemon: Daemon, store_db_url: str) -> None:
    numbers = [f"+1415555{i:04d}" for i in range(300, 330)]
    name, ids = new_campaign(daemon, numbers)
    now = datetime.now(UTC)

    async def cdrs(s: Any) -> None:
        cid = (
            await s.execute(text("SELECT id FROM campaigns WHERE name = :n"), {"n": name})
        ).scalar_one()
        at = now - timedelta(hours=3)
        plan = [CallResult.CONNECTED] * 9 + [CallResult.ABANDONED] + [CallResult.MACHINE] * 20
        starts, ends = [], []
        for lead_id, result in zip(ids, plan, strict=True):
            attempt = str(uuid.uuid4())
            starts.append(AttemptStart(attempt, lead_id, cid, None, "old", at))
            answer = at + timedelta(seconds=4)
            connect = answer + timedelta(milliseconds=30)
            ends.append(
                AttemptEnd(
                    attempt,
                    at + timedelta(seconds=30),
                    result,
                    answer_at=answer,
                    agent_connect_at=connect if result is CallResult.CONNECTED else None,
                )
            )
        await start_attempts(s, starts)
        await end_attempts(s, ends)

    run_db(store_db_url, cdrs)
    with daemon.client("supervisor") as http:
        r = http.get(f"/api/v1/campaigns/{name}/stats")
        assert r.status_code == 200, r.text
        c = r.json()["compliance"]
    assert (c["amd_false_positive_rate"], c["amd_false_positive_rate_is_default"]) == (0.1, True)
    day = c["last_24h"]
    assert (day["connected"], day["abandoned"], day["machines"]) == (9, 1, 20)
    assert day["us_rate"] == pytest.approx(0.1)
    assert day["estimated_false_positives"] == pytest.approx(2.0)
    assert day["uk_rate"] == pytest.approx(3 / 12)
    assert c["life"]["us_rate"] == pytest.approx(0.1)
    assert c["worst_24h"]["uk_rate"] == pytest.approx(3 / 12)
    assert c["worst_24h"]["start"] is not None

    env = {k: v for k, v in os.environ.items() if not k.startswith("DIALER_API_")}
    env |= {"DIALER_API_URL": daemon.url, "DIALER_API_TOKEN": TOKENS["supervisor"]}
    out = subprocess.run(
        [sys.executable, "-m", "dialer", "campaign", "stats", name],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "UK RATE" in out.stdout and "25.0%" in out.stdout and "10.0%" in out.stdout
    assert "UK rate counts 10.0% of machine verdicts as people (default assumption)" in (out.stdout)


def test_openapi_lists_the_new_routes(daemon: Daemon) -> None:
    with httpx.Client(base_url=daemon.url, timeout=30) as http:
        paths = http.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/leads/{lead_id}/why",
        "/api/v1/leads/{lead_id}/history",
        "/api/v1/campaigns/{campaign}/reasons",
    ):
        assert "get" in paths[path], path


def test_a_callback_never_goes_around_the_rules(daemon: Daemon, store_db_url: str) -> None:
    numbers = [f"+1415555030{i}" for i in range(5)]
    name, (listed, done, abandoned, plain, other) = new_campaign(daemon, numbers)
    now = datetime.now(UTC)

    async def facts(s: Any) -> tuple[int, int]:
        await dnc.opt_out(s, numbers[0], note="asked on the call")
        await s.execute(text("UPDATE leads SET status = 'done' WHERE id = :i"), {"i": done})
        row = (
            await s.execute(
                text(
                    "SELECT campaign_id, (SELECT id FROM trunks LIMIT 1) FROM leads WHERE id = :i"
                ),
                {"i": abandoned},
            )
        ).one()
        aid = str(uuid.uuid4())
        await start_attempts(s, [AttemptStart(aid, abandoned, row[0], row[1], "t", now)])
        await end_attempts(s, [AttemptEnd(aid, now + timedelta(seconds=30), CallResult.ABANDONED)])
        return int(row[0]), int(row[1])

    run_db(store_db_url, facts)
    with daemon.client("admin") as admin:
        body = {"name": unique("keeper"), "sip_endpoint": unique("sip"), "campaign": name}
        assert admin.post("/api/v1/agents", json=body).status_code == 201
        keeper = body["name"]
    soon = (now + timedelta(hours=1)).isoformat()
    with daemon.client("supervisor") as http:

        def refused(lead: int, at: str, field: str, agent: str | None = None) -> str:
            body = {"lead_id": lead, "at": at, **({"agent": agent} if agent else {})}
            r = http.post("/api/v1/callbacks", json=body)
            assert r.status_code == 422, r.text
            ((err,),) = [r.json()["detail"]]
            assert err["loc"] == ["body", field], err
            return str(err["msg"])

        assert "is in the past" in refused(plain, (now - timedelta(hours=1)).isoformat(), "at")
        assert "dnc" in refused(listed, soon, "lead_id")
        assert "done" in refused(done, soon, "lead_id")
        assert "abandon_lock" in refused(abandoned, soon, "lead_id")
        # Inside the 72 hours only with an agent kept for the call (a live operator there).
        body = {"lead_id": abandoned, "at": soon, "agent": keeper}
        assert http.post("/api/v1/callbacks", json=body).status_code == 201
        # After the 72 hours, or for a lead the rules allow, anyone.
        later = (now + timedelta(hours=73)).isoformat()
        assert (
            http.post("/api/v1/callbacks", json={"lead_id": other, "at": later}).status_code == 201
        )
        assert (
            http.post("/api/v1/callbacks", json={"lead_id": plain, "at": soon}).status_code == 201
        )


def test_supervisor_and_admin_actions_are_in_the_audit_log(
    daemon: Daemon, store_db_url: str
) -> None:
    name, (lead,) = new_campaign(daemon, ["+14155550401"])
    with daemon.client("supervisor") as sup:
        r = sup.patch(f"/api/v1/campaigns/{name}", json={"wrapup_s": 7.5, "hold_s": 1.5})
        assert r.status_code == 200, r.text
        body = {"codes": [{"code": "sale", "label": "Sale"}]}
        assert sup.put(f"/api/v1/campaigns/{name}/dispositions", json=body).status_code == 200
        r = sup.get("/api/v1/audit", params={"target": f"campaign {name}"})
        assert r.status_code == 200, r.text
        entries = r.json()
    actions = [(e["who"], e["role"], e["action"]) for e in reversed(entries)]
    assert actions == [
        ("admin-user", "admin", "create"),
        ("supervisor-user", "supervisor", "edit"),
        ("supervisor-user", "supervisor", "dispositions"),
    ]
    edit = entries[1]
    assert edit["after"]["wrapup_s"] == 7.5 != edit["before"]["wrapup_s"]
    assert edit["after"]["hold_s"] == 1.5
    assert "wrapup_s" in edit["text"] and "-> 7.5" in edit["text"]
    assert entries[0]["after"] == {"codes": {"sale": "Sale"}}
    with daemon.client("agent") as agent:
        assert agent.get("/api/v1/audit").status_code == 403
    # The database-side CLI writes there too, as the operating-system user; numbers masked.
    out = cli("dnc", "opt-out", "+14155550401", "--note", "asked", db_url=store_db_url)
    assert out.returncode == 0, out.stderr
    out = cli("audit", "--target", "dnc list opt-out", db_url=store_db_url)
    assert out.returncode == 0, out.stderr
    assert "(cli) dnc opt-out dnc list opt-out" in out.stdout
    assert "4155550401" not in out.stdout
    out = cli("audit", "--target", f"campaign {name}", db_url=store_db_url)
    assert [line.split(" ", 5)[4] for line in out.stdout.splitlines()] == [
        "create",
        "edit",
        "dispositions",
    ]
    assert lead > 0
