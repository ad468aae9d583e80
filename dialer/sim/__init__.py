"""The simulator: the real pacing code against a discrete-event model of a campaign."""

from __future__ import annotations

from dialer.pacing.base import Pacer, ProgressivePacer
from dialer.pacing.predictive import PredictivePacer, PredictiveSettings
from dialer.pacing.ratio import AdaptiveRatioPacer, PowerPacer, PreviewPacer
from dialer.sim.engine import PacerViolation, RawResult, Simulation
from dialer.sim.report import format_summary, summarize
from dialer.sim.scenario import Scenario, ScenarioError, load_scenario

__all__ = [
    "PacerViolation",
    "RawResult",
    "Scenario",
    "ScenarioError",
    "Simulation",
    "format_summary",
    "load_scenario",
    "make_sim_pacer",
    "simulate",
    "summarize",
]


def make_sim_pacer(sc: Scenario) -> Pacer:
    """The pacer a scenario asks for, with the scenario's grace time, target and cap."""
    if sc.mode == "preview":
        return PreviewPacer()
    if sc.mode == "progressive":
        return ProgressivePacer()
    if sc.mode == "power":
        return PowerPacer(sc.lines_per_agent, sc.max_lines_per_agent, cap=sc.cap, target=sc.target)
    if sc.mode == "fixed_ratio":
        return PowerPacer(sc.lines_per_agent, cap=None)
    if sc.mode == "adaptive_ratio":
        return AdaptiveRatioPacer(sc.ratio_target)
    return PredictivePacer(
        PredictiveSettings(
            target=sc.target,
            cap=sc.cap,
            grace_s=sc.grace_s,
            cancel_over=sc.cancel_over,
            max_lines_per_agent=sc.max_lines_per_agent,
        )
    )


def simulate(sc: Scenario, pacer: Pacer | None = None) -> RawResult:
    """Run a scenario once (with its own pacer unless one is given)."""
    return Simulation(sc, pacer if pacer is not None else make_sim_pacer(sc)).run()
