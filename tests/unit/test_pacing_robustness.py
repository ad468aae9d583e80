"""The robustness family and its benchmark, on a small seeded slice: scenarios drawn within
their bounds and the same for a seed, the oracle pacing with the true contact rate, and the
benchmark's report (bench/pacing_robustness.py) written from a few short runs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from dialer.pacing.predictive import PredictiveSettings
from dialer.sim import Simulation, summarize
from dialer.sim.agents import WaveKind
from dialer.sim.family import MAX_CONTACT, MIN_CONTACT, draw_scenario
from dialer.sim.oracle import OraclePacer

BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_bench() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(
            "pacing_robustness", BENCH / "pacing_robustness.py"
        )
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_scenarios_are_drawn_within_their_bounds_and_repeat() -> None:
    assert draw_scenario(3, 10) == draw_scenario(3, 10)
    assert draw_scenario(3, 10) != draw_scenario(4, 10)
    for seed in range(40):
        sc = draw_scenario(seed, 20)
        rates = [sc.contact_rate, *(s.value for s in sc.contact_steps)]
        assert all(MIN_CONTACT - 1e-9 <= r <= MAX_CONTACT + 1e-9 for r in rates)
        assert 25.0 <= sc.talk.mean <= 405.0 and 0.0 <= sc.machine_share <= 0.3
        assert all(w.share <= 0.3 for w in sc.waves)
        assert sc.trunk_channels >= 20 and 5.0 <= sc.calls_per_second <= 50.0
        jumps = [s for s in sc.contact_steps if s.ramp_s <= 60.0]
        assert all(s.ramp_s >= 0.0 for s in jumps)
    kinds = {w.kind for seed in range(40) for w in draw_scenario(seed, 20).waves}
    assert kinds == set(WaveKind)


def test_the_oracle_paces_with_the_true_contact_rate() -> None:
    sc = draw_scenario(2, 10, days=1, day_hours=1.0)
    pacer = OraclePacer(sc, PredictiveSettings(grace_s=sc.grace_s))
    s = summarize(Simulation(sc, pacer).run())
    assert s["connected"] > 0
    assert pacer._pacing_rate(1800.0, None, 0, 0) == sc.contact_schedule.at(1800.0)
    assert pacer.guarded == 0 and pacer.shifts_up == 0  # no guard, no estimate to shift


def test_the_benchmark_reports_a_small_slice(tmp_path: Path) -> None:
    bench = load_bench()
    out = tmp_path / "robustness.md"
    argv = ["--agents", "5", "--scenarios", "2", "--days", "1", "--hours", "1", "--jobs", "1"]
    assert bench.main([*argv, "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "python bench/pacing_robustness.py --agents 5" in text
    rows = [line for line in text.splitlines() if line.startswith("| 5 |")]
    assert [r.split("|")[2].strip() for r in rows] == ["predictive", "oracle"]
    assert rows[0].split("|")[-3].strip() == "0"  # no run over its calls-per-second limit
