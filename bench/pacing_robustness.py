"""Pacing robustness: predictive against a seeded randomised family of bad days, and against an
oracle told the true contact rate and talk time.

The family (dialer/sim/family.py): contact rate 0.02-0.6 with steps up or down by up to 10x
within a minute and slow drifts; talk means 30-400 s, exponential, log-normal or two-humped,
changed at mid-day; wrap-up 5-60 s; up to 30% of the agents leaving, joining or pausing at once;
trunk channels binding at 1-10 lines per agent in half of them; 0-30% answering machines.
Each scenario runs with predictive (the daemon's pacer, defaults) and with the oracle
(dialer/sim/oracle.py), on the same callees and talk times (common random numbers). Per team
size it reports the worst rolling hour and the worst rolling 24 hours (over all scenarios, and
how many went over 6% and 3%), the first 30 minutes of the days, the UK-style rate (with the
machine false-positive estimate), the most calls started in any sliding second against the
limit, and utilisation against the oracle (paired difference, with its standard error).

    .venv/bin/python bench/pacing_robustness.py                 # 100 scenarios x 2 days a team
    .venv/bin/python bench/pacing_robustness.py --scenarios 10  # a reduced run
    .venv/bin/python bench/pacing_robustness.py --quick         # a smoke run (a minute)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pacing_bench import pct, write_report  # noqa: E402  (this script's own folder)

from dialer.pacing.predictive import PredictiveSettings  # noqa: E402
from dialer.sim import Simulation, make_sim_pacer, summarize  # noqa: E402
from dialer.sim.family import draw_scenario  # noqa: E402
from dialer.sim.oracle import OraclePacer  # noqa: E402

TEAMS = (5, 10, 25, 50, 100)
HOUR_CAP = 0.06
CAP = 0.03


def one(agents: int, seed: int, days: int, hours: float) -> dict[str, Any]:
    """One scenario with predictive and with the oracle: the figures the report needs."""
    sc = draw_scenario(seed, agents, days=days, day_hours=hours)
    pred = summarize(Simulation(sc, make_sim_pacer(sc)).run())
    oracle = summarize(
        Simulation(
            sc,
            OraclePacer(sc, PredictiveSettings(target=sc.target, cap=sc.cap, grace_s=sc.grace_s)),
        ).run()
    )
    return {"seed": seed, "cps": sc.calls_per_second, "predictive": pred, "oracle": oracle}


def figures(runs: list[dict[str, Any]], who: str) -> dict[str, float]:
    ab = [r[who]["abandonment"] for r in runs]
    hours = [a["worst_rolling_hour"] for a in ab]
    days = [a["worst_24h"] for a in ab]
    return {
        "util": statistics.mean(r[who]["utilisation"] for r in runs),
        "hour_max": max(hours),
        "hour_mean": statistics.mean(hours),
        "hour_over": sum(h > HOUR_CAP for h in hours),
        "day_max": max(days),
        "day_over": sum(d > CAP for d in days),
        "uk_max": max(a["uk_24h"] for a in ab),
        "first_ab": statistics.mean(a["first_30min"]["abandonment"] for a in ab),
        "first_util": statistics.mean(a["first_30min"]["utilisation"] for a in ab),
        "cps_over": sum(r[who]["max_calls_any_second"] > int(r["cps"]) for r in runs),
    }


def paired(runs: list[dict[str, Any]]) -> str:
    d = [100.0 * (r["predictive"]["utilisation"] - r["oracle"]["utilisation"]) for r in runs]
    se = statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else 0.0
    return f"{statistics.mean(d):+.2f} ± {se:.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", default=",".join(map(str, TEAMS)), help="team sizes")
    ap.add_argument("--scenarios", type=int, default=100, help="scenarios per team size")
    ap.add_argument("--days", type=int, default=2, help="days per scenario (default 2)")
    ap.add_argument("--hours", type=float, default=8.0, help="hours of dialing a day")
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    ap.add_argument("--quick", action="store_true", help="3 scenarios of 1 day, 5 and 25 agents")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pacing_robustness.md")
    args = ap.parse_args(argv)
    teams = [int(a) for a in args.agents.split(",") if a]
    n, days, hours = args.scenarios, args.days, args.hours
    if args.quick:
        teams, n, days, hours = [5, 25], 3, 1, 4.0
    seeds = list(range(args.first_seed, args.first_seed + n))
    started = time.perf_counter()
    # the largest teams first: the pool's last runs are then the short ones
    keys = [(a, s) for a in sorted(teams, reverse=True) for s in seeds]
    if args.jobs <= 1:
        results = {(a, s): one(a, s, days, hours) for a, s in keys}
    else:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            futures = {(a, s): pool.submit(one, a, s, days, hours) for a, s in keys}
            results = {key: f.result() for key, f in futures.items()}

    rows = [
        "| agents | pacer | utilisation | worst rolling hour (mean) | hours over 6% "
        "| worst 24 h | 24 h over 3% | UK any 24 h | first 30 min: abandonment, utilisation "
        "| over the cps limit | vs oracle (points) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for a in teams:
        runs = [results[a, s] for s in seeds]
        for who in ("predictive", "oracle"):
            f = figures(runs, who)
            rows.append(
                f"| {a} | {who} | {pct(f['util'])} | {pct(f['hour_max'], 1)} "
                f"({pct(f['hour_mean'], 1)}) | {f['hour_over']}/{len(runs)} "
                f"| {pct(f['day_max'], 2)} | {f['day_over']}/{len(runs)} | {pct(f['uk_max'], 2)} "
                f"| {pct(f['first_ab'], 2)}, {pct(f['first_util'])} | {f['cps_over']} "
                f"| {paired(runs) if who == 'predictive' else ''} |"
            )
            print(rows[-1], flush=True)
    worst: list[str] = []
    for a in teams:
        runs = sorted(
            (results[a, s] for s in seeds),
            key=lambda r: -r["predictive"]["abandonment"]["worst_rolling_hour"],
        )
        r = runs[0]
        ab = r["predictive"]["abandonment"]
        worst.append(
            f"- {a} agents: scenario {r['seed']} (`draw_scenario({r['seed']}, {a})`): worst "
            f"rolling hour {pct(ab['worst_rolling_hour'], 1)} ending at "
            f"{ab['worst_rolling_hour_ends_at_h']:g} h; the oracle's "
            f"{pct(r['oracle']['abandonment']['worst_rolling_hour'], 1)}"
        )
    write_report(
        args.out,
        "Pacing robustness",
        "pacing_robustness.py",
        argv,
        f"{len(seeds)} randomised scenarios per team size (seeds {seeds[0]}-{seeds[-1]} of "
        f"dialer/sim/family.py), {days} day(s) of {hours:g} h each, so "
        f"{len(seeds) * days} scenario-days per team size; predictive at its defaults, and the "
        "oracle (predictive told the true contact rate and talk time); worst figures over all "
        "scenarios; UK any 24 h counts 10% of machine verdicts as people; 'over the cps limit' "
        "counts runs whose busiest sliding second exceeded the trunk's calls per second; 'vs "
        "oracle' is predictive's utilisation less the oracle's, paired by scenario, ± its "
        "standard error.",
        started,
        [rows, ["Worst scenario per team size (predictive):", "", *worst]],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
