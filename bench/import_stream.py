"""A large lead file through a real daemon's HTTP API: the daemon's memory and event loop while
it streams in.

Starts the rig's Asterisk (the daemon needs its PBX to start; nothing is dialed), a fresh
database and `dialer run` as a subprocess (as the API tests do, tests/integration/api_daemon.py),
creates a trunk and a campaign over the API, and posts a generated CSV of `--rows` rows
(bench/import_bench.py's CRM-like file: five number formats, one row in 2,000 bad, one in
1,000 a repeat) in 1 MB pieces with its Content-Length. Meanwhile it samples the daemon's RSS
every 0.1 s from /proc, and it reads the daemon's own `dialer_event_loop_lag_seconds`
histogram from /metrics before and after: the figures are the import's share of it (quantiles
are the bucket bounds they fall under). Prints RSS before, after and at its peak, and the
loop-lag quantiles, with the idle daemon's for the 10 s before and the machine's load average
(the loop waits for a CPU too when other processes hold both cores). Not a test: it prints
figures.

    flock /tmp/dialer-rig.lock .venv/bin/python bench/import_stream.py --rows 1000000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.import_bench import generate
from dialer.store.migrate import upgrade
from rig.asterisk import Asterisk, RigOverlay
from rig.db import recreate_database
from rig.proc import rss_bytes
from tests.integration.api_daemon import TOKENS, start_daemon, write_config

MB = 1024 * 1024
IDLE_S = 10.0
LAG = "dialer_event_loop_lag_seconds"


def lag_buckets(metrics: str) -> dict[float, float]:
    """The cumulative bucket counts of the loop-lag histogram, by upper bound."""
    out: dict[float, float] = {}
    for line in metrics.splitlines():
        if line.startswith(f"{LAG}_bucket"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            out[float("inf") if bound == "+Inf" else float(bound)] = float(line.rsplit(" ", 1)[1])
    return out


def quantile(before: dict[float, float], after: dict[float, float], q: float) -> float:
    """The smallest bucket bound under which a fraction `q` of the new samples fall."""
    bounds = sorted(after)
    count = after[float("inf")] - before.get(float("inf"), 0.0)
    for bound in bounds:
        if after[bound] - before.get(bound, 0.0) >= q * count:
            return bound
    return float("inf")


def pieces(data: bytes, size: int = MB) -> Iterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at : at + size]


class RssSampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", default="dialer_import_stream", help="scratch database")
    args = parser.parse_args()

    data = generate(args.rows)
    print(f"{args.rows} rows, {len(data) / MB:.1f} MB of CSV")
    url = recreate_database(args.database)
    upgrade(url)
    with Asterisk(overlay=RigOverlay()) as ast, tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        daemon = start_daemon(home, write_config(home, ast, url))
        try:
            auth = {"Authorization": f"Bearer {TOKENS['admin']}"}
            with httpx.Client(base_url=daemon.url, headers=auth, timeout=1800) as admin:
                trunk = {"name": "bench", "endpoint": "trunk", "max_channels": 4, "max_cps": 2}
                assert admin.post("/api/v1/trunks", json=trunk).status_code == 201
                camp = {"name": "bench", "trunk": "bench", "caller_id": "+15550000000"}
                assert admin.post("/api/v1/campaigns", json=camp).status_code == 201
                time.sleep(1.0)  # the daemon settles: loop-lag samples of the start-up left out
                idle_from = lag_buckets(httpx.get(f"{daemon.url}/metrics").text)
                time.sleep(IDLE_S)  # the lag of the idle daemon on this machine, to compare
                before_lag = lag_buckets(httpx.get(f"{daemon.url}/metrics").text)
                load_before = os.getloadavg()[0]
                rss_before = rss_bytes(daemon.proc.pid)
                sampler = RssSampler(daemon.proc.pid)
                sampler.start()
                started = time.perf_counter()
                r = admin.post(
                    "/api/v1/campaigns/bench/leads",
                    content=pieces(data),
                    params={"region": "US"},
                    headers={"Content-Type": "text/csv", "Content-Length": str(len(data))},
                )
                elapsed = time.perf_counter() - started
                sampler.stop.set()
                sampler.join()
                rss_after = rss_bytes(daemon.proc.pid)
                load_after = os.getloadavg()[0]
                after_lag = lag_buckets(httpx.get(f"{daemon.url}/metrics").text)
            assert r.status_code == 200, r.text[:500]
            report = r.json()
        finally:
            daemon.stop()
    samples = after_lag[float("inf")] - before_lag.get(float("inf"), 0.0)
    print(
        f"import over HTTP   {elapsed:6.1f} s  {args.rows / elapsed:8.0f} rows/s  "
        f"({report['inserted']} stored, {report['rejected_count']} rejected, "
        f"{len(report['rejected'])} listed: {report['counts']})"
    )
    print(
        f"daemon RSS         before {rss_before / MB:6.1f} MB  after {rss_after / MB:6.1f} MB  "
        f"peak {sampler.peak / MB:6.1f} MB  (peak growth {(sampler.peak - rss_before) / MB:.1f} MB)"
    )
    p50, p99 = quantile(before_lag, after_lag, 0.5), quantile(before_lag, after_lag, 0.99)
    print(
        f"event-loop lag     {samples:.0f} samples: p50 <= {p50 * 1000:.1f} ms, "
        f"p99 <= {p99 * 1000:.1f} ms"
    )
    idle50, idle99 = quantile(idle_from, before_lag, 0.5), quantile(idle_from, before_lag, 0.99)
    print(
        f"  the idle daemon  ({IDLE_S:.0f} s before): p50 <= {idle50 * 1000:.1f} ms, "
        f"p99 <= {idle99 * 1000:.1f} ms; load average {load_before:.1f} before, "
        f"{load_after:.1f} after (2 cores)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
