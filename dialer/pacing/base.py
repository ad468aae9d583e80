"""The pacing interface the engine and the simulator both drive.

The engine builds a `PacingSnapshot` on every agent or call event (and at least once a second),
asks the campaign's pacer for a `PacingDecision`, and starts that many calls. Outcomes are fed
back with `observe` so pacers can estimate contact rate, answer time, talk and wrap-up time.
All times are seconds on one monotonic clock (real or simulated); nothing here reads a clock.

When to feed outcomes back: `observe_call` as soon as a call's dialing outcome is known (it
failed or rang out, it was abandoned, or it was connected to an agent; `ended_at` is that moment,
not the end of the conversation: a predictive pacer must learn contact rates within seconds, not
after the talk), and `observe_work` when an agent's wrap-up ends. Calls the dialer cancelled
itself (stop, reconciliation) are best not fed back: they say nothing about the list.
The values passed are named tuples, immutable: the simulator makes hundreds of thousands of them
a simulated day, and a frozen dataclass costs three times as much to build.
"""

from __future__ import annotations

import enum
from typing import NamedTuple, Protocol


class AgentActivity(enum.Enum):
    READY = "ready"  # logged in, waiting for a call
    TALKING = "talking"  # connected to a customer
    WRAPUP = "wrapup"  # after a call, recording the result
    PAUSED = "paused"


class AgentView(NamedTuple):
    activity: AgentActivity
    since: float  # when the agent entered this activity


class PacingLimits(NamedTuple):
    # calls not yet answered + answered waiting, per campaign (and within the trunk's channels)
    max_in_flight: int
    max_new_now: int  # what the per-trunk calls-per-second budget allows this instant


class PacingSnapshot(NamedTuple):
    now: float
    agents: tuple[AgentView, ...]  # logged-in agents of the campaign
    ringing_since: tuple[float, ...]  # originate time of each call in flight, not yet answered
    answered_waiting: int  # answered calls not yet given to an agent
    limits: PacingLimits

    @property
    def ready(self) -> int:
        ready = AgentActivity.READY
        return sum(1 for a in self.agents if a.activity is ready)

    @property
    def in_flight(self) -> int:
        return len(self.ringing_since) + self.answered_waiting


class PacingEstimates(NamedTuple):
    """What a pacer believed when it decided: for logs, the API and the simulator's report."""

    phase: str  # "warm-up", "predictive", "braking", "capped", "limit", "no agents", ...
    contact_rate: float  # share of calls a person answers (the value pacing uses)
    answer_s: float  # mean ring time before a person answers
    talk_s: float  # mean talk time
    wrapup_s: float  # mean wrap-up time
    threshold: float  # chance of "answered, no agent" per answered call the pacer accepts now
    chance: float  # that chance for the last call it decided to dial (or the next one, if none)
    agents_soon: float  # agents expected free (ready included) by a typical answer + grace
    abandon_24h: float  # abandoned / live answered over the last 24 hours (0.0 with no answers)
    abandon_30d: float
    abandon_life: float
    aim: float = 0.0  # abandonment the pacer aims for now (the target, less while braking)
    method: str = ""  # how the chance was computed: "exact" (small teams) or "normal"


MIN_RING_S = 15.0
"""A call may be hung up unanswered only after ringing this long: the US rule (47 CFR
64.1200(a)(6): 15 seconds or four rings) and Ofcom's in the UK."""

TAKE_BACK_OVER = 10.0
"""Predictive's default `cancel_over` (also the daemon's `dialer.take_back_over` and the
simulator's): a ringing call is taken back when even one more call's chance of finding no agent
is this many times over the threshold. 10 measured best of 6, 10 and 15 in the simulator."""


class PacingDecision(NamedTuple):
    dial: int  # new calls to start now (>= 0)
    level: float  # lines per ready-or-soon-ready agent that this decision aims for
    reason: str  # one line, for logs and the API
    estimates: PacingEstimates | None = None  # None for pacers that estimate nothing
    # Ringing calls to hang up now, oldest first, among those that have rung at least the
    # minimum ring time (MIN_RING_S or more; the engine and the simulator enforce it).
    cancel: int = 0


class CallOutcome(NamedTuple):
    """What happened to one call, fed back to the pacer when it ends."""

    originated_at: float
    answered_at: float | None  # None: busy, no answer, failed
    ended_at: float
    abandoned: bool


class AgentWork(NamedTuple):
    """One finished piece of agent work, fed back when wrap-up ends."""

    talk_s: float
    wrapup_s: float


class Pacer(Protocol):
    def decide(self, snap: PacingSnapshot) -> PacingDecision: ...

    def observe_call(self, outcome: CallOutcome) -> None: ...

    def observe_work(self, work: AgentWork) -> None: ...


class ProgressivePacer:
    """One call in flight per ready agent, never more: no abandonment by construction
    (except when an agent leaves between the originate and the answer)."""

    def decide(self, snap: PacingSnapshot) -> PacingDecision:
        ready = snap.ready
        in_flight = snap.in_flight
        lim = snap.limits
        dial = max(0, min(ready - in_flight, lim.max_in_flight - in_flight, lim.max_new_now))
        return PacingDecision(
            dial=dial, level=1.0, reason=f"progressive: {ready} ready, {in_flight} in flight"
        )

    def observe_call(self, outcome: CallOutcome) -> None:
        return None

    def observe_work(self, work: AgentWork) -> None:
        return None
