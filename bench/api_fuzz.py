"""The API fuzzed from its OpenAPI schema at length: schemathesis against a real daemon.

Starts the rig's Asterisk (the daemon needs its PBX to start; nothing is dialed), a fresh
database and `dialer run` as a subprocess (as the API tests do), and runs `st run` with every
check, every phase (examples, coverage, fuzzing, stateful) and `--max-examples` cases per
operation, with the hooks and config the suite's shorter run uses
(tests/integration/test_api_schema_fuzz.py). Prints schemathesis's summary, the number of
requests the daemon answered (its access log) by status code, and any traceback in its log.
Not a test: it prints figures.

    flock /tmp/dialer-rig.lock .venv/bin/python bench/api_fuzz.py --max-examples 300
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialer.store.migrate import upgrade
from rig.asterisk import Asterisk, RigOverlay
from rig.db import recreate_database
from tests.integration.api_daemon import start_daemon, write_config
from tests.integration.test_api_schema_fuzz import schemathesis_run

_ACCESS = re.compile(r'uvicorn\.access: .*" (\d{3})')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database", default="dialer_api_fuzz", help="scratch database")
    args = parser.parse_args()

    url = recreate_database(args.database)
    upgrade(url)
    with Asterisk(overlay=RigOverlay()) as ast, tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        daemon = start_daemon(home, write_config(home, ast, url))
        try:
            started = time.perf_counter()
            run = schemathesis_run(
                daemon.url,
                "--seed",
                str(args.seed),
                "--max-examples",
                str(args.max_examples),
                cwd=home,
                timeout_s=3600,
            )
            elapsed = time.perf_counter() - started
            log = daemon.log()
        finally:
            daemon.stop()
    failures = run.stdout.find("FAILURES")
    if failures >= 0:  # each failing operation, its check and the answer (the first 6000 chars)
        print(run.stdout[failures - 40 : failures + 6000])
    summary = run.stdout[run.stdout.find("SUMMARY") - 40 :] if "SUMMARY" in run.stdout else ""
    print(summary or run.stdout[-6000:])
    statuses = collections.Counter(_ACCESS.findall(log))
    print(f"schemathesis exit code {run.returncode}, {elapsed:.0f} s")
    print(f"requests answered by the daemon: {sum(statuses.values())}")
    print("by status: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    print(f"tracebacks in the daemon's log: {log.count('Traceback')}")
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
