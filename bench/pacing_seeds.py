"""Pacing over many seeds: predictive against the adaptive ratio, paired seed by seed.

One seed is one draw of a small team's luck: 5 agents answer about 800 calls a day, so a day's
abandonment moves by a few tenths of a point from seed to seed, and so does the utilisation the
brake leaves. This script runs the reference campaign with predictive (at its defaults), the
adaptive ratio tuned to 3%, and the adaptive ratio tuned to the abandonment predictive had on the
same seed ("matched"), for each seed, and prints per team size the means, the worst 24-hour
window of any seed, and predictive's lead over each ratio with its standard error (paired: the
same seed's callees and talk times for all three).

    .venv/bin/python bench/pacing_seeds.py                       # 5, 10, 25 agents, seeds 1-12
    .venv/bin/python bench/pacing_seeds.py --agents 5 --seeds 1-18
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pacing_bench import (  # noqa: E402  (this script's own folder is on the path)
    CAP,
    FIXED_RATIO,
    GOALS,
    add_cancel_over,
    pct,
    run,
    run_matched_ratio,
    scenario_for,
    write_report,
)

from dialer.pacing.predictive import PredictiveSettings  # noqa: E402
from dialer.sim import load_scenario  # noqa: E402

PACERS = ("predictive", "adaptive_ratio", "matched")
DEFAULT_TARGET = PredictiveSettings().target
NAMES = {
    "predictive": "predictive",
    "adaptive_ratio": "adaptive ratio (3%)",
    "matched": "adaptive ratio (matched)",
}


def one_seed(
    agents: int, seed: int, days: int, target: float, cancel_over: float
) -> dict[str, dict[str, Any]]:
    """The three runs of one team size and seed (`target`, `cancel_over`: predictive's)."""
    base = dataclasses.replace(
        load_scenario("reference"), seed=seed, target=target, cancel_over=cancel_over
    )
    pred = run(scenario_for(base, "predictive", agents, days, FIXED_RATIO))
    adap = run(scenario_for(base, "adaptive_ratio", agents, days, FIXED_RATIO))
    matched, _ = run_matched_ratio(base, agents, days, pred["abandonment"]["overall"])
    return {"predictive": pred, "adaptive_ratio": adap, "matched": matched}


def seed_range(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    first, last = int(lo), int(hi or lo)
    if first < 0 or last < first:
        raise argparse.ArgumentTypeError(f"seeds must be N or N-M with N <= M, not {text!r}")
    return list(range(first, last + 1))


def lead(a: list[float], b: list[float]) -> str:
    """Mean of a - b in points, with its standard error (paired)."""
    d = [100.0 * (x - y) for x, y in zip(a, b, strict=True)]
    se = statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else 0.0
    return f"{statistics.mean(d):+.2f} ± {se:.2f}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", default="5,10,25", help="team sizes, comma-separated")
    ap.add_argument("--seeds", type=seed_range, default=seed_range("1-12"), help="N-M")
    ap.add_argument("--days", type=int, default=3, help="simulated days per run (default 3)")
    ap.add_argument("--jobs", type=int, default=2, help="runs in parallel (default 2)")
    ap.add_argument(
        "--target",
        type=float,
        default=DEFAULT_TARGET,
        help=f"predictive's target abandonment (default {DEFAULT_TARGET}; the cap stays 3%%)",
    )
    add_cancel_over(ap)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pacing_seeds.md")
    args = ap.parse_args(argv)
    teams = [int(a) for a in args.agents.split(",") if a]
    seeds: list[int] = args.seeds
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {
            (n, seed): pool.submit(one_seed, n, seed, args.days, args.target, args.cancel_over)
            for n in teams
            for seed in seeds
        }
        runs = {key: f.result() for key, f in futures.items()}

    rows = [
        "| agents | pacer | utilisation | abandonment | worst 24 h (of any seed) "
        "| seeds over 3% | predictive's lead |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    verdicts: list[str] = []
    for n in teams:
        util = {p: [runs[n, s][p]["utilisation"] for s in seeds] for p in PACERS}
        ab = {p: [runs[n, s][p]["abandonment"]["overall"] for s in seeds] for p in PACERS}
        w24 = {p: [runs[n, s][p]["abandonment"]["worst_24h"] for s in seeds] for p in PACERS}
        for p in PACERS:
            rows.append(
                f"| {n} | {NAMES[p]} | {pct(statistics.mean(util[p]), 2)} "
                f"| {pct(statistics.mean(ab[p]), 2)} | {pct(max(w24[p]), 2)} "
                f"| {sum(w > CAP for w in w24[p])}/{len(seeds)} "
                f"| {'' if p == 'predictive' else lead(util['predictive'], util[p])} |"
            )
        goal = GOALS.get(n)
        u = statistics.mean(util["predictive"])
        # seeds where the matched ratio reached predictive's abandonment
        reached = sum(a <= b for a, b in zip(ab["predictive"], ab["matched"], strict=True))
        verdicts.append(
            f"- {n} agents: predictive {pct(u, 2)} on average"
            + (f" (goal {pct(goal)})" if goal is not None else "")
            + f"; the matched ratio abandoned at least as much as predictive on {reached} of "
            f"{len(seeds)} seeds"
        )
    write_report(
        args.out,
        "Pacing over many seeds",
        "pacing_seeds.py",
        argv,
        f"reference campaign, predictive's target {pct(args.target, 1)} (cap 3%)"
        + (
            f", taking calls back (`cancel_over` {args.cancel_over:g})"
            if args.cancel_over > 0
            else ", never taking a call back (`cancel_over` 0)"
        )
        + ", "
        f"{args.days} simulated day(s) of 8 h per run, seeds "
        f"{seeds[0]}-{seeds[-1]}; means over the seeds; the lead is predictive's utilisation less "
        "the ratio's, paired by seed, in points ± its standard error.",
        started,
        [rows, verdicts],
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
