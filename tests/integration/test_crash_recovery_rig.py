"""A daemon killed with SIGKILL mid-campaign, and restarted under the same name, on the real
Asterisk rig and on FreeSWITCH (when a binary is found): what happened on the phone is not
erased, nobody is dialed again before the rules allow, a customer talking to an agent is not
cut off, and dialing resumes at once.

At the kill the campaign has 5 customers talking to agents, 2 answered with no agent free (they
hear the abandon message), 3 ringing, and 2 leads leased and not dialed yet. Power pacing at 2
lines per agent makes that mix from one start: the first 5 to answer take the 5 agents. While no
daemon runs, one ringing call rings out and two are answered: the dialplan plays them the
abandon message on its own, and the PBX's own call records (Asterisk's cdr_pgsql, FreeSWITCH's
mod_cdr_pg_csv, both into pbx_cdr) are the evidence the restarted daemon closes them by.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rig.numbers import Behaviour, make_number
from tests.fixtures.pbx import CampaignPbx
from tests.integration.api_daemon import (
    Daemon,
    query,
    set_up_campaign,
    start_daemon,
    truncate_all,
    unique,
    wait_for,
    write_config,
)

pytestmark = [pytest.mark.rig, pytest.mark.slow]

TALK = [make_number(Behaviour.ANSWER, 1.0, 30.0, i) for i in range(5)]
LATE = [make_number(Behaviour.ANSWER, 2.5, 20.0, 10 + i) for i in range(2)]
RINGING = [make_number(Behaviour.NO_ANSWER, 0.5, 0.0, 20)]
RING_LATE = [make_number(Behaviour.ANSWER, 6.0, 20.0, 40 + i) for i in range(2)]
EXTRA = [make_number(Behaviour.ANSWER, 0.5, 1.0, 30 + i) for i in range(2)]
DIALED = [*TALK, *LATE, *RINGING, *RING_LATE]
# What each PBX records (pbx_cdr.disposition) for the calls that end while no daemon runs: two
# answered by the late answerers, who heard the message and were hung up by the dialplan, and
# one rung out (the originate's ring time: FreeSWITCH's cause NO_ANSWER).
RECORDED = {
    "asterisk": ("ANSWERED", ["ANSWERED", "ANSWERED", "NO ANSWER"]),
    "freeswitch": ("NORMAL_CLEARING", ["NORMAL_CLEARING", "NORMAL_CLEARING", "NO_ANSWER"]),
}


@pytest.fixture
def home(tmp_path: Path, pbx: CampaignPbx, store_db_url: str) -> tuple[Path, Path]:
    asyncio.run(truncate_all(store_db_url))
    config = write_config(
        tmp_path, pbx.pbx_settings(), store_db_url, owner=unique("crash"), lease_batch=50
    )
    return tmp_path, config


def _set_up(daemon: Daemon, endpoints: list[str]) -> str:
    agents = [(unique("agent"), endpoint) for endpoint in endpoints]
    return set_up_campaign(daemon, [*DIALED, *EXTRA], agents, pacing_mode="power", max_attempts=3)


def _attempts(db_url: str) -> dict[str, Any]:
    rows = query(
        db_url,
        "SELECT a.id, l.phone, a.owner, a.originated_at, a.ring_at, a.answer_at, "
        "a.agent_connect_at, a.agent_id, a.outcome, a.hangup_at, a.result, "
        "a.hangup_cause_text FROM call_attempts a JOIN leads l ON l.id = a.lead_id",
    )
    return {str(r.id): r for r in rows}


def pbx_dispositions(db_url: str, attempt_ids: list[str]) -> dict[str, str]:
    rows = query(
        db_url,
        "SELECT uniqueid, disposition FROM pbx_cdr WHERE uniqueid = ANY(:ids)",
        ids=attempt_ids,
    )
    return {r.uniqueid: r.disposition for r in rows}


def test_kill_9_mid_campaign_and_restart(
    home: tuple[Path, Path], pbx: CampaignPbx, store_db_url: str
) -> None:
    tmp, config = home
    answered, recorded = RECORDED[pbx.kind]
    first_dir = tmp / "first"
    first_dir.mkdir()
    first = start_daemon(first_dir, config)
    killed = False
    try:
        name = _set_up(first, pbx.agent_endpoints(5))
        with first.client("supervisor") as sup:
            # Durable progress: each field is seen in the database within a second of the PBX
            # event the daemon stamped it with.
            seen: dict[tuple[str, str], float] = {}
            r = sup.post(f"/api/v1/campaigns/{name}/start")
            assert r.status_code == 200, r.text

            def at_the_kill() -> bool:
                rows = _attempts(store_db_url)
                now = time.time()
                for aid, row in rows.items():
                    for field in ("ring_at", "answer_at", "agent_connect_at"):
                        if getattr(row, field) is not None:
                            seen.setdefault((aid, field), now)
                by_phone = {row.phone: row for row in rows.values()}
                return (
                    all(p in by_phone and by_phone[p].outcome == "connected" for p in TALK)
                    and all(p in by_phone and by_phone[p].outcome == "abandoned" for p in LATE)
                    and all(
                        p in by_phone and by_phone[p].ring_at is not None
                        for p in [*RINGING, *RING_LATE]
                    )
                )

            wait_for(at_the_kill, 30, "5 calls talking, 2 abandoned, 3 ringing")
        headset_calls = pbx.headsets.stats().incoming_calls
        first.proc.kill()  # SIGKILL: no drain, no flush, nothing closed
        first.proc.wait(5)
        killed = True
        rows = _attempts(store_db_url)
        for (aid, field), when in seen.items():
            stamped = getattr(rows[aid], field).timestamp()
            assert when - stamped < 1.0, f"{field} of {aid} durable {when - stamped:.2f} s late"
        assert len(rows) == len(DIALED)  # the extra leads were leased, not dialed
        assert all(row.hangup_at is None for row in rows.values())
        assert all(rows[a].answer_at is None for a in rows if rows[a].phone in RING_LATE)
        # With no daemon, the late answers hear the message from the dialplan and hang up, the
        # ringing call rings out: the PBX records each (its CDR, written at the hang-up).
        gone = [a for a, row in rows.items() if row.phone in [*RINGING, *RING_LATE]]
        wait_for(
            lambda: len(pbx_dispositions(store_db_url, gone)) == len(gone),
            40,
            "the PBX's records of the calls ending while no daemon runs",
        )
        records = pbx_dispositions(store_db_url, gone)
        assert sorted(records.values()) == recorded, records

        second_dir = tmp / "second"
        second_dir.mkdir()
        restarted_at = datetime.now(UTC)
        second = start_daemon(second_dir, config)
        try:
            with second.client("supervisor") as sup:

                def finished() -> dict[str, Any] | None:
                    stats: dict[str, Any] = sup.get(f"/api/v1/campaigns/{name}/stats").json()
                    total = stats["total"]
                    done = total["attempts"] == 12 and total["in_progress"] == 0
                    return stats if done else None

                wait_for(finished, 60, "every call to end and the extra leads to be called")
            time.sleep(1.5)  # SIPp writes its counters every second
            # The agents' headset legs were adopted, not called a second time.
            assert pbx.headsets.stats().incoming_calls == headset_calls
        finally:
            assert second.stop() == 0, second.log()[-3000:]
        log = second.log()
        took = re.search(r"earlier process of this daemon: 10 calls \((\d+) ended meanwhile", log)
        assert took is not None, log[-3000:]
        # at least the ringing one and the late answers; the abandoned ones if their message
        # was over too
        assert 3 <= int(took.group(1)) <= 5
    finally:
        if not killed:
            first.proc.kill()
            first.proc.wait(5)

    rows = _attempts(store_db_url)
    by_phone: dict[str, list[Any]] = {}
    for row in rows.values():
        by_phone.setdefault(row.phone, []).append(row)
    # No lead was dialed twice: one attempt per number, one INVITE per number at the trunk.
    assert sorted(by_phone) == sorted([*DIALED, *EXTRA])
    assert all(len(v) == 1 for v in by_phone.values()), by_phone
    invites = [i.user for i in pbx.trunk.invites()]
    for number in [*DIALED, *EXTRA]:
        assert invites.count(number.lstrip("+")) + invites.count(number) == 1, number
    one = {p: v[0] for p, v in by_phone.items()}
    # Talking calls went on to their own end (the far end's BYE after 30 s): connected, with
    # their agent, not cut off by the restart.
    for p in TALK:
        row = one[p]
        assert (row.result, row.agent_id is not None) == ("connected", True), row
        assert row.hangup_at - row.answer_at >= timedelta(seconds=29), row
    # Answered with no agent: abandoned, whichever daemon saw them end.
    assert all(one[p].result == "abandoned" for p in LATE)
    # Answered after the kill, with no daemon: abandoned too, by the PBX's own record.
    for p in RING_LATE:
        assert one[p].result == "abandoned", one[p]
        assert f"the PBX recorded {answered}" in one[p].hangup_cause_text
        assert one[p].answer_at is not None
    # Rang out while no daemon ran: a no-answer, by the PBX's record (not "unknown").
    assert all(one[p].result == "no_answer" for p in RINGING)
    # The leads leased and never dialed were dialed by the new process within 30 s of its start.
    for p in EXTRA:
        assert one[p].originated_at - restarted_at < timedelta(seconds=30), one[p]
        assert one[p].result == "connected"
    leads = query(
        store_db_url,
        "SELECT phone, status, lease_owner, next_call_at, last_result FROM leads",
    )
    assert all(lead.lease_owner is None and lead.status != "dialing" for lead in leads)
    for lead in leads:
        if lead.phone in [*LATE, *RING_LATE]:
            # The 72-hour lock: abandoned people are not called again for three days.
            assert lead.next_call_at - one[lead.phone].hangup_at >= timedelta(hours=72)
        if lead.phone in RINGING:
            assert lead.next_call_at - one[lead.phone].hangup_at >= timedelta(hours=2)
