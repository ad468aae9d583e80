"""The simulator run through the daemon's own core (`dialer.sim.on_core`) against the model of
`dialer.sim.engine`, on one small seeded campaign: the same callees (common random numbers), so
the figures agree within noise, and the core keeps the rules there too."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dialer.sim import load_scenario, make_sim_pacer, simulate, summarize
from dialer.sim.on_core import CoreSimulation


@pytest.mark.parametrize("mode", ["predictive", "progressive", "preview"])
def test_the_core_simulated_agrees_with_the_model(mode: str) -> None:
    sc = replace(load_scenario("reference"), agents=10, day_hours=2.0, mode=mode, seed=7)
    model = summarize(simulate(sc))
    core = summarize(CoreSimulation(sc, make_sim_pacer(sc)).run())
    assert core["utilisation"] == pytest.approx(model["utilisation"], abs=0.03)
    assert core["answered"] == pytest.approx(model["answered"], rel=0.05)
    assert core["dialed"] == pytest.approx(model["dialed"], rel=0.05)
    # the hard limits hold on the core's own decisions
    assert core["abandoned"] <= 0.03 * core["answered"] + 3
    if mode != "predictive":
        assert core["abandoned"] == 0  # one call per free agent: nobody waits
