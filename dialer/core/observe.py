"""What the engine tells the outside world: every call and agent state change and every pacing
decision, as frozen values. Metrics, MQTT and the HTTP API subscribe with `Engine.add_observer`.

Observers run synchronously on the call path, so they must only record or enqueue (the MQTT
publisher puts the event on a bounded queue; metrics bump counters). An observer that raises is
logged and kept; it never breaks a call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dialer.pacing.history import CampaignHistory


@dataclass(frozen=True, slots=True)
class CallChanged:
    campaign: str
    call_id: str
    lead_id: int
    state: str  # dialer.domain.call.CallState value
    result: str | None  # set when state is "ended"
    agent_id: str | None
    at: float  # loop time
    answer_to_agent_ms: float | None = None


@dataclass(frozen=True, slots=True)
class AgentChanged:
    campaign: str
    agent_id: str
    state: str  # dialer.domain.agent.AgentState value
    at: float


@dataclass(frozen=True, slots=True)
class PacingDecided:
    campaign: str
    dial: int
    level: float
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class HistoryRestored:
    """The engine started running a campaign and put its stored history back (its
    abandonment windows and pacing estimates, from the CDRs): an observer that keeps
    abandonment windows of its own restores them from it (dialer/pacing/history.py)."""

    campaign: str
    history: CampaignHistory
    at: float  # the loop time at which the history was read (its `wall_now`)


@dataclass(frozen=True, slots=True)
class OthersCounted:
    """Other daemons' calls on a campaign this daemon runs, read from their CDRs, joined its
    abandonment windows: observers with windows of their own add them too."""

    campaign: str
    at: float  # loop time of their minute
    answered: int
    abandoned: int
    machines: int


@dataclass(frozen=True, slots=True)
class LeadOffered:
    """Preview: a lead is shown to an agent, who dials it or skips it (or it is dialed by
    itself at `dial_by`, a loop time; None: it waits for the agent)."""

    campaign: str
    agent_id: str
    lead_id: int
    at: float
    dial_by: float | None


@dataclass(frozen=True, slots=True)
class OfferEnded:
    """Preview: the lead offered to the agent was dialed (by the agent or by itself after its
    timeout), skipped by the agent (with a reason), or withdrawn (the agent left, the campaign
    stopped)."""

    campaign: str
    agent_id: str
    lead_id: int
    how: str  # "dialed", "timed_out" (dialed by itself), "skipped", "withdrawn"
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class TrunkBreakerChanged:
    """A trunk's circuit breaker changed state (dialer.domain.breaker): `open` stops calls
    through the trunk for `backoff_s`, `half_open` lets one probe go, `closed` dials again."""

    trunk: str
    state: str  # dialer.domain.breaker.BreakerState value
    reason: str
    given_back: int  # calls whose leads went back as they were with this change
    backoff_s: float
    at: float


EngineEvent = (
    CallChanged
    | AgentChanged
    | PacingDecided
    | HistoryRestored
    | OthersCounted
    | LeadOffered
    | OfferEnded
    | TrunkBreakerChanged
)
Observer = Callable[[EngineEvent], None]
