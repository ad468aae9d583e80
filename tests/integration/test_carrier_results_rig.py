"""What the carrier answers means what it says, on the real rig (Asterisk 22, SIPp, Postgres).

- The SIPp carrier answers 404, 603, 480 and 503: the stored results are invalid, declined,
  unavailable and failed, and each lead moves on by its rule (invalid done; declined again in
  24 h; unavailable in 1 h; failed in 5 min, not counted, one network failure on the lead); the
  list reports its invalid number.
- The carrier is down (503 to every call): the trunk breaker opens, the leads it failed go back
  untouched, and once the carrier is back (the ordinary trunk scenario again) the probe call
  goes through and every lead is dialed and connected.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from dialer.api.queries import lead_lists_with_counts
from dialer.app import App
from dialer.domain.breaker import BreakerState
from dialer.engine.engine import Engine
from dialer.pacing.base import ProgressivePacer
from dialer.store.engine import Database
from rig.asterisk import Asterisk
from rig.campaign import seed
from rig.numbers import Behaviour, failure_number, make_number
from rig.sipp import Sipp, trunk_down
from tests.fixtures.pbx import rig_settings
from tests.integration.campaign_run import cdrs, run_app

pytestmark = [pytest.mark.rig, pytest.mark.slow]


async def _leads(db: Database, campaign_id: int) -> dict[int, Any]:
    async with db.transaction() as s:
        rows = await s.execute(
            text(
                "SELECT id, status, attempts, last_result, next_call_at, network_failures,"
                " lease_owner FROM leads WHERE campaign_id = :c"
            ),
            {"c": campaign_id},
        )
        return {r.id: r for r in rows}


async def test_each_carrier_answer_has_its_result_and_next_call(
    asterisk: Asterisk,
    sipp_trunk: Sipp,
    agent_headsets: Any,
    store_db: Database,
    store_db_url: str,
) -> None:
    codes = (404, 603, 480, 503)
    numbers = [failure_number(code, 0.0, 900 + i) for i, code in enumerate(codes)]
    seeded = await seed(store_db, name="carrier", numbers=numbers, agents=2, max_attempts=3)
    app = App(rig_settings(asterisk, store_db_url), lambda _c: ProgressivePacer())
    code = await run_app(app, lambda e: len(e.finished) >= len(numbers), timeout_s=40)
    assert code == 0

    rows = await cdrs(store_db, seeded.campaign_id)
    assert len(rows) == len(numbers)
    by_code = {
        code: next(r for r in rows if r.phone == n) for code, n in zip(codes, numbers, strict=True)
    }
    got = {code: (r.result, r.hangup_cause) for code, r in by_code.items()}
    print(f"\nrig: carrier answer -> (result, Asterisk Hangup cause): {got}")
    # Asterisk 22's chan_pjsip: 404 -> cause 1, 603 -> 21, 480 -> 19 (no ring: unavailable),
    # 503 -> 34.
    assert got == {
        404: ("invalid", 1),
        603: ("declined", 21),
        480: ("unavailable", 19),
        503: ("failed", 34),
    }
    leads = await _leads(store_db, seeded.campaign_id)
    lead = {code: leads[by_code[code].lead_id] for code in codes}
    hung = {code: by_code[code].hangup_at for code in codes}
    assert (lead[404].status, lead[404].attempts, lead[404].last_result) == ("done", 1, "invalid")
    assert (lead[603].status, lead[603].attempts) == ("retry", 1)
    assert lead[603].next_call_at == hung[603] + timedelta(hours=24)
    assert (lead[480].status, lead[480].attempts) == ("retry", 1)
    assert lead[480].next_call_at == hung[480] + timedelta(hours=1)
    # the network's fault: not counted, soon again, one failure nearer `unreachable`
    assert (lead[503].status, lead[503].attempts, lead[503].network_failures) == ("new", 0, 1)
    assert lead[503].next_call_at == hung[503] + timedelta(minutes=5)
    assert all(x.lease_owner is None for x in leads.values())
    async with store_db.transaction() as s:
        (listed,) = await lead_lists_with_counts(s, seeded.campaign_id)
    assert (listed.invalid, listed.unreachable) == (1, 0)


async def test_a_carrier_down_trips_the_breaker_and_dialing_resumes_when_it_recovers(
    asterisk: Asterisk,
    sipp_trunk: Sipp,
    agent_headsets: Any,
    store_db: Database,
    store_db_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    numbers = [make_number(Behaviour.ANSWER, 0.2, 0.5, 950 + i) for i in range(6)]
    seeded = await seed(store_db, name="breaker", numbers=numbers, agents=2, max_attempts=1)
    settings = rig_settings(
        asterisk,
        store_db_url,
        breaker_window=3,
        breaker_failures=3,
        breaker_backoff_s=2.0,
        breaker_max_backoff_s=4.0,
    )
    down = trunk_down(sipp_trunk.port, sipp_trunk.media_port)
    await asyncio.to_thread(sipp_trunk.stop)
    try:
        await asyncio.to_thread(down.start)
        app = App(settings, lambda _c: ProgressivePacer())
        watch: dict[str, Any] = {}

        def done(engine: Engine) -> bool:
            watch["engine"] = engine
            return len([f for f in engine.finished if f.result.value == "connected"]) >= len(
                numbers
            )

        caplog.set_level(logging.INFO)
        served = asyncio.create_task(run_app(app, done, timeout_s=90))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while "engine" not in watch or not watch["engine"].core.breakers.states():
            assert loop.time() < deadline and not served.done()
            await asyncio.sleep(0.1)
        breaker = watch["engine"].core.breakers.of(seeded.trunk_id)
        while breaker.trips == 0:
            assert loop.time() < deadline and not served.done(), "the breaker did not open"
            await asyncio.sleep(0.05)
        # Let the calls in flight end and a failed probe or two come and go; then look while
        # the breaker is open and no call is in flight (it stays open at least 2 s).
        await asyncio.sleep(4.0)
        engine = watch["engine"]
        run = engine.campaigns[seeded.campaign_id]
        while not (breaker.state is BreakerState.OPEN and not run.calls and not engine.cdr.pending):
            assert loop.time() < deadline
            await asyncio.sleep(0.02)
        failed = await cdrs(store_db, seeded.campaign_id)
        assert failed and {r.result for r in failed} == {"failed"}
        assert len(down.invites()) == len(failed)
        while True:  # the give-back follows the flush of the calls' ends
            async with store_db.transaction() as s:
                faults = (
                    await s.execute(
                        text(
                            "SELECT count(*) FROM call_attempts"
                            " WHERE campaign_id = :c AND trunk_fault"
                        ),
                        {"c": seeded.campaign_id},
                    )
                ).scalar_one()
            if faults == len(failed):
                break
            assert loop.time() < deadline, (faults, len(failed))
            await asyncio.sleep(0.05)
        # Every lead is as it was: never counted, nothing invalid, no network failure kept.
        for lead in (await _leads(store_db, seeded.campaign_id)).values():
            assert lead.attempts == 0 and lead.last_result is None, lead
            assert lead.network_failures == 0 and lead.status in ("new", "dialing"), lead
        assert "breaker open" in caplog.text

        # The carrier recovers: the next probe goes through and dialing resumes.
        await asyncio.to_thread(down.stop)
        await asyncio.to_thread(sipp_trunk.start)
        code = await served
    finally:
        await asyncio.to_thread(down.stop)
        await asyncio.to_thread(sipp_trunk.start)
    assert code == 0
    assert "breaker closed: probe call went through" in caplog.text
    assert breaker.state is BreakerState.CLOSED
    rows = await cdrs(store_db, seeded.campaign_id)
    connected = [r for r in rows if r.result == "connected"]
    assert sorted(r.phone for r in connected) == sorted(numbers)  # each once
    leads = await _leads(store_db, seeded.campaign_id)
    assert {x.status for x in leads.values()} == {"done"}
    assert {x.attempts for x in leads.values()} == {1}
    print(
        f"\nrig: carrier down: {len(failed)} calls failed before it came back, breaker opened "
        f"{breaker.trips} time(s); then {len(connected)} leads connected, each once"
    )
