"""Callbacks on the real rig: the daemon's App against Asterisk 22, SIPp and Postgres.

A campaign of two agents with ordinary leads waiting in the dialer's buffer, and three
callbacks that come due a few seconds after the start:
- X, for the named agent B, on a number that got an abandoned call an hour ago: the 72-hour
  lock is lifted for it because B is reserved for the call;
- Y, for anyone, on a lead that was done (connected earlier);
- Z, for anyone, on a number that got an abandoned call an hour ago: the lock holds.
The pacer holds every call back until the callbacks are due and leased (so the ordinary leads
are there to be overtaken), then dials one call per ready agent. X goes as soon as it is due,
whatever the pacer says (B is kept for it and left out of the pacer's count); Y waits at the
front of the buffer for the pacer. X and Y must be the first two calls dialed, X connected to B
(the CDR's agent), Y to the other agent; Z never reaches the PBX.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from dialer.app import App
from dialer.domain.results import CallResult
from dialer.engine.engine import Engine
from dialer.rules.verdict import Reason
from dialer.store import callbacks as callback_repo
from dialer.store import explain
from dialer.store.cdrs import end_attempts, start_attempts
from dialer.store.engine import Database
from dialer.store.records import AttemptEnd, AttemptStart
from rig.ami import AmiClient
from rig.asterisk import Asterisk
from rig.campaign import seed
from rig.numbers import Behaviour, make_number
from rig.sipp import Sipp
from tests.integration.test_campaign_rig import cdrs, rig_settings, run_app
from tests.integration.test_rules_rig import GatePacer

pytestmark = [pytest.mark.rig, pytest.mark.slow]

DUE_IN_S = 6.0


async def earlier_call(
    db: Database, lead_id: int, campaign_id: int, at: datetime, result: CallResult
) -> None:
    attempt = str(uuid.uuid4())
    async with db.transaction() as s:
        await start_attempts(s, [AttemptStart(attempt, lead_id, campaign_id, None, "old", at)])
        end = AttemptEnd(
            attempt,
            at + timedelta(seconds=20),
            result,
            answer_at=at + timedelta(seconds=5),
            agent_connect_at=at + timedelta(seconds=5) if result is CallResult.CONNECTED else None,
        )
        await end_attempts(s, [end])


async def test_callbacks_go_first_and_to_their_agent(
    asterisk: Asterisk,
    sipp_trunk: Sipp,
    agent_headsets: Any,
    ami_observer: AmiClient,
    store_db: Database,
    store_db_url: str,
) -> None:
    ordinary = [make_number(Behaviour.ANSWER, 0.3, 1.0, 700 + i) for i in range(6)]
    x_num, y_num, z_num = (make_number(Behaviour.ANSWER, 0.3, 1.5, 720 + i) for i in range(3))
    seeded = await seed(
        store_db,
        name="callbacks",
        numbers=[*ordinary, x_num, y_num, z_num],
        agents=2,
        wrapup_s=0.2,
        max_attempts=3,
    )
    cid = seeded.campaign_id
    agent_a, agent_b = seeded.agent_ids
    ids = dict(zip([*ordinary, x_num, y_num, z_num], seeded.lead_ids, strict=True))
    x, y, z = ids[x_num], ids[y_num], ids[z_num]
    start = datetime.now(UTC)
    hour_ago = start - timedelta(hours=1)
    await earlier_call(store_db, x, cid, hour_ago, CallResult.ABANDONED)
    await earlier_call(store_db, z, cid, hour_ago, CallResult.ABANDONED)
    await earlier_call(store_db, y, cid, hour_ago, CallResult.CONNECTED)  # y is done
    due = start + timedelta(seconds=DUE_IN_S)
    async with store_db.transaction() as s:
        cb_x = await callback_repo.schedule(s, x, due, agent_id=agent_b, created_by="rig")
        cb_y = await callback_repo.schedule(s, y, due, created_by="rig")
        cb_z = await callback_repo.schedule(s, z, due, created_by="rig")
        why_x = await explain.explain_lead(s, x, start)
        why_y = await explain.explain_lead(s, y, start)
        lead_y = (
            await s.execute(text("SELECT status FROM leads WHERE id = :i"), {"i": y})
        ).scalar_one()
    assert lead_y == "done"
    assert [b.reason for b in why_x.verdict.blockers] == [Reason.CALLBACK_LATER]
    assert any("lifted for the callback" in n for n in why_x.verdict.notes)
    assert why_y.dialable_at is not None and why_y.dialable_at >= due  # done, but called back
    # The rig's observer sees every event (the dialer's own AMI account gets only those the
    # daemon uses: its eventfilter lines).
    first_message = len(ami_observer.messages)

    gate = GatePacer()
    app = App(rig_settings(asterisk, store_db_url), lambda _c: gate)
    state: dict[str, Any] = {}

    def progress(engine: Engine) -> bool:
        run = engine.campaigns.get(cid)
        if run is None:
            return False
        if not gate.open:
            # X, for a named agent, goes when due whatever the pacer says (its agent is kept
            # for it, outside the pacer's count); Y waits for the pacer at the buffer's front.
            buffered = [lead.id for lead in run.leads]
            x_out = any(c.lead_id == x for c in run.calls.values()) or any(
                f.lead_id == x for f in engine.finished
            )
            if buffered[:1] == [y] and x_out:
                # ordinary leads wait behind Y in the buffer
                state["behind"] = set(buffered[1:])
                state["opened_at"] = datetime.now(UTC)
                gate.open = True
            return False
        if len(engine.finished) < len(ordinary) + 2 or run.calls:
            return False
        loop_now = asyncio.get_running_loop().time()
        state.setdefault("done_at", loop_now)
        return loop_now - state["done_at"] > 0.5  # let the CDR writer flush

    code = await run_app(app, progress, timeout_s=60)
    assert code == 0
    assert state["behind"] & {ids[n] for n in ordinary}, "no ordinary lead waited behind them"

    rows = [r for r in await cdrs(store_db, cid) if r.originated_at >= start]
    assert len(rows) == len(ordinary) + 2
    by_lead = {r.lead_id: r for r in rows}
    # The callbacks went first: the first two calls after the gate opened, at or after due.
    assert {rows[0].lead_id, rows[1].lead_id} == {x, y}
    assert all(r.originated_at >= due for r in rows)
    # X went to the agent named in its callback, despite the 72-hour lock; Y to the other.
    assert by_lead[x].result == "connected" and by_lead[x].agent_id == agent_b
    assert by_lead[y].result == "connected" and by_lead[y].agent_id == agent_a
    assert all(by_lead[ids[n]].result == "connected" for n in ordinary)
    assert z not in by_lead
    async with store_db.transaction() as s:
        done = {cb: (await callback_repo.get(s, cb)) for cb in (cb_x.id, cb_y.id, cb_z.id)}
        taken = {
            r.id: r.taken_at
            for r in await s.execute(
                text("SELECT id, taken_at FROM callbacks WHERE id = ANY(:ids)"),
                {"ids": [cb_x.id, cb_y.id]},
            )
        }
        why_z = await explain.explain_lead(s, z, datetime.now(UTC))
    assert done[cb_x.id].status == done[cb_y.id].status == "done"
    assert done[cb_z.id].status == "pending"
    assert all(at >= due for at in taken.values())
    (lock,) = why_z.verdict.blockers
    assert lock.reason is Reason.ABANDON_LOCK
    assert lock.until is not None and lock.until > datetime.now(UTC) + timedelta(hours=70)
    # Z's number never reached the PBX.
    seen = " ".join(str(v) for m in ami_observer.messages[first_message:] for v in m.values())
    assert x_num in seen and y_num in seen
    assert z_num not in seen
    print(
        f"\nrig: callbacks dialed first at +{(rows[0].originated_at - start).total_seconds():.1f}"
        f" s (due +{DUE_IN_S:.0f} s); X to agent {agent_b} through the 72-hour lock, Y to agent "
        f"{agent_a}; Z held by the lock; {len(ordinary)} ordinary leads after them"
    )
