"""Several daemons on one campaign: a daemon adds the calls the others finished (their
CDRs in Postgres) to its abandonment windows every `dialer.abandonment_sync_s`, so each brakes
on the campaign's true rate; the stored history gives the UK gauge its machine verdicts; and
the predictive pacer's calibration is saved on the same beat and restored after a restart.

The daemon under test is the real App against the Asterisk rig and Postgres; "another daemon"
is rows written into call_attempts under another owner while it runs."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from dialer.app import App
from dialer.engine.engine import Engine
from dialer.pacing.base import AgentActivity, AgentView, PacingLimits, PacingSnapshot
from dialer.pacing.others import since_for
from dialer.pacing.predictive import PredictivePacer
from dialer.store.engine import Database
from dialer.store.gateway import PgEngineStore
from rig.asterisk import Asterisk
from rig.campaign import seed
from tests.fixtures.db import T0, seed_campaign
from tests.fixtures.pbx import rig_settings
from tests.integration.campaign_run import run_app
from tests.integration.cdr_history import history_rows, write_rows

pytestmark = [pytest.mark.rig]


def attempt(
    campaign_id: int, lead_id: int, owner: str, answer: datetime, result: str, late: bool = False
) -> dict[str, Any]:
    connected = result == "connected"
    latency = 2500 if late else 150
    return {
        "id": str(uuid.uuid4()),
        "lead_id": lead_id,
        "campaign_id": campaign_id,
        "trunk_id": None,
        "owner": owner,
        "originated_at": answer - timedelta(seconds=5),
        "ring_at": answer - timedelta(seconds=4),
        "answer_at": answer,
        "agent_connect_at": answer + timedelta(milliseconds=latency) if connected else None,
        "answer_to_agent_ms": latency if connected else None,
        "hangup_at": answer + timedelta(seconds=20),
        "result": result,
    }


def phase(pacer: PredictivePacer) -> str:
    """The pacer's phase for a team of one ready agent (this daemon has none logged in)."""
    now = asyncio.get_running_loop().time()
    snap = PacingSnapshot(
        now, (AgentView(AgentActivity.READY, now - 5.0),), (), 0, PacingLimits(10, 10)
    )
    estimates = pacer.decide(snap).estimates
    assert estimates is not None
    return estimates.phase


async def test_other_daemons_answers_join_the_windows_and_the_pacer_brakes(
    asterisk: Asterisk, store_db: Database, store_db_url: str
) -> None:
    seeded = await seed(store_db, name="shared", numbers=["+15550001000"], agents=0)
    cid = seeded.campaign_id
    lead_id = seeded.lead_ids[0]
    # Before this daemon starts, another one connected 400 calls over the last 20 hours (the
    # last of them within the hours that are read again): the restored history holds them, and
    # they take the pacer out of warm-up.
    start = datetime.now(UTC)
    earlier = [
        attempt(cid, lead_id, "other-daemon", start - timedelta(seconds=180 * i + 60), "connected")
        for i in range(400)
    ]
    await write_rows(store_db, earlier)
    pacers: list[PredictivePacer] = []

    def pacer(_c: object) -> PredictivePacer:
        pacers.append(PredictivePacer())
        return pacers[-1]

    settings = rig_settings(asterisk, store_db_url, abandonment_sync_s=0.2, autologin_agents=False)
    app = App(settings, pacer)
    state: dict[str, Any] = {}

    async def other_daemon_writes() -> None:
        now = datetime.now(UTC)
        rows = [attempt(cid, lead_id, "other-daemon", now, "connected") for _ in range(90)]
        rows += [attempt(cid, lead_id, "other-daemon", now, "abandoned") for _ in range(20)]
        rows += [
            attempt(cid, lead_id, "other-daemon", now, "connected", late=True) for _ in range(4)
        ]
        rows += [attempt(cid, lead_id, "other-daemon", now, "machine") for _ in range(3)]
        # this daemon's own rows are its own to count (live), never added again
        assert app.engine is not None
        rows += [attempt(cid, lead_id, app.engine.owner, now, "abandoned")]
        # another daemon's call answered two hours before this one read the history, its CDR
        # written only now (a long call): not in that history, so counted now
        rows += [attempt(cid, lead_id, "other-daemon", now - timedelta(hours=2), "abandoned")]
        # ...but not one answered more than LATE_S (3 h) before (the next restart counts it)
        rows += [attempt(cid, lead_id, "other-daemon", now - timedelta(hours=4), "abandoned")]
        await write_rows(store_db, rows)
        state["written_at"] = time.monotonic()

    def progress(engine: Engine) -> bool:
        run = engine.campaigns.get(cid)
        if run is None or run.others is None:
            return False
        if "task" not in state:
            now = asyncio.get_running_loop().time()
            day = run.abandonment.counts(now)[0]
            state["restored"] = (day.answered, day.abandoned)
            state["phase_before"] = phase(pacers[-1])
            state["task"] = asyncio.get_running_loop().create_task(other_daemon_writes())
            return False
        if "written_at" not in state:
            return False
        now = asyncio.get_running_loop().time()
        day = run.abandonment.counts(now)[0]
        state["day"] = (day.answered, day.abandoned)
        state["pacer_day"] = pacers[-1].ledger.window_totals(now)[0]
        if state["day"] == (515, 25) and state["pacer_day"] == (515, 25):
            state["phase_after"] = phase(pacers[-1])
            return True
        return False

    code = await run_app(app, progress, timeout_s=20)
    assert code == 0
    assert state["restored"] == (400, 0)
    assert state["phase_before"] in ("predictive", "braking")
    # 400 before + 90 connected + 20 abandoned + 4 connected too late + the one answered 2 h ago
    assert state["day"] == (515, 25)
    assert state["pacer_day"] == (515, 25)
    # 25/515 is over the 3 % cap: the pacer dials progressively until back under it.
    assert state["phase_after"] == "capped"
    waited = time.monotonic() - state["written_at"]
    print(f"\nother daemons' answers counted {waited:.2f} s after they were written")


async def test_history_has_the_machines_and_others_minutes_count_only_others(
    store_db: Database,
) -> None:
    async with store_db.transaction() as s:
        seeded = await seed_campaign(s, leads=1)
    c, lead_id, trunk_id = seeded.campaign.id, seeded.lead_ids[0], seeded.trunk.id
    rows, _ = history_rows(c, lead_id, trunk_id, T0, owner="other-daemon")
    mine, _ = history_rows(c, lead_id, trunk_id, T0, owner="me")
    await write_rows(store_db, rows + mine)
    store = PgEngineStore(store_db, "me", 60.0, clock=lambda: T0)
    history = await store.campaign_history(seeded.campaign)
    # 5 machines a day in each set of rows, all within the last 24 hours
    day_start = T0.timestamp() - 86_400
    assert sum(n for t, n in history.machine_minutes if t >= day_start) == 10

    # The same statement gave the others' counts of the last LATE_S hours apart: what a later
    # read from there gives, as long as nothing was written meanwhile.
    assert history.others_since == since_for(T0.timestamp())
    assert history.others
    seed_since = datetime.fromtimestamp(history.others_since, UTC)
    assert list(history.others) == await store.others_minutes(c, seed_since)

    since = T0 - timedelta(hours=6)
    got = await store.others_minutes(c, since)
    want: dict[float, list[int]] = {}
    for r in rows:
        t = r["answer_at"] or r["originated_at"]
        if r["result"] not in ("connected", "abandoned", "machine") or t < since:
            continue
        minute = float(int(t.timestamp() // 60) * 60)
        counts = want.setdefault(minute, [0, 0, 0])
        if r["result"] == "machine":
            counts[2] += 1
        else:
            counts[0] += 1
            late = (r["answer_to_agent_ms"] or 0) > 2000
            counts[1] += r["result"] == "abandoned" or late
    assert got == [(m, *v) for m, v in sorted(want.items())]
    assert sum(a for _, a, _, _ in got) > 0 and sum(m for _, _, _, m in got) > 0


async def saved(db: Database, campaign_id: int) -> tuple[float | None, int | None]:
    async with db.transaction() as s:
        row = (
            await s.execute(
                text("SELECT pacer_threshold, pacer_abandons_seen FROM campaigns WHERE id = :c"),
                {"c": campaign_id},
            )
        ).one()
    return row[0], row[1]


async def test_the_pacers_calibration_outlives_a_restart(
    asterisk: Asterisk, store_db: Database, store_db_url: str
) -> None:
    seeded = await seed(store_db, name="calibrated", numbers=["+15550001001"], agents=0)
    cid = seeded.campaign_id
    assert await saved(store_db, cid) == (None, None)
    pacers: list[PredictivePacer] = []

    def pacer(_c: object) -> PredictivePacer:
        pacers.append(PredictivePacer())
        return pacers[-1]

    settings = rig_settings(asterisk, store_db_url, abandonment_sync_s=0.2, autologin_agents=False)
    default = PredictivePacer().calibration
    state: dict[str, Any] = {}

    def learned(engine: Engine) -> bool:
        run = engine.campaigns.get(cid)
        if run is None or run.others is None:
            return False
        if "set" not in state:
            state["restored"] = pacers[-1].calibration
            # what its feedback loop would have tuned after a few hours of calls
            pacers[-1].restore_calibration(0.034, 7)
            state["set"] = True
        return engine.saved_calibration(cid) == (0.034, 7)

    assert await run_app(App(settings, pacer), learned, timeout_s=20) == 0
    assert state["restored"] == default  # nothing saved yet: the default
    assert await saved(store_db, cid) == (0.034, 7)

    # A new daemon (a restart) goes on from it.
    state.clear()

    def restored(engine: Engine) -> bool:
        run = engine.campaigns.get(cid)
        return run is not None and run.others is not None

    assert await run_app(App(settings, pacer), restored, timeout_s=20) == 0
    assert len(pacers) == 2
    assert pacers[-1].calibration == (0.034, 7)
