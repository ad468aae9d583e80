"""The rules on the real rig: the daemon's App against Asterisk 22, SIPp and Postgres.

A campaign of five answering numbers: two ordinary ones; one on the global do-not-call list
from the start (the lease never hands it out); one whose lead lives where it is 03:00 (outside
its calling window: it waits); and one added to the campaign's do-not-call list after it was
leased and before it was dialed (the check right before the originate stops it). The trunk must
see exactly the two ordinary calls; the other numbers appear in no AMI message at all.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from dialer.app import App
from dialer.engine.engine import Engine
from dialer.pacing.base import PacingDecision, PacingSnapshot
from dialer.rules.policy import Preset
from dialer.rules.verdict import Reason
from dialer.store import dnc, explain, rules_config
from dialer.store.engine import Database
from rig.ami import AmiClient
from rig.asterisk import Asterisk
from rig.campaign import seed
from rig.numbers import Behaviour, make_number
from rig.sipp import Sipp
from tests.integration.test_campaign_rig import cdrs, rig_settings, run_app

pytestmark = [pytest.mark.rig, pytest.mark.slow]


def zone_at_local_hour(hour: int, now: datetime) -> str:
    """An IANA Etc zone in which the local time at `now` is `hour`:MM."""
    offset = (hour - now.hour) % 24
    if offset > 12:
        offset -= 24
    if offset == 0:
        return "Etc/GMT"
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"  # Etc signs are inverted


class GatePacer:
    """Dials nothing until `open` is set, then one call per ready agent not already served."""

    def __init__(self) -> None:
        self.open = False

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        if not self.open:
            return PacingDecision(0, 0.0, "gate closed")
        return PacingDecision(
            max(0, min(snap.ready - snap.in_flight, snap.limits.max_new_now)), 1.0, "gate open"
        )

    def observe_call(self, outcome: object) -> None:
        return None

    def observe_work(self, work: object) -> None:
        return None


async def sipp_incoming(trunk: Sipp) -> int:
    await asyncio.sleep(1.2)  # SIPp writes its statistics every second
    return trunk.stats().incoming_calls


async def test_dnc_and_calling_hours_on_the_rig(
    asterisk: Asterisk,
    sipp_trunk: Sipp,
    agent_headsets: Any,
    ami_observer: AmiClient,
    store_db: Database,
    store_db_url: str,
) -> None:
    ok1, ok2, listed, night, late = (
        make_number(Behaviour.ANSWER, 0.3, 1.0, 900 + i) for i in range(5)
    )
    seeded = await seed(
        store_db, name="rules", numbers=[ok1, ok2, listed, night, late], agents=2, wrapup_s=0.2
    )
    cid = seeded.campaign_id
    now = datetime.now(UTC)
    async with store_db.transaction() as s:
        # US hours (08:00-21:00); leads with no zone and a number of no known region are in
        # the campaign's default zone, where it is now about noon.
        await rules_config.set_preset(s, cid, Preset.US, default_zone=zone_at_local_hour(12, now))
        await s.execute(
            text("UPDATE leads SET time_zone = :z WHERE phone = :p"),
            {"z": zone_at_local_hour(3, now), "p": night},
        )
        national = await dnc.create_list(s, "national")
        await dnc.add_numbers(s, national.id, [listed])
        ids = {
            r.phone: r.id
            for r in await s.execute(
                text("SELECT id, phone FROM leads WHERE campaign_id = :c"), {"c": cid}
            )
        }
    before = await sipp_incoming(sipp_trunk)
    # The rig's observer sees every event (the dialer's own AMI account gets only those the
    # daemon uses: its eventfilter lines).
    first_message = len(ami_observer.messages)

    gate = GatePacer()
    app = App(rig_settings(asterisk, store_db_url), lambda _c: gate)
    state: dict[str, float] = {}

    def progress(engine: Engine) -> bool:
        run = engine.campaigns.get(cid)
        if run is None:
            return False
        if not gate.open:
            buffered = {lead.phone for lead in run.leads}
            if buffered == {ok1, ok2, late} and all(a.is_ready for a in run.agents.values()):
                # leased, not dialed yet: list it now, then let the dialer go
                asyncio.get_running_loop().create_task(add_late())
            return False
        if len(engine.finished) < 3 or run.calls:
            return False
        # Stop only once the CDR writer has had a few flushes: a stop that races an in-flight
        # flush closes the attempt as "dialer stopped" before its own end is written.
        loop_now = asyncio.get_running_loop().time()
        state.setdefault("done_at", loop_now)
        return loop_now - state["done_at"] > 0.5

    async def add_late() -> None:
        if "listed_late" in state:
            return
        state["listed_late"] = 1.0
        async with store_db.transaction() as s:
            await dnc.opt_out(s, late, campaign_id=cid, note="rig test")
        gate.open = True

    code = await run_app(app, progress, timeout_s=60)
    assert code == 0
    engine = app.engine
    assert engine is not None

    rows = {r.phone: r for r in await cdrs(store_db, cid)}
    assert set(rows) == {ok1, ok2, late}
    assert rows[ok1].result == rows[ok2].result == "connected"
    assert rows[late].result == "cancelled"  # stopped right before the originate
    async with store_db.transaction() as s:
        cause = (
            await s.execute(
                text("SELECT hangup_cause_text FROM call_attempts WHERE lead_id = :l"),
                {"l": ids[late]},
            )
        ).scalar_one()
        assert "do-not-call" in cause and "opt-out-campaign" in cause
        night_row = (
            await s.execute(
                text("SELECT status, next_call_at FROM leads WHERE id = :l"), {"l": ids[night]}
            )
        ).one()
        why_night = await explain.explain_lead(s, ids[night], datetime.now(UTC))
        why_listed = await explain.explain_lead(s, ids[listed], datetime.now(UTC))
        why_late = await explain.explain_lead(s, ids[late], datetime.now(UTC))
    # The lead outside its window waits for 08:00 in its zone, about five hours away.
    assert night_row.status == "new"
    assert timedelta(hours=4) < night_row.next_call_at - now <= timedelta(hours=5, minutes=1)
    assert Reason.OUTSIDE_HOURS in {b.reason for b in why_night.verdict.blockers}
    assert why_night.dialable_at == night_row.next_call_at
    assert [b.reason for b in why_listed.verdict.blockers] == [Reason.DNC]
    assert Reason.DNC in {b.reason for b in why_late.verdict.blockers}

    # What the PBX saw: the two ordinary numbers, and none of the others, ever.
    seen = " ".join(str(v) for m in ami_observer.messages[first_message:] for v in m.values())
    assert ok1 in seen and ok2 in seen
    for number in (listed, night, late):
        assert number not in seen, number
    assert await sipp_incoming(sipp_trunk) - before == 2
    print(
        f"\nrig: trunk saw 2 calls; DNC-at-lease, outside-window and DNC-after-lease numbers "
        f"never reached Asterisk; night lead waits until {night_row.next_call_at:%H:%M} UTC"
    )
