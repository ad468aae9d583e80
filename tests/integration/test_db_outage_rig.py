"""The database stopped and restarted mid-campaign, on the real Asterisk rig (and on FreeSWITCH
when a binary is found) and a private PostgreSQL the test starts itself (the machine's shared
one is never stopped).

While the database is away no call is dialed, the calls already talking to agents go on to
their own end, and every record of them reaches the database once it is back. A daemon stopped
during an outage spools what it could not write, and the next one writes it at its start.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from dialer.store.migrate import upgrade
from rig.numbers import Behaviour, make_number
from rig.sipp import Sipp
from tests.fixtures import private_pg
from tests.fixtures.pbx import CampaignPbx
from tests.integration.api_daemon import (
    Daemon,
    import_numbers,
    query,
    set_up_campaign,
    start_daemon,
    unique,
    wait_for,
    write_config,
)

pytestmark = [pytest.mark.rig, pytest.mark.slow]

TALK = [make_number(Behaviour.ANSWER, 1.0, 14.0, 600 + i) for i in range(3)]
LATER = [make_number(Behaviour.ANSWER, 0.5, 1.0, 610 + i) for i in range(3)]
SECOND = [make_number(Behaviour.ANSWER, 1.0, 30.0, 620 + i) for i in range(2)]


@pytest.fixture
def pg() -> Iterator[private_pg.PrivatePostgres]:
    reason = private_pg.missing_reason()
    if reason is not None:
        pytest.skip(reason)
    server = private_pg.PrivatePostgres()
    server.init()
    server.start()
    try:
        yield server
    finally:
        server.remove()


def _invited(trunk: Sipp, numbers: list[str]) -> list[str]:
    users = [i.user.lstrip("+") for i in trunk.invites()]
    return [n for n in numbers if n.lstrip("+") in users]


def _rows(url: str) -> dict[str, Any]:
    rows = query(
        url,
        "SELECT l.phone, l.status, l.lease_owner, a.answer_at, a.hangup_at, a.result"
        " FROM leads l LEFT JOIN call_attempts a ON a.lead_id = l.id",
    )
    return {r.phone: r for r in rows}


def test_a_database_outage_loses_nothing(
    pg: private_pg.PrivatePostgres, tmp_path: Path, pbx: CampaignPbx
) -> None:
    sipp_trunk = pbx.trunk
    url = pg.create_database("dialer")
    upgrade(url)
    state = tmp_path / "state"
    config = write_config(
        tmp_path, pbx.pbx_settings(), url, owner=unique("outage"), state_dir=str(state)
    )
    daemon = start_daemon(tmp_path, config)
    second: Daemon | None = None
    try:
        agents = [(unique("agent"), e) for e in pbx.agent_endpoints(3)]
        name = set_up_campaign(
            daemon, [*TALK, *LATER], agents, trunk={"max_channels": 10, "max_cps": 10}
        )
        with daemon.client("admin") as admin:
            assert admin.post(f"/api/v1/campaigns/{name}/start").status_code == 200

        def talking() -> bool:
            rows = _rows(url)
            return all(rows[p].answer_at is not None for p in TALK)

        wait_for(talking, 30, "three calls talking to agents")
        # The database goes away for 20 s: the three calls end meanwhile (14 s of talk).
        pg.stop()
        stopped = time.monotonic()
        time.sleep(20)
        assert _invited(sipp_trunk, LATER) == []  # nothing dialed while it was away
        pg.start()
        wait_for(
            lambda: all(r.result is not None for r in _rows(url).values()),
            60,
            "every call and its record, once the database is back",
        )
        rows = _rows(url)
        for p in TALK:
            # went on to the far end's own hang-up, during the outage, recorded as it was
            assert rows[p].result == "connected", rows[p]
            assert rows[p].hangup_at - rows[p].answer_at >= timedelta(seconds=13), rows[p]
        assert all(rows[p].result == "connected" for p in LATER)
        print(f"\noutage of {time.monotonic() - stopped:.1f} s until the database was back")

        # A second outage, and the daemon is stopped during it: its records go to the spool,
        # and the next daemon writes them before anything else.
        with daemon.client("admin") as admin:
            import_numbers(admin, name, SECOND)
        wait_for(
            lambda: all(_rows(url)[p].answer_at is not None for p in SECOND),
            30,
            "two more calls talking",
        )
        pg.stop()
        assert daemon.stop() == 0, daemon.log()[-3000:]  # drains: hangs the calls up, spools
        spools = list(state.glob("cdr-spool-*.jsonl"))
        assert len(spools) == 1 and spools[0].stat().st_size > 0, daemon.log()[-3000:]
        pg.start()
        second_dir = tmp_path / "second"
        second_dir.mkdir()
        second = start_daemon(second_dir, config)
        wait_for(lambda: not spools[0].exists(), 20, "the spool to be replayed")
        rows = _rows(url)
        for p in SECOND:
            assert rows[p].result == "connected", rows[p]  # the real end, not a guess
            assert rows[p].hangup_at is not None
        assert "spooled call records written" in second.log()
    finally:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait(5)
        if second is not None:
            assert second.stop() == 0, second.log()[-3000:]
    rows = _rows(url)
    assert all(r.lease_owner is None and r.status == "done" for r in rows.values()), rows
    invited = _invited(sipp_trunk, [*TALK, *LATER, *SECOND])
    assert sorted(invited) == sorted([*TALK, *LATER, *SECOND])  # each once (a set would hide)
    assert len([i for i in sipp_trunk.invites() if "+" + i.user.lstrip("+") in invited]) == 8
    assert query(url, "SELECT count(*) FROM cdr_dead_letters")[0][0] == 0
