"""Another daemon takes over a dead daemon's agents and calls, on the real Asterisk rig and on
FreeSWITCH (when a binary is found).

Daemon A holds all four agents (it started first; agents are never taken away to rebalance)
while daemon B runs beside it on the same database. A is killed with SIGKILL while two of its
agents talk to customers and two are idle. Once A's agent leases expire, B claims the agents:
the idle headset legs are adopted (ready at once, not called again), the bridged ones are left
alone. Once A's lead leases expire, B takes the two calls over: they go on to the customers' own
hang-up, connected, and the agents come back to B. New leads are then called through the
adopted legs.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dialer.domain.identity import name_of
from rig.numbers import Behaviour, make_number
from tests.fixtures.pbx import CampaignPbx
from tests.integration.api_daemon import (
    import_numbers,
    query,
    set_up_campaign,
    start_daemon,
    truncate_all,
    unique,
    wait_for,
    write_config,
)

pytestmark = [pytest.mark.rig, pytest.mark.slow]

TALK = [make_number(Behaviour.ANSWER, 1.0, 45.0, 500 + i) for i in range(2)]
SHORT = [make_number(Behaviour.ANSWER, 0.5, 1.0, 510 + i) for i in range(2)]
EXTRA = [make_number(Behaviour.ANSWER, 0.5, 1.0, 520 + i) for i in range(2)]
LEASE_S = 20


def _by_phone(db_url: str) -> dict[str, Any]:
    rows = query(
        db_url,
        "SELECT l.phone, a.owner, a.answer_at, a.hangup_at, a.result, a.agent_id"
        " FROM call_attempts a JOIN leads l ON l.id = a.lead_id",
    )
    return {r.phone: r for r in rows}


def test_another_daemon_takes_over_a_dead_daemons_agents_and_calls(
    tmp_path: Path, pbx: CampaignPbx, store_db_url: str
) -> None:
    asyncio.run(truncate_all(store_db_url))
    daemons = {}
    for name in ("a", "b"):
        home = tmp_path / name
        home.mkdir()
        config = write_config(
            home, pbx.pbx_settings(), store_db_url, owner=unique(name), lease_s=LEASE_S
        )
        daemons[name] = (home, config)
    a = start_daemon(*daemons["a"])
    b = None
    killed = False
    try:
        agents = [(unique("agent"), e) for e in pbx.agent_endpoints(4)]
        name = set_up_campaign(
            a, [*TALK, *SHORT], agents, trunk={"max_channels": 10, "max_cps": 10}, max_attempts=3
        )
        with a.client("admin") as admin:
            assert admin.post(f"/api/v1/campaigns/{name}/start").status_code == 200
        owners = lambda: {  # noqa: E731
            r.owner
            for r in query(
                store_db_url,
                "SELECT a.owner FROM agents a JOIN campaigns c ON c.id = a.campaign_id"
                " WHERE c.name = :c",
                c=name,
            )
        }
        wait_for(lambda: len(owners()) == 1 and None not in owners(), 20, "A to own the agents")
        b = start_daemon(*daemons["b"])  # beside A; it gets no agent while A holds them

        def two_talking_two_idle() -> bool:
            rows = _by_phone(store_db_url)
            return all(p in rows and rows[p].agent_id is not None for p in TALK) and all(
                p in rows and rows[p].result == "connected" for p in SHORT
            )

        wait_for(two_talking_two_idle, 30, "two agents talking, two idle again")
        time.sleep(1.0)  # the idle ones' wrap-up (0.5 s)
        headset_calls = pbx.headsets.stats().incoming_calls
        a.proc.kill()
        a.proc.wait(5)
        killed = True
        killed_at = time.monotonic()

        # B claims the agents after their lease (15 s) and adopts the idle legs: new leads are
        # called through them, long before A's calls are taken over.
        with b.client("admin") as admin:
            import_numbers(admin, name, EXTRA)
        wait_for(
            lambda: all(
                p in (rows := _by_phone(store_db_url)) and rows[p].result == "connected"
                for p in EXTRA
            ),
            40,
            "the new leads to be called through the adopted legs",
        )
        extra_done = time.monotonic() - killed_at
        rows = _by_phone(store_db_url)
        assert all(rows[p].hangup_at is None for p in TALK)  # still talking
        # A's lead leases expire: B takes the calls over and follows them to their end.
        wait_for(
            lambda: all(_by_phone(store_db_url)[p].result is not None for p in TALK),
            60,
            "the talking calls to end",
        )
        time.sleep(1.5)  # SIPp writes its counters every second
        assert pbx.headsets.stats().incoming_calls == headset_calls  # none called again
        log = b.log()
    finally:
        if not killed:
            a.proc.kill()
            a.proc.wait(5)
        if b is not None:
            assert b.stop() == 0, b.log()[-3000:]

    rows = _by_phone(store_db_url)
    b_name = name_of(rows[EXTRA[0]].owner)
    assert b_name.startswith("b-")
    for p in TALK:
        row = rows[p]
        # Adopted by B, followed to the customer's own hang-up after 45 s: connected, with
        # its agent, not cut off.
        assert (name_of(row.owner), row.result, row.agent_id is not None) == (
            b_name,
            "connected",
            True,
        ), row
        assert row.hangup_at - row.answer_at >= timedelta(seconds=44), row
    took = re.search(r"took over from daemons whose leases expired: (\d+) calls \((\d+) ended", log)
    assert took is not None and took.groups() == ("2", "0"), log[-3000:]
    assert "headset leg adopted" in log
    invites = [i.user for i in pbx.trunk.invites()]
    for number in [*TALK, *SHORT, *EXTRA]:
        assert invites.count(number.lstrip("+")) + invites.count(number) == 1, number
    leads = query(store_db_url, "SELECT status, lease_owner FROM leads")
    assert all(lead.lease_owner is None and lead.status == "done" for lead in leads)
    print(f"\nnew leads called through adopted legs {extra_done:.1f} s after the kill")
