"""Campaigns over HTTP against a running daemon: create, edit, start/pause/resume/stop with the
engine following at once, 409 for a transition the status does not allow, dispositions,
trunks, the PBX state and the daemon's status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dialer.domain.results import CallResult
from rig.asterisk import Asterisk
from tests.integration.api_daemon import Daemon, new_campaign, new_trunk, serve_one, unique

pytestmark = [pytest.mark.rig]


@pytest.fixture(scope="module")
def daemon(
    tmp_path_factory: pytest.TempPathFactory, asterisk: Asterisk, store_db_url: str
) -> Iterator[Daemon]:
    yield from serve_one(tmp_path_factory, asterisk, store_db_url, "api-campaigns")


@pytest.fixture
def http(daemon: Daemon) -> Iterator[httpx.Client]:
    with daemon.client("supervisor") as client:
        yield client


def test_create_get_list_and_edit(daemon: Daemon, http: httpx.Client) -> None:
    trunk = new_trunk(daemon)
    c = new_campaign(
        http,
        trunk["name"],
        pacing_mode="predictive",
        max_attempts=5,
        dispositions=[{"code": "sale", "label": "Sale"}, {"code": "no_interest"}],
    )
    assert c["status"] == "draft"
    assert c["trunk_id"] == trunk["id"]
    assert c["pacing_mode"] == "predictive"
    assert http.get(f"/api/v1/campaigns/{c['id']}").json()["name"] == c["name"]
    assert http.get(f"/api/v1/campaigns/{c['name']}").json()["id"] == c["id"]
    names = [x["name"] for x in http.get("/api/v1/campaigns").json()]
    assert c["name"] in names
    assert [x["name"] for x in http.get("/api/v1/campaigns?status=draft").json()].count(
        c["name"]
    ) == 1

    r = http.post("/api/v1/campaigns", json={**_body(c), "trunk": trunk["name"]})
    assert r.status_code == 409
    assert "exists" in r.json()["detail"]

    renamed = unique("renamed")
    r = http.patch(
        f"/api/v1/campaigns/{c['name']}",
        json={"name": renamed, "wrapup_s": 3, "hold_s": 1.5, "pacing_mode": "progressive"},
    )
    assert r.status_code == 200, r.text
    edited = r.json()
    assert (edited["name"], edited["wrapup_s"], edited["hold_s"]) == (renamed, 3.0, 1.5)
    assert edited["pacing_mode"] == "progressive"
    assert edited["updated_at"] > c["updated_at"]

    codes = http.get(f"/api/v1/campaigns/{renamed}/dispositions").json()
    assert codes == [{"code": "no_interest", "label": ""}, {"code": "sale", "label": "Sale"}]
    r = http.put(
        f"/api/v1/campaigns/{renamed}/dispositions",
        json={"codes": [{"code": "callback", "label": "Call back"}, {"code": "sale"}]},
    )
    assert [d["code"] for d in r.json()] == ["callback", "no_interest", "sale"]
    assert {d["code"]: d["label"] for d in r.json()}["sale"] == ""


def test_answering_machine_settings(daemon: Daemon, http: httpx.Client) -> None:
    trunk = new_trunk(daemon)
    c = new_campaign(http, trunk["name"])
    assert (c["amd_enabled"], c["machine_message"]) == (False, "")
    c = new_campaign(
        http, trunk["name"], amd_enabled=True, machine_message="dialer/machine-message"
    )
    assert (c["amd_enabled"], c["machine_message"]) == (True, "dialer/machine-message")
    got = http.get(f"/api/v1/campaigns/{c['name']}").json()
    assert (got["amd_enabled"], got["machine_message"]) == (True, "dialer/machine-message")
    r = http.patch(f"/api/v1/campaigns/{c['name']}", json={"machine_message": ""})
    assert r.status_code == 200, r.text
    assert (r.json()["amd_enabled"], r.json()["machine_message"]) == (True, "")  # hang up
    r = http.patch(f"/api/v1/campaigns/{c['name']}", json={"amd_enabled": False})
    assert r.json()["amd_enabled"] is False
    # a sound name that leaves the sounds directory or is not one word is refused, by field
    for bad in ("../etc/passwd", "/var/lib/message", "two words"):
        r = http.patch(f"/api/v1/campaigns/{c['name']}", json={"machine_message": bad})
        assert r.status_code == 422, (bad, r.text)
        assert "machine_message" in r.text
        body = {"name": unique("camp"), "trunk": trunk["name"], "machine_message": bad}
        r = http.post("/api/v1/campaigns", json=body)
        assert r.status_code == 422, (bad, r.text)
        assert "machine_message" in r.text
    r = http.patch(f"/api/v1/campaigns/{c['name']}", json={"amd_enabled": "sometimes"})
    assert r.status_code == 422 and "amd_enabled" in r.text
    assert http.get(f"/api/v1/campaigns/{c['name']}").json()["machine_message"] == ""


def _body(c: dict[str, Any]) -> dict[str, Any]:
    return {"name": c["name"], "caller_id": c["caller_id"]}


def test_lifecycle_follows_the_engine(daemon: Daemon, http: httpx.Client) -> None:
    trunk = new_trunk(daemon)
    c = new_campaign(http, trunk["name"])
    ref = c["name"]

    def live() -> dict[str, Any]:
        data: dict[str, Any] = http.get(f"/api/v1/campaigns/{ref}/stats").json()["live"]
        return data

    assert live()["loaded"] is False
    for action in ("pause", "resume", "stop"):
        r = http.post(f"/api/v1/campaigns/{ref}/{action}")
        assert r.status_code == 409, action
        assert "draft" in r.json()["detail"]

    r = http.post(f"/api/v1/campaigns/{ref}/start")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "running"
    assert live()["loaded"] is True
    assert live()["paused"] is False
    assert http.post(f"/api/v1/campaigns/{ref}/start").status_code == 409
    assert http.post(f"/api/v1/campaigns/{ref}/resume").status_code == 409

    # Moving a running campaign to another trunk is refused; pausing first allows it.
    other = new_trunk(daemon)
    r = http.patch(f"/api/v1/campaigns/{ref}", json={"trunk": other["name"]})
    assert r.status_code == 409

    assert http.post(f"/api/v1/campaigns/{ref}/pause").json()["status"] == "paused"
    assert live()["paused"] is True
    r = http.patch(f"/api/v1/campaigns/{ref}", json={"trunk": other["id"]})
    assert r.status_code == 200
    assert r.json()["trunk_id"] == other["id"]
    assert http.post(f"/api/v1/campaigns/{ref}/resume").json()["status"] == "running"
    assert live()["paused"] is False
    assert http.post(f"/api/v1/campaigns/{ref}/stop").json()["status"] == "stopped"
    assert live()["paused"] is True
    assert http.post(f"/api/v1/campaigns/{ref}/stop").status_code == 409
    assert http.post(f"/api/v1/campaigns/{ref}/start").json()["status"] == "running"
    assert live()["paused"] is False

    status = http.get("/api/v1/status").json()
    row = next(x for x in status["campaigns"] if x["name"] == ref)
    assert (row["status"], row["loaded"], row["paused"]) == ("running", True, False)
    assert http.post(f"/api/v1/campaigns/{ref}/stop").status_code == 200


def test_stats_of_a_campaign_with_no_calls(daemon: Daemon, http: httpx.Client) -> None:
    trunk = new_trunk(daemon)
    c = new_campaign(http, trunk["name"])
    stats = http.get(f"/api/v1/campaigns/{c['id']}/stats", params={"window_s": 600}).json()
    assert stats["campaign"]["id"] == c["id"]
    assert stats["window_s"] == 600
    for figures in (stats["window"], stats["total"]):
        assert figures["attempts"] == 0
        assert figures["abandonment_rate"] is None
        assert figures["contact_rate"] is None
        assert set(figures["by_result"]) == {r.value for r in CallResult}
        assert set(figures["by_result"].values()) == {0}
    assert stats["leads"] == {"new": 0, "retry": 0, "dialing": 0, "done": 0, "blocked": 0}


def test_trunks_and_pbx(daemon: Daemon, http: httpx.Client) -> None:
    trunk = new_trunk(daemon, max_channels=7, max_cps=3.5, dial_prefix="9")
    listed = {t["name"]: t for t in http.get("/api/v1/trunks").json()}
    t = listed[trunk["name"]]
    assert (t["max_channels"], t["max_cps"], t["dial_prefix"], t["in_use"]) == (7, 3.5, "9", 0)
    with daemon.client("admin") as admin:
        r = admin.patch(f"/api/v1/trunks/{trunk['name']}", json={"max_channels": 12})
        assert r.status_code == 200
        assert r.json()["max_channels"] == 12
        r = admin.post(
            "/api/v1/trunks",
            json={"name": trunk["name"], "endpoint": "x", "max_channels": 1, "max_cps": 1},
        )
        assert r.status_code == 409
    pbx = http.get("/api/v1/pbx").json()
    assert pbx == {"kind": "asterisk", "host": "127.0.0.1", "port": pbx["port"], "connected": True}
    status = http.get("/api/v1/status").json()
    assert status["pbx"]["connected"] is True
    assert status["stopping"] is False
    assert status["uptime_s"] >= 0


def test_calls_per_second_settings(daemon: Daemon, http: httpx.Client) -> None:
    """A trunk's burst and a campaign's own calls-per-second limit (dialer.pacing.callrate):
    set, shown, cleared with 0, and refused out of range."""
    trunk = new_trunk(daemon, max_cps=10.0, cps_burst=3)
    assert trunk["cps_burst"] == 3
    with daemon.client("admin") as admin:
        assert (
            admin.patch(f"/api/v1/trunks/{trunk['name']}", json={"cps_burst": 0}).json()[
                "cps_burst"
            ]
            is None
        )
        r = admin.patch(f"/api/v1/trunks/{trunk['name']}", json={"cps_burst": -1})
        assert r.status_code == 422
    c = new_campaign(http, trunk["name"], max_cps=2.5)
    assert c["max_cps"] == 2.5
    r = http.patch(f"/api/v1/campaigns/{c['name']}", json={"max_cps": 0})
    assert r.status_code == 200 and r.json()["max_cps"] is None
    assert (
        http.post(
            "/api/v1/campaigns",
            json={
                "name": unique("c"),
                "trunk": trunk["name"],
                "caller_id": "+15550000000",
                "max_cps": 0,
            },
        ).status_code
        == 422
    )
