"""Preview and power on the rig (real Asterisk, SIPp trunk and headsets, Postgres), driven over
the HTTP API as agents and supervisors would.

Preview: each ready agent is shown one lead and nothing is dialed by itself; the agent dials it
and the answered call goes to that agent; a skip gives the lead back (dialable again in an hour)
with its reason in the audit log; a campaign with a timeout dials the shown lead by itself.
Power: the campaign's lines per agent set how many calls ring per ready agent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rig.asterisk import Asterisk
from rig.numbers import Behaviour, make_number
from tests.integration.api_daemon import Daemon, query, serve_one, set_up_campaign, unique, wait_for

pytestmark = [pytest.mark.rig, pytest.mark.slow]


@pytest.fixture(scope="module")
def daemon(
    tmp_path_factory: pytest.TempPathFactory,
    asterisk: Asterisk,
    sipp_trunk: Any,
    agent_headsets: Any,
    store_db_url: str,
) -> Iterator[Daemon]:
    yield from serve_one(tmp_path_factory, asterisk, store_db_url, "preview-power")


def _ready(sup: Any, name: str, n: int) -> None:
    def up() -> bool:
        agents = sup.get("/api/v1/agents", params={"campaign": name}).json()
        return sum(a["state"] == "ready" for a in agents) == n

    wait_for(up, 20, "the agents to log in")


def test_preview_agents_dial_or_skip_the_lead_they_are_shown(
    daemon: Daemon, store_db_url: str
) -> None:
    numbers = [make_number(Behaviour.ANSWER, 0.5, 2.0, 400 + i) for i in range(3)]
    first, second = unique("pa"), unique("pb")
    name = set_up_campaign(
        daemon, numbers, [(first, "agent1"), (second, "agent2")], pacing_mode="preview"
    )
    with daemon.client("supervisor") as sup, daemon.client("admin") as admin:
        assert sup.post(f"/api/v1/campaigns/{name}/start").status_code == 200
        _ready(sup, name, 2)
        ids = {a["name"]: a["id"] for a in sup.get("/api/v1/agents").json()}

        def shown(agent: str) -> dict[str, Any] | None:
            r = admin.get(f"/api/v1/agents/{agent}/offer")
            return r.json() if r.status_code == 200 else None

        offer_a = wait_for(lambda: shown(first), 10, "a lead shown to the first agent")
        offer_b = wait_for(lambda: shown(second), 10, "a lead shown to the second agent")
        assert offer_a["lead_id"] != offer_b["lead_id"]
        assert offer_a["phone"] in numbers and offer_a["dial_by"] is None

        # Nothing is dialed until an agent says so.
        assert query(store_db_url, "SELECT id FROM call_attempts") == []

        # The second agent skips its lead with a reason: it is shown the third one.
        r = admin.post(f"/api/v1/agents/{second}/offer/skip", json={"reason": "asked not today"})
        assert r.status_code == 200, r.text
        offer_b2 = wait_for(lambda: shown(second), 10, "the next lead for the second agent")
        assert offer_b2["lead_id"] not in (offer_a["lead_id"], offer_b["lead_id"])
        [skipped] = query(
            store_db_url,
            "SELECT status, lease_owner, next_call_at > now() + interval '50 minutes' AS later "
            "FROM leads WHERE id = :i",
            i=offer_b["lead_id"],
        )
        assert (skipped.lease_owner, skipped.later) == (None, True)
        [audit] = query(
            store_db_url,
            "SELECT action, target, after FROM audit_log WHERE target = :t",
            t=f"lead {offer_b['lead_id']}",
        )
        assert (audit.action, audit.after["reason"]) == ("skip", "asked not today")

        # The first agent dials its lead: the answered call goes to that agent.
        r = admin.post(f"/api/v1/agents/{first}/offer/dial")
        assert r.status_code == 202, r.text
        assert admin.get(f"/api/v1/agents/{first}/offer").status_code == 409

        def connected() -> Any:
            rows = query(
                store_db_url,
                "SELECT result, agent_id FROM call_attempts WHERE lead_id = :l "
                "AND hangup_at IS NOT NULL",
                l=offer_a["lead_id"],
            )
            return rows[0] if rows else None

        row = wait_for(connected, 30, "the dialed lead's call to end")
        assert (row.result, row.agent_id) == ("connected", ids[first])
        assert (
            admin.post(f"/api/v1/agents/{second}/offer/skip", json={"reason": ""}).status_code
            == 422
        )
        assert sup.post(f"/api/v1/campaigns/{name}/stop").status_code == 200


def test_a_preview_lead_is_dialed_by_itself_after_the_campaigns_timeout(
    daemon: Daemon, store_db_url: str
) -> None:
    numbers = [make_number(Behaviour.ANSWER, 0.5, 1.0, 450)]
    agent = unique("pt")
    name = set_up_campaign(
        daemon, numbers, [(agent, "agent3")], pacing_mode="preview", preview_timeout_s=3
    )
    with daemon.client("supervisor") as sup:
        assert sup.post(f"/api/v1/campaigns/{name}/start").status_code == 200
        _ready(sup, name, 1)
        offer = wait_for(
            lambda: (r := sup.get(f"/api/v1/agents/{agent}/offer")).status_code == 200 and r.json(),
            10,
            "the lead to be shown",
        )
        assert offer["dial_by"] is not None

        def ended() -> Any:
            rows = query(
                store_db_url,
                "SELECT result FROM call_attempts a JOIN leads l ON l.id = a.lead_id "
                "WHERE a.lead_id = :l AND a.hangup_at IS NOT NULL",
                l=offer["lead_id"],
            )
            return rows[0] if rows else None

        assert wait_for(ended, 30, "the lead to be dialed by itself").result == "connected"
        assert sup.post(f"/api/v1/campaigns/{name}/stop").status_code == 200


def test_power_rings_the_campaigns_lines_per_agent(daemon: Daemon, store_db_url: str) -> None:
    # Calls that ring long and are never answered: what rings at once is what pacing dialed.
    numbers = [make_number(Behaviour.NO_ANSWER, 0.0, 0.0, 470 + i) for i in range(12)]
    agents = [(unique("w1"), "agent4"), (unique("w2"), "agent5")]
    name = set_up_campaign(
        daemon, numbers, agents, pacing_mode="power", lines_per_agent=3, ring_timeout_s=20
    )
    with daemon.client("supervisor") as sup:
        assert sup.post(f"/api/v1/campaigns/{name}/start").status_code == 200
        _ready(sup, name, 2)

        def ringing() -> int | None:
            live = sup.get(f"/api/v1/campaigns/{name}/stats").json()["live"]
            n = int(live["calls_in_flight"])
            return n if n >= 6 else None

        assert wait_for(ringing, 15, "six calls to ring") == 6
        # Never more than three per ready agent while they ring.
        for _ in range(10):
            live = sup.get(f"/api/v1/campaigns/{name}/stats").json()["live"]
            assert live["calls_in_flight"] <= 6
        r = sup.patch(f"/api/v1/campaigns/{name}", json={"lines_per_agent": 11})
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "lines_per_agent"]
        assert sup.post(f"/api/v1/campaigns/{name}/stop").status_code == 200
