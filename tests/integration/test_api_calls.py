"""The API driving real calls: a campaign set up, loaded and started entirely over HTTP on the
real Asterisk rig (SIPp trunk and headsets) and Postgres; live statistics, trunk use, agents
pausing and logging out, the disposition of an agent's last call and a callback."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest

from rig.asterisk import Asterisk
from rig.numbers import Behaviour, make_number
from tests.integration.api_daemon import (
    AGENT_NAME,
    Daemon,
    query,
    serve_one,
    set_up_campaign,
    unique,
    wait_for,
)

pytestmark = [pytest.mark.rig, pytest.mark.slow]

T = TypeVar("T")


@pytest.fixture(scope="module")
def daemon(
    tmp_path_factory: pytest.TempPathFactory,
    asterisk: Asterisk,
    sipp_trunk: Any,
    agent_headsets: Any,
    store_db_url: str,
) -> Iterator[Daemon]:
    yield from serve_one(tmp_path_factory, asterisk, store_db_url, "api-calls")


def set_up(
    daemon: Daemon, numbers: list[str], agents: list[tuple[str, str]], **campaign: Any
) -> str:
    return set_up_campaign(
        daemon,
        numbers,
        agents,
        dispositions=[{"code": "sale"}, {"code": "no_sale"}],
        **campaign,
    )


def test_a_campaign_run_entirely_over_the_api(daemon: Daemon, store_db_url: str) -> None:
    numbers = [make_number(Behaviour.ANSWER, 0.3, 1.5, i) for i in range(8)]
    numbers += [make_number(Behaviour.BUSY, 0.2, 0.0, 100 + i) for i in range(3)]
    numbers += [make_number(Behaviour.FAIL, 0.2, 0.0, 200 + i) for i in range(2)]
    agents = [(unique("a"), "agent1"), (unique("b"), "agent2"), (AGENT_NAME, "agent3")]
    name = set_up(daemon, numbers, agents)

    with daemon.client("supervisor") as sup, daemon.client("agent") as me_http:
        me = me_http.get(f"/api/v1/agents/{AGENT_NAME}").json()
        assert me["state"] == "logged_out"
        assert sup.post(f"/api/v1/campaigns/{name}/start").status_code == 200

        # The start called every agent's headset; SIPp answers, so they become ready.
        def agents_up() -> bool:
            states = [
                a["state"] for a in sup.get("/api/v1/agents", params={"campaign": name}).json()
            ]
            return all(s in ("ready", "on_call", "wrapup") for s in states)

        wait_for(agents_up, 20, "the agents to log in")

        peak_in_use = 0

        def finished() -> dict[str, Any] | None:
            nonlocal peak_in_use
            trunks = sup.get("/api/v1/trunks").json()
            peak_in_use = max([peak_in_use, *(t["in_use"] for t in trunks)])
            stats: dict[str, Any] = sup.get(f"/api/v1/campaigns/{name}/stats").json()
            total = stats["total"]
            done = total["attempts"] == len(numbers) and total["in_progress"] == 0
            return stats if done and stats["live"]["calls_in_flight"] == 0 else None

        stats = wait_for(finished, 90, "every lead to be called")
        total = stats["total"]
        assert {k: v for k, v in total["by_result"].items() if v} == {
            "connected": 8,
            "busy": 3,
            "failed": 2,
        }
        assert (total["answered"], total["abandonment_rate"]) == (8, 0.0)
        assert total["contact_rate"] == pytest.approx(8 / 13)
        assert total["latency_p50_ms"] is not None
        assert total["latency_p50_ms"] < 1000
        assert stats["window"]["attempts"] == 13
        live = stats["live"]
        assert (live["loaded"], live["dialed"], live["answered"]) == (True, 13, 8)
        assert live["results"]["connected"] == 8
        assert live["dial_level"] == 1.0
        assert sum(live["agents_by_state"].values()) == 3
        # the carrier's failures are the network's fault: not counted, dialable again soon
        assert (stats["leads"]["done"], stats["leads"]["new"]) == (11, 2)
        (listed,) = stats["lists"]
        assert (listed["invalid"], listed["unreachable"]) == (0, 0)
        assert peak_in_use >= 1

        # The agent's own desktop: the result of its last call, with a note.
        wait_for(
            lambda: me_http.get(f"/api/v1/agents/{AGENT_NAME}").json()["state"] == "ready",
            10,
            "the agent's wrap-up to end",
        )
        calls_taken = me_http.get(f"/api/v1/agents/{AGENT_NAME}").json()["calls"]
        assert calls_taken >= 1
        r = me_http.post(f"/api/v1/agents/{AGENT_NAME}/disposition", json={"code": "maybe"})
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "code"]
        assert "no_sale, sale" in r.json()["detail"][0]["msg"]
        r = me_http.post(
            f"/api/v1/agents/{AGENT_NAME}/disposition",
            json={"code": "sale", "note": "wants the gold plan"},
        )
        assert r.status_code == 201, r.text
        disp = r.json()
        assert (disp["code"], disp["note"], disp["agent_id"]) == (
            "sale",
            "wants the gold plan",
            me["id"],
        )
        [row] = query(
            store_db_url,
            "SELECT a.agent_id, a.result, d.code, a.lead_id FROM dispositions d "
            "JOIN call_attempts a ON a.id = d.attempt_id WHERE d.attempt_id = :a",
            a=disp["attempt_id"],
        )
        assert (row.agent_id, row.result, row.code) == (me["id"], "connected", "sale")

        # A callback for that lead, to this agent, in an hour.
        at = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
        r = me_http.post(
            "/api/v1/callbacks",
            json={"lead_id": row.lead_id, "at": at.isoformat(), "agent": AGENT_NAME, "note": "9am"},
        )
        assert r.status_code == 201, r.text
        cb = r.json()
        assert (cb["status"], cb["agent_name"], cb["by"]) == ("pending", AGENT_NAME, "agent-user")
        [stored] = query(
            store_db_url,
            "SELECT lead_id, due_at, agent_id, status, note FROM callbacks WHERE id = :i",
            i=cb["id"],
        )
        assert tuple(stored) == (row.lead_id, at, me["id"], "pending", "9am")
        listed = sup.get("/api/v1/callbacks", params={"campaign": name}).json()
        assert [(c["id"], c["lead_id"], c["agent_id"]) for c in listed] == [
            (cb["id"], row.lead_id, me["id"])
        ]
        # Agents do not cancel; a supervisor does, once.
        assert me_http.delete(f"/api/v1/callbacks/{cb['id']}").status_code == 403
        assert sup.delete(f"/api/v1/callbacks/{cb['id']}").status_code == 204
        assert sup.delete(f"/api/v1/callbacks/{cb['id']}").status_code == 409
        assert sup.get("/api/v1/callbacks", params={"campaign": name}).json() == []

        # Pause with a reason, ready again, log out (the headset leg is hung up).
        r = me_http.post(f"/api/v1/agents/{AGENT_NAME}/pause", json={"reason": "coffee"})
        assert (r.json()["state"], r.json()["pause_reason"]) == ("paused", "coffee")
        assert (
            sup.get(f"/api/v1/campaigns/{name}/stats").json()["live"]["agents_by_state"]["paused"]
            == 1
        )
        assert me_http.post(f"/api/v1/agents/{AGENT_NAME}/ready").json()["state"] == "ready"
        r = me_http.post(f"/api/v1/agents/{AGENT_NAME}/logout")
        assert r.json()["state"] in ("logging_out", "logged_out")
        wait_for(
            lambda: me_http.get(f"/api/v1/agents/{AGENT_NAME}").json()["state"] == "logged_out",
            10,
            "the log-out",
        )
        r = me_http.post(f"/api/v1/agents/{AGENT_NAME}/ready")
        assert r.status_code == 409
        # ... and back in: the headset is called again.
        assert me_http.post(f"/api/v1/agents/{AGENT_NAME}/login").status_code == 202
        wait_for(
            lambda: me_http.get(f"/api/v1/agents/{AGENT_NAME}").json()["state"] == "ready",
            15,
            "the log-in",
        )
        assert sup.post(f"/api/v1/campaigns/{name}/stop").status_code == 200


def test_pause_holds_new_calls_and_resume_goes_on(daemon: Daemon) -> None:
    numbers = [make_number(Behaviour.ANSWER, 0.2, 1.0, 300 + i) for i in range(6)]
    name = set_up(daemon, numbers, [(unique("p"), "agent4")], wrapup_s=0.2)
    with daemon.client("supervisor") as sup:

        def live() -> dict[str, Any]:
            data: dict[str, Any] = sup.get(f"/api/v1/campaigns/{name}/stats").json()["live"]
            return data

        assert sup.post(f"/api/v1/campaigns/{name}/start").status_code == 200
        wait_for(lambda: live()["dialed"] >= 1, 20, "the first call")
        assert sup.post(f"/api/v1/campaigns/{name}/pause").status_code == 200
        wait_for(lambda: live()["calls_in_flight"] == 0, 20, "the call in progress to end")
        held = live()["dialed"]
        time.sleep(2.0)  # one agent, ready again after 0.2 s wrap-up: it would have dialed
        assert live()["dialed"] == held
        assert held < len(numbers)
        assert sup.post(f"/api/v1/campaigns/{name}/resume").status_code == 200
        wait_for(lambda: live()["dialed"] == len(numbers), 60, "the rest of the leads")
        status = sup.get("/api/v1/status").json()
        assert any(c["name"] == name and c["dialed"] == len(numbers) for c in status["campaigns"])
        assert sup.post(f"/api/v1/campaigns/{name}/stop").status_code == 200


def test_an_agent_cannot_schedule_callbacks_in_another_campaign(
    daemon: Daemon, store_db_url: str
) -> None:
    with daemon.client("admin") as admin:
        if admin.get(f"/api/v1/agents/{AGENT_NAME}").status_code == 404:
            set_up(daemon, [], [(AGENT_NAME, "agent3")])
    name = set_up(daemon, [make_number(Behaviour.BUSY, 0.1, 0.0, 400)], [])
    [lead] = query(
        store_db_url,
        "SELECT l.id FROM leads l JOIN campaigns c ON c.id = l.campaign_id WHERE c.name = :n",
        n=name,
    )
    with daemon.client("agent") as me_http:
        r = me_http.post(
            "/api/v1/callbacks", json={"lead_id": lead.id, "at": "2030-01-06T09:00:00+01:00"}
        )
        assert r.status_code == 403
        assert "its campaign" in r.json()["detail"]


def test_disposition_needs_a_call(daemon: Daemon) -> None:
    name = set_up(daemon, [], [(unique("idle"), "agent5")])
    with daemon.client("admin") as admin:
        [agent] = admin.get("/api/v1/agents", params={"campaign": name}).json()
        assert agent["calls"] == 0
        r = admin.post(f"/api/v1/agents/{agent['id']}/disposition", json={"code": "sale"})
        assert r.status_code == 409
        assert "has had no call" in r.json()["detail"]
