"""Soak: a campaign with nailed-up agents on the rig for a set time, then what held up.

Starts the rig (Asterisk, the SIPp trunk and headsets, streaming RTP as in the tests), a fresh
database and the daemon's App in this process, as scripts/demo.py does, with leads enough for
the whole run. Customers talk 10-90 s, so many calls outlive the trunk's 60 s RTP timeout, and
each agent's leg stays up for the whole run, far past the agents' 120 s. After `--minutes` it
stops the daemon (live calls may finish: the drain waits for the longest talk) and prints:

- agents dropped: agent legs lost while the campaign ran (the engine logging an agent out that
  nobody asked to log out), and agent legs still up on Asterisk just before the stop; must be 0;
- channels Asterisk disconnected for lack of RTP (its log's NOTICE lines during the run);
- the daemon's RSS at start, each minute and at the end (this process: the App and this loop);
- attempts originated vs CDR rows (call_attempts) written, and rows without a result;
- results and abandonment (from Postgres, dialer/store/summary.py).

Not a test. `--minutes 5` for a short run; the default is 30. `--media off` runs the SIPp
trunk and headsets without RTP (rig/sipp.py), to see the soak catch what the RTP timeouts do.

    .venv/bin/python bench/soak.py --minutes 5
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from dialer import logs
from dialer.app import App
from dialer.core.observe import AgentChanged, EngineEvent
from dialer.settings import DialerSettings
from dialer.store.engine import Database
from dialer.store.migrate import upgrade
from dialer.store.summary import campaign_summary
from rig.asterisk import Asterisk, RigOverlay
from rig.campaign import Mix, mixed_numbers, seed
from rig.daemon import rig_settings, start
from rig.db import recreate_database
from rig.proc import rss_bytes
from rig.sipp import headsets, trunk

MIX = Mix(answer=0.5, busy=0.15, no_answer=0.1, fail=0.25, ring_s=(0.5, 6.0), talk_s=(10.0, 90.0))
"""Half the calls answered; talk up to 90 s, past the trunk's 60 s RTP timeout."""
MAX_TALK_S = MIX.talk_s[1]
TRUNK_RTP_TIMEOUT_S = 60
"""deploy/asterisk/pjsip.conf's rtp_timeout on the trunk."""
RTP_TIMEOUT_NOTICE = "for lack of"
"""Asterisk's NOTICE when it hangs up a channel for lack of RTP (res_pjsip_sdp_rtp.c):
"Disconnecting channel '...' for lack of audio RTP activity in N seconds"."""


class AgentWatch:
    """Counts agent legs the engine lost while the campaign ran (an engine observer: it only
    records)."""

    def __init__(self) -> None:
        self.stopping = False
        self.dropped: list[tuple[str, float]] = []

    def __call__(self, event: EngineEvent) -> None:
        if isinstance(event, AgentChanged) and event.state == "logged_out" and not self.stopping:
            self.dropped.append((event.agent_id, event.at))


def mib(pid: int) -> float:
    return rss_bytes(pid) / 2**20


def agent_legs_up(ast: Asterisk, endpoints: set[str]) -> int:
    """Agent channels up on Asterisk now (`core show channels concise`)."""
    out = ast.cli("core show channels concise")
    names = [line.split("!", 1)[0] for line in out.splitlines() if line.count("!") >= 10]
    return sum(1 for name in names if name.rsplit("-", 1)[0].removeprefix("PJSIP/") in endpoints)


def log_size(ast: Asterisk) -> int:
    try:
        return (ast.log_dir / "full.log").stat().st_size
    except OSError:
        return 0


def rtp_timeouts_since(ast: Asterisk, offset: int) -> list[str]:
    try:
        with (ast.log_dir / "full.log").open("rb") as log:
            log.seek(offset)
            new = log.read().decode(errors="replace")
    except OSError:
        return []
    return [line for line in new.splitlines() if RTP_TIMEOUT_NOTICE in line]


async def soak(args: argparse.Namespace, url: str, ast: Asterisk) -> int:
    db = Database(url)
    # Progressive pacing keeps about one call per ready agent; a call takes a minute at most on
    # average with ring, talk and wrap-up, and half the leads are not answered: four leads per
    # agent-minute and a margin never run dry.
    count = int(args.agents * args.minutes * 4) + 100
    numbers = mixed_numbers(count, MIX, seed=args.seed)
    seeded = await seed(
        db,
        name="soak",
        numbers=numbers,
        agents=args.agents,
        ring_timeout_s=15.0,
        wrapup_s=1.0,
        hold_s=1.0,
    )
    dialer = DialerSettings(
        owner="soak", tick_s=0.1, cdr_flush_s=0.2, drain_timeout_s=MAX_TALK_S + 10
    )
    app = App(rig_settings(url, ast.credentials, dialer))
    watch = AgentWatch()
    pid = os.getpid()
    log_offset = log_size(ast)
    serve = await start(app, install_signals=False)
    if serve.done():
        return serve.result()
    engine = app.engine
    assert engine is not None
    engine.add_observer(watch)
    run = engine.campaigns[seeded.campaign_id]
    endpoints = {f"agent{i}" for i in range(1, args.agents + 1)}
    # Sampling the engine from outside the call path: polling is fine here.
    while sum(1 for a in run.agents.values() if a.is_ready) < args.agents:  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    started = time.monotonic()
    rss = [mib(pid)]
    print(
        f"soak: {args.agents} agents, {count} leads, {args.minutes} min; "
        f"RSS {rss[0]:.1f} MiB at start",
        flush=True,
    )
    minute = 0
    while time.monotonic() - started < args.minutes * 60 and not serve.done():
        await asyncio.sleep(1.0)
        if (time.monotonic() - started) // 60 > minute:
            minute += 1
            rss.append(mib(pid))
            up = agent_legs_up(ast, endpoints)
            print(
                f"  {minute:3d} min  dialed {run.dialed:5d}  calls {len(run.calls):3d}  "
                f"agent legs up {up}/{args.agents}  dropped {len(watch.dropped)}  "
                f"RSS {rss[-1]:.1f} MiB",
                flush=True,
            )
    legs_at_end = agent_legs_up(ast, endpoints)
    rss_end = mib(pid)
    watch.stopping = True
    app.request_stop()
    code = await serve
    wall = time.monotonic() - started
    dialed = run.dialed
    async with db.transaction() as s:
        summary = await campaign_summary(s, seeded.campaign_id)
        rows, open_rows, past_timeout, longest = (
            await s.execute(
                text(
                    "SELECT count(*), count(*) FILTER (WHERE result IS NULL),"
                    " count(*) FILTER (WHERE result = 'connected'"
                    "  AND hangup_at - answer_at > make_interval(secs => :t)),"
                    " max(extract(epoch FROM hangup_at - answer_at))"
                    " FILTER (WHERE result = 'connected')"
                    " FROM call_attempts WHERE campaign_id = :c"
                ),
                {"c": seeded.campaign_id, "t": TRUNK_RTP_TIMEOUT_S},
            )
        ).one()
    await db.dispose()
    timeouts = rtp_timeouts_since(ast, log_offset)

    print(f"\nran {args.minutes} min (+{wall - args.minutes * 60:.0f} s drain), daemon exit {code}")
    print(f"media                   {args.media}")
    print(f"agents dropped          {len(watch.dropped)}")
    print(f"agent legs up at end    {legs_at_end}/{args.agents}")
    print(f"RTP timeouts (Asterisk) {len(timeouts)}")
    for line in timeouts[:10]:
        print(f"    {line}")
    print(
        f"RSS                     start {rss[0]:.1f} MiB, end {rss_end:.1f} MiB "
        f"({rss_end - rss[0]:+.1f}); per minute {' '.join(f'{r:.1f}' for r in rss)}"
    )
    print(f"attempts originated     {dialed}")
    print(f"CDR rows written        {rows} ({open_rows} without a result)")
    print(f"results                 { {r.value: n for r, n in summary.by_result.items()} }")
    print(
        f"connected calls > {TRUNK_RTP_TIMEOUT_S} s  {past_timeout} (longest "
        f"{float(longest or 0):.0f} s answer to hang-up)"
    )
    rate = summary.abandonment_rate
    abandonment = f"{rate:.2%}" if rate is not None else "n/a"
    print(f"abandonment             {abandonment} of {summary.answered} answered")
    lat = summary.latency
    print(f"answer-to-agent         p50 {lat.p50_ms} ms, p99 {lat.p99_ms} ms, max {lat.max_ms} ms")
    ok = not watch.dropped and legs_at_end == args.agents and rows == dialed and not open_rows
    print("verdict                 " + ("OK" if ok else "FAILED"))
    return 0 if ok and code == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--media", choices=["on", "off"], default="on", help="whether SIPp sends RTP (default on)"
    )
    parser.add_argument("--database", default="dialer_soak")
    args = parser.parse_args()
    logs.setup("WARNING")
    logging.getLogger("dialer").setLevel(logging.WARNING)
    url = recreate_database(args.database)
    upgrade(url)
    overlay = RigOverlay(agents=max(args.agents, 50))
    with (
        Asterisk(overlay=overlay) as ast,
        trunk(overlay.trunk_port, media=args.media == "on"),
        headsets(overlay.headset_port, media=args.media == "on"),
    ):
        return asyncio.run(soak(args, url, ast))


if __name__ == "__main__":
    sys.exit(main())
