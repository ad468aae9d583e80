"""The live state of one running campaign inside the engine (no I/O here)."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from dialer.domain.agent import Agent, AgentState
from dialer.domain.call import CallAttempt, CallState
from dialer.engine.bucket import TokenBucket
from dialer.pacing.base import AgentActivity, AgentView, Pacer, PacingLimits, PacingSnapshot
from dialer.store.records import Campaign, LeasedLead, Trunk

_ACTIVITY = {
    AgentState.READY: AgentActivity.READY,
    AgentState.ON_CALL: AgentActivity.TALKING,
    AgentState.WRAPUP: AgentActivity.WRAPUP,
    AgentState.PAUSED: AgentActivity.PAUSED,
}
PRE_ANSWER = (CallState.QUEUED, CallState.ORIGINATING, CallState.RINGING)


@dataclass
class CampaignRun:
    campaign: Campaign
    trunk: Trunk
    pacer: Pacer
    bucket: TokenBucket
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
