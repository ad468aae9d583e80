"""Whole campaigns through the real rig: the daemon's App against Asterisk 22, SIPp and Postgres.

The SIPp trunk decides each call's fate from the dialed number (rig/numbers.py), so every lead's
exact CDR result is known in advance and checked.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from dialer.app import App
from dialer.domain.results import CallResult
from dialer.engine.engine import Engine
from dialer.pacing.base import PacingDecision, PacingSnapshot, ProgressivePacer
from dialer.settings import (
    DatabaseSettings,
    DialerSettings,
    HttpSettings,
    LogSettings,
    PbxSettings,
    Settings,
)
from dialer.store.engine import Database
from rig.asterisk import Asterisk
from rig.campaign import seed
from rig.numbers import Behaviour, make_number, parse_number

pytestmark = [pytest.mark.rig, pytest.mark.slow]

EXPECTED_RESULT = {
    Behaviour.ANSWER: CallResult.CONNECTED,
    Behaviour.BUSY: CallResult.BUSY,
    Behaviour.NO_ANSWER: CallResult.NO_ANSWER,
    Behaviour.FAIL: CallResult.FAILED,
}


def rig_settings(asterisk: Asterisk, url: str, **dialer: Any) -> Settings:
    c = asterisk.credentials
    values: dict[str, Any] = {
        "owner": "rig-test",
        "tick_s": 0.05,
        "cdr_flush_s": 0.05,
        "drain_timeout_s": 10.0,
    }
    values.update(dialer)
    return Settings(
        database=DatabaseSettings(url=url, retry_for_s=0),
        pbx=PbxSettings(host=c.host, port=c.port, username=c.username, secret=c.secret),
        dialer=DialerSettings(**values),
        log=LogSettings(),
        http=HttpSettings(port=0),
    )


async def run_app(
    app: App, done: Callable[[Engine], bool], timeout_s: float, stop_after: bool = True
) -> int:
    """Serve until `done(engine)` holds, then stop gracefully; returns the exit code."""
    task = asyncio.create_task(app.serve(install_signals=False))
    try:
        started = asyncio.create_task(app.started.wait())
        await asyncio.wait({started, task}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            started.cancel()
            return task.result()  # serve() gave up at start-up: its exit code
        assert started.done(), "the daemon did not start within 30 s"
        engine = app.engine
        assert engine is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not done(engine):
            if task.done():
                return task.result()
            assert loop.time() < deadline, f"campaign did not finish in time: {engine.stats()}"
            await asyncio.sleep(0.1)
        if stop_after:
            app.request_stop()
        return await asyncio.wait_for(task, 60)
    finally:
        if not task.done():
            app.request_stop()
            app.request_stop()
            await asyncio.wait_for(task, 30)


async def cdrs(db: Database, campaign_id: int) -> list[Any]:
    async with db.transaction() as s:
        rows = await s.execute(
            text(
                "SELECT a.id, a.lead_id, l.phone, a.result, a.hangup_cause, a.agent_id,"
                " a.answer_at, a.agent_connect_at, a.hangup_at, a.answer_to_agent_ms,"
                " a.ring_at, a.originated_at"
                " FROM call_attempts a JOIN leads l ON l.id = a.lead_id"
                " WHERE a.campaign_id = :c ORDER BY a.originated_at"
            ),
            {"c": campaign_id},
        )
        return list(rows)


async def lead_statuses(db: Database, campaign_id: int) -> dict[str, int]:
    async with db.transaction() as s:
        rows = await s.execute(
            text("SELECT status, count(*) FROM leads WHERE campaign_id = :c GROUP BY status"),
            {"c": campaign_id},
        )
        return {r[0]: r[1] for r in rows}


def assert_no_agent_overlap(rows: list[Any]) -> None:
    """No agent ever had two customers at once: its calls' [connect, hang-up] never overlap."""
    per_agent: dict[int, list[Any]] = defaultdict(list)
    for r in rows:
        if r.agent_id is not None:
            per_agent[r.agent_id].append(r)
    assert per_agent, "no call was connected to an agent"
    for calls in per_agent.values():
        calls.sort(key=lambda r: r.agent_connect_at)
        for a, b in itertools.pairwise(calls):
            assert a.hangup_at <= b.agent_connect_at, f"agent {a.agent_id} had two calls at once"


def mixed_numbers() -> list[str]:
    numbers = []
    serial = 0

    def add(kind: Behaviour, count: int, ring: float, talk: float = 0.0) -> None:
        nonlocal serial
        for i in range(count):
            numbers.append(make_number(kind, ring + 0.1 * (i % 10), talk + 0.1 * (i % 7), serial))
            serial += 1

    add(Behaviour.ANSWER, 30, ring=0.3, talk=1.0)
    add(Behaviour.BUSY, 10, ring=0.2)
    add(Behaviour.NO_ANSWER, 6, ring=0.0)
    add(Behaviour.FAIL, 8, ring=0.2)
    # Numbers the carrier does not know: 404 at once (Hangup cause 1).
    numbers += [f"+1555900000{n:04d}" for n in range(6)]
    return numbers


async def test_mixed_campaign_end_to_end(
    asterisk: Asterisk, sipp_trunk: Any, agent_headsets: Any, store_db: Database, store_db_url: str
) -> None:
    numbers = mixed_numbers()
    assert len(numbers) == 60
    seeded = await seed(
        store_db, name="e2e", numbers=numbers, agents=6, ring_timeout_s=15.0, wrapup_s=0.3
    )
    app = App(rig_settings(asterisk, store_db_url), lambda _c: ProgressivePacer())
    code = await run_app(app, lambda e: len(e.finished) >= len(numbers), timeout_s=150)
    assert code == 0

    rows = await cdrs(store_db, seeded.campaign_id)
    # One CDR per attempt, one attempt per lead, every record closed.
    assert len(rows) == len(numbers)
    assert len({r.lead_id for r in rows}) == len(numbers)
    assert all(r.hangup_at is not None and r.result is not None for r in rows)

    for r in rows:
        if r.phone.startswith("+15559"):
            assert (r.result, r.hangup_cause) == ("failed", 1), r.phone
            continue
        rig = parse_number(r.phone)
        assert r.result == EXPECTED_RESULT[rig.behaviour].value, (r.phone, r.result)
        assert r.hangup_cause == rig.expected.cause, (r.phone, r.hangup_cause)
        if rig.behaviour is Behaviour.ANSWER:
            assert r.agent_id in seeded.agent_ids
            assert r.answer_at is not None and r.agent_connect_at is not None
            assert r.answer_to_agent_ms is not None
            assert r.answer_to_agent_ms < 500, r.answer_to_agent_ms
            assert r.ring_at is not None and r.ring_at <= r.answer_at
        else:
            assert r.agent_id is None and r.answer_at is None
        if rig.behaviour is Behaviour.NO_ANSWER:
            rang = (r.hangup_at - r.originated_at).total_seconds()
            assert 14.5 <= rang <= 17.0, rang  # the campaign's 15 s ring timeout

    assert_no_agent_overlap(rows)
    latencies = sorted(r.answer_to_agent_ms for r in rows if r.answer_to_agent_ms is not None)
    assert len(latencies) == 30
    print(f"\nanswer-to-agent ms: p50={statistics.median(latencies)} max={latencies[-1]}")
    # Every lead dialed once and finished: nothing left leased.
    assert await lead_statuses(store_db, seeded.campaign_id) == {"done": 60}


class OverDial:
    """Dial `lines` calls per ready agent: more answers than agents, on purpose."""

    def __init__(self, lines: int) -> None:
        self.lines = lines

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        want = snap.ready * self.lines - snap.in_flight
        dial = max(0, min(want, snap.limits.max_new_now))
        return PacingDecision(dial, float(self.lines), "test over-dial")

    def observe_call(self, outcome: object) -> None:
        return None

    def observe_work(self, work: object) -> None:
        return None


async def test_answers_with_no_free_agent_are_abandoned_with_message(
    asterisk: Asterisk, sipp_trunk: Any, agent_headsets: Any, store_db: Database, store_db_url: str
) -> None:
    # Two agents, four lines each, every callee answers within a second and talks 8 s:
    # most answers find both agents busy and must hear the message, within 2 s of the answer.
    numbers = [make_number(Behaviour.ANSWER, 0.5 + 0.1 * (i % 5), 8.0, i) for i in range(8)]
    seeded = await seed(store_db, name="abandon", numbers=numbers, agents=2, hold_s=0.5)
    app = App(rig_settings(asterisk, store_db_url), lambda _c: OverDial(4))
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
    engine = app.engine
    assert engine is not None
    abandoned = [c for c in engine.finished if c.result is CallResult.ABANDONED]
    assert len(abandoned) == 6
    for c in abandoned:
        # The message started (the dialplan's DialerMessage event) within the 2 s rule.
        assert c.answer_to_message_ms is not None, c
        assert 0 < c.answer_to_message_ms < 2000, c.answer_to_message_ms
    counted = engine.stats()["campaigns"]["abandon"]["results"]
    assert counted == {"connected": 2, "abandoned": 6}


async def test_stop_mid_call_closes_every_record(
    asterisk: Asterisk, sipp_trunk: Any, agent_headsets: Any, store_db: Database, store_db_url: str
) -> None:
    # Long calls; stop while they are connected, with a 1 s drain: the daemon hangs them up,
    # writes their CDRs and gives back the leads it leased but did not dial.
    numbers = [make_number(Behaviour.ANSWER, 0.3, 120.0, i) for i in range(20)]
    seeded = await seed(store_db, name="stop", numbers=numbers, agents=3)
    settings = rig_settings(asterisk, store_db_url, drain_timeout_s=1.0)
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
    statuses = await lead_statuses(store_db, seeded.campaign_id)
    assert statuses.get("dialing", 0) == 0
    assert statuses == {"done": 3, "new": 17}
    live = await asyncio.to_thread(asterisk.cli, "core show channels count")
    assert "0 active channels" in live, live


async def test_answering_machine_detection_through_the_daemon(
    asterisk: Asterisk, sipp_trunk: Any, agent_headsets: Any, store_db: Database, store_db_url: str
) -> None:
    # AMD on: people ("Hello?" then silence) go to agents; machines (a long greeting and a
    # beep) are left the campaign's message and counted apart, never given to an agent.
    people = [make_number(Behaviour.AMD_HUMAN, 0.3, 3.0, i) for i in range(2)]
    machines = [make_number(Behaviour.AMD_MACHINE, 0.3, 0.0, 10 + i) for i in range(2)]
    seeded = await seed(
        store_db,
        name="amd",
        numbers=people + machines,
        agents=2,
        amd_enabled=True,
        machine_message="dialer/abandon",
    )
    app = App(rig_settings(asterisk, store_db_url), lambda _c: ProgressivePacer())
    code = await run_app(app, lambda e: len(e.finished) >= 4, timeout_s=90)
    assert code == 0
    rows = {r.phone: r for r in await cdrs(store_db, seeded.campaign_id)}
    for number in people:
        assert rows[number].result == "connected"
        assert rows[number].agent_id in seeded.agent_ids
    for number in machines:
        assert rows[number].result == "machine"
        assert rows[number].agent_id is None
    engine = app.engine
    assert engine is not None
    by_lead = {c.lead_id: c for c in engine.finished}
    for number in machines:
        record = by_lead[rows[number].lead_id]
        # The message was left (DialerMachineMessage) after the greeting, not straight away.
        assert record.answer_to_message_ms is not None
        assert record.answer_to_message_ms > 5000, record.answer_to_message_ms
    stats = engine.stats()["campaigns"]["amd"]["results"]
    assert stats == {"connected": 2, "machine": 2}


async def test_machines_are_hung_up_when_the_campaign_leaves_no_message(
    asterisk: Asterisk, sipp_trunk: Any, agent_headsets: Any, store_db: Database, store_db_url: str
) -> None:
    numbers = [make_number(Behaviour.AMD_MACHINE, 0.3, 0.0, i) for i in range(2)]
    seeded = await seed(store_db, name="amd-hangup", numbers=numbers, agents=1, amd_enabled=True)
    app = App(rig_settings(asterisk, store_db_url), lambda _c: ProgressivePacer())
    code = await run_app(app, lambda e: len(e.finished) >= 2, timeout_s=60)
    assert code == 0
    rows = await cdrs(store_db, seeded.campaign_id)
    assert [r.result for r in rows] == ["machine", "machine"]
    for r in rows:
        # Hung up as soon as detection said "machine", well before the greeting ended.
        assert (r.hangup_at - r.answer_at).total_seconds() < 5.0
