"""How long restoring a campaign's history and re-reading the other daemons' calls take on the
local Postgres, for a campaign with many CDRs.

    .venv/bin/python scripts/db/bench_history.py [--cdrs 1000000] [--busy-per-hour 18000]

Creates (drops first) the database `--database` on 127.0.0.1:5432, migrates it, and writes
`--cdrs` attempts of one campaign over the last 30 days (three daemons, a mix of results)
server-side, plus `--busy-per-hour` attempts an hour over the last four hours (a busy campaign:
18,000 an hour is about 100 agents at a 30 % contact rate). Then times, median of several runs:
- the history read a daemon does when it starts the campaign (`campaign_history`);
- the read every `dialer.abandonment_sync_s` (`others_minutes` from `since_for(now)`, the last
  `LATE_S`), and, for comparison, the same statement from the run's start 8 hours and 3 days ago
  (what a read that never moved on would cost).
Prints the figures and the plan of the periodic read; asserts nothing (a measurement).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from dialer.pacing.others import LATE_S, since_for
from dialer.store import campaigns as campaign_repo
from dialer.store.engine import Database
from dialer.store.history import _OTHERS, campaign_history, others_minutes
from dialer.store.leads import add_leads
from dialer.store.migrate import upgrade
from dialer.store.records import NewLead

SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"

# i -> result: 30 % connected (1 in 30 of them with a late agent), 1 % abandoned, 4 % machines,
# the rest busy or no answer.
_WRITE = text(
    """
    INSERT INTO call_attempts (id, lead_id, campaign_id, trunk_id, owner, originated_at,
                               ring_at, answer_at, agent_connect_at, hangup_at, result,
                               answer_to_agent_ms)
    SELECT gen_random_uuid(), :lead, :campaign, :trunk, 'daemon-' || (i % 3),
           t0, t0 + interval '1 second',
           CASE WHEN k < 35 THEN t0 + interval '8 seconds' END,
           CASE WHEN k < 30 THEN t0 + interval '8 seconds'
                + make_interval(secs => CASE WHEN i % 30 = 0 THEN 2.5 ELSE 0.05 END) END,
           t0 + interval '60 seconds',
           CASE WHEN k < 30 THEN 'connected' WHEN k < 31 THEN 'abandoned'
                WHEN k < 35 THEN 'machine' WHEN k < 60 THEN 'busy' ELSE 'no_answer' END,
           CASE WHEN k < 30 THEN CASE WHEN i % 30 = 0 THEN 2500 ELSE 50 END END
    FROM (
        SELECT i, (CAST(i AS bigint) * 7919) % 100 AS k,
               CAST(:newest AS timestamptz) - make_interval(secs => i * :step) AS t0
        FROM generate_series(0, :n - 1) AS i
    ) AS g
    """
)


async def recreate(name: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()


async def timed(run: Callable[[], Awaitable[object]], times: int) -> float:
    """Median wall time of `times` runs, in milliseconds (after one warm-up run)."""
    await run()
    spent = []
    for _ in range(times):
        t = time.perf_counter()
        await run()
        spent.append((time.perf_counter() - t) * 1000)
    return statistics.median(spent)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cdrs", type=int, default=1_000_000)
    parser.add_argument("--busy-per-hour", type=int, default=18_000)
    parser.add_argument("--database", default="dialer_bench_history")
    parser.add_argument("--times", type=int, default=10)
    args = parser.parse_args()

    await recreate(args.database)
    url = f"{SERVER}/{args.database}"
    await asyncio.to_thread(upgrade, url)  # Alembic runs its own event loop
    db = Database(url)
    try:
        async with db.transaction() as s:
            trunk = await campaign_repo.create_trunk(
                s, name="t", endpoint="trunk", max_channels=100, max_cps=50
            )
            campaign = await campaign_repo.create_campaign(
                s, name="bench", trunk_id=trunk.id, caller_id="+33100000000"
            )
            lead_list = await campaign_repo.create_lead_list(s, campaign.id, "all")
            await add_leads(s, lead_list.id, [NewLead("+33610000000")])
            lead = (await s.execute(text("SELECT id FROM leads"))).scalar_one()
        now = datetime.now(UTC)
        t = time.perf_counter()
        common = {"lead": lead, "campaign": campaign.id, "trunk": trunk.id}
        async with db.transaction() as s:
            await s.execute(
                _WRITE, {**common, "newest": now, "n": args.cdrs, "step": 30 * 86_400 / args.cdrs}
            )
            busy = args.busy_per_hour * 4
            if busy:
                await s.execute(
                    _WRITE, {**common, "newest": now, "n": busy, "step": 4 * 3600 / busy}
                )
        async with db.transaction() as s:
            await s.execute(text("ANALYZE call_attempts"))
        total = args.cdrs + args.busy_per_hour * 4
        print(f"wrote {total:,} CDRs of one campaign in {time.perf_counter() - t:.1f} s")

        async def restore() -> object:
            async with db.transaction() as s:
                return await campaign_history(s, campaign.id, now, wrapup_s=5.0, owner="daemon-0")

        history = await restore()
        ms = await timed(restore, max(3, args.times // 3))
        print(f"history read at start (campaign_history, one daemon): {ms:.0f} ms")

        def others_from(since: datetime) -> Callable[[], Awaitable[object]]:
            async def run() -> object:
                async with db.transaction() as s:
                    return await others_minutes(s, campaign.id, "daemon-0", since)

            return run

        periodic = datetime.fromtimestamp(since_for(now.timestamp()), UTC)
        rows = await others_from(periodic)()
        assert isinstance(rows, list)
        scanned = sum(a + m for _, a, _, m in rows)
        ms = await timed(others_from(periodic), args.times)
        print(
            f"periodic read of the others' calls (last {LATE_S / 3600:.0f} h, {len(rows)} "
            f"minutes, {scanned:,} of their answers and machines): {ms:.1f} ms"
        )
        for label, age in (("8 hours", timedelta(hours=8)), ("3 days", timedelta(days=3))):
            ms = await timed(others_from(now - age), args.times)
            print(f"  the same from a run start {label} ago (never moving on): {ms:.1f} ms")
        async with db.transaction() as s:
            plan = await s.execute(
                text("EXPLAIN (ANALYZE, BUFFERS) " + _OTHERS.text),
                {"campaign": campaign.id, "owner": "daemon-0", "since": periodic, "grace_ms": 2000},
            )
            print("plan of the periodic read:")
            for (line,) in plan:
                print("  " + line)
        assert history is not None
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
