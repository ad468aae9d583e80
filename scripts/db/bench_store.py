"""How long leasing and writing N call attempts takes on the local Postgres.

    .venv/bin/python scripts/db/bench_store.py [--attempts 1000] [--batch 50] [--leads 20000]

Creates (drops first) the database `dialer_bench` on 127.0.0.1:5432, migrates it with Alembic,
imports leads, then runs the daemon's write pattern: per batch, one lease transaction, one
transaction writing the starts, one writing progress (ring/answer/agent) and one writing the
ends (which also moves the leads on); then the same with the three writes in one transaction;
then one attempt per transaction, for comparison. Prints wall times; it asserts nothing (a
measurement, not a test).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from dialer.domain.results import CallResult
from dialer.store import campaigns as campaign_repo
from dialer.store.cdrs import end_attempts, start_attempts, update_attempts
from dialer.store.engine import Database
from dialer.store.leads import add_leads, lease_leads
from dialer.store.migrate import upgrade
from dialer.store.records import AttemptEnd, AttemptProgress, AttemptStart, LeasedLead, NewLead

SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432"
RESULTS = [CallResult.CONNECTED] * 3 + [CallResult.NO_ANSWER] * 4 + [CallResult.BUSY] * 2
RESULTS += [CallResult.FAILED, CallResult.ABANDONED]


async def recreate(name: str) -> None:
    engine = create_async_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()


def calls(
    leased: list[LeasedLead], campaign_id: int, trunk_id: int, now: datetime, rng: random.Random
) -> tuple[list[AttemptStart], list[AttemptProgress], list[AttemptEnd]]:
    starts, progress, ends = [], [], []
    for lead in leased:
        attempt_id = str(uuid.uuid4())
        starts.append(AttemptStart(attempt_id, lead.id, campaign_id, trunk_id, "bench", now))
        result = rng.choice(RESULTS)
        answer = now + timedelta(seconds=8) if result.answered else None
        connect = answer + timedelta(milliseconds=rng.randint(5, 60)) if answer else None
        if result is not CallResult.CONNECTED:
            connect = None
        progress.append(
            AttemptProgress(
                attempt_id,
                ring_at=now + timedelta(seconds=1),
                answer_at=answer,
                agent_connect_at=connect,
            )
        )
        ends.append(AttemptEnd(attempt_id, now + timedelta(seconds=60), result, cause=16))
    return starts, progress, ends


async def batched(
    db: Database, campaign_id: int, trunk_id: int, n: int, batch: int
) -> dict[str, float]:
    rng = random.Random(1)
    now = datetime.now(UTC)
    spent = {"lease": 0.0, "starts": 0.0, "progress": 0.0, "ends": 0.0}
    done = 0
    while done < n:
        t = time.perf_counter()
        async with db.transaction() as s:
            leased = await lease_leads(s, campaign_id, min(batch, n - done), now, "bench", 300)
        spent["lease"] += time.perf_counter() - t
        if not leased:
            raise SystemExit("ran out of leads: raise --leads")
        starts, progress, ends = calls(leased, campaign_id, trunk_id, now, rng)
        t = time.perf_counter()
        async with db.transaction() as s:
            await start_attempts(s, starts)
        spent["starts"] += time.perf_counter() - t
        t = time.perf_counter()
        async with db.transaction() as s:
            await update_attempts(s, progress)
        spent["progress"] += time.perf_counter() - t
        t = time.perf_counter()
        async with db.transaction() as s:
            await end_attempts(s, ends)
        spent["ends"] += time.perf_counter() - t
        done += len(leased)
    return spent


async def combined(db: Database, campaign_id: int, trunk_id: int, n: int, batch: int) -> float:
    """Per batch: one lease transaction, then one transaction with starts, progress and ends
    (how `PgEngineStore.write_batch` flushes)."""
    rng = random.Random(3)
    now = datetime.now(UTC)
    t = time.perf_counter()
    done = 0
    while done < n:
        async with db.transaction() as s:
            leased = await lease_leads(s, campaign_id, min(batch, n - done), now, "bench", 300)
        if not leased:
            raise SystemExit("ran out of leads: raise --leads")
        starts, progress, ends = calls(leased, campaign_id, trunk_id, now, rng)
        async with db.transaction() as s:
            await start_attempts(s, starts)
            await update_attempts(s, progress)
            await end_attempts(s, ends)
        done += len(leased)
    return time.perf_counter() - t


async def one_by_one(db: Database, campaign_id: int, trunk_id: int, n: int) -> float:
    rng = random.Random(2)
    now = datetime.now(UTC)
    t = time.perf_counter()
    for _ in range(n):
        async with db.transaction() as s:
            leased = await lease_leads(s, campaign_id, 1, now, "bench", 300)
        starts, progress, ends = calls(leased, campaign_id, trunk_id, now, rng)
        async with db.transaction() as s:
            await start_attempts(s, starts)
        async with db.transaction() as s:
            await update_attempts(s, progress)
        async with db.transaction() as s:
            await end_attempts(s, ends)
    return time.perf_counter() - t


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--database", default="dialer_bench")
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
        leads = [NewLead(f"+3361{i:07d}", extra={"i": i}) for i in range(args.leads)]
        t = time.perf_counter()
        async with db.transaction() as s:
            await add_leads(s, lead_list.id, leads)
        imported = time.perf_counter() - t
        print(f"import: {args.leads} leads in {imported:.3f}s ({args.leads / imported:,.0f}/s)")

        spent = await batched(db, campaign.id, trunk.id, args.attempts, args.batch)
        total = sum(spent.values())
        detail = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in spent.items())
        print(
            f"batched ({args.batch}/batch): {args.attempts} attempts leased+started+progressed+"
            f"ended in {total:.3f}s ({args.attempts / total:,.0f} attempts/s): {detail}"
        )
        both = await combined(db, campaign.id, trunk.id, args.attempts, args.batch)
        print(
            f"batched, one write transaction per batch: {args.attempts} attempts in {both:.3f}s "
            f"({args.attempts / both:,.0f} attempts/s)"
        )
        single = await one_by_one(db, campaign.id, trunk.id, args.attempts)
        print(
            f"one attempt per transaction: {args.attempts} attempts in {single:.3f}s "
            f"({args.attempts / single:,.0f} attempts/s)"
        )
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
