"""What the rig's RTP costs: CPU of the headset SIPp and of Asterisk with N agent legs up, with
and without media (rig/sipp.py `media`).

For each N, the headsets are started (streaming or not), N agent legs are called into
`dialer-agent` (where a nailed-up agent waits) and held for `--hold` seconds; the CPU both
processes use during the hold is printed as a share of one core. No daemon, no database.

    .venv/bin/python bench/rtp_cost.py --legs 10 50 100 200 --hold 20
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rig import calls
from rig.ami import AmiClient, first
from rig.asterisk import Asterisk, RigOverlay
from rig.proc import cpu_seconds
from rig.sipp import headsets


async def measure(ast: Asterisk, legs: int, media: bool, hold_s: float) -> tuple[float, float]:
    """(SIPp, Asterisk) CPU during the hold, each as a share of one core."""
    with headsets(ast.overlay.headset_port, media=media) as sipp:
        creds = ast.credentials
        ami = await AmiClient.connect(creds.host, creds.port)
        try:
            response = await ami.login(creds.username, creds.secret)
            if first(response, "Response") != "Success":
                raise SystemExit(f"AMI login failed: {response}")
            await asyncio.gather(
                *(
                    calls.login_agent(ami, name, wait_s=30)
                    for name in ast.overlay.agent_names()[:legs]
                )
            )
            await asyncio.sleep(1.0)  # let the streams settle
            t0 = time.monotonic()
            sipp0, ast0 = cpu_seconds(sipp.pid or 0), cpu_seconds(ast.pid or 0)
            await asyncio.sleep(hold_s)
            wall = time.monotonic() - t0
            sipp_cpu = cpu_seconds(sipp.pid or 0) - sipp0
            ast_cpu = cpu_seconds(ast.pid or 0) - ast0
        finally:
            ast.cli("channel request hangup all")
            await ami.close()
        await asyncio.sleep(1.0)  # BYEs answered before SIPp is told to quit
    return sipp_cpu / wall, ast_cpu / wall


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--legs", type=int, nargs="+", default=[10, 50, 100, 200])
    parser.add_argument("--hold", type=float, default=20.0, help="seconds measured per run")
    args = parser.parse_args()
    overlay = RigOverlay(agents=max(max(args.legs), 50))
    print(f"agent legs held {args.hold:.0f} s each; CPU as a share of one core")
    print(f"{'legs':>5} {'media':>6} {'SIPp':>7} {'Asterisk':>9}")
    with Asterisk(overlay=overlay) as ast:
        for legs in args.legs:
            for media in (False, True):
                sipp, asterisk = asyncio.run(measure(ast, legs, media, args.hold))
                on = "on" if media else "off"
                print(f"{legs:>5} {on:>6} {sipp:>7.1%} {asterisk:>9.1%}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
