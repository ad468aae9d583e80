"""Rig benchmark: many concurrent calls through Asterisk 22, SIPp and Postgres on this machine.

Prints sustained call attempts per second, answer-to-agent latency p50/p99 (from the CDRs),
and CPU time per attempt of the daemon, Asterisk and SIPp, so it is clear which is the limit.
Not a test: it prints figures.

`--media off` (the default here) runs SIPp without RTP on answered calls and agent legs, so the
figures are the signalling's alone; `--media on` streams it as the tests and the demo do. The
RTP itself costs Asterisk about 0.1% of a core per leg and the headset SIPp about half that
(bench/rtp_cost.py, bench/results/rtp_cost.md), which on two cores would be charged to the
calls. Without media a leg older than its endpoint's rtp_timeout (120 s agents, 60 s trunk) is
hung up by Asterisk: keep runs without media shorter than that, as the default sizes are.

    .venv/bin/python bench/rig_bench.py --leads 3000 --agents 100 [--media on]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from dialer import logs
from dialer.app import App
from dialer.pacing.base import ProgressivePacer
from dialer.settings import DialerSettings, LogSettings
from dialer.store.engine import Database
from dialer.store.migrate import upgrade
from rig.asterisk import Asterisk, RigOverlay
from rig.campaign import seed
from rig.daemon import rig_settings, start
from rig.db import recreate_database
from rig.numbers import Behaviour, make_number
from rig.proc import cpu_seconds
from rig.sipp import Sipp, headsets, trunk


def own_cpu() -> tuple[float, float]:
    """This process's CPU seconds: (user, system)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


def numbers(count: int, answer_share: float, talk_s: float) -> list[str]:
    out = []
    for i in range(count):
        serial, spread = i % 1000, (i // 1000) * 0.1
        if (i * answer_share) % 1 < answer_share:
            out.append(make_number(Behaviour.ANSWER, 0.3 + spread, talk_s, serial))
        else:
            out.append(make_number(Behaviour.BUSY, 0.2 + spread, 0.0, serial))
    return out


async def bench(args: argparse.Namespace, url: str, ast: Asterisk, sipps: list[Sipp]) -> None:
    db = Database(url)
    leads = numbers(args.leads, args.answer_share, args.talk)
    seeded = await seed(
        db,
        name="bench",
        numbers=leads,
        agents=args.agents,
        ring_timeout_s=15.0,
        wrapup_s=0.0,
        hold_s=1.0,
        max_channels=1000,
        max_cps=args.cps,
    )
    # No campaign follower: the campaign stays paused (below) until every agent is ready,
    # whatever the campaigns table says.
    dialer = DialerSettings(
        owner="bench",
        tick_s=0.1,
        cdr_flush_s=0.2,
        lease_batch=200,
        drain_timeout_s=10,
        campaign_poll_s=0.0,
    )
    settings = rig_settings(url, ast.credentials, dialer, LogSettings(level="WARNING"))
    app = App(settings, lambda _c: ProgressivePacer())
    serve = await start(app, install_signals=False)
    if serve.done():
        serve.result()
        return
    engine = app.engine
    assert engine is not None
    run = engine.campaigns[seeded.campaign_id]
    # No call before every agent is logged in (no agent is ready yet, so none was dialed):
    # a progressive campaign dials as soon as one agent is, and busy agents would never all
    # be ready at once. Then measure from the first originate.
    engine.pause_campaign(seeded.campaign_id)
    # Polling is fine here: the benchmark samples the engine, it is not on the call path.
    while sum(1 for a in run.agents.values() if a.is_ready) < args.agents:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    t0, cpu0 = time.monotonic(), own_cpu()
    ast0 = cpu_seconds(ast.pid or 0)
    sipp0 = sum(cpu_seconds(s.pid or 0) for s in sipps)
    engine.resume_campaign(seeded.campaign_id)
    peak = 0
    while len(engine.finished) < len(leads):
        peak = max(peak, len(run.calls))
        await asyncio.sleep(0.05)
        if serve.done():
            serve.result()
    wall = time.monotonic() - t0
    user, system = (now - then for now, then in zip(own_cpu(), cpu0, strict=True))
    cpu = user + system
    ast_cpu = cpu_seconds(ast.pid or 0) - ast0
    sipp_cpu = sum(cpu_seconds(s.pid or 0) for s in sipps) - sipp0
    app.request_stop()
    await serve
    async with db.transaction() as s:
        lat = [
            r[0]
            for r in await s.execute(
                text(
                    "SELECT answer_to_agent_ms FROM call_attempts WHERE campaign_id = :c"
                    " AND answer_to_agent_ms IS NOT NULL ORDER BY 1"
                ),
                {"c": seeded.campaign_id},
            )
        ]
        results = dict(
            (
                await s.execute(
                    text(
                        "SELECT result, count(*) FROM call_attempts"
                        " WHERE campaign_id = :c GROUP BY 1"
                    ),
                    {"c": seeded.campaign_id},
                )
            ).all()
        )
    await db.dispose()
    n = len(leads)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else None
    media = "on (SIPp streams RTP)" if args.media == "on" else "off (no RTP on answered calls)"
    print(f"media               {media}")
    print(f"attempts            {n} ({results})")
    print(f"agents              {args.agents}, peak calls in flight {peak}")
    print(f"wall time           {wall:.1f} s")
    print(f"attempts/s          {n / wall:.1f} sustained")
    print(
        f"answer-to-agent     p50 {statistics.median(lat) if lat else None} ms, p99 {p99} ms, "
        f"max {lat[-1] if lat else None} ms ({len(lat)} connected)"
    )
    print(
        f"daemon CPU          {cpu:.2f} s = {cpu / n * 1000:.2f} ms/attempt, "
        f"{cpu / wall:.0%} of one core (includes this script's polling)"
    )
    print(
        f"  user / system     {user / n * 1000:.2f} / {system / n * 1000:.2f} ms/attempt "
        "(system: mostly the socket writes and reads)"
    )
    print(
        f"Asterisk CPU        {ast_cpu:.2f} s = {ast_cpu / n * 1000:.2f} ms/attempt, "
        f"{ast_cpu / wall:.0%} of one core"
    )
    print(
        f"SIPp CPU (2 procs)  {sipp_cpu:.2f} s = {sipp_cpu / n * 1000:.2f} ms/attempt, "
        f"{sipp_cpu / wall:.0%} of one core"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--leads", type=int, default=3000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--answer-share", type=float, default=0.5)
    parser.add_argument("--talk", type=float, default=1.0, help="talk seconds of answered calls")
    parser.add_argument("--cps", type=float, default=200.0, help="trunk calls-per-second limit")
    parser.add_argument(
        "--media",
        choices=["on", "off"],
        default="off",
        help="whether SIPp sends RTP on answered calls and agent legs (default off)",
    )
    parser.add_argument("--database", default="dialer_bench")
    args = parser.parse_args()
    logs.setup("WARNING")
    url = recreate_database(args.database)
    upgrade(url)
    overlay = RigOverlay(agents=max(args.agents, 50))
    with (
        Asterisk(overlay=overlay) as ast,
        trunk(overlay.trunk_port, media=args.media == "on") as t,
        headsets(overlay.headset_port, media=args.media == "on") as h,
    ):
        asyncio.run(bench(args, url, ast, [t, h]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
