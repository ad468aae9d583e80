"""The live state of one running campaign inside the engine (no I/O here)."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from dialer.domain.agent import Agent, AgentState
from dialer.domain.call import CallAttempt, CallState
from dialer.pacing.base import AgentActivity, AgentView, Pacer, PacingLimits, PacingSnapshot
from dialer.pacing.ledger import AbandonLedger
from dialer.pacing.limits import CallRateLimiter
from dialer.store.records import Campaign, LeasedLead, Trunk

_ACTIVITY = {
    AgentState.READY: AgentActivity.READY,
    AgentState.ON_CALL: AgentActivity.TALKING,
    AgentState.WRAPUP: AgentActivity.WRAPUP,
    AgentState.PAUSED: AgentActivity.PAUSED,
}
PRE_ANSWER = (CallState.QUEUED, CallState.ORIGINATING, CallState.RINGING)


class TrunkRates:
    """One calls-per-second budget per trunk, shared by every campaign dialing through it (a
    budget per campaign would let two campaigns on one trunk dial it at twice its rate)."""

    def __init__(self) -> None:
        self._rates: dict[int, CallRateLimiter] = {}

    def of(self, trunk: Trunk, now: float) -> CallRateLimiter:
        """The trunk's budget; a new (full) one when its rate has changed."""
        rate = self._rates.get(trunk.id)
        if rate is None or rate.rate != trunk.max_cps:
            rate = self._rates[trunk.id] = CallRateLimiter(trunk.max_cps, now=now)
        return rate


@dataclass
class CampaignRun:
    campaign: Campaign
    trunk: Trunk
    pacer: Pacer
    bucket: CallRateLimiter  # the trunk's calls-per-second budget, shared with its other campaigns
    agents: dict[str, Agent] = field(default_factory=dict)
    leads: deque[LeasedLead] = field(default_factory=deque)
    calls: dict[str, CallAttempt] = field(default_factory=dict)
    waiting: deque[str] = field(default_factory=deque)  # answered calls with no agent yet
    paused: bool = False  # a supervisor paused or stopped it: no new calls
    refilling: bool = False
    exhausted_until: float = 0.0  # no leads were dialable at the last lease; retry after this
    results: Counter[str] = field(default_factory=Counter)
    dialed: int = 0
    answered: int = 0
    last_reason: str = ""
    # Issue 5: agent id -> call id of the callback for that named agent, dialing now; the agent
    # takes no other call meanwhile and counts as busy for pacing.
    reserved: dict[str, str] = field(default_factory=dict)
    # Live answers and abandonments over the rolling windows and the campaign's life, restored
    # from the CDRs when the run starts (dialer/pacing/history.py); no calls while `restoring`.
    abandonment: AbandonLedger = field(default_factory=AbandonLedger)
    restoring: int = 0

    def snapshot(self, now: float, trunk_in_use: int) -> PacingSnapshot:
        views = tuple(
            AgentView(
                AgentActivity.TALKING if a.agent_id in self.reserved else _ACTIVITY[a.state],
                a.since,
            )
            for a in self.agents.values()
            if a.state in _ACTIVITY
        )
        ringing = tuple(
            c.originated_at if c.originated_at is not None else now
            for c in self.calls.values()
            if c.state in PRE_ANSWER
        )
        # Limits: no more calls on the trunk than its channels (`trunk_in_use` counts every call
        # of every campaign on it, talking ones included), no more new ones than its
        # calls-per-second budget allows now (shared by those campaigns).
        in_flight = len(ringing) + len(self.waiting)
        free_channels = max(0, self.trunk.max_channels - trunk_in_use)
        return PacingSnapshot(
            now=now,
            agents=views,
            ringing_since=ringing,
            answered_waiting=len(self.waiting),
            limits=PacingLimits(
                max_in_flight=in_flight + free_channels,
                max_new_now=self.bucket.available(now),
            ),
        )

    def ready_agent(self) -> Agent | None:
        """The ready agent who has waited longest (fair share of calls)."""
        best: Agent | None = None
        for agent in self.agents.values():
            if agent.agent_id in self.reserved:
                continue  # kept for its callback
            if agent.state is AgentState.READY and (best is None or agent.since < best.since):
                best = agent
        return best

    def agents_by_state(self) -> Counter[str]:
        return Counter(a.state.value for a in self.agents.values())
