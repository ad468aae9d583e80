"""Predictive pacing in the daemon on the real rig: with a low contact rate it keeps several
calls in flight per ready agent, and the calls it over-dials into are abandoned with the
message and counted; calls the pacer takes back are hung up only after 15 s of ringing."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import text

from dialer.app import App
from dialer.engine.engine import Engine
from dialer.pacing.base import CallOutcome, PacingDecision, PacingSnapshot
from dialer.pacing.predictive import PredictivePacer, PredictiveSettings
from dialer.store.engine import Database
from dialer.store.records import PacingMode
from rig.asterisk import Asterisk
from rig.campaign import seed
from rig.numbers import Behaviour, make_number
from tests.fixtures.pbx import CampaignPbx
from tests.integration.test_campaign_rig import cdrs, rig_settings, run_app

pytestmark = [pytest.mark.rig, pytest.mark.slow]


def low_contact_numbers(count: int, contact: float, seed_: int = 3) -> list[str]:
    rnd = random.Random(seed_)
    out = []
    for i in range(count):
        ring = round(rnd.uniform(1.0, 3.0), 1)
        if rnd.random() < contact:
            out.append(make_number(Behaviour.ANSWER, ring, round(rnd.uniform(2.0, 4.0), 1), i))
        else:
            out.append(make_number(Behaviour.BUSY, ring, 0.0, i))
    return out


async def test_predictive_over_dials_at_low_contact_and_counts_abandons(
    asterisk: Asterisk, sipp_trunk: Any, agent_headsets: Any, store_db: Database, store_db_url: str
) -> None:
    numbers = low_contact_numbers(150, contact=0.2)
    agents = 3
    seeded = await seed(
        store_db,
        name="predictive",
        numbers=numbers,
        agents=agents,
        wrapup_s=0.5,
        hold_s=1.0,
        pacing=PacingMode.PREDICTIVE,
    )
    # A smaller warm-up than the production default (20 live answers) keeps the test short.
    settings = PredictiveSettings(warmup_answers=5, warmup_works=3)
    app = App(rig_settings(asterisk, store_db_url), lambda _c: PredictivePacer(settings))
    peak_per_ready = 0.0
    peak_in_flight = 0

    def sample(e: Engine) -> bool:
        nonlocal peak_per_ready, peak_in_flight
        run = e.campaigns[seeded.campaign_id]
        ringing = sum(1 for c in run.calls.values() if c.state.value in ("originating", "ringing"))
        ready = sum(1 for a in run.agents.values() if a.is_ready)
        peak_in_flight = max(peak_in_flight, ringing)
        if ready:
            peak_per_ready = max(peak_per_ready, ringing / ready)
        return len(e.finished) >= len(numbers)

    code = await run_app(app, sample, timeout_s=240)
    assert code == 0
    # Progressive would never have more calls ringing than agents.
    assert peak_in_flight > agents, peak_in_flight
    assert peak_per_ready >= 2.0, peak_per_ready
    rows = await cdrs(store_db, seeded.campaign_id)
    assert len(rows) == len(numbers)
    engine = app.engine
    assert engine is not None
    abandoned = [c for c in engine.finished if c.result.value == "abandoned"]
    stats = engine.stats()["campaigns"]["predictive"]["results"]
    assert stats.get("abandoned", 0) == len(abandoned)
    assert sum(1 for r in rows if r.result == "abandoned") == len(abandoned)
    for c in abandoned:
        # Either it heard the message within 2 s, or the callee left before it started.
        if c.answer_to_message_ms is not None:
            assert c.answer_to_message_ms < 2000, c.answer_to_message_ms
    connected = sum(1 for r in rows if r.result == "connected")
    answered = connected + len(abandoned)
    print(
        f"\npredictive on the rig: {len(numbers)} leads, {answered} answered, {connected} "
        f"connected, {len(abandoned)} abandoned; peak {peak_in_flight} ringing, "
        f"{peak_per_ready:.1f} per ready agent"
    )


class TakesBackAll:
    """Dial every lead at once, then ask on every decision to take a ringing call back: the
    daemon may hang up only calls that have rung 15 s (MIN_RING_S), oldest ring first."""

    def __init__(self, leads: int) -> None:
        self.leads = leads
        self.outcomes: list[CallOutcome] = []

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        # every lead in flight at once (the engine has no more than `leads` to dial)
        dial = max(0, min(self.leads - snap.in_flight, snap.limits.max_new_now))
        return PacingDecision(dial, 1.0, "test: take back whatever may be", None, cancel=1)

    def observe_call(self, outcome: CallOutcome) -> None:
        self.outcomes.append(outcome)

    def observe_work(self, work: object) -> None:
        return None


async def test_calls_taken_back_have_rung_15_s_and_end_as_no_answers(
    pbx: CampaignPbx, store_db: Database, store_db_url: str
) -> None:
    # Four numbers that would ring for the campaign's whole 40 s, one answered after 5 s.
    numbers = [make_number(Behaviour.NO_ANSWER, 0.0, 0.0, 700 + i) for i in range(4)]
    numbers.append(make_number(Behaviour.ANSWER, 5.0, 1.0, 710))
    seeded = await seed(
        store_db, name="take-back", numbers=numbers, agents=1, ring_timeout_s=40.0, wrapup_s=0.2
    )
    pacer = TakesBackAll(len(numbers))
    app = App(pbx.settings(store_db_url), lambda _c: pacer)
    code = await run_app(app, lambda e: len(e.finished) >= len(numbers), timeout_s=60)
    assert code == 0
    async with store_db.transaction() as s:
        rows = list(
            await s.execute(
                text(
                    "SELECT l.phone, a.result, a.ring_at, a.hangup_at, a.hangup_cause_text"
                    " FROM call_attempts a JOIN leads l ON l.id = a.lead_id"
                    " WHERE a.campaign_id = :c"
                ),
                {"c": seeded.campaign_id},
            )
        )
    assert len(rows) == len(numbers)
    by_phone = {r.phone: r for r in rows}
    answered = by_phone[numbers[-1]]
    assert answered.result == "connected"  # answered at 5 s: never a candidate
    for phone in numbers[:-1]:
        r = by_phone[phone]
        rang = (r.hangup_at - r.ring_at).total_seconds()
        # Hung up at the first decision after 15 s of ringing (decisions every 50 ms here),
        # long before the campaign's 40 s ring timeout; a no-answer for the retry rules.
        assert 15.0 <= rang <= 17.0, (phone, rang)
        assert r.result == "no_answer", r
        assert "taken back by the dialer" in (r.hangup_cause_text or ""), r
    # The pacer heard of the answered call only: a call it took back is not an outcome.
    assert len(pacer.outcomes) == 1 and pacer.outcomes[0].answered_at is not None
    assert await pbx.live_channel_count() == 0
