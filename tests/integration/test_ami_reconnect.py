"""Losing Asterisk: reconnect with back-off, reconcile calls by their own ids, never dial twice,
and leave no call or agent stale (the real Asterisk rig). A blip of the link itself, on either
PBX, is in test_campaign_pbx.py."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from dialer.app import App
from dialer.engine.engine import Engine
from dialer.pacing.base import ProgressivePacer
from dialer.store.engine import Database
from rig.asterisk import Asterisk
from rig.campaign import seed
from rig.numbers import Behaviour, make_number
from tests.fixtures.pbx import rig_settings
from tests.integration.campaign_run import cdrs, lead_statuses, run_app

pytestmark = [pytest.mark.rig, pytest.mark.slow]


async def test_asterisk_restart_mid_campaign(
    asterisk: Asterisk,
    sipp_trunk: Any,
    agent_headsets: Any,
    store_db: Database,
    store_db_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Asterisk goes away with calls up and comes back 2 s later. The daemon keeps trying with
    # back-off, reconciles (the calls are gone: closed), logs the agents in again and finishes
    # the campaign. No record is left open, no lead left leased.
    numbers = [make_number(Behaviour.ANSWER, 0.5, 6.0, i) for i in range(8)]
    seeded = await seed(store_db, name="restart", numbers=numbers, agents=2)
    app = App(rig_settings(asterisk, store_db_url), lambda _c: ProgressivePacer())
    restarted = False

    async def restart() -> None:
        await asyncio.to_thread(asterisk.stop)
        await asyncio.sleep(2.0)
        await asyncio.to_thread(asterisk.start)

    restart_task: asyncio.Task[None] | None = None

    def restart_then_done(e: Engine) -> bool:
        nonlocal restarted, restart_task
        run = e.campaigns[seeded.campaign_id]
        if not restarted and sum(1 for c in run.calls.values() if c.connected_at) >= 2:
            restarted = True
            restart_task = asyncio.get_running_loop().create_task(restart())
        # Done when every lead has a final record (calls lost in the restart count too).
        return restarted and len(e.finished) >= len(numbers) and not run.leads

    caplog.set_level(logging.INFO)
    code = await run_app(app, restart_then_done, timeout_s=120)
    assert restart_task is not None
    await restart_task
    assert code == 0
    rows = await cdrs(store_db, seeded.campaign_id)
    assert len(rows) == len(numbers)
    assert all(r.hangup_at is not None for r in rows)
    results = [r.result for r in rows]
    # The two calls bridged when Asterisk died were connected; the rest ran after the restart.
    assert results.count("connected") == len(numbers), results
    engine = app.engine
    assert engine is not None
    causes = [c for c in engine.finished if c.result.value == "connected"]
    assert len(causes) == len(numbers)
    assert await lead_statuses(store_db, seeded.campaign_id) == {"done": len(numbers)}
    assert "AMI reconnect failed" in caplog.text  # it retried while Asterisk was down
    assert "PBX link restored: " in caplog.text
