"""The campaigns of test_campaign_rig.py, on FreeSWITCH: the daemon's App with
`pbx.kind = "freeswitch"` against a real FreeSWITCH started with deploy/freeswitch/, the rig's
SIPp trunk and headsets, and Postgres.

Skipped (with the reason) when no FreeSWITCH binary is found: set DIALER_FREESWITCH to the binary
or put `freeswitch` on PATH. FreeSWITCH and its SIPp far ends run on free 127.0.0.1 ports, apart
from the Asterisk rig's 5038/5060/5070/5080, so both rigs can run in one test session.

The scenarios, leads and assertions are those of the Asterisk rig (the helpers are imported from
test_campaign_rig.py). Where FreeSWITCH reports something else for the same far-end behaviour,
the difference is spelled out below (FREESWITCH_CAUSE) with what FreeSWITCH said.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from typing import Any, Final

import pytest

from dialer.app import App
from dialer.domain.results import CallResult
from dialer.engine.engine import Engine
from dialer.pacing.base import ProgressivePacer
from dialer.settings import DatabaseSettings, DialerSettings, HttpSettings, LogSettings, Settings
from dialer.store.engine import Database
from esl_bridge.client import EslPbx
from rig.campaign import seed
from rig.numbers import EXPECTED, NOT_FOUND, Behaviour, make_number, parse_number
from tests.fixtures.freeswitch import FsRig
from tests.integration.test_campaign_rig import (
    EXPECTED_RESULT,
    OverDial,
    assert_no_agent_overlap,
    cdrs,
    lead_statuses,
    mixed_numbers,
    run_app,
)

pytestmark = [pytest.mark.rig, pytest.mark.slow]

# Hang-up causes (Q.850) per far-end behaviour where FreeSWITCH 1.10.12 differs from Asterisk 22
# (rig.numbers.EXPECTED holds what Asterisk reports; everything not listed here is the same).
FREESWITCH_CAUSE: Final[dict[Behaviour, int]] = {
    # A 503 from the carrier: FreeSWITCH ends the leg with NORMAL_TEMPORARY_FAILURE, Q.850 41
    # (`variable_hangup_cause_q850=41`, tests/data/esl/failure_503.rx); Asterisk 22 says 34
    # (NORMAL_CIRCUIT_CONGESTION). Both are a failure: the CDR result is `failed` on either.
    Behaviour.FAIL: 41,
}


def expected_cause(behaviour: Behaviour) -> int:
    """The hang-up cause FreeSWITCH reports for a rig number's behaviour."""
    return FREESWITCH_CAUSE.get(behaviour, EXPECTED[behaviour].cause)


# A number the carrier does not know (404): FreeSWITCH says UNALLOCATED_NUMBER, Q.850 1, as
# Asterisk does (rig.numbers.NOT_FOUND).
NOT_FOUND_CAUSE: Final = NOT_FOUND.cause


def fs_settings(rig: FsRig, url: str, **dialer: Any) -> Settings:
    """The daemon's settings for the FreeSWITCH rig (the same dialer values as rig_settings)."""
    values: dict[str, Any] = {
        "owner": "rig-test-fs",
        "tick_s": 0.05,
        "cdr_flush_s": 0.05,
        "drain_timeout_s": 10.0,
    }
    values.update(dialer)
    return Settings(
        database=DatabaseSettings(url=url, retry_for_s=0),
        pbx=rig.pbx_settings(),  # kind="freeswitch", the rig's event socket and password
        dialer=DialerSettings(**values),
        log=LogSettings(),
        http=HttpSettings(port=0),
    )


async def live_channel_count(rig: FsRig, within_s: float = 3.0) -> int:
    """FreeSWITCH's channel count, waiting up to `within_s` for it to reach 0.

    FreeSWITCH writes its channel table from a background queue: right after the last hang-up
    event a listing may still count the channel.
    """
    deadline = time.monotonic() + within_s
    while True:
        out = await asyncio.to_thread(rig.fs.api, "show channels count")
        count = int(out.split()[0])  # "0 total."
        if count == 0 or time.monotonic() > deadline:
            return count
        await asyncio.sleep(0.1)


async def test_mixed_campaign_end_to_end(
    fs_rig: FsRig, store_db: Database, store_db_url: str
) -> None:
    numbers = mixed_numbers()
    assert len(numbers) == 60
    seeded = await seed(
        store_db, name="e2e-fs", numbers=numbers, agents=6, ring_timeout_s=15.0, wrapup_s=0.3
    )
    app = App(fs_settings(fs_rig, store_db_url), lambda _c: ProgressivePacer())
    started = time.monotonic()
    code = await run_app(app, lambda e: len(e.finished) >= len(numbers), timeout_s=110)
    took = time.monotonic() - started
    assert code == 0
    assert app.engine is not None
    assert isinstance(app.engine._pbx, EslPbx)  # dialer.app.build_pbx chose FreeSWITCH

    rows = await cdrs(store_db, seeded.campaign_id)
    # One CDR per attempt, one attempt per lead, every record closed.
    assert len(rows) == len(numbers)
    assert len({r.lead_id for r in rows}) == len(numbers)
    assert all(r.hangup_at is not None and r.result is not None for r in rows)

    for r in rows:
        if r.phone.startswith("+15559"):
            assert (r.result, r.hangup_cause) == ("failed", NOT_FOUND_CAUSE), r.phone
            continue
        rig = parse_number(r.phone)
        assert r.result == EXPECTED_RESULT[rig.behaviour].value, (r.phone, r.result)
        assert r.hangup_cause == expected_cause(rig.behaviour), (r.phone, r.hangup_cause)
        if rig.behaviour is Behaviour.ANSWER:
            assert r.agent_id in seeded.agent_ids
            assert r.answer_at is not None and r.agent_connect_at is not None
            assert r.answer_to_agent_ms is not None
            assert r.answer_to_agent_ms < 500, r.answer_to_agent_ms
            assert r.ring_at is not None and r.ring_at <= r.answer_at
        else:
            assert r.agent_id is None and r.answer_at is None
        if rig.behaviour is Behaviour.NO_ANSWER:
            # The campaign's 15 s ring timeout. FreeSWITCH counts originate_timeout in whole
            # seconds; the adapter asks for 16, which ends the ring 15 to 16 s after the start.
            rang = (r.hangup_at - r.originated_at).total_seconds()
            assert 14.5 <= rang <= 17.0, rang

    assert_no_agent_overlap(rows)
    # Every one of the six agents' nailed-up legs took calls.
    assert {r.agent_id for r in rows if r.agent_id is not None} == set(seeded.agent_ids)
    latencies = sorted(r.answer_to_agent_ms for r in rows if r.answer_to_agent_ms is not None)
    assert len(latencies) == 30
    print(
        f"\nFreeSWITCH answer-to-agent ms: p50={statistics.median(latencies)}"
        f" p90={latencies[int(0.9 * len(latencies)) - 1]} max={latencies[-1]};"
        f" campaign {took:.1f} s"
    )
    # Every lead dialed once and finished: nothing left leased.
    assert await lead_statuses(store_db, seeded.campaign_id) == {"done": 60}
    assert await live_channel_count(fs_rig) == 0


async def test_answers_with_no_free_agent_are_abandoned_with_message(
    fs_rig: FsRig, store_db: Database, store_db_url: str
) -> None:
    # Two agents, four lines each, every callee answers within a second and talks 8 s:
    # most answers find both agents busy and must hear the message, within 2 s of the answer.
    numbers = [make_number(Behaviour.ANSWER, 0.5 + 0.1 * (i % 5), 8.0, i) for i in range(8)]
    seeded = await seed(store_db, name="abandon-fs", numbers=numbers, agents=2, hold_s=0.5)
    app = App(fs_settings(fs_rig, store_db_url), lambda _c: OverDial(4))
    code = await run_app(app, lambda e: len(e.finished) >= len(numbers), timeout_s=60)
    assert code == 0

    rows = await cdrs(store_db, seeded.campaign_id)
    results = [r.result for r in rows]
    assert len(rows) == 8
    assert results.count("connected") == 2
    assert results.count("abandoned") == 6
    assert_no_agent_overlap(rows)
    for r in rows:
        assert r.answer_at is not None
        if r.result == "abandoned":
            assert r.agent_id is None and r.agent_connect_at is None
            # The abandon extension plays the message then hangs up: NORMAL_CLEARING.
            assert r.hangup_cause == 16, r.hangup_cause
    engine = app.engine
    assert engine is not None
    abandoned = [c for c in engine.finished if c.result is CallResult.ABANDONED]
    assert len(abandoned) == 6
    message_ms = []
    for c in abandoned:
        # The message started (FreeSWITCH's PLAYBACK_START on the leg) within the 2 s rule.
        assert c.answer_to_message_ms is not None, c
        assert 0 < c.answer_to_message_ms < 2000, c.answer_to_message_ms
        message_ms.append(c.answer_to_message_ms)
    counted = engine.stats()["campaigns"]["abandon-fs"]["results"]
    assert counted == {"connected": 2, "abandoned": 6}
    print(f"\nFreeSWITCH answer-to-message ms: {sorted(round(m) for m in message_ms)}")
    assert await live_channel_count(fs_rig) == 0


async def test_stop_mid_call_closes_every_record(
    fs_rig: FsRig, store_db: Database, store_db_url: str
) -> None:
    # Long calls; stop while they are connected, with a 1 s drain: the daemon hangs them up,
    # writes their CDRs and gives back the leads it leased but did not dial.
    numbers = [make_number(Behaviour.ANSWER, 0.3, 120.0, i) for i in range(20)]
    seeded = await seed(store_db, name="stop-fs", numbers=numbers, agents=3)
    settings = fs_settings(fs_rig, store_db_url, drain_timeout_s=1.0)
    app = App(settings, lambda _c: ProgressivePacer())

    def three_connected(e: Engine) -> bool:
        run = e.campaigns[seeded.campaign_id]
        return sum(1 for c in run.calls.values() if c.connected_at is not None) >= 3

    code = await run_app(app, three_connected, timeout_s=30)
    assert code == 0
    rows = await cdrs(store_db, seeded.campaign_id)
    assert len(rows) == 3
    for r in rows:
        assert r.result == "connected"
        assert r.hangup_at is not None
        assert (r.hangup_at - r.agent_connect_at).total_seconds() < 10
        # Hung up by the daemon (uuid_kill ... NORMAL_CLEARING) at the end of the drain.
        assert r.hangup_cause == 16, r.hangup_cause
    statuses = await lead_statuses(store_db, seeded.campaign_id)
    assert statuses.get("dialing", 0) == 0
    assert statuses == {"done": 3, "new": 17}
    # The customers' calls and the agents' parked legs are all gone from FreeSWITCH.
    assert await live_channel_count(fs_rig) == 0


def drop_link(engine: Engine) -> None:
    """Cut the event-socket TCP connection under the adapter, as a network blip would."""
    adapter = engine._pbx
    assert isinstance(adapter, EslPbx)
    link = adapter._link
    assert link is not None
    link.writer.transport.abort()


async def test_link_blip_while_calls_ring_is_reconciled_without_redialing(
    fs_rig: FsRig, store_db: Database, store_db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # As tests/integration/test_ami_reconnect.py on Asterisk: calls ring 2-3 s; the event socket
    # drops while they ring and comes back (0.1 s back-off) before they are answered. Every lead
    # ends connected exactly once, and the carrier sees every number once.
    numbers = [make_number(Behaviour.ANSWER, 2.0 + 0.2 * i, 2.0, i) for i in range(6)]
    seeded = await seed(store_db, name="blip-fs", numbers=numbers, agents=3)
    await asyncio.sleep(1.2)  # SIPp writes its statistics once a second
    trunk_calls_before = fs_rig.trunk.stats().incoming_calls
    # FsRig.pbx_settings() reconnects after 0.1 s, backing off to at most 0.5 s.
    app = App(fs_settings(fs_rig, store_db_url), lambda _c: ProgressivePacer())
    dropped = False

    def blip_then_done(e: Engine) -> bool:
        nonlocal dropped
        run = e.campaigns[seeded.campaign_id]
        # Cut once three calls ring: their originates went out (a call counted in run.calls may
        # not be sent yet, and one that cannot be sent is cancelled, not redialed).
        if not dropped and sum(1 for c in run.calls.values() if c.ringing_at is not None) >= 3:
            drop_link(e)
            dropped = True
        return len(e.finished) >= len(numbers)

    caplog.set_level(logging.INFO)
    code = await run_app(app, blip_then_done, timeout_s=60)
    assert code == 0
    assert dropped
    assert "lost the FreeSWITCH event socket" in caplog.text
    assert "PBX link restored: " in caplog.text
    rows = await cdrs(store_db, seeded.campaign_id)
    assert len(rows) == len(numbers)  # one attempt per lead: nothing re-sent
    assert {r.result for r in rows} == {"connected"}
    assert await lead_statuses(store_db, seeded.campaign_id) == {"done": len(numbers)}
    await asyncio.sleep(1.2)
    assert fs_rig.trunk.stats().incoming_calls - trunk_calls_before == len(numbers)
    assert await live_channel_count(fs_rig) == 0
