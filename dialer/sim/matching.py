"""The adaptive ratio at a given abandonment, so that another pacer can be compared with it at
equal abandonment rather than against a ratio tuned to a higher rate.

The ratio's feedback loop lands near its target, not on it: the target starts at the rate asked
for and is raised by the shortfall (and a little more) until a run abandons at least as much, in
at most `tries` runs. The last run is returned if none got there: the caller checks."""

from __future__ import annotations

import dataclasses
from typing import Any

from dialer.sim import simulate, summarize
from dialer.sim.scenario import Scenario

STEP_EXTRA = 0.0005  # added to each shortfall, so a near miss does not need another run


def ratio_at(sc: Scenario, abandonment: float, tries: int = 4) -> tuple[dict[str, Any], float]:
    """The summary of the adaptive ratio's run on `sc` abandoning at least `abandonment` (if
    `tries` runs get there), and the target it was given."""
    if tries < 1:
        raise ValueError("tries must be >= 1")
    target = max(abandonment, 0.001)
    s: dict[str, Any] = {}
    for _ in range(tries):
        s = summarize(simulate(dataclasses.replace(sc, mode="adaptive_ratio", ratio_target=target)))
        got = float(s["abandonment"]["overall"])
        if got >= abandonment:
            break
        target += abandonment - got + STEP_EXTRA
    return s, target
