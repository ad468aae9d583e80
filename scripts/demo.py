"""The demo: a campaign of a few hundred leads dialed through the local rig.

Starts Asterisk 22 (the rig's chroot, the project's deploy/asterisk config), a SIPp trunk that
answers a share of calls after a random ring (and is busy, rings out or fails for the others),
SIPp headsets for the agents, and a fresh `dialer_demo` database; runs the dialer daemon's
App in this process; prints live progress every second and a summary from Postgres at the end.

    make demo                       # or: .venv/bin/python scripts/demo.py --leads 300 --agents 10
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialer import logs
from dialer.app import App
from dialer.settings import DialerSettings
from dialer.store.engine import Database
from dialer.store.migrate import upgrade
from dialer.store.records import PacingMode
from dialer.store.summary import campaign_summary
from rig.asterisk import Asterisk, RigOverlay
from rig.campaign import Mix, mixed_numbers, seed
from rig.daemon import rig_settings, start
from rig.db import recreate_database
from rig.sipp import headsets, trunk

STATE_LETTER = {
    "ready": "R",
    "on_call": "T",
    "wrapup": "W",
    "paused": "P",
    "logging_in": "l",
    "logging_out": "o",
    "logged_out": "-",
}


def progress_line(app: App, started: float, total: int) -> str:
    engine = app.engine
    assert engine is not None
    c = next(iter(engine.stats()["campaigns"].values()))
    r = c["results"]
    done = sum(r.values())
    agents = "".join(STATE_LETTER.get(s, "?") for s in c["agents"].values())
    ringing = sum(v for k, v in c["in_flight"].items() if k in ("originating", "ringing"))
    return (
        f"{time.monotonic() - started:6.1f}s  dialed {c['dialed']:4d}/{total}  "
        f"ringing {ringing:3d}  answered {c['answered']:4d}  connected {r.get('connected', 0):4d}  "
        f"abandoned {r.get('abandoned', 0):3d}  busy {r.get('busy', 0):3d}  "
        f"no-answer {r.get('no_answer', 0):3d}  failed {r.get('failed', 0):3d}  "
        f"done {done:4d}  agents [{agents}]"
    )


async def run_demo(args: argparse.Namespace, url: str, ast: Asterisk) -> int:
    db = Database(url)
    mix = Mix(answer=0.5, busy=0.15, no_answer=0.1, fail=0.25, ring_s=(0.5, 6.0), talk_s=(2.0, 8.0))
    numbers = mixed_numbers(args.leads, mix, seed=args.seed)
    seeded = await seed(
        db,
        name="demo",
        numbers=numbers,
        agents=args.agents,
        ring_timeout_s=15.0,
        wrapup_s=1.0,
        hold_s=1.0,
        pacing=PacingMode(args.pacing),
    )
    dialer = DialerSettings(owner="demo", tick_s=0.1, cdr_flush_s=0.2, drain_timeout_s=10)
    token = secrets.token_urlsafe(24)  # the API's admin token, for this run only
    settings = rig_settings(url, ast.credentials, dialer, admin_token=token)
    app = App(settings)
    started = time.monotonic()
    serve = await start(app)
    if serve.done():
        return serve.result()
    print(f"campaign 'demo': {len(numbers)} leads, {args.agents} agents, {args.pacing} pacing")
    if app.http is not None:
        print(
            f"API for this run: DIALER_API_URL={app.http.url} "
            f"DIALER_API_TOKEN={settings.http.admin_token} .venv/bin/dialer status"
        )
    print("agents: R ready  T talking  W wrap-up  l logging in  - logged out")
    engine = app.engine
    assert engine is not None
    while not serve.done() and len(engine.finished) < len(numbers):
        print(progress_line(app, started, len(numbers)), flush=True)
        await asyncio.sleep(1.0)
    print(progress_line(app, started, len(numbers)), flush=True)
    app.request_stop()
    code = await serve
    summary = None
    async with db.transaction() as s:
        summary = await campaign_summary(s, seeded.campaign_id)
    await db.dispose()
    print("\nsummary from Postgres (call_attempts):")
    print(f"  attempts    {summary.attempts}")
    for result, count in summary.by_result.items():
        print(f"  {result.value:<11} {count}")
    rate = summary.abandonment_rate
    print(f"  abandonment {rate:.1%} of answered" if rate is not None else "  abandonment n/a")
    lat = summary.latency
    print(
        f"  answer-to-agent latency  p50 {lat.p50_ms} ms  p99 {lat.p99_ms} ms  max {lat.max_ms} ms"
    )
    for agent in summary.agents:
        print(f"  {agent.name:<16} {agent.connected} calls connected")
    print(f"  leads by status  { {k.value: v for k, v in summary.leads.items()} }")
    print(f"  wall time {time.monotonic() - started:.1f} s")
    return code


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leads", type=int, default=300)
    parser.add_argument("--agents", type=int, default=12)
    parser.add_argument("--pacing", default="progressive", choices=[m.value for m in PacingMode])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database", default="dialer_demo")
    args = parser.parse_args()
    logs.setup("WARNING")
    logging.getLogger("dialer").setLevel(logging.WARNING)
    url = recreate_database(args.database)
    upgrade(url)
    overlay = RigOverlay(agents=max(args.agents, 50), cdr_database=args.database)
    with (
        Asterisk(overlay=overlay) as ast,
        trunk(overlay.trunk_port),
        headsets(overlay.headset_port),
    ):
        print(f"{ast.version()} up (pid {ast.pid}); SIPp trunk and headsets on 127.0.0.1")
        return asyncio.run(run_demo(args, url, ast))


if __name__ == "__main__":
    sys.exit(main())
