"""`dialer simulate SCENARIO`: run the pacing code against a simulated campaign and report.

The lead's `dialer/cli.py` wires this in as a subcommand (`add_arguments` on the subparser, then
`run(args)`); `python -m dialer.sim SCENARIO` runs it on its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from dialer.sim import simulate
from dialer.sim.report import format_summary, plot, summarize
from dialer.sim.scenario import MODES, SCENARIO_DIR, ScenarioError, load_scenario


def add_arguments(parser: argparse.ArgumentParser) -> None:
    names = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.toml")))
    parser.add_argument(
        "scenario",
        help=f"a scenario file, or the name of one in scenarios/ ({names or 'none found'})",
    )
    parser.add_argument("--mode", choices=MODES, help="pacing mode (default: the scenario's)")
    parser.add_argument("--agents", type=int, help="team size")
    parser.add_argument("--days", type=int, help="days to simulate (24 hours apart)")
    parser.add_argument("--hours", type=float, help="hours of dialing per day")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--target", type=float, help="predictive: target abandonment (0.025)")
    parser.add_argument("--cap", type=float, help="predictive: abandonment cap (0.03)")
    parser.add_argument("--lines-per-agent", type=float, help="power: lines per ready agent")
    parser.add_argument(
        "--cancel-over",
        type=float,
        help="predictive: hang up a ringing call (rung 15 s) when one more call's chance is "
        "this many times over the threshold (default 10; 0: never)",
    )
    parser.add_argument(
        "--json", type=Path, help="write the figures as JSON to this file (- for stdout)"
    )
    parser.add_argument("--plot", type=Path, help="plot utilisation and abandonment to this PNG")
    parser.add_argument("-q", "--quiet", action="store_true", help="do not print the summary")


def run(args: argparse.Namespace) -> int:
    try:
        sc = load_scenario(args.scenario)
        changes = {
            "mode": args.mode,
            "agents": args.agents,
            "days": args.days,
            "day_hours": args.hours,
            "seed": args.seed,
            "target": args.target,
            "cap": args.cap,
            "lines_per_agent": args.lines_per_agent,
            "cancel_over": args.cancel_over,
        }
        sc = dataclasses.replace(sc, **{k: v for k, v in changes.items() if v is not None})
        raw = simulate(sc)
    except (ScenarioError, ValueError) as e:
        print(f"dialer simulate: {e}", file=sys.stderr)
        return 2
    summary = summarize(raw)
    if not args.quiet:
        print(format_summary(summary))
    if args.json is not None:
        text = json.dumps(summary, indent=2)
        if str(args.json) == "-":
            print(text)
        else:
            args.json.write_text(text + "\n", encoding="utf-8")
    if args.plot is not None:
        try:
            plot(raw, args.plot)
        except RuntimeError as e:
            print(f"dialer simulate: {e}", file=sys.stderr)
            return 1
    return 0
