"""Pacers that dial a number of lines per ready agent: preview, power (a fixed ratio) and an
adaptive ratio (the ratio a feedback loop tunes to an abandonment target).

Rules:
- Preview: one lead per ready agent without one; the agent starts the call, so the engine presents
  leads instead of dialing them. Never abandons.
- Power: keep `lines_per_agent` calls in flight per *ready* agent (rounded). Nothing is dialed for
  agents who are talking or in wrap-up, however soon they will be free. It keeps the same
  abandonment cap as predictive (dialer.pacing.cap): near the target its lines beyond one per
  agent are halved, at the cap it dials one call per ready agent until back under it.
- Adaptive ratio: power dialing whose ratio moves after every live answer: down after an
  abandonment, up a little after a connection, so that on average the share abandoned is the
  target. It is the classic knob; it is here as a baseline for the simulator and the benchmark (a
  ratio right for 50 agents abandons far too much at 5, and one right for 5 wastes a large team).
"""

from __future__ import annotations

import math

from dialer.pacing.base import AgentWork, CallOutcome, PacingDecision, PacingSnapshot
from dialer.pacing.cap import cap_phase
from dialer.pacing.ledger import WINDOWS_S, AbandonLedger
from dialer.pacing.limits import MAX_LINES_PER_AGENT, agent_counts, room


class PreviewPacer:
    """One lead per ready agent who has none (calls "in flight" include leads being previewed)."""

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        ready, available = agent_counts(snap)
        n = room(snap, available, 1.0)
        dial = max(0, min(n, ready - snap.in_flight))
        return PacingDecision(
            dial=dial, level=1.0, reason=f"preview: {ready} ready, {snap.in_flight} leads out"
        )

    def observe_call(self, outcome: CallOutcome) -> None:
        return None

    def observe_work(self, work: AgentWork) -> None:
        return None


class PowerPacer:
    """A fixed number of lines per ready agent, under the abandonment cap (`cap` None: a bare
    fixed ratio, which the simulator compares against; the daemon never runs one)."""

    def __init__(
        self,
        lines_per_agent: float,
        max_lines_per_agent: float = MAX_LINES_PER_AGENT,
        *,
        cap: float | None = 0.03,
        target: float = 0.025,
        windows_s: tuple[float, ...] = WINDOWS_S,
        min_answered: int = 300,
    ) -> None:
        if not 1.0 <= lines_per_agent <= max_lines_per_agent:
            raise ValueError("lines_per_agent must be between 1 and max_lines_per_agent")
        if cap is not None and not 0.0 < target <= cap < 1.0:
            raise ValueError("need 0 < target <= cap < 1")
        self.lines_per_agent = lines_per_agent
        self._max_lines = max_lines_per_agent
        self._cap = cap
        self._target = target
        self._min_answered = min_answered
        # The campaign's live answers (restored from its history at start, as predictive's).
        self.ledger = AbandonLedger(windows_s)

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        phase = (
            None
            if self._cap is None  # a bare fixed ratio: the simulator's baseline only
            else cap_phase(
                self.ledger,
                snap.now,
                cap=self._cap,
                target=self._target,
                min_answered=self._min_answered,
            )
        )
        if phase == "capped":
            return _ratio_decision(snap, 1.0, self._max_lines, "capped: progressive, power")
        if phase == "braking":
            half = 1.0 + (self.lines_per_agent - 1.0) / 2.0
            return _ratio_decision(snap, half, self._max_lines, "braking near the target: power")
        return _ratio_decision(snap, self.lines_per_agent, self._max_lines, "power")

    def observe_call(self, outcome: CallOutcome) -> None:
        if outcome.answered_at is not None:
            self.ledger.record(outcome.ended_at, outcome.abandoned)

    def observe_work(self, work: AgentWork) -> None:
        return None


class AdaptiveRatioPacer:
    """Lines per ready agent, tuned online to hold `target` abandonment."""

    def __init__(
        self,
        target: float = 0.03,
        *,
        initial: float = 1.5,
        gain: float = 0.1,
        max_ratio: float = MAX_LINES_PER_AGENT,
    ) -> None:
        if not 0.0 < target < 0.5:
            raise ValueError("target must be in (0, 0.5)")
        if not 1.0 <= initial <= max_ratio <= MAX_LINES_PER_AGENT:
            raise ValueError("need 1 <= initial <= max_ratio <= MAX_LINES_PER_AGENT")
        self.target = target
        self.ratio = initial
        self._down = math.exp(-gain)
        self._up = math.exp(gain * target / (1.0 - target))
        self._max = max_ratio

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        return _ratio_decision(snap, self.ratio, self._max, "adaptive ratio")

    def observe_call(self, outcome: CallOutcome) -> None:
        if outcome.answered_at is None:
            return
        r = self.ratio * (self._down if outcome.abandoned else self._up)
        self.ratio = min(self._max, max(1.0, r))

    def observe_work(self, work: AgentWork) -> None:
        return None


def _ratio_decision(
    snap: PacingSnapshot, ratio: float, max_lines: float, name: str
) -> PacingDecision:
    ready, available = agent_counts(snap)
    n = room(snap, available, max_lines)
    target = math.floor(ratio * ready + 0.5)
    dial = max(0, min(n, target - snap.in_flight))
    return PacingDecision(
        dial=dial,
        level=ratio,
        reason=f"{name} {ratio:.2f}: {ready} ready, {snap.in_flight} in flight",
    )
