"""Running the daemon's App through a whole campaign in a test, and reading what it left.

Not a test module: the campaign tests on either PBX (test_campaign_pbx.py, test_campaign_rig.py,
the rules, metrics and MQTT rig tests) build on it. PBX-neutral: the daemon's settings for each
PBX come from tests/fixtures/pbx.py.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from dialer.app import App
from dialer.domain.results import CallResult
from dialer.engine.engine import Engine
from dialer.pacing.base import PacingDecision, PacingSnapshot
from dialer.store.engine import Database
from rig.numbers import Behaviour, make_number

EXPECTED_RESULT = {
    Behaviour.ANSWER: CallResult.CONNECTED,
    Behaviour.BUSY: CallResult.BUSY,
    Behaviour.NO_ANSWER: CallResult.NO_ANSWER,
    Behaviour.FAIL: CallResult.FAILED,
}


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
