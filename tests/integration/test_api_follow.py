"""Two `dialer run` daemons on one database and the real rig: a campaign started through one
daemon's API is dialed by both (leads leased with SKIP LOCKED), a pause through the other stops
the first's originates within the poll period, a resume restarts both, and a stop gives back
every lead either had leased."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from rig.asterisk import Asterisk
from rig.numbers import Behaviour, make_number
from tests.integration.api_daemon import (
    Daemon,
    query,
    serve_two,
    unique,
    wait_for,
)

pytestmark = [pytest.mark.rig, pytest.mark.slow]

POLL_S = 0.5


@pytest.fixture
def daemons(
    tmp_path: Path, asterisk: Asterisk, sipp_trunk: Any, agent_headsets: Any, store_db_url: str
) -> Iterator[tuple[Daemon, Daemon]]:
    yield from serve_two(
        tmp_path,
        asterisk,
        store_db_url,
        ("follow-a", "follow-b"),
        autologin_agents=False,
        campaign_poll_s=POLL_S,
    )


def originated(db_url: str, campaign: str, owner: str) -> list[datetime]:
    """When the daemon named `owner` dialed the campaign's calls (an attempt's owner is the
    process identity, the name and the start: name#...)."""
    rows = query(
        db_url,
        "SELECT a.originated_at FROM call_attempts a JOIN campaigns c ON c.id = a.campaign_id"
        " WHERE c.name = :c AND split_part(a.owner, '#', 1) = :o ORDER BY a.originated_at",
        c=campaign,
        o=owner,
    )
    return [r[0] for r in rows]


def test_every_daemon_follows_the_campaigns_table(
    daemons: tuple[Daemon, Daemon], store_db_url: str
) -> None:
    a, b = daemons
    name = unique("follow")
    numbers = [make_number(Behaviour.BUSY, 0.2, 0.0, i) for i in range(600)]
    with a.client("admin") as admin:
        trunk = unique("trunk")
        body = {"name": trunk, "endpoint": "trunk", "max_channels": 20, "max_cps": 20}
        assert admin.post("/api/v1/trunks", json=body).status_code == 201
        body = {"name": name, "trunk": trunk, "caller_id": "+15550000000", "max_attempts": 1}
        assert admin.post("/api/v1/campaigns", json=body).status_code == 201
        for agent, endpoint in (("follow-1", "agent1"), ("follow-2", "agent2")):
            body = {"name": agent, "sip_endpoint": endpoint, "campaign": name}
            assert admin.post("/api/v1/agents", json=body).status_code == 201
        r = admin.post(
            f"/api/v1/campaigns/{name}/leads",
            content="phone\n" + "\n".join(numbers) + "\n",
            params={"check": "format"},
            headers={"Content-Type": "text/csv"},
        )
        assert r.status_code == 200, r.text

    with a.client("supervisor") as on_a, b.client("supervisor") as on_b:

        def live(http: Any) -> dict[str, Any]:
            data: dict[str, Any] = http.get(f"/api/v1/campaigns/{name}/stats").json()["live"]
            return data

        assert live(on_b)["loaded"] is False
        assert on_a.post(f"/api/v1/campaigns/{name}/start").status_code == 200
        t0 = time.monotonic()
        assert on_a.post("/api/v1/agents/follow-1/login").status_code == 202
        # B was told nothing: it reads the table and starts the campaign by itself.
        wait_for(lambda: live(on_b)["loaded"], 5, "daemon B to load the campaign")
        picked_up_s = time.monotonic() - t0
        assert on_b.post("/api/v1/agents/follow-2/login").status_code == 202
        wait_for(lambda: originated(store_db_url, name, "follow-b"), 20, "B to dial")
        wait_for(lambda: originated(store_db_url, name, "follow-a"), 20, "A to dial")

        # Paused through B: A stops originating within a poll period.
        assert on_b.post(f"/api/v1/campaigns/{name}/pause").status_code == 200
        paused_at = datetime.now(UTC)
        wait_for(lambda: live(on_a)["paused"], 5, "daemon A to pause")
        time.sleep(3 * POLL_S + 1.0)
        a_calls = originated(store_db_url, name, "follow-a")
        late = [(t - paused_at).total_seconds() for t in a_calls if t > paused_at]
        assert max(late, default=0.0) < POLL_S + 0.5, late
        time.sleep(1.5)
        assert originated(store_db_url, name, "follow-a") == a_calls  # no new originate
        assert live(on_a)["calls_in_flight"] == 0

        # Resumed through A: both dial again.
        counts = {o: len(originated(store_db_url, name, o)) for o in ("follow-a", "follow-b")}
        assert on_a.post(f"/api/v1/campaigns/{name}/resume").status_code == 200
        for owner in counts:
            wait_for(
                lambda o=owner: len(originated(store_db_url, name, o)) > counts[o],
                10,
                f"{owner} to dial again",
            )

        # Stopped through B: A gives back the leads it had leased but not dialed.
        assert on_b.post(f"/api/v1/campaigns/{name}/stop").status_code == 200
        wait_for(lambda: live(on_a)["paused"], 5, "daemon A to stop")

        def released() -> bool:
            rows = query(
                store_db_url,
                "SELECT count(*) FROM leads l JOIN campaigns c ON c.id = l.campaign_id"
                " WHERE c.name = :c AND l.lease_owner IS NOT NULL",
                c=name,
            )
            return rows[0][0] == 0 and live(on_a)["calls_in_flight"] == 0

        wait_for(released, 10, "every lease to be given back")
        assert live(on_a)["leads_buffered"] == 0
    print(f"\ndaemon B picked the campaign up {picked_up_s:.2f} s after A's start")
