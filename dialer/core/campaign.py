"""The live state of one running campaign inside the core (no I/O here)."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from dialer.domain.agent import Agent, AgentState
from dialer.domain.call import CallAttempt, CallState
from dialer.pacing.base import AgentActivity, AgentView, Pacer, PacingLimits, PacingSnapshot
from dialer.pacing.callrate import CallRateLimiter, CallRates
from dialer.pacing.ledger import AbandonLedger
from dialer.pacing.others import OthersTally
from dialer.store.records import Campaign, LeasedLead, Trunk

PRE_ANSWER = (CallState.QUEUED, CallState.ORIGINATING, CallState.RINGING)


def _view(agent: Agent) -> AgentView | None:
    """A logged-in agent as the pacer sees it (None: not logged in). States are told apart by
    identity: a plain Enum hashes in Python, and this runs for every agent change."""
    state = agent.state
    if state is AgentState.READY:
        return AgentView(AgentActivity.READY, agent.since)
    if state is AgentState.ON_CALL:
        return AgentView(AgentActivity.TALKING, agent.since)
    if state is AgentState.WRAPUP:
        return AgentView(AgentActivity.WRAPUP, agent.since)
    if state is AgentState.PAUSED:
        return AgentView(AgentActivity.PAUSED, agent.since)
    return None


_NO_AGENT = (AgentState.LOGGED_OUT, AgentState.LOGGING_OUT)


class TrunkRates:
    """The calls-per-second limits: one per trunk, shared by every campaign dialing through it
    (a limit per campaign alone would let two campaigns on one trunk dial it at twice its rate),
    and one for each campaign that has a limit of its own. Edited limits are retuned in place, so
    the calls already sent still count."""

    def __init__(self) -> None:
        self._trunks: dict[int, CallRateLimiter] = {}
        self._campaigns: dict[int, tuple[CallRateLimiter | None, CallRates]] = {}

    def of(self, trunk: Trunk) -> CallRateLimiter:
        """The trunk's limiter, at its current rate and burst."""
        lim = self._trunks.get(trunk.id)
        if lim is None:
            lim = self._trunks[trunk.id] = CallRateLimiter(trunk.max_cps, trunk.cps_burst)
        elif lim.rate != trunk.max_cps or lim.burst != trunk.cps_burst:
            lim.retune(trunk.max_cps, trunk.cps_burst)
        return lim

    def for_campaign(self, campaign: Campaign, trunk: Trunk) -> CallRates:
        """What the campaign's calls obey: its trunk's limiter and its own, if it has one."""
        shared = self.of(trunk)
        own, rates = self._campaigns.get(campaign.id, (None, None))
        if campaign.max_cps is None:
            own = None
        elif own is None:
            own = CallRateLimiter(campaign.max_cps)
        elif own.rate != campaign.max_cps:
            own.retune(campaign.max_cps)
        want = (shared,) if own is None else (shared, own)
        if rates is None or rates.limiters != want:
            rates = CallRates(*want)
        self._campaigns[campaign.id] = (own, rates)
        return rates


@dataclass(slots=True)
class Offer:
    """Preview: a lead shown to an agent, not dialed yet."""

    lead: LeasedLead
    offered_at: float
    dial_by: float | None  # dialed by itself then (core time); None: waits for the agent
    requested: bool = False  # to be dialed as soon as the trunk allows
    how: str = "dialed"  # how it goes when dialed: by the agent, or by itself after its timeout


@dataclass
class CampaignRun:
    campaign: Campaign
    trunk: Trunk
    pacer: Pacer
    bucket: CallRates  # calls per second: the trunk's (shared with its other campaigns) and its own
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
    # Agent id -> call id of the callback for that named agent, dialing now; the agent
    # takes no other call meanwhile and counts as busy for pacing.
    reserved: dict[str, str] = field(default_factory=dict)
    # Agent id -> when a due callback for that named agent came into the buffer. From then the
    # pacer leaves the agent out (no new calls are dialed for it), and the callback is dialed
    # once the other ready agents could take every call dialed before that still rings or
    # waits: keeping the agent for its callback never leaves one of those without an agent.
    holding: dict[str, float] = field(default_factory=dict)
    # Live answers and abandonments over the rolling windows and the campaign's life, restored
    # from the CDRs when the run starts (dialer/pacing/history.py); no calls while `restoring`.
    abandonment: AbandonLedger = field(default_factory=AbandonLedger)
    restoring: int = 0
    # Other daemons' calls on this campaign join the windows as their CDRs are
    # written: what was counted of them (set when the history is restored; None before).
    others: OthersTally | None = None
    # Preview: agent id -> the lead shown to it. An agent with an offer takes no other call
    # and counts as busy for pacing.
    offers: dict[str, Offer] = field(default_factory=dict)
    talked: dict[str, float] = field(default_factory=dict)  # agent in wrap-up -> its talk time
    paced_at: float = -1e18  # when pacing last ran (the tick paces only runs idle that long)
    named_callbacks: bool = False  # the buffer may hold callbacks for a named agent
    pacer_generation: int = 0  # bumped when the pacer is replaced (a history read for the old
    # one must not restore the new one)
    # The pacing snapshot's agent views, kept up to date agent by agent: pacing runs after
    # every call event, and building them anew looks at every agent. The core tells the run
    # when an agent changed (`agent_changed`) or joined or left (`agents_changed`).
    _view_of: dict[str, AgentView | None] | None = field(default=None, repr=False)
    _views: tuple[AgentView, ...] | None = field(default=None, repr=False)

    def agent_changed(self, agent: Agent) -> None:
        """The agent's state (or the time it entered it) may have changed."""
        if self._view_of is not None and agent.agent_id in self._view_of:
            self._view_of[agent.agent_id] = _view(agent)
            self._views = None

    def agents_changed(self) -> None:
        """An agent joined or left the run."""
        self._view_of = None
        self._views = None

    def agent_views(self) -> tuple[AgentView, ...]:
        """The logged-in agents as the pacer sees them: one kept for a callback (`reserved`)
        or looking at a lead (`offers`) counts as talking, one held for its callback
        (`holding`) is left out."""
        if self.reserved or self.offers or self.holding:
            views = []
            for a in self.agents.values():
                view = _view(a)
                if view is None or a.agent_id in self.holding:
                    continue
                if a.agent_id in self.reserved or a.agent_id in self.offers:
                    view = AgentView(AgentActivity.TALKING, a.since)
                views.append(view)
            return tuple(views)
        if self._view_of is None:
            self._view_of = {key: _view(a) for key, a in self.agents.items()}
            self._views = None
        if self._views is None:
            self._views = tuple(v for v in self._view_of.values() if v is not None)
        return self._views

    def snapshot(self, now: float, trunk_in_use: int) -> PacingSnapshot:
        views = self.agent_views()
        ringing = tuple(
            [
                c.originated_at if c.originated_at is not None else now
                for c in self.calls.values()
                if c.state in PRE_ANSWER and not c.taken_back  # those will not be answered
            ]
        )
        # Limits: no more calls on the trunk than its channels (`trunk_in_use` counts every call
        # of every campaign on it, talking ones included), no more new ones than the trunk's
        # calls-per-second limit (shared by those campaigns) and the campaign's allow now.
        in_flight = len(ringing) + len(self.waiting)
        free_channels = max(0, self.trunk.max_channels - trunk_in_use)
        return PacingSnapshot(
            now=now,
            agents=tuple(views),
            ringing_since=ringing,
            answered_waiting=len(self.waiting),
            limits=PacingLimits(
                max_in_flight=in_flight + free_channels,
                max_new_now=self.bucket.available(now),
            ),
        )

    def wants_leads(self) -> bool:
        """Leads leased now may be dialed here: an agent of this daemon is logged in or logging
        in, or the campaign has no agents at all (its pacer alone decides, as for a recorded
        message). A daemon whose agents are all elsewhere holds no leads."""
        return not self.agents or any(a.state not in _NO_AGENT for a in self.agents.values())

    def named_callback_may_go(self, agent_id: str, now: float) -> bool:
        """Whether a due callback for this named agent may be dialed now (see `holding`). The
        first time it is asked about, the hold starts; it goes once the agent is ready and not
        kept for another callback, and the calls dialed before the hold that still ring or wait
        are no more than the other ready agents: were they all answered, each finds an agent."""
        agent = self.agents.get(agent_id)
        if agent is None or agent_id in self.reserved:
            return False
        since = self.holding.setdefault(agent_id, now)
        if not agent.is_ready:
            return False
        others = sum(
            1
            for a in self.agents.values()
            if a.is_ready
            and a.agent_id != agent_id
            and a.agent_id not in self.reserved
            and a.agent_id not in self.offers
            and a.agent_id not in self.holding
        )
        waiting = set(self.waiting)
        earlier = sum(
            1
            for c in self.calls.values()
            if (c.state in PRE_ANSWER or c.channel_id in waiting)
            and (c.originated_at is None or c.originated_at < since)
        )
        return earlier <= others

    def next_lead(self) -> LeasedLead | None:
        """Take the first buffered lead that is not a callback for a named agent (those go by
        `next_named_callback`, outside the pacer's count: their agent is left out of it)."""
        for i, lead in enumerate(self.leads):
            if lead.callback_agent_id is None:
                del self.leads[i]
                return lead
        return None

    def next_named_callback(self, now: float) -> LeasedLead | None:
        """Take the first buffered callback for a named agent that may be dialed now (see
        `named_callback_may_go`); holds for agents with no such callback here any more end."""
        kept = {
            str(lead.callback_agent_id) for lead in self.leads if lead.callback_agent_id is not None
        }
        for agent_id in [a for a in self.holding if a not in kept]:
            del self.holding[agent_id]
        for i, lead in enumerate(self.leads):
            named = lead.callback_agent_id
            if named is not None and self.named_callback_may_go(str(named), now):
                del self.leads[i]
                del self.holding[str(named)]
                return lead
        return None

    def ready_agent(self) -> Agent | None:
        """The ready agent who has waited longest (fair share of calls)."""
        best: Agent | None = None
        for agent in self.agents.values():
            if agent.agent_id in self.reserved or agent.agent_id in self.offers:
                continue  # kept for its callback, or looking at a lead
            if agent.state is AgentState.READY and (best is None or agent.since < best.since):
                best = agent
        return best

    def agents_by_state(self) -> Counter[str]:
        return Counter(a.state.value for a in self.agents.values())
