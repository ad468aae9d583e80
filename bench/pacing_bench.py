"""Pacing benchmark: progressive, a fixed ratio, an adaptive ratio and predictive, on the reference
campaign, for teams of 5 to 100 agents; then predictive after a contact-rate jump and fall.

It prints a markdown table (and writes it, with the command that produced it, to
bench/results/pacing.md) of agent utilisation and abandonment. Abandonment is given overall and
for the worst 24-hour window; with several simulated days (8 hours of dialing each, days 24 hours
apart) every 24-hour window holds one day's worth of calls.

Goals, for predictive with no 24-hour window above 3%: utilisation of at least 76%, 82%,
89%, 93% and 95.5% for 5, 10, 25, 50 and 100 agents, at least 3 points above the adaptive ratio at
equal or lower abandonment; after the 0.30 -> 0.45 contact-rate jump, no hour above 6%; when
the contact rate collapses to 0.03 for an hour and recovers, no rolling hour above 6%.

    .venv/bin/python bench/pacing_bench.py            # the full run (a few minutes)
    .venv/bin/python bench/pacing_bench.py --quick    # 1 day, fewer teams: a smoke run
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dialer.pacing.predictive import PredictiveSettings  # noqa: E402
from dialer.sim import Scenario, load_scenario, simulate, summarize  # noqa: E402
from dialer.sim.matching import ratio_at  # noqa: E402

GOALS = {5: 0.76, 10: 0.82, 25: 0.89, 50: 0.93, 100: 0.955}
# The fixed ratio: lines per ready agent that holds about 3% abandonment with 50 agents in the
# reference model (found with this simulator: 4.4 -> 1.7%, 4.8 -> 3.3%). The same ratio for every
# team size is the point: it abandons far more with a small team and wastes a large one.
FIXED_RATIO = 4.7
PACERS = ("progressive", "fixed_ratio", "adaptive_ratio", "predictive")
CAP = 0.03
HOUR_CAP_AFTER_JUMP = 0.06
MATCH_TRIES = 4  # runs of the adaptive ratio to reach predictive's abandonment
DEFAULT_CANCEL_OVER = PredictiveSettings().cancel_over


def run(sc: Scenario) -> dict[str, Any]:
    return summarize(simulate(sc))


def scenario_for(
    base: Scenario, pacer: str, agents: int, days: int, fixed_ratio: float
) -> Scenario:
    return dataclasses.replace(
        base, agents=agents, days=days, mode=pacer, lines_per_agent=fixed_ratio
    )


def table_row(n: int, name: str, s: dict[str, Any]) -> str:
    ab = s["abandonment"]
    return (
        f"| {n} | {name} | {pct(s['utilisation'])} | {pct(ab['overall'], 2)} "
        f"| {pct(ab['worst_24h'], 2)} | {pct(ab['worst_hour'], 1)} "
        f"| {s['agent_wait_s']['mean']:.1f} | {s['talk_min_per_agent_hour']:.1f} "
        f"| {s['lines_per_agent']:.2f} |"
    )


def run_matched_ratio(
    base: Scenario, agents: int, days: int, abandonment: float
) -> tuple[dict[str, Any], float]:
    """The adaptive ratio tuned to predictive's abandonment (`dialer.sim.matching`), so that the
    two are compared at equal abandonment, not at 3% against predictive's lower rate."""
    sc = scenario_for(base, "adaptive_ratio", agents, days, FIXED_RATIO)
    return ratio_at(sc, abandonment, MATCH_TRIES)


def add_cancel_over(ap: argparse.ArgumentParser) -> None:
    """The `--cancel-over` option both pacing benchmarks take."""
    ap.add_argument(
        "--cancel-over",
        type=float,
        default=DEFAULT_CANCEL_OVER,
        help="predictive takes back ringing calls (rung 15 s) when one more call's chance is "
        f"this many times over its threshold (default {DEFAULT_CANCEL_OVER:g}; 0: never)",
    )


def predictive_settings(cancel_over: float) -> str:
    """How predictive was set, for the reports."""
    if cancel_over <= 0:
        return "its defaults (target 2.5%, cap 3%) but never taking a call back (`cancel_over` 0)"
    return (
        f"{'its defaults' if cancel_over == DEFAULT_CANCEL_OVER else 'its defaults but'} "
        f"(target 2.5%, cap 3%, taking calls back at `cancel_over` {cancel_over:g}: the oldest "
        "ringing call that has rung 15 s is hung up when even one more call's chance is over "
        f"{cancel_over:g} times the threshold)"
    )


def pct(x: float, digits: int = 1) -> str:
    return f"{100.0 * x:.{digits}f}%"


def write_report(
    out: Path,
    title: str,
    script: str,
    argv: list[str] | None,
    intro: str,
    started: float,
    blocks: list[list[str]],
) -> str:
    """A benchmark's Markdown report: a title, the command that made it and what it measured (and
    how long it ran), then the blocks, each followed by a blank line. Printed and written to
    `out`; returned."""
    cmd = f"python bench/{script} " + " ".join(argv if argv is not None else sys.argv[1:])
    elapsed = time.perf_counter() - started
    lines = [f"## {title}", "", f"`{cmd.strip()}` — {intro} Ran in {elapsed:.0f} s.", ""]
    for block in blocks:
        lines += [*block, ""]
    text = "\n".join(lines)
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", default="5,10,25,50,100", help="team sizes, comma-separated")
    ap.add_argument("--days", type=int, default=3, help="simulated days per run (default 3)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fixed-ratio", type=float, default=FIXED_RATIO)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "pacing.md")
    ap.add_argument("--json", type=Path, default=None, help="also write every run's summary here")
    ap.add_argument("--no-scenarios", action="store_true", help="skip the jump and fall runs")
    ap.add_argument("--quick", action="store_true", help="1 day, 10 and 25 agents only")
    add_cancel_over(ap)
    args = ap.parse_args(argv)

    teams = [int(a) for a in args.agents.split(",") if a]
    days = args.days
    if args.quick:
        teams, days = [10, 25], 1
    started = time.perf_counter()
    base = dataclasses.replace(
        load_scenario("reference"), seed=args.seed, cancel_over=args.cancel_over
    )
    results: dict[str, Any] = {"reference": {}, "scenarios": {}}
    rows: list[str] = []
    verdicts: list[str] = []
    head = (
        "| agents | pacer | utilisation | abandonment | worst 24 h | worst hour "
        "| wait s | talk min/h | lines/agent |"
    )
    rows.append(head)
    rows.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for n in teams:
        per: dict[str, dict[str, Any]] = {}
        for pacer in PACERS:
            s = run(scenario_for(base, pacer, n, days, args.fixed_ratio))
            per[pacer] = s
            name = f"fixed ratio {args.fixed_ratio:g}" if pacer == "fixed_ratio" else pacer
            name = "adaptive ratio (3%)" if pacer == "adaptive_ratio" else name
            rows.append(table_row(n, name, s))
            print(rows[-1], flush=True)
        pred, adap = per["predictive"], per["adaptive_ratio"]
        matched, ratio_target = run_matched_ratio(base, n, days, pred["abandonment"]["overall"])
        per["adaptive_ratio_matched"] = matched
        rows.append(table_row(n, f"adaptive ratio ({pct(ratio_target, 2)}: matched)", matched))
        print(rows[-1], flush=True)
        results["reference"][str(n)] = per
        goal = GOALS.get(n)
        u = pred["utilisation"]
        w24 = pred["abandonment"]["worst_24h"]
        gain = u - adap["utilisation"]
        lower = pred["abandonment"]["overall"] <= adap["abandonment"]["overall"]
        m_gain = u - matched["utilisation"]
        m_ab, p_ab = matched["abandonment"]["overall"], pred["abandonment"]["overall"]
        checks = [
            f"worst 24 h {pct(w24, 2)} {'<=' if w24 <= CAP else '>'} 3%",
            f"utilisation {pct(u)} vs goal {pct(goal)}: {'met' if u >= goal else 'NOT met'}"
            if goal is not None
            else f"utilisation {pct(u)} (no goal)",
            f"{100 * gain:+.2f} points over the adaptive ratio tuned to 3% "
            f"({'lower or equal' if lower else 'HIGHER'} abandonment; the ratio's worst 24 h "
            f"{pct(adap['abandonment']['worst_24h'], 2)}): "
            f"{'met' if gain >= 0.03 and lower else 'NOT met'}",
            f"{100 * m_gain:+.2f} points over the adaptive ratio at matched abandonment "
            f"({pct(m_ab, 2)} vs predictive's {pct(p_ab, 2)}): "
            f"{'met' if m_gain >= 0.03 and p_ab <= m_ab else 'NOT met'}",
        ]
        verdicts.append(f"- {n} agents: " + "; ".join(checks))

    scen_rows: list[str] = []
    if not args.no_scenarios:
        scen_rows.append(
            "| scenario | agents | utilisation | abandonment | worst 24 h "
            "| worst hour after change | worst rolling hour | hourly abandonment |"
        )
        scen_rows.append("|---|---:|---:|---:|---:|---:|---:|---|")
        for name in ("contact_jump", "contact_fall", "contact_collapse"):
            sc0 = dataclasses.replace(
                load_scenario(name), seed=args.seed, days=days, cancel_over=args.cancel_over
            )
            for n in teams:
                sc = dataclasses.replace(sc0, agents=n, mode="predictive")
                s = run(sc)
                results["scenarios"][f"{name}/{n}"] = s
                ab = s["abandonment"]
                first_change_h = int(sc.changes[0].at_s // 3600) if sc.changes else 0
                after = [r for day in ab["hourly"] for r in day[first_change_h:] if r is not None]
                worst_after = max(after) if after else 0.0
                hourly = " ".join(
                    f"{100 * r:.1f}" if r is not None else "-" for r in ab["hourly"][0]
                )
                scen_rows.append(
                    f"| {name} | {n} | {pct(s['utilisation'])} | {pct(ab['overall'], 2)} "
                    f"| {pct(ab['worst_24h'], 2)} | {pct(worst_after)} "
                    f"| {pct(ab['worst_rolling_hour'])} | {hourly} |"
                )
                print(scen_rows[-1], flush=True)
                if name == "contact_jump":
                    ok = worst_after <= HOUR_CAP_AFTER_JUMP and ab["worst_24h"] <= CAP
                    verdicts.append(
                        f"- contact jump, {n} agents: worst hour from the jump on "
                        f"{pct(worst_after)} (goal <= 6%), worst 24 h {pct(ab['worst_24h'], 2)}: "
                        f"{'met' if ok else 'NOT met'}"
                    )
                elif name == "contact_collapse":
                    roll = ab["worst_rolling_hour"]
                    ok = roll <= HOUR_CAP_AFTER_JUMP and ab["worst_24h"] <= CAP
                    verdicts.append(
                        f"- contact collapse and recovery, {n} agents: worst rolling hour "
                        f"{pct(roll)} (goal <= 6%), worst 24 h {pct(ab['worst_24h'], 2)}: "
                        f"{'met' if ok else 'NOT met'}"
                    )
                else:
                    ok = ab["worst_24h"] <= CAP
                    verdicts.append(
                        f"- contact fall, {n} agents: worst 24 h {pct(ab['worst_24h'], 2)}: "
                        f"{'met' if ok else 'NOT met'}"
                    )

    perf: list[str] = []
    for n in teams:
        pr = results["reference"][str(n)]["predictive"]
        perf.append(
            f"- {n} agents: a simulated 8-hour day in {pr['wall_s'] / days:.1f} s "
            f"({pr['speed_x']}x real time); a predictive decision {pr['decision_us_mean']:.0f} us "
            f"on average, {pr['decision_us_p99']:.0f} us p99, {pr['decision_us_max']:.0f} us at "
            f"worst ({pr['decisions'] // days} decisions a day)"
        )
    scen: list[list[str]] = []
    if scen_rows:
        scen = [
            [
                "Predictive after changes of the contact rate (hourly abandonment of day 1, %):",
                "",
                *scen_rows,
            ]
        ]
    print()
    write_report(
        args.out,
        "Pacing benchmark",
        "pacing_bench.py",
        argv,
        "reference campaign (30% contact, ring 5–25 s, 25 s no-answer, talk exponential 120 s, "
        f"wrap-up 15 s, 2 s grace), {days} simulated day(s) of 8 h per run, seed {args.seed}; "
        f"predictive at {predictive_settings(args.cancel_over)}; the adaptive ratio tunes lines "
        "per ready agent to 3%, and (matched) to the abandonment predictive had, so the two are "
        "also compared at equal abandonment; wait = agent wait before each call.",
        started,
        [
            rows,
            *scen,
            ["Goals:", "", *verdicts],
            [
                "Speed on this machine (predictive; the day in wall-clock time, decisions in "
                "CPU time):",
                "",
                *perf,
            ],
        ],
    )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
