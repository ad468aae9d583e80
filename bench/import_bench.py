"""Lead import benchmark: a generated file of N mixed real-world rows (national and
international numbers in several formats, a few bad rows and duplicates) through the import.

Prints the time of each phase: reading the CSV, normalising the numbers with `phonenumbers`
(E.164, time zone, duplicates), then the whole import as the API runs it into Postgres (a
scratch database, migrated), with how late the event loop ran meanwhile (what PBX events
would wait in the daemon). With ``--url`` it also sends the file to a running
daemon's API over HTTP. Not a test: it prints figures.

    .venv/bin/python bench/import_bench.py --rows 100000
    .venv/bin/python bench/import_bench.py --url http://127.0.0.1:8080 --campaign NAME
        (the token in $DIALER_API_TOKEN)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialer.imports.normalise import Normaliser, Options
from dialer.imports.reader import read_csv
from dialer.imports.service import ImportReport, Upload, run_import
from dialer.store import campaigns as campaign_repo
from dialer.store.engine import Database
from dialer.store.migrate import upgrade
from rig.db import recreate_database


def generate(rows: int, seed: int = 7) -> bytes:
    """A CRM-like export: names, e-mail, notes, and numbers in five formats (one row in 2,000
    bad, one in 1,000 a repeat of an earlier number)."""
    rnd = random.Random(seed)
    out = ["id,first_name,last_name,Phone Number,country,email,notes"]
    seen: list[str] = []
    for i in range(rows):
        area = rnd.choice(["212", "415", "312", "617", "646", "718", "305", "206"])
        exchange = 201 + rnd.randrange(700)
        if exchange % 100 == 11:
            exchange += 1  # N11 codes are not exchanges
        line = f"{rnd.randrange(10_000):04d}"
        shape = i % 5
        country = ""
        if shape == 0:
            phone = f"({area}) {exchange}-{line}"
        elif shape == 1:
            phone = f"+1 {area} {exchange} {line}"
        elif shape == 2:
            phone = f"{area}.{exchange}.{line}"
        elif shape == 3:
            phone = f"1-{area}-{exchange}-{line}"
        else:
            phone = f"06 {rnd.randrange(10, 99)} {rnd.randrange(10, 99)} {i % 100:02d} {i % 97:02d}"
            country = "FR"
        if i % 2000 == 1999:
            phone = "n/a"
        elif i % 1000 == 999 and seen:
            phone = rnd.choice(seen)
        else:
            seen.append(phone)
        out.append(f'{i},First{i},Last{i},{phone},{country},p{i}@example.com,"note, {i}"')
    return ("\n".join(out) + "\n").encode()


async def _loop_delays(samples: list[float], stop: asyncio.Event) -> None:
    """How late a 10 ms sleep wakes up: what a PBX event would wait during the import."""
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(0.01)
        samples.append((time.perf_counter() - t - 0.01) * 1000)


async def store_phase(url: str, data: bytes) -> tuple[ImportReport, float, list[float]]:
    db = Database(url)
    try:
        async with db.transaction() as s:
            trunk = await campaign_repo.create_trunk(
                s, name="bench", endpoint="trunk", max_channels=10, max_cps=10
            )
            campaign = await campaign_repo.create_campaign(
                s, name="bench", trunk_id=trunk.id, caller_id="+15550000000"
            )
        samples: list[float] = []
        stop = asyncio.Event()
        probe = asyncio.create_task(_loop_delays(samples, stop))
        started = time.perf_counter()
        report = None
        async for step in run_import(
            db, campaign.id, Upload.of(data), options=Options(region="US"), started=started
        ):
            if isinstance(step, ImportReport):
                report = step
        elapsed = time.perf_counter() - started
        stop.set()
        await probe
        assert report is not None
        return report, elapsed, sorted(samples)
    finally:
        await db.dispose()


def http_phase(url: str, campaign: str, data: bytes) -> None:
    from dialer.client.http import ApiClient

    token = os.environ.get("DIALER_API_TOKEN")
    with ApiClient(url, token, timeout_s=600) as client:
        started = time.perf_counter()
        report = client.upload(
            f"/campaigns/{campaign}/leads",
            data,
            content_type="text/csv",
            params={"region": "US", "list": f"bench-{int(time.time())}"},
        )
        elapsed = time.perf_counter() - started
    print(
        f"over HTTP          {elapsed:6.2f} s  {report['rows'] / elapsed:9.0f} rows/s  "
        f"({report['inserted']} stored, {report['rejected_count']} rejected; "
        f"server {report['seconds']:.2f} s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database", default="dialer_import_bench", help="scratch database")
    parser.add_argument("--url", help="also import over HTTP into this running daemon")
    parser.add_argument("--campaign", help="campaign for --url")
    args = parser.parse_args()

    data = generate(args.rows)
    print(f"{args.rows} rows, {len(data) / 1e6:.1f} MB of CSV")
    t0 = time.perf_counter()
    read = read_csv(data)
    t1 = time.perf_counter()
    results = Normaliser(Options(region="US")).rows(read.rows)
    t2 = time.perf_counter()
    accepted = sum(1 for r in results if not hasattr(r, "reason"))
    print(f"read CSV           {t1 - t0:6.2f} s  {args.rows / (t1 - t0):9.0f} rows/s")
    print(
        f"normalise numbers  {t2 - t1:6.2f} s  {args.rows / (t2 - t1):9.0f} rows/s"
        f"  ({accepted} accepted)"
    )

    url = recreate_database(args.database)
    upgrade(url)
    report, elapsed, delays = asyncio.run(store_phase(url, data))
    print(
        f"whole import (DB)  {elapsed:6.2f} s  {args.rows / elapsed:9.0f} rows/s  "
        f"({report.inserted} stored, {report.rejected_count} rejected: {report.counts})"
    )
    p99 = delays[int(len(delays) * 0.99)]
    print(
        f"event-loop delay during the import: p50 {delays[len(delays) // 2]:.1f} ms, "
        f"p99 {p99:.1f} ms, max {delays[-1]:.1f} ms"
    )
    if args.url:
        if not args.campaign:
            parser.error("--url needs --campaign")
        http_phase(args.url, args.campaign, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
