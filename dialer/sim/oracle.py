"""An oracle pacer for the simulator: predictive pacing told the true contact rate and talk
time of the moment, so that a pacer that must estimate them can be measured against it.

It is the predictive pacer (same look-ahead, threshold loop and braking) with two inputs
replaced: the contact rate it paces with is the scenario's at that instant (no estimate, no
level-shift detection, no surge guard: it knows the rate will not surprise it), and its talk-time
distribution is redrawn from the scenario's whenever that changes. Answer times, wrap-up and the
rest it learns as the real pacer does. Simulation only: no daemon has an oracle.
"""

from __future__ import annotations

import dataclasses
import random

from dialer.pacing.base import AgentWork, PacingDecision, PacingSnapshot
from dialer.pacing.estimators import Durations
from dialer.pacing.predictive import PredictivePacer, PredictiveSettings
from dialer.sim.scenario import Scenario

_TALK_SAMPLES = 500


class OraclePacer(PredictivePacer):
    def __init__(self, scenario: Scenario, settings: PredictiveSettings) -> None:
        super().__init__(dataclasses.replace(settings, shift_z=0.0, surge_memory_s=0.0))
        self._contact = scenario.contact_schedule
        self._talks = scenario.talk_schedule
        self._talk_index = -1
        self._rng = random.Random(f"oracle/{scenario.seed}")

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        i = 0 if self._talks.constant else self._talks.index_at(snap.now)
        if i != self._talk_index:
            self._talk_index = i
            draw = self._talks.values()[i].sampler(self._rng)
            talk = Durations(_TALK_SAMPLES)
            for _ in range(_TALK_SAMPLES):
                talk.add(draw())
            talk.count = self.talk_time.count  # warm-up counts the calls really finished
            self.talk_time = talk
            if self._talk_view.samples:  # tables built: rebuild them from the true times
                self._refresh_agents(snap.now)
        return super().decide(snap)

    def observe_work(self, work: AgentWork) -> None:
        """Talk times are the scenario's (the call is only counted); wrap-ups are learned."""
        self.wrapup_time.add(work.wrapup_s)
        self.talk_time.count += 1
        self._new_works += 1

    def _pacing_rate(
        self, now: float, hist: dict[int, int] | None, n_ring: int, waiting: int
    ) -> float:
        return min(max(self._contact.at(now), 0.001), 0.999)
