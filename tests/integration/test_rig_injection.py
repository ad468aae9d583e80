"""Header injection and dial strings never reach the rig's Asterisk.

Over the API, every attempt (CR LF with `Application: System` or `Application: Dial`, a toll
number through the trunk as an agent's endpoint, another technology's dial string, NUL, an
over-long value) is a 422, and the rig's observer AMI account (which sees every channel) sees
no channel made and the SIPp trunk no call. Rows stored before the grammar (written here
straight into the database) are refused by the daemon with a logged error while it goes on
running. And the deploy's AMI account itself cannot run an Originate of the System
application, nor add event filters: it has no "system" write class.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from rig.ami import AmiClient, first
from rig.asterisk import Asterisk
from rig.sipp import Sipp
from tests.integration.api_daemon import (
    Daemon,
    new_campaign,
    new_trunk,
    query,
    serve_one,
    unique,
    wait_for,
)

pytestmark = [pytest.mark.rig]

SYSTEM = "x\r\nApplication: System\r\nData: touch /tmp/dialer-injected"
DIAL = "x\r\nApplication: Dial\r\nData: PJSIP/+19005550100@trunk"
TOLL = "+19005550100@trunk"
ATTEMPTS = [SYSTEM, DIAL, TOLL, "PJSIP/x", "agent1\x00", "a" * 65]
CHANNEL_EVENTS = ("Newchannel", "OriginateResponse", "DialBegin")


@pytest.fixture(scope="module")
def daemon(
    tmp_path_factory: pytest.TempPathFactory,
    asterisk: Asterisk,
    sipp_trunk: Sipp,
    store_db_url: str,
) -> Iterator[Daemon]:
    yield from serve_one(tmp_path_factory, asterisk, store_db_url, "rig-injection")


def channel_events(observer: AmiClient, start: int) -> list[str]:
    return [
        f"{first(m, 'Event')} {first(m, 'Channel')}"
        for m in observer.messages[start:]
        if first(m, "Event") in CHANNEL_EVENTS
    ]


async def test_injection_over_the_api_reaches_nothing(
    daemon: Daemon, asterisk: Asterisk, sipp_trunk: Sipp, ami_observer: AmiClient
) -> None:
    start = len(ami_observer.messages)
    calls_before = sipp_trunk.stats().incoming_calls
    with daemon.client("admin") as http:
        trunk = new_trunk(daemon, caller_id="+15550000000")
        c = new_campaign(http, trunk["name"])
        assert http.post(f"/api/v1/campaigns/{c['name']}/start").status_code == 200

        def attempt(what: str, r: Any, field: str) -> None:
            assert r.status_code == 422, (what, r.text)
            assert field in [e["loc"][-1] for e in r.json()["detail"]], r.text

        for bad in ATTEMPTS:
            body = {"name": unique("ann"), "sip_endpoint": bad, "campaign": c["name"]}
            attempt("agent", http.post("/api/v1/agents", json=body), "sip_endpoint")
            r = http.patch(f"/api/v1/trunks/{trunk['name']}", json={"endpoint": bad})
            attempt("trunk endpoint", r, "endpoint")
            r = http.patch(f"/api/v1/trunks/{trunk['name']}", json={"dial_prefix": bad})
            attempt("dial prefix", r, "dial_prefix")
            r = http.patch(f"/api/v1/campaigns/{c['name']}", json={"caller_id": bad})
            attempt("caller id", r, "caller_id")
            r = http.patch(f"/api/v1/campaigns/{c['name']}", json={"callback_number": bad})
            attempt("callback number", r, "callback_number")
        await asyncio.sleep(2.0)  # a login retry would have come by now
        assert http.get("/api/v1/status").status_code == 200
    assert channel_events(ami_observer, start) == []
    assert sipp_trunk.stats().incoming_calls == calls_before
    assert "Application: System" not in daemon.log()


async def test_stored_rows_outside_the_grammar_are_refused_not_dialed(
    daemon: Daemon, ami_observer: AmiClient, store_db_url: str
) -> None:
    start = len(ami_observer.messages)
    with daemon.client("admin") as http:
        trunk = new_trunk(daemon, caller_id="+15550000000")
        running = new_campaign(http, trunk["name"])
        assert http.post(f"/api/v1/campaigns/{running['name']}/start").status_code == 200
        # An agent written straight into the table, in the running campaign: the daemon
        # follows the table and would log it in.
        (agent_id,) = (
            await asyncio.to_thread(
                query,
                store_db_url,
                "INSERT INTO agents (name, sip_endpoint, campaign_id, state) "
                "VALUES (:name, :endpoint, :campaign, 'offline') RETURNING id",
                name=unique("stored"),
                endpoint=SYSTEM,
                campaign=running["id"],
            )
        )[0]
        wait_for(
            lambda: f"agent {agent_id} is not logged in: stored value refused" in daemon.log(),
            30,
            "the daemon to refuse the stored agent",
        )
        # A trunk whose stored endpoint is a dial string: its campaign is not started.
        other = new_trunk(daemon, caller_id="+15550000000")
        draft = new_campaign(http, other["name"])
        await asyncio.to_thread(
            query,
            store_db_url,
            "UPDATE trunks SET endpoint = :endpoint WHERE id = :id RETURNING id",
            endpoint=TOLL,
            id=other["id"],
        )
        r = http.post(f"/api/v1/campaigns/{draft['name']}/start")
        assert r.status_code == 409, r.text
        assert "endpoint" in r.text and "not dialed" in r.text
        # The rows are kept, as they were.
        sql = "SELECT sip_endpoint FROM agents WHERE id = :id"
        (row,) = await asyncio.to_thread(query, store_db_url, sql, id=agent_id)
        assert row[0] == SYSTEM
        assert http.get(f"/api/v1/agents/{agent_id}").json()["state"] == "logged_out"
        await asyncio.sleep(1.0)
        assert daemon.proc.poll() is None
        assert http.get("/api/v1/status").status_code == 200
    assert channel_events(ami_observer, start) == []


async def test_the_dialer_account_cannot_run_system(ami: AmiClient, asterisk: Asterisk) -> None:
    marker = asterisk.root / "tmp" / "dialer-injected"
    marker.unlink(missing_ok=True)
    r = await ami.request(
        "Originate",
        Channel="Local/s@dialer-no-such-context",
        Application="System",
        Data="touch /tmp/dialer-injected",
    )
    assert first(r, "Response") == "Error", r
    assert "Forbidden" in first(r, "Message"), r
    # Nor add event filters of its own (Filter needs "system"): it gets what manager.conf says.
    r = await ami.request("Filter", Operation="Add", Filter="Event: Newexten")
    assert first(r, "Response") == "Error", r
    assert not marker.exists()
