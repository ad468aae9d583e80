"""The simulator's model (`dialer.sim.engine`) against the daemon's own core driven by the
simulator (`dialer.sim.on_core`), side by side on the reference campaign: the same callees
(seeded), the same pacer code. Prints utilisation, abandonment, decisions and wall time.

    .venv/bin/python bench/sim_core.py [--agents 5 10 25 50 100] [--seed 1]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialer.sim import load_scenario, make_sim_pacer, simulate, summarize
from dialer.sim.on_core import CoreSimulation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, nargs="+", default=[5, 10, 25, 50, 100])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--scenario", default="reference")
    args = parser.parse_args()
    base = load_scenario(args.scenario)
    print(
        f"{'agents':>6} {'run':>6} {'util':>7} {'abandon':>8} {'answered':>8} {'dialed':>7} "
        f"{'decisions':>9} {'wall s':>7}"
    )
    for n in args.agents:
        sc = replace(base, agents=n, seed=args.seed)
        for name, run in (
            ("model", lambda sc=sc: simulate(sc)),
            ("core", lambda sc=sc: CoreSimulation(sc, make_sim_pacer(sc)).run()),
        ):
            s = summarize(run())
            print(
                f"{n:>6} {name:>6} {s['utilisation']:>7.2%} {s['abandonment']['overall']:>8.2%} "
                f"{s['answered']:>8} {s['dialed']:>7} {s['decisions']:>9} {s['wall_s']:>7.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
