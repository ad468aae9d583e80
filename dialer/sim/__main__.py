"""`python -m dialer.sim SCENARIO`: the simulator without the daemon's command line."""

from __future__ import annotations

import argparse

from dialer.sim.cli import add_arguments, run


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dialer.sim", description="Simulate a campaign with the real pacing code."
    )
    add_arguments(parser)
    return run(parser.parse_args())


if __name__ == "__main__":
    raise SystemExit(main())
