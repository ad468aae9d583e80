"""The core's state and the few steps every part of it uses: moving a call or an agent through
its state machine (and saying so), timers, ownership of agents.

The core is split by subject over a short chain of classes (`dialing` -> `agents` -> `calls` ->
`machine`), each adding one part of the job to the state kept here. Nothing here does I/O: what
must happen outside is appended to `_out` as commands (`dialer.core.commands`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass

from dialer.core import commands as cmd
from dialer.core.campaign import CampaignRun, TrunkRates
from dialer.core.observe import AgentChanged, CallChanged, EngineEvent
from dialer.core.records import WallClock, progress_of
from dialer.domain import agent as ag
from dialer.domain import call as cl
from dialer.domain.breaker import Breakers
from dialer.domain.identity import ProcessIdentity
from dialer.domain.results import CallResult
from dialer.pacing.base import CallOutcome, Pacer, ProgressivePacer
from dialer.pbx import Capability
from dialer.settings import DialerSettings
from dialer.store.records import Campaign

logger = logging.getLogger(__name__)

MAX_ANSWER_WAIT_S = 2.0  # the legal limit from answer to agent (or message)
MAX_SCREENING_S = 5.0  # answering-machine detection that gives no verdict by then: a person
_OUTCOME_KNOWN = (cl.CallState.CONNECTED, cl.CallState.ABANDONING, cl.CallState.MACHINE)
_BUSY = (ag.AgentState.ON_CALL, ag.AgentState.WRAPUP)
FINISHED_KEPT = 100_000  # finished calls kept for statistics and tests (then halved)


@dataclass(frozen=True, slots=True)
class CallRecord:
    """A finished call, kept for statistics and tests (bounded list)."""

    call_id: str
    campaign_id: int
    lead_id: int
    result: CallResult
    agent_id: str | None
    answer_to_agent_ms: float | None
    answer_to_message_ms: float | None  # when the abandon message started, after the answer


class CoreBase:
    def __init__(
        self,
        settings: DialerSettings,
        clock: WallClock,
        *,
        capabilities: Collection[Capability],
        pacer_factory: Callable[[Campaign], Pacer] | None = None,
        owner: str | None = None,
        restores_history: bool = False,
        agent_leases: bool = False,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self.settings = settings
        self.clock = clock
        # What the PBX adapter offers (`Pbx.capabilities`): a campaign needing more is refused.
        self.capabilities: frozenset[Capability] = frozenset(capabilities)
        self.owner = owner or ProcessIdentity.new(settings.owner_name()).owner
        self._pacer_factory = pacer_factory or (lambda _c: ProgressivePacer())
        self._restores_history = restores_history
        self._new_id = new_id
        self.campaigns: dict[int, CampaignRun] = {}
        self.finished: list[CallRecord] = []
        self._call_index: dict[str, CampaignRun] = {}
        self._legs: dict[str, tuple[CampaignRun, ag.Agent]] = {}
        self._trunk_rates = TrunkRates()  # calls-per-second limits per trunk and campaign
        # A trunk failing most calls is paused (read-only outside the core: its states).
        self.breakers = Breakers(settings.breaker())
        self._timers: set[cmd.TimerKey] = set()
        self._observed: set[str] = set()  # calls whose outcome the pacer has been told
        self.accepting = False
        self.pbx_up = True
        self.records_failing = False
        # Several daemons on one database: an agent belongs to the one holding its lease
        # (dialer/domain/ownership.py); only the owner logs it in. Without leases every
        # agent is ours.
        self.agent_leases = agent_leases
        self.owned: set[str] = set()
        self.leases_ok_at = 0.0  # when the last round of agent leases succeeded
        # A campaign just started here: other daemons following the table start it within a
        # poll; its agents are claimed after that, so the daemons split them. Meanwhile they
        # are claimed only if no other daemon is on the database.
        poll = settings.campaign_poll_s
        self.settle_s = poll + 0.5 if poll > 0 else 0.0
        self.run_started: dict[int, float] = {}
        self.moves: dict[str, int | None] = {}  # busy agent -> campaign it moves to after
        # Agents claimed while their leg, left by a daemon that died, is still bridged to a
        # customer (agent -> that leg): checked again every agent round.
        self.busy_elsewhere: dict[str, str] = {}
        self._refused_endpoints: dict[str, str] = {}  # agent -> stored endpoint logged as bad
        self._refused_campaigns: dict[int, str] = {}  # campaign -> why, as logged
        self.observed = False  # observers listen: state changes are told (`Notify`)
        self._out: list[cmd.Command] = []
        self._now = 0.0
        # Campaigns to pace once the input being handled is through (`Core.handle`).
        self._to_pace: dict[int, CampaignRun] = {}
        self._pacing_deferred = False

    # -- commands -----------------------------------------------------------------------------

    def _do(self, command: cmd.Command) -> None:
        self._out.append(command)

    def _emit(self, event: EngineEvent) -> None:
        self._out.append(cmd.Notify(event))

    def _start_timer(self, kind: cmd.TimerKind, subject: str, at: float) -> None:
        key = cmd.TimerKey(kind, subject)
        self._timers.add(key)
        self._out.append(cmd.StartTimer(key, at))

    def _cancel_timer(self, kind: cmd.TimerKind, subject: str) -> bool:
        """Cancel the timer if it is set; whether it was."""
        key = cmd.TimerKey(kind, subject)
        if key not in self._timers:
            return False
        self._timers.discard(key)
        self._out.append(cmd.CancelTimer(key))
        return True

    def _timer_set(self, kind: cmd.TimerKind, subject: str) -> bool:
        return cmd.TimerKey(kind, subject) in self._timers

    # -- state machines -------------------------------------------------------------------------

    def _observe_outcome(self, run: CampaignRun, call: cl.CallAttempt, abandoned: bool) -> None:
        """Tell the pacer a call's outcome once, as soon as it is known (connected, abandoned,
        a machine, or at the end for an unanswered call), not when a long talk ends."""
        if call.channel_id in self._observed or call.originated_at is None:
            return
        if call.taken_back and call.answered_at is None:
            return  # not an outcome of the call: the pacer hung it up (as the simulator does)
        self._observed.add(call.channel_id)
        machine = call.state is cl.CallState.MACHINE or call.result is CallResult.MACHINE
        run.pacer.observe_call(
            CallOutcome(
                call.originated_at,
                # A machine is not an answer the pacer must find an agent for.
                None if machine else call.answered_at,
                call.ended_at or self._now,
                abandoned,
            )
        )

    def _call_do(self, run: CampaignRun, call: cl.CallAttempt, event: cl.CallEvent) -> cl.CallState:
        before = call.state
        message_before = call.message_at
        after = call.handle(event)
        if after is not before or call.message_at is not message_before:
            progress = progress_of(call, self.clock)
            if progress is not None:
                self._out.append(cmd.WriteProgress(progress))
        if after is not before and after in _OUTCOME_KNOWN:
            self._observe_outcome(run, call, after is cl.CallState.ABANDONING)
        if after is not before and self.observed:
            self._emit(
                CallChanged(
                    run.campaign.name,
                    call.channel_id,
                    call.lead_id,
                    after.value,
                    call.result.value if call.result is not None else None,
                    call.agent_id,
                    self._now,
                    call.answer_to_agent_ms,
                )
            )
        return after

    def _agent_do(self, run: CampaignRun, agent: ag.Agent, event: ag.AgentEvent) -> ag.AgentState:
        before = agent.state
        after = agent.handle(event)
        run.agent_changed(agent)  # its pacing view (`CampaignRun.agent_views`)
        if after is not before and self.observed:
            self._emit(AgentChanged(run.campaign.name, agent.agent_id, after.value, self._now))
        return after

    # -- agents ---------------------------------------------------------------------------------

    def find_agent(self, agent_id: str) -> tuple[CampaignRun, ag.Agent]:
        for run in self.campaigns.values():
            agent = run.agents.get(agent_id)
            if agent is not None:
                return run, agent
        raise KeyError(f"no agent {agent_id} in a running campaign")

    def agents_sure(self) -> bool:
        """Our agents' leases have not run out since the last renewal that succeeded: no other
        daemon can have taken them (a database outage stops renewals). Past that, no call is
        handed to them, and none dialed for them."""
        if not self.agent_leases:
            return True
        return self._now - self.leases_ok_at < self.settings.agent_lease_s

    def owns(self, agent_id: str) -> bool:
        return not self.agent_leases or agent_id in self.owned

    @staticmethod
    def busy(run: CampaignRun, agent: ag.Agent) -> bool:
        return agent.state in _BUSY or agent.call_id is not None or agent.agent_id in run.reserved

    def _claim_agents_at(self, at: float) -> None:
        if self.agent_leases:
            self._out.append(cmd.ClaimAgents(at))

    # -- defined further down the chain -----------------------------------------------------------

    def _assign(self, run: CampaignRun, call: cl.CallAttempt, agent: ag.Agent) -> None:
        raise NotImplementedError  # dialer.core.calls

    def live_calls(self) -> int:
        return len(self._call_index)
