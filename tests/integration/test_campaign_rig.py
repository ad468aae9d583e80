"""Campaigns through the real Asterisk rig that only Asterisk runs: answering-machine detection
through the daemon (AMD() is not available on FreeSWITCH yet). The daemon's App against
Asterisk 22, SIPp and Postgres.

The campaigns both PBXs run (a mixed campaign with exact results, abandonment with the message,
a stop mid-call, a link blip) are in test_campaign_pbx.py; the helpers are in campaign_run.py
(`cdrs`, `run_app` and `rig_settings` are imported from here by other rig tests too).
"""

from __future__ import annotations

from typing import Any

import pytest

from dialer.app import App
from dialer.pacing.base import ProgressivePacer
from dialer.store.engine import Database
from rig.asterisk import Asterisk
from rig.campaign import seed
from rig.numbers import Behaviour, make_number
from tests.fixtures.pbx import rig_settings
from tests.integration.campaign_run import cdrs, run_app

# Other rig tests import these from here (they lived here before campaign_run.py).
__all__ = ["cdrs", "rig_settings", "run_app"]

pytestmark = [pytest.mark.rig, pytest.mark.slow]


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
