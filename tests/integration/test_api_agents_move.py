"""Moving an agent between campaigns over HTTP (and the CLI), against a running daemon on the real
rig: an idle agent moves at once with its headset leg up and takes the new campaign's calls; a
busy one finishes its call (never dropped) and its wrap-up first; errors are 404, 422 and 409."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rig.asterisk import Asterisk
from rig.numbers import Behaviour, make_number
from tests.integration.api_daemon import Daemon, query, serve_one, unique, wait_for
from tests.integration.test_cli_api import dialer

pytestmark = [pytest.mark.rig, pytest.mark.slow]


@pytest.fixture(scope="module")
def daemon(
    tmp_path_factory: pytest.TempPathFactory,
    asterisk: Asterisk,
    sipp_trunk: Any,
    agent_headsets: Any,
    store_db_url: str,
) -> Iterator[Daemon]:
    yield from serve_one(tmp_path_factory, asterisk, store_db_url, "api-move")


def campaign(http: Any, trunk: str, agents: list[tuple[str, str]]) -> str:
    name = unique("move")
    body = {
        "name": name,
        "trunk": trunk,
        "caller_id": "+15550000000",
        "max_attempts": 1,
        "wrapup_s": 1.0,
        "dispositions": [{"code": "sale"}],
    }
    assert http.post("/api/v1/campaigns", json=body).status_code == 201
    for agent, endpoint in agents:
        body = {"name": agent, "sip_endpoint": endpoint, "campaign": name}
        assert http.post("/api/v1/agents", json=body).status_code == 201
    return name


def add_leads(http: Any, campaign: str, numbers: list[str]) -> None:
    r = http.post(
        f"/api/v1/campaigns/{campaign}/leads",
        content="phone\n" + "\n".join(numbers) + "\n",
        params={"check": "format"},
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text


def test_moving_agents_between_running_campaigns(daemon: Daemon, store_db_url: str) -> None:
    with daemon.client("admin") as http:
        trunk = unique("trunk")
        body = {"name": trunk, "endpoint": "trunk", "max_channels": 10, "max_cps": 10}
        assert http.post("/api/v1/trunks", json=body).status_code == 201
        x = campaign(http, trunk, [("mover", "agent1")])
        y = campaign(http, trunk, [("stayer", "agent2")])
        draft = campaign(http, trunk, [])
        for c in (x, y):
            assert http.post(f"/api/v1/campaigns/{c}/start").status_code == 200

        def agent(name: str) -> dict[str, Any]:
            data: dict[str, Any] = http.get(f"/api/v1/agents/{name}").json()
            return data

        def agents_of(c: str) -> dict[str, int]:
            data: dict[str, int] = http.get(f"/api/v1/campaigns/{c}/stats").json()["live"][
                "agents_by_state"
            ]
            return {k: v for k, v in data.items() if v}

        wait_for(lambda: agent("mover")["state"] == "ready", 20, "mover to log in")
        wait_for(lambda: agent("stayer")["state"] == "ready", 20, "stayer to log in")
        mover_id = agent("mover")["id"]
        x_id = http.get(f"/api/v1/campaigns/{x}").json()["id"]
        y_id = http.get(f"/api/v1/campaigns/{y}").json()["id"]

        # Busy: the mover is on a 5-second call in X; the move waits for it and its wrap-up.
        add_leads(http, x, [make_number(Behaviour.ANSWER, 0.3, 5.0, 1)])
        wait_for(lambda: agent("mover")["state"] == "on_call", 20, "the mover's call")
        r = http.put(f"/api/v1/agents/{mover_id}/campaign", json={"campaign": y})
        assert r.status_code == 200, r.text
        assert (r.json()["moved"], r.json()["campaign_id"]) == ("after_call", y_id)
        assert r.json()["state"] == "on_call"
        assert agents_of(x) == {"on_call": 1}
        wait_for(lambda: agents_of(y) == {"ready": 2}, 20, "the mover to reach Y")
        assert agents_of(x) == {}
        (call,) = query(
            store_db_url,
            "SELECT result, hangup_cause, agent_connect_at, hangup_at FROM call_attempts"
            " WHERE campaign_id = :c",
            c=x_id,
        )
        assert (call.result, call.hangup_cause) == ("connected", 16)  # the callee hung up
        assert (call.hangup_at - call.agent_connect_at).total_seconds() > 4.5  # not dropped

        # Idle: back to X at once, headset leg kept (no new log-in), and X's calls reach it.
        calls_before = agent("mover")["calls"]
        r = http.put("/api/v1/agents/mover/campaign", json={"campaign": x_id})
        assert r.status_code == 200, r.text
        assert (r.json()["moved"], r.json()["state"]) == ("now", "ready")
        assert agents_of(x) == {"ready": 1}
        assert agents_of(y) == {"ready": 1}
        add_leads(http, x, [make_number(Behaviour.ANSWER, 0.3, 0.5, 2)])
        wait_for(lambda: agent("mover")["calls"] > calls_before, 20, "X's call to the mover")

        def connected_agents() -> list[int] | None:
            rows = query(
                store_db_url,
                "SELECT agent_id FROM call_attempts WHERE campaign_id = :c"
                " AND result = 'connected'",
                c=x_id,
            )
            return [r.agent_id for r in rows] if len(rows) == 2 else None

        assert wait_for(connected_agents, 20, "the second call's record") == [mover_id] * 2
        wait_for(lambda: agent("mover")["state"] == "ready", 20, "the mover's wrap-up")

        # Errors.
        r = http.put("/api/v1/agents/987654/campaign", json={"campaign": x})
        assert r.status_code == 404
        r = http.put("/api/v1/agents/mover/campaign", json={"campaign": "no-such-campaign"})
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "campaign"]
        r = http.put("/api/v1/agents/mover/campaign", json={})
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "campaign"]
        lead = query(store_db_url, "SELECT min(id) FROM leads WHERE campaign_id = :c", c=x_id)
        at = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        cb = http.post(
            "/api/v1/callbacks", json={"lead_id": lead[0][0], "at": at, "agent": "mover"}
        )
        assert cb.status_code == 201, cb.text
        r = http.put("/api/v1/agents/mover/campaign", json={"campaign": y})
        assert r.status_code == 409
        assert "pending callback" in r.json()["detail"]
        assert agent("mover")["campaign_id"] == x_id  # nothing changed
        assert http.delete(f"/api/v1/callbacks/{cb.json()['id']}").status_code == 204

    # Through the CLI, to a campaign this daemon does not run: logged out here.
    out = dialer(daemon, "agents", "move", "mover", draft)
    assert out.returncode == 0, out.stderr
    assert "moved to campaign" in out.stdout
    with daemon.client("admin") as http:
        wait_for(
            lambda: http.get("/api/v1/agents/mover").json()["state"] == "logged_out",
            10,
            "the mover to be logged out",
        )
        assert agents_of(x) == {}
    out = dialer(daemon, "agents", "move", "mover", "no-such-campaign")
    assert out.returncode == 1
    assert "no-such-campaign" in out.stderr
