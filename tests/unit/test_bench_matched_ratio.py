"""The pacing benchmark's "matched" adaptive ratio: it is compared with predictive at equal
abandonment, so its run must abandon at least as much as asked, and say what target it took."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path
from types import ModuleType

from dialer.sim import Scenario

ROOT = Path(__file__).resolve().parents[2]


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "pacing_bench", ROOT / "bench" / "pacing_bench.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_matched_ratio_abandons_at_least_the_rate_asked() -> None:
    bench = _bench()
    base = dataclasses.replace(Scenario(), day_hours=2.0, seed=3)
    # A rate the ratio's own 2% target falls short of in 2 hours of 10 agents: the target must
    # be raised (and the run with the raised target is the one returned).
    first = bench.run(
        dataclasses.replace(
            bench.scenario_for(base, "adaptive_ratio", 10, 1, bench.FIXED_RATIO),
            ratio_target=0.02,
        )
    )
    asked = first["abandonment"]["overall"] + 0.004
    s, target = bench.run_matched_ratio(base, 10, 1, asked)
    assert target > asked
    assert s["abandonment"]["overall"] >= asked
    assert s["mode"] == "adaptive_ratio"
