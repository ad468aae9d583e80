"""Two `dialer run` daemons on one database and the real rig, autologin ON: a campaign started
through one daemon's API is run by both, and each agent belongs to exactly one of them (its
lease, `agents.owner`): each agent's headset is called once (not once per daemon), the two
daemons split the agents, both daemons' calls are answered, handed to their own agents and
completed, and a clean stop gives every agent back."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dialer.domain.identity import name_of
from rig.asterisk import Asterisk
from rig.numbers import Behaviour, make_number
from tests.integration.api_daemon import (
    Daemon,
    query,
    serve_two,
    unique,
    wait_for,
)
from tests.integration.test_cli_api import dialer

pytestmark = [pytest.mark.rig, pytest.mark.slow]

POLL_S = 0.5
AGENTS = 4
_READY = re.compile(r"agent (\d+) ready\b")


@pytest.fixture
def daemons(
    tmp_path: Path, asterisk: Asterisk, sipp_trunk: Any, agent_headsets: Any, store_db_url: str
) -> Iterator[tuple[Daemon, Daemon]]:
    yield from serve_two(
        tmp_path,
        asterisk,
        store_db_url,
        ("owner-a", "owner-b"),
        autologin_agents=True,
        campaign_poll_s=POLL_S,
        agent_lease_s=3.0,
        lease_batch=4,  # small: neither daemon leases every lead before the other
    )


def owners(db_url: str, campaign: str) -> dict[str, str | None]:
    """Agent -> the name of the daemon owning it (owners are process identities: name#start)."""
    rows = query(
        db_url,
        "SELECT a.name, a.owner FROM agents a JOIN campaigns c ON c.id = a.campaign_id"
        " WHERE c.name = :c",
        c=campaign,
    )
    return {r[0]: _name(r[1]) for r in rows}


def _name(owner: str | None) -> str | None:
    return name_of(owner) if owner is not None else None


def set_up(
    admin: Any,
    name: str,
    endpoints: list[str],
    numbers: list[str],
    max_channels: int,
    **campaign: Any,
) -> None:
    """A trunk, the campaign `name` on it, one agent per headset endpoint and the leads."""
    trunk = unique("trunk")
    body = {"name": trunk, "endpoint": "trunk", "max_channels": max_channels, "max_cps": 20}
    assert admin.post("/api/v1/trunks", json=body).status_code == 201
    body = {"name": name, "trunk": trunk, "caller_id": "+15550000000", "max_attempts": 1}
    r = admin.post("/api/v1/campaigns", json={**body, **campaign})
    assert r.status_code == 201, r.text
    for i, endpoint in enumerate(endpoints):
        body = {"name": f"{name}-{i}", "sip_endpoint": endpoint, "campaign": name}
        assert admin.post("/api/v1/agents", json=body).status_code == 201
    r = admin.post(
        f"/api/v1/campaigns/{name}/leads",
        content="phone\n" + "\n".join(numbers) + "\n",
        params={"check": "format"},
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text


def test_each_agent_belongs_to_one_daemon(
    daemons: tuple[Daemon, Daemon], agent_headsets: Any, store_db_url: str
) -> None:
    a, b = daemons
    name = unique("owned")
    endpoints = agent_headsets.endpoints(AGENTS)
    numbers = [make_number(Behaviour.ANSWER, 0.3, 1.5, i) for i in range(24)]
    with a.client("admin") as admin:
        set_up(admin, name, endpoints, numbers, max_channels=20)

    time.sleep(1.5)  # SIPp writes its statistics every second
    headset_calls = agent_headsets.sipp.stats().incoming_calls
    with a.client("supervisor") as on_a, b.client("supervisor") as on_b:
        assert on_a.post(f"/api/v1/campaigns/{name}/start").status_code == 200

        def states(http: Any) -> dict[str, str]:
            rows = http.get("/api/v1/agents", params={"campaign": name}).json()
            return {row["name"]: row["state"] for row in rows}

        def all_in() -> bool:
            # Logged in (ready, or already on a call) in exactly one daemon.
            on = [states(on_a), states(on_b)]
            out = ("logged_out", "logging_in")
            return all(sum(s[n] not in out for s in on) == 1 for n in on[0])

        wait_for(all_in, 20, "every agent logged in in exactly one daemon")
        owned = owners(store_db_url, name)
        assert set(owned.values()) == {"owner-a", "owner-b"}, owned  # split, none unowned
        for daemon, http in (("owner-a", on_a), ("owner-b", on_b)):
            live = states(http)
            assert {n for n, s in live.items() if s != "logged_out"} == {
                n for n, o in owned.items() if o == daemon
            }
            # Either daemon's API names each agent's owner, and says whether it is itself.
            rows = http.get("/api/v1/agents", params={"campaign": name}).json()
            assert {r["name"]: _name(r["owner"]) for r in rows} == owned
            assert {r["name"] for r in rows if r["owned_here"]} == {
                n for n, o in owned.items() if o == daemon
            }
            one = next(iter(owned))
            got = http.get(f"/api/v1/agents/{one}").json()
            assert (_name(got["owner"]), got["owned_here"]) == (owned[one], owned[one] == daemon)
        # ... and so does the CLI (table and JSON).
        out = dialer(b, "agents", "--campaign", name, role="supervisor")
        assert out.returncode == 0, out.stderr
        head, *lines = out.stdout.splitlines()
        assert "OWNER" in head
        for agent_name, daemon in owned.items():
            line = next(x for x in lines if x.split()[1] == agent_name)
            assert name_of(line.split()[-1]) == daemon, line
        out = dialer(b, "agents", "--campaign", name, "--json", role="supervisor")
        assert {r["name"]: _name(r["owner"]) for r in json.loads(out.stdout)} == owned

        # Every lead is called; both daemons' calls reach their own agents and complete.
        def done() -> bool:
            rows = query(
                store_db_url,
                "SELECT count(*) FROM leads l JOIN campaigns c ON c.id = l.campaign_id"
                " WHERE c.name = :c AND l.status <> 'done'",
                c=name,
            )
            return bool(rows[0][0] == 0)

        wait_for(done, 90, "every lead to be called")
        rows = query(
            store_db_url,
            "SELECT a.owner, g.name, a.result FROM call_attempts a"
            " JOIN campaigns c ON c.id = a.campaign_id LEFT JOIN agents g ON g.id = a.agent_id"
            " WHERE c.name = :c",
            c=name,
        )
        assert len(rows) == len(numbers)
        assert all(r[2] is not None for r in rows)  # every record closed
        connected = [(name_of(r[0]), r[1]) for r in rows if r[2] == "connected"]
        assert {o for o, _ in connected} == {"owner-a", "owner-b"}, rows
        # A daemon hands calls only to agents it owns.
        assert all(owned[agent] == daemon for daemon, agent in connected), (connected, owned)

        # Each headset was called once in all: not once per daemon, no second login.
        time.sleep(1.5)
        assert agent_headsets.sipp.stats().incoming_calls - headset_calls == AGENTS
        ready_lines = [_READY.findall(d.log()) for d in (a, b)]
        assert sorted(ready_lines[0] + ready_lines[1]) == sorted(
            set(ready_lines[0] + ready_lines[1])
        )
        assert len(ready_lines[0]) + len(ready_lines[1]) == AGENTS
        assert owners(store_db_url, name) == owned  # renewed, never handed over
    split = sorted(sum(o == d for o in owned.values()) for d in ("owner-a", "owner-b"))
    print(
        f"\nagents per daemon: {split}; answered calls per daemon: "
        f"{ {d: sum(o == d for o, _ in connected) for d in ('owner-a', 'owner-b')} }"
    )


def test_a_clean_stop_gives_the_agents_back(
    daemons: tuple[Daemon, Daemon], agent_headsets: Any, store_db_url: str
) -> None:
    a, b = daemons
    name = unique("handover")
    endpoints = agent_headsets.endpoints(2)
    with a.client("admin") as admin:
        trunk = unique("trunk")
        body = {"name": trunk, "endpoint": "trunk", "max_channels": 5, "max_cps": 5}
        assert admin.post("/api/v1/trunks", json=body).status_code == 201
        body = {"name": name, "trunk": trunk, "caller_id": "+15550000000", "max_attempts": 1}
        assert admin.post("/api/v1/campaigns", json=body).status_code == 201
        for i, endpoint in enumerate(endpoints):
            body = {"name": f"{name}-{i}", "sip_endpoint": endpoint, "campaign": name}
            assert admin.post("/api/v1/agents", json=body).status_code == 201
        assert admin.post(f"/api/v1/campaigns/{name}/start").status_code == 200
    wait_for(lambda: all(owners(store_db_url, name).values()), 20, "every agent to have an owner")
    # A log-in through the daemon that does not own the agent is refused, naming the owner.
    owned = owners(store_db_url, name)
    agent, holder = next(iter(owned.items()))
    assert holder is not None
    other = b if holder == "owner-a" else a
    with other.client("admin") as http:
        r = http.post(f"/api/v1/agents/{agent}/login")
        assert r.status_code == 409, r.text
        assert holder in r.text
    # The owner stops cleanly: its agents are given back and the other daemon takes them
    # (logs them in) within a lease round.
    stopping = a if holder == "owner-a" else b
    assert stopping.stop() == 0
    wait_for(
        lambda: set(owners(store_db_url, name).values()) == {other_name(holder)},
        10,
        "the other daemon to take the agents",
    )
    with other.client("admin") as http:
        wait_for(
            lambda: http.get(f"/api/v1/agents/{agent}").json()["state"] == "ready",
            10,
            "the agent to be logged in through the other daemon",
        )


def other_name(owner: str) -> str:
    return "owner-b" if owner == "owner-a" else "owner-a"


def test_a_daemon_without_agents_leases_no_leads(
    daemons: tuple[Daemon, Daemon], agent_headsets: Any, store_db_url: str
) -> None:
    # One agent: one daemon owns it, the other has none on the campaign. That one must lease
    # no lead (it could not dial them, and the other daemon could not while it held them):
    # the owner of the agent leases and calls every lead.
    a, _b = daemons
    name = unique("lonely")
    numbers = [make_number(Behaviour.ANSWER, 0.3, 0.8, 300 + i) for i in range(10)]
    with a.client("admin") as admin:
        set_up(admin, name, agent_headsets.endpoints(1), numbers, max_channels=5, wrapup_s=0.2)
        assert admin.post(f"/api/v1/campaigns/{name}/start").status_code == 200
    wait_for(lambda: all(owners(store_db_url, name).values()), 20, "the agent to have an owner")
    (holder,) = owners(store_db_url, name).values()
    lease_owners: set[str] = set()

    def done() -> bool:
        rows = query(
            store_db_url,
            "SELECT l.status, l.lease_owner FROM leads l JOIN campaigns c"
            " ON c.id = l.campaign_id WHERE c.name = :c",
            c=name,
        )
        lease_owners.update(name_of(r[1]) for r in rows if r[1] is not None)
        return all(r[0] == "done" for r in rows)

    deadline = time.monotonic() + 90
    while not done():
        assert time.monotonic() < deadline, f"leads not all called; leased by {lease_owners}"
        time.sleep(0.1)
    assert lease_owners == {holder}, lease_owners
    rows = query(
        store_db_url,
        "SELECT a.owner FROM call_attempts a JOIN campaigns c ON c.id = a.campaign_id"
        " WHERE c.name = :c",
        c=name,
    )
    assert len(rows) == len(numbers)
    assert {name_of(r[0]) for r in rows} == {holder}
