"""The engine: PBX events in, state machines updated, pacing decided, PBX actions out.

Rules:
- One event loop, one consumer of PBX events. State changes happen synchronously in the event
  handler (pure state machines), so an agent can never be given two calls: the second `Assign`
  is refused by the agent's transition table. PBX actions that wait for a reply (bridge,
  redirect, hang-up) run as owned tasks; their failures come back as state changes.
- An answered call goes at once to the ready agent who has waited longest. With no ready agent
  it waits at most the campaign's hold time for one (never more than 2 s in total, the
  abandonment rule) and then hears the abandon message.
- Pacing runs after every call or agent event (an answer too) and at least every `tick_s`.
- Stop: no new originates, live calls may finish within the drain time, then they are hung up;
  every CDR is written or closed, leases not dialed are released.
- With several daemons on one database, an agent belongs to the daemon holding its lease
  (dialer/domain/ownership.py): only that one logs it in and hands it calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dialer import pbx
from dialer.domain import abandon
from dialer.domain import agent as ag
from dialer.domain import call as cl
from dialer.domain.identity import ProcessIdentity
from dialer.domain.results import CallResult
from dialer.engine.campaign import PRE_ANSWER, CampaignRun, TrunkRates
from dialer.engine.cdr import CdrWriter, WallClock, progress_of
from dialer.engine.follow import HistorySource
from dialer.engine.observe import (
    AgentChanged,
    CallChanged,
    EngineEvent,
    HistoryRestored,
    Observer,
    OthersCounted,
    PacingDecided,
)
from dialer.engine.ports import AgentLeaseStore, EngineStore
from dialer.engine.refusals import agent_refusal, campaign_refusal
from dialer.pacing.base import MIN_RING_S, AgentWork, CallOutcome, Pacer, ProgressivePacer
from dialer.pacing.history import others_tally, restore_ledger, restore_pacer
from dialer.pacing.ledger import AbandonLedger, is_abandoned
from dialer.pacing.predictive import PredictivePacer
from dialer.rules.ports import DialGuard
from dialer.settings import DialerSettings
from dialer.store.cleanup import Takeover
from dialer.store.records import AttemptEnd, AttemptStart, Campaign, LeasedLead, Trunk
from dialer.store.spool import Spool
from dialer.tasks import OwnedTasks

logger = logging.getLogger(__name__)

MAX_ANSWER_WAIT_S = 2.0  # the legal limit from answer to agent (or message)
_OUTCOME_KNOWN = (cl.CallState.CONNECTED, cl.CallState.ABANDONING, cl.CallState.MACHINE)
MAX_SCREENING_S = 5.0  # answering-machine detection that gives no verdict by then: a person
_STALE_GRACE_S = 20.0  # a pre-answer call this long past its ring timeout is hung up
_LOGIN_RETRY_S = 5.0
_RESTORE_TRIES = 3  # reads of a campaign's history before it is dialed without it
_BUSY = (ag.AgentState.ON_CALL, ag.AgentState.WRAPUP)


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


class Engine:
    def __init__(
        self,
        pbx_: pbx.Pbx,
        store: EngineStore,
        settings: DialerSettings,
        pacer_factory: Callable[[Campaign], Pacer] | None = None,
        guard: DialGuard | None = None,
        history: HistorySource | None = None,
        agent_leases: AgentLeaseStore | None = None,
        owner: str | None = None,
    ) -> None:
        self._pbx = pbx_
        # Several daemons on one database: an agent belongs to the one holding its lease
        # (dialer/domain/ownership.py); only the owner logs it in. None: every agent is ours.
        self._agent_leases = agent_leases
        self._owned: set[str] = set()
        self._login_pending: set[str] = set()  # claimed over the API, log-in not begun yet
        self._agent_lock = asyncio.Lock()  # one lease round or claim at a time
        self._renew_agents_at = 0.0
        self._agent_rounds_due: list[float] = []  # extra lease rounds (claims) due at these
        self._agent_leases_closed = False
        self._agent_leases_failing = False
        # When the last round of agent leases succeeded (a round renews them for
        # agent_lease_s): past that, another daemon may own our agents (`_agents_sure`).
        self._agent_leases_ok_at = asyncio.get_event_loop().time()
        # A campaign just started here: other daemons following the table start it within a
        # poll; its agents are claimed after that, so the daemons split them.
        # Meanwhile they are claimed only if no other daemon is on the database.
        self._settle_s = settings.campaign_poll_s + 0.5 if settings.campaign_poll_s > 0 else 0.0
        self._run_started: dict[int, float] = {}
        self._trunk_rates = TrunkRates()  # calls-per-second limits per trunk and campaign
        # Each campaign's stored history, restored when its run starts.
        self._history = history
        self._next_others_sync = 0.0
        self._others_failing = False
        # The rules' check right before each originate, and due callbacks.
        self._guard = guard
        self._next_callback_poll = 0.0
        self._store = store
        self._settings = settings
        # This process's identity in the store (the composition root shares it with the store).
        self._owner = owner or ProcessIdentity.new(settings.owner_name()).owner
        self._pacer_factory = pacer_factory or (lambda _c: ProgressivePacer())
        self._loop = asyncio.get_event_loop()
        self._clock = WallClock(self._loop.time())
        self.cdr = CdrWriter(
            store,
            settings.cdr_flush_s,
            max_pending=settings.cdr_backlog,
            spool=Spool(settings.spool_path()),
        )
        self.campaigns: dict[int, CampaignRun] = {}
        self._call_index: dict[str, CampaignRun] = {}
        self._legs: dict[str, tuple[CampaignRun, ag.Agent]] = {}
        self._tasks = OwnedTasks(logger, "engine")
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._accepting = False
        self._pbx_up = True
        self._calls_ended = asyncio.Event()
        self.finished: list[CallRecord] = []
        self.latencies_ms: list[float] = []
        self.events_handled = 0
        self._observers: list[Observer] = []
        self._observed: set[str] = set()  # calls whose outcome the pacer has been told
        self._moves: dict[str, int | None] = {}  # busy agent -> campaign it moves to after
        self._refused_endpoints: dict[str, str] = {}  # agent -> stored endpoint logged as bad
        self._refused_campaigns: dict[int, str] = {}  # campaign -> why, as logged
        self.control_seq = 0  # bumped by every control call (see dialer.engine.follow)
        self._unresolved: Takeover | None = None  # taken over, not yet checked with the PBX
        # Agents claimed while their leg, left by a daemon that died, is still bridged to a
        # customer (agent -> that leg): checked again every agent round.
        self._busy_elsewhere: dict[str, str] = {}

    # -- lifecycle --------------------------------------------------------------------------

    async def load(self) -> None:
        # What dead processes left: this daemon's predecessors at once, others' once their
        # leases expired. Calls that ended meanwhile are closed now (before the campaigns'
        # histories are read, so those count); calls still up are adopted below.
        # Records a predecessor spooled while the database was away go first: they close
        # calls with their real ends, which the takeover below would otherwise guess.
        if not await self.cdr.replay():
            logger.warning("spooled call records not written yet (the database is away)")
        mine = await self._store.take_over(self._settings.agent_lease_s)
        live_mine = await self._resolve(mine, "an earlier process of this daemon")
        theirs = await self._store.take_over_expired()
        live_theirs = await self._resolve(theirs, "daemons whose leases expired")
        for campaign, trunk, agents in await self._store.running_campaigns():
            if self._refuse_campaign(campaign, trunk):
                continue
            run = self._new_run(campaign, trunk)
            for a in agents:
                run.agents[str(a.id)] = ag.Agent(str(a.id), a.sip_endpoint)
            if self._history is not None:
                run.restoring += 1
                await self._restore(run)
            logger.info(
                "campaign %s loaded: %d agents, trunk %s",
                campaign.name,
                len(agents),
                trunk.name,
                extra={"campaign": campaign.name},
            )
        self._adopt(mine, live_mine)
        self._adopt(theirs, live_theirs)

    async def _resolve(self, took: Takeover, whose: str) -> dict[str, pbx.LiveChannel]:
        """Close the calls taken over that the PBX no longer has, by their evidence; returns
        the PBX's live channels, to adopt the rest by."""
        if not took.calls and not took.agent_legs:
            if took.leads_released:
                logger.info(
                    "%d leads %s leased and never dialed released", took.leads_released, whose
                )
            return {}
        live = {ch.channel_id: ch for ch in await self._pbx.live_channels()}
        gone = [c for c in took.calls if c.attempt_id not in live]
        closed = await self._store.close_gone(gone) if gone else 0
        logger.info(
            "took over from %s: %d calls (%d ended meanwhile, closed by their evidence), "
            "%d agents, %d leads never dialed released",
            whose,
            len(took.calls),
            closed,
            len(took.agent_legs),
            took.leads_released,
        )
        return live

    async def _take_over_expired(self) -> None:
        """Now and then: take over what daemons that stopped renewing their leases left. What
        was taken but could not be resolved (the PBX did not answer) is tried again first."""
        if not self._pbx_up:
            return
        try:
            took = self._unresolved or await self._store.take_over_expired()
            self._unresolved = took
            live = await self._resolve(took, "daemons whose leases expired")
        except Exception as exc:
            logger.warning("taking over expired leases: %s (tried again later)", exc)
            return
        self._unresolved = None
        self._adopt(took, live)

    def _adopt(self, takeover: Takeover, live: Mapping[str, pbx.LiveChannel]) -> None:
        """Follow what dead processes left that the PBX still has: their calls to their hang-up
        (a customer talking to an agent is not cut off), their agents' headset legs (not called
        again). The agents they held are ours now."""
        if not takeover.calls and not takeover.agent_legs:
            return
        now = self._loop.time()
        clk = self._clock
        adopted_legs: set[str] = set()
        for left in takeover.calls:
            ch = live.get(left.attempt_id)
            if ch is None:
                continue
            run = self.campaigns.get(left.campaign_id)
            if run is None:
                logger.warning(
                    "call %s goes on unfollowed: its campaign %d does not run here",
                    left.attempt_id,
                    left.campaign_id,
                    extra={"call": left.attempt_id},
                )
                continue
            cid = left.attempt_id
            agent_key = str(left.agent_id) if left.agent_id is not None else None
            call = cl.CallAttempt(cid, left.lead_id, amd=run.campaign.amd_enabled)
            run.calls[cid] = call
            self._call_index[cid] = run
            self._call_do(
                run,
                call,
                cl.Adopt(
                    originated_at=clk.loop_time(left.originated_at),
                    ringing_at=clk.loop_time(left.ring_at) if left.ring_at else None,
                    # Up at the PBX with no answer stored: answered within the last flush.
                    answered_at=(
                        clk.loop_time(left.answer_at)
                        if left.answer_at
                        else (now if ch.state is pbx.ChannelState.UP else None)
                    ),
                    connected_at=(
                        clk.loop_time(left.agent_connect_at) if left.agent_connect_at else None
                    ),
                    agent_id=agent_key,
                    outcome=left.outcome,
                    bridged=ch.bridged_to is not None,
                    at=now,
                ),
            )
            agent = run.agents.get(agent_key) if agent_key is not None else None
            leg = ch.bridged_to
            if (
                call.state is cl.CallState.CONNECTED
                and agent is not None
                and leg is not None
                and agent.state is ag.AgentState.LOGGED_OUT
            ):
                self._agent_do(run, agent, ag.Adopt(leg, cid, now))
                self._legs[leg] = (run, agent)
                adopted_legs.add(leg)
            logger.info("call %s adopted as %s", cid, call.state.value, extra={"call": cid})
        for agent_id, leg_id in takeover.agent_legs.items():
            key = str(agent_id)
            self._owned.add(key)
            if leg_id is None or leg_id in adopted_legs or leg_id not in live:
                continue
            try:
                run, agent = self.find_agent(key)
            except KeyError:
                self._tasks.spawn(self._quiet_hangup(leg_id), "agent-logout")
                continue
            if agent.state is ag.AgentState.LOGGED_OUT:
                self._agent_do(run, agent, ag.Adopt(leg_id, None, now))
                self._legs[leg_id] = (run, agent)
                logger.info("agent %s: headset leg adopted", key, extra={"agent": key})

    async def run(self) -> None:
        """Consume PBX events and pace until cancelled (the app cancels it after `drain`)."""
        self._accepting = True
        if self._settings.autologin_agents:
            for run in self.campaigns.values():
                for agent in run.agents.values():
                    await self._login(run, agent)
        self._tasks.spawn(self.cdr.run(), "cdr-writer")
        self._tasks.spawn(self._tick_loop(), "pacing-tick")
        async for event in self._pbx.events():
            self._on_event(event)

    async def _wait_calls_ended(self, timeout_s: float) -> None:
        deadline = self._loop.time() + timeout_s
        while self._live_calls() and self._loop.time() < deadline:
            self._calls_ended.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._calls_ended.wait(), max(0.0, deadline - self._loop.time())
                )

    async def drain(self, timeout_s: float) -> None:
        """Graceful stop: no new calls, let live ones end, then hang up, close every record."""
        self._accepting = False
        await self._wait_calls_ended(timeout_s)
        remaining = [cid for run in self.campaigns.values() for cid in run.calls]
        if remaining:
            logger.info("drain: hanging up %d live calls", len(remaining))
            for cid in remaining:
                with contextlib.suppress(pbx.PbxError):
                    await self._pbx.hangup(cid)
            await self._wait_calls_ended(3.0)
        now = self._loop.time()
        for run in self.campaigns.values():
            for cid in list(run.calls):
                # Still no hang-up event: close the record ourselves.
                self._on_call_event(run, cid, pbx.HungUp(cid, 0, "closed at daemon stop", now))
        for run in self.campaigns.values():
            for agent in run.agents.values():
                if agent.leg_id is not None:
                    with contextlib.suppress(pbx.PbxError):
                        await self._pbx.hangup(agent.leg_id)
        unused = [lead.id for run in self.campaigns.values() for lead in run.leads]
        for run in self.campaigns.values():
            run.leads.clear()
        if not await self.cdr.flush():
            self.cdr.spill()  # the database is away: the next start replays them
        if self._history is not None:
            await self._save_calibrations(self._history)
        with contextlib.suppress(Exception):
            if unused:
                await self._store.release(unused)
            closed = await self._store.close_open()
            if closed:
                logger.info("drain: closed %d open attempt records", closed)
        await self._release_agent_leases()
        for timer in self._timers.values():
            timer.cancel()
        self._tasks.cancel_nowait()

    def _live_calls(self) -> int:
        return sum(len(run.calls) for run in self.campaigns.values())

    # -- observers ---------------------------------------------------------------------------

    def add_observer(self, observer: Observer) -> None:
        self._observers.append(observer)

    def _emit(self, event: EngineEvent) -> None:
        for observer in self._observers:
            try:
                observer(event)
            except Exception:
                logger.exception("engine observer %r failed", observer)

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
                call.ended_at or self._loop.time(),
                abandoned,
            )
        )

    def _call_do(self, run: CampaignRun, call: cl.CallAttempt, event: cl.CallEvent) -> cl.CallState:
        before = call.state
        message_before = call.message_at
        after = call.handle(event)
        if after is not before or call.message_at is not message_before:
            progress = progress_of(call, self._clock)
            if progress is not None:
                self.cdr.progress(progress)
        if after is not before and after in _OUTCOME_KNOWN:
            self._observe_outcome(run, call, after is cl.CallState.ABANDONING)
        if after is not before and self._observers:
            latency = call.answer_to_agent_ms
            self._emit(
                CallChanged(
                    run.campaign.name,
                    call.channel_id,
                    call.lead_id,
                    after.value,
                    call.result.value if call.result is not None else None,
                    call.agent_id,
                    self._loop.time(),
                    latency,
                )
            )
        return after

    def _agent_do(self, run: CampaignRun, agent: ag.Agent, event: ag.AgentEvent) -> ag.AgentState:
        before = agent.state
        after = agent.handle(event)
        if after is not before and self._observers:
            self._emit(
                AgentChanged(run.campaign.name, agent.agent_id, after.value, self._loop.time())
            )
        return after

    # -- tasks ------------------------------------------------------------------------------

    async def _tick_loop(self) -> None:
        renew_every = self._settings.lease_s / 3
        renewed = self._loop.time()
        while True:
            await asyncio.sleep(self._settings.tick_s)
            now = self._loop.time()
            if now - renewed >= renew_every:
                renewed = now
                self._tasks.spawn(self._store.renew(), "lease-renew")
                self._tasks.spawn(self._take_over_expired(), "lease-sweep")
            if (
                self._agent_leases is not None
                and now >= min([self._renew_agents_at, *self._agent_rounds_due])
                and not self._agent_lock.locked()
            ):
                self._renew_agents_at = now + self._settings.agent_lease_s / 3
                self._agent_rounds_due = [t for t in self._agent_rounds_due if t > now]
                self._tasks.spawn(self._agent_round(), "agent-leases")
            sync_s = self._settings.abandonment_sync_s
            if sync_s > 0 and self._history is not None and now >= self._next_others_sync:
                self._next_others_sync = now + sync_s
                self._tasks.spawn(self._sync_history(self._history), "history-sync")
            if self._guard is not None and now >= self._next_callback_poll:
                self._next_callback_poll = now + self._guard.callback_poll_s
                self._tasks.spawn(self._poll_callbacks(self._guard), "callbacks")
            for run in self.campaigns.values():
                self._sweep(run, now)
                self._pace(run)

    # -- events -----------------------------------------------------------------------------

    def _on_event(self, event: pbx.PbxEvent) -> None:
        self.events_handled += 1
        if isinstance(event, pbx.ConnectionLost):
            self._pbx_up = False
            logger.warning("PBX link lost; pacing paused until it is back")
            return
        if isinstance(event, pbx.ConnectionRestored):
            self._pbx_up = True
            self._reconcile(event)
            return
        cid = event.channel_id
        run = self._call_index.get(cid)
        if run is not None:
            self._on_call_event(run, cid, event)
            return
        leg = self._legs.get(cid)
        if leg is not None:
            self._on_leg_event(leg[0], leg[1], event)

    def _on_call_event(self, run: CampaignRun, cid: str, event: cl.CallEvent) -> None:
        call = run.calls.get(cid)
        if call is None:
            return
        before = call.state
        try:
            after = self._call_do(run, call, event)
        except cl.IllegalCallTransition as exc:
            logger.warning("call %s: %s", cid, exc, extra={"call": cid})
            return
        if after is before:
            return
        if after is cl.CallState.ANSWERED:
            self._cancel_timer(f"screen:{cid}")
            run.answered += 1
            self._give_to_agent(run, call)
            self._pace(run)  # a ringing call less, an agent busy: the look-ahead changed
        elif after is cl.CallState.SCREENING:
            # No verdict in time (a PBX without AMD, a lost event): treat it as a person.
            self._timers[f"screen:{cid}"] = self._loop.call_later(
                MAX_SCREENING_S, self._screening_expired, run, cid
            )
        elif after is cl.CallState.MACHINE:
            self._cancel_timer(f"screen:{cid}")
        elif after is cl.CallState.ENDED:
            self._cancel_timer(f"screen:{cid}")
            self._finish(run, call)

    def _screening_expired(self, run: CampaignRun, cid: str) -> None:
        self._timers.pop(f"screen:{cid}", None)
        call = run.calls.get(cid)
        if call is not None and call.state is cl.CallState.SCREENING:
            logger.warning(
                "call %s: no AMD verdict in %.0f s; treated as a person",
                cid,
                MAX_SCREENING_S,
                extra={"call": cid},
            )
            verdict = pbx.MachineDetected(cid, False, "TIMEOUT", "no verdict", self._loop.time())
            self._on_call_event(run, cid, verdict)

    def _on_leg_event(self, run: CampaignRun, agent: ag.Agent, event: pbx.PbxEvent) -> None:
        at = getattr(event, "at", self._loop.time())
        try:
            if isinstance(event, pbx.Answered) and agent.state is ag.AgentState.LOGGING_IN:
                self._agent_do(run, agent, ag.LegUp(at))
                logger.info("agent %s ready", agent.agent_id, extra={"agent": agent.agent_id})
                self._agent_free(run, agent)
            elif isinstance(event, pbx.HungUp) or (
                isinstance(event, pbx.OriginateFailed) and agent.state is ag.AgentState.LOGGING_IN
            ):
                self._leg_down(run, agent, at)
        except ag.IllegalAgentTransition as exc:
            logger.warning("agent %s: %s", agent.agent_id, exc, extra={"agent": agent.agent_id})

    def _leg_down(self, run: CampaignRun, agent: ag.Agent, at: float) -> None:
        leg = agent.leg_id
        if leg is not None:
            self._legs.pop(leg, None)
        if agent.state is ag.AgentState.LOGGED_OUT:
            return
        was_logging_out = agent.state is ag.AgentState.LOGGING_OUT
        self._agent_do(run, agent, ag.LegDown(at))
        self._cancel_timer(f"wrapup:{agent.agent_id}")
        expected = was_logging_out or not self._accepting
        logger.log(
            logging.INFO if expected else logging.WARNING,
            "agent %s leg is down; logged out",
            agent.agent_id,
            extra={"agent": agent.agent_id},
        )
        if self._accepting and self._settings.autologin_agents and not was_logging_out:
            self._timers[f"login:{agent.agent_id}"] = self._loop.call_later(
                _LOGIN_RETRY_S, lambda: self._tasks.spawn(self._login(run, agent), "agent-login")
            )
        self._settle_move(run, agent)

    # -- agents -----------------------------------------------------------------------------

    async def _login(self, run: CampaignRun, agent: ag.Agent) -> None:
        self._login_pending.discard(agent.agent_id)
        if (
            agent.state is not ag.AgentState.LOGGED_OUT
            or not self._accepting
            or not self._owns(agent.agent_id)
        ):
            return
        refused = agent_refusal(agent.agent_id, agent.endpoint)
        if refused is not None:
            # Stays logged out, with no retry: the same endpoint would be refused again.
            if self._refused_endpoints.get(agent.agent_id) != agent.endpoint:
                self._refused_endpoints[agent.agent_id] = agent.endpoint
                logger.error("%s", refused, extra={"agent": agent.agent_id})
            return
        leg_id = str(uuid.uuid4())
        self._agent_do(run, agent, ag.Login(leg_id, self._loop.time()))
        self._legs[leg_id] = (run, agent)
        await self._note_leg(agent.agent_id, leg_id)
        try:
            await self._pbx.originate_agent(
                pbx.AgentLeg(
                    leg_id,
                    agent.endpoint,
                    self._settings.agent_ring_timeout_s,
                    {"DIALER_AGENT": agent.agent_id},
                )
            )
        except pbx.PbxError as exc:
            logger.warning("agent %s login failed: %s", agent.agent_id, exc)
            self._leg_down(run, agent, self._loop.time())

    async def _note_leg(self, agent_id: str, leg_id: str) -> None:
        """Keep the leg's id with the agent's lease before calling the headset, so a daemon
        taking over after a crash adopts the leg instead of calling the headset again."""
        if self._agent_leases is None or not agent_id.isdigit():
            return
        try:
            await self._agent_leases.set_agent_leg(int(agent_id), leg_id)
        except Exception as exc:
            logger.warning("agent %s: keeping its leg's id failed: %s", agent_id, exc)

    def _agent_free(self, run: CampaignRun, agent: ag.Agent) -> None:
        """An agent became ready: serve the oldest waiting answered call, else pace."""
        # An agent kept for a callback waits for that call.
        while (
            run.waiting
            and agent.is_ready
            and agent.agent_id not in run.reserved
            and self._agents_sure()
        ):
            cid = run.waiting.popleft()
            call = run.calls.get(cid)
            if call is not None and call.state is cl.CallState.ANSWERED:
                self._cancel_timer(f"hold:{cid}")
                self._assign(run, call, agent)
        self._pace(run)

    def _give_to_agent(self, run: CampaignRun, call: cl.CallAttempt) -> None:
        # A callback for a named agent goes to that agent, kept free for it since the originate;
        # if it is no longer ready, to whoever is. Kept agents take no other call.
        agent = None
        for agent_id, cid in list(run.reserved.items()):
            if cid == call.channel_id:
                del run.reserved[agent_id]
                kept = run.agents.get(agent_id)
                agent = kept if kept is not None and kept.is_ready else None
        if not self._agents_sure():
            # The agents' leases ran out in a database outage: another daemon may have given
            # them calls. The person hears the message now, not after a hold for nobody.
            logger.warning(
                "call %s abandoned: agent leases not renewed for %.0f s",
                call.channel_id,
                self._loop.time() - self._agent_leases_ok_at,
                extra={"call": call.channel_id},
            )
            self._abandon(run, call)
            return
        agent = agent or run.ready_agent()
        if agent is not None:
            self._assign(run, call, agent)
            return
        answered = call.answered_at if call.answered_at is not None else self._loop.time()
        wait = min(run.campaign.hold_s, MAX_ANSWER_WAIT_S - 0.5)
        if wait <= 0:
            self._abandon(run, call)
            return
        run.waiting.append(call.channel_id)
        delay = max(0.0, answered + wait - self._loop.time())
        self._timers[f"hold:{call.channel_id}"] = self._loop.call_later(
            delay, self._hold_expired, run, call.channel_id
        )

    def _hold_expired(self, run: CampaignRun, cid: str) -> None:
        self._timers.pop(f"hold:{cid}", None)
        call = run.calls.get(cid)
        if call is not None and call.state is cl.CallState.ANSWERED:
            with contextlib.suppress(ValueError):
                run.waiting.remove(cid)
            self._abandon(run, call)

    def _assign(self, run: CampaignRun, call: cl.CallAttempt, agent: ag.Agent) -> None:
        now = self._loop.time()
        self._agent_do(
            run, agent, ag.Assign(call.channel_id, now)
        )  # raises if the agent is not ready
        self._call_do(run, call, cl.AssignAgent(agent.agent_id, now))
        leg = agent.leg_id
        assert leg is not None  # a READY agent has a leg
        self._tasks.spawn(self._connect(run, call.channel_id, leg, agent), "bridge")

    async def _connect(self, run: CampaignRun, cid: str, leg: str, agent: ag.Agent) -> None:
        try:
            await self._pbx.connect(cid, leg)
        except pbx.PbxError as exc:
            logger.warning(
                "bridge of call %s to agent %s failed: %s",
                cid,
                agent.agent_id,
                exc,
                extra={"call": cid, "agent": agent.agent_id},
            )
            call = run.calls.get(cid)
            if call is not None and call.state is cl.CallState.CONNECTING:
                self._call_do(run, call, cl.Abandon(self._loop.time()))
                self._release_agent(run, agent, cid, talked=False)
                await self._play_abandon(cid)

    def _abandon(self, run: CampaignRun, call: cl.CallAttempt) -> None:
        self._call_do(run, call, cl.Abandon(self._loop.time()))
        logger.info(
            "call %s abandoned: no agent free", call.channel_id, extra={"call": call.channel_id}
        )
        self._tasks.spawn(self._play_abandon(call.channel_id), "abandon")

    async def _play_abandon(self, cid: str) -> None:
        try:
            await self._pbx.abandon(cid)
        except pbx.PbxError as exc:
            # The dialplan's own hold timer plays the message anyway; hang up if that is gone too.
            logger.warning("abandon redirect for %s failed: %s", cid, exc, extra={"call": cid})

    def _release_agent(self, run: CampaignRun, agent: ag.Agent, cid: str, *, talked: bool) -> None:
        if agent.call_id != cid:
            return
        now = self._loop.time()
        started = agent.talk_started
        self._agent_do(run, agent, ag.CallEnded(cid, now, talked))
        if agent.state is ag.AgentState.WRAPUP:
            wrap = run.campaign.wrapup_s
            run.pacer.observe_work(AgentWork(now - (started or now), wrap))
            if wrap <= 0:
                self._wrapup_done(run, agent)
            else:
                self._timers[f"wrapup:{agent.agent_id}"] = self._loop.call_later(
                    wrap, self._wrapup_done, run, agent
                )
        elif self._settle_move(run, agent):
            pass
        elif agent.is_ready:
            self._agent_free(run, agent)

    def _wrapup_done(self, run: CampaignRun, agent: ag.Agent) -> None:
        self._timers.pop(f"wrapup:{agent.agent_id}", None)
        if agent.state is not ag.AgentState.WRAPUP:
            return
        state = self._agent_do(run, agent, ag.WrapupDone(self._loop.time()))
        if state is ag.AgentState.LOGGING_OUT and agent.leg_id is not None:
            self._tasks.spawn(self._pbx.hangup(agent.leg_id), "agent-logout")
        elif self._settle_move(run, agent):
            pass
        elif agent.is_ready:
            self._agent_free(run, agent)

    def _cancel_timer(self, key: str) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    # -- control (HTTP API, CLI) ------------------------------------------------------------

    def find_agent(self, agent_id: str) -> tuple[CampaignRun, ag.Agent]:
        for run in self.campaigns.values():
            agent = run.agents.get(agent_id)
            if agent is not None:
                return run, agent
        raise KeyError(f"no agent {agent_id} in a running campaign")

    def login_agent(self, agent_id: str) -> None:
        """Call the agent's headset; the agent is ready once it answers."""
        run, agent = self.find_agent(agent_id)
        if agent.state is not ag.AgentState.LOGGED_OUT:
            raise ag.IllegalAgentTransition(agent.state, ag.Login("", self._loop.time()))
        self._cancel_timer(f"login:{agent_id}")
        self._login_pending.add(agent_id)
        self._tasks.spawn(self._login(run, agent), "agent-login")

    def logout_agent(self, agent_id: str) -> None:
        """Log out now, or after the current call and wrap-up."""
        run, agent = self.find_agent(agent_id)
        state = self._agent_do(run, agent, ag.Logout(self._loop.time()))
        if state is ag.AgentState.LOGGING_OUT and agent.leg_id is not None:
            self._tasks.spawn(self._pbx.hangup(agent.leg_id), "agent-logout")

    def pause_agent(self, agent_id: str, reason: str) -> None:
        """Pause now, or after the current call and wrap-up."""
        run, agent = self.find_agent(agent_id)
        self._agent_do(run, agent, ag.Pause(reason, self._loop.time()))

    def resume_agent(self, agent_id: str) -> None:
        run, agent = self.find_agent(agent_id)
        if self._agent_do(run, agent, ag.Resume(self._loop.time())) is ag.AgentState.READY:
            self._agent_free(run, agent)

    def pause_campaign(self, campaign_id: int) -> None:
        """No new calls; calls in progress go on."""
        self.control_seq += 1
        self.campaigns[campaign_id].paused = True

    def resume_campaign(self, campaign_id: int) -> None:
        self.control_seq += 1
        run = self.campaigns[campaign_id]
        run.paused = False
        self._pace(run)

    async def stop_campaign(self, campaign_id: int) -> None:
        """No new calls, and the leads leased but not dialed go back to the list."""
        self.control_seq += 1
        run = self.campaigns[campaign_id]
        run.paused = True
        unused = [lead.id for lead in run.leads]
        run.leads.clear()
        run.holding.clear()
        if unused:
            await self._store.release(unused)

    def add_campaign(
        self, campaign: Campaign, trunk: Trunk, agents: Sequence[tuple[int, str]]
    ) -> None:
        """Dial a campaign started while the daemon runs (HTTP API); `agents` are (id, SIP
        endpoint) pairs, logged in as at start-up. A loaded campaign is updated and resumed;
        a new one dials once its stored history is restored."""
        self.control_seq += 1
        if self._refuse_campaign(campaign, trunk):
            return
        if campaign.id in self.campaigns:
            self.update_campaign(campaign, trunk)
        else:
            self._spawn_restore(self._new_run(campaign, trunk))
            logger.info("campaign %s started", campaign.name, extra={"campaign": campaign.name})
        for agent_id, endpoint in agents:
            self.add_agent(campaign.id, agent_id, endpoint)
        self.resume_campaign(campaign.id)

    def _refuse_campaign(self, campaign: Campaign, trunk: Trunk) -> bool:
        """Whether stored values keep the campaign from dialing (logged once per reason: the
        campaign follower offers a running campaign again at every poll)."""
        refused = campaign_refusal(campaign, trunk)
        if refused is None:
            self._refused_campaigns.pop(campaign.id, None)
            return False
        if self._refused_campaigns.get(campaign.id) != refused:
            self._refused_campaigns[campaign.id] = refused
            logger.error("%s", refused, extra={"campaign": campaign.name})
        return True

    def add_agent(self, campaign_id: int, agent_id: int, endpoint: str) -> None:
        """Put an agent in a loaded campaign (logged in at once when autologin is on). An
        agent already in a loaded campaign stays where it is."""
        self.control_seq += 1
        key = str(agent_id)
        if any(key in r.agents for r in self.campaigns.values()):
            return
        run = self.campaigns[campaign_id]
        agent = ag.Agent(key, endpoint)
        run.agents[key] = agent
        self._claim_agents_soon(self._run_started.get(campaign_id, 0.0) + self._settle_s)
        if self._settings.autologin_agents and self._accepting:
            self._tasks.spawn(self._login(run, agent), "agent-login")

    def update_campaign(self, campaign: Campaign, trunk: Trunk) -> None:
        """New settings for a loaded campaign; a new pacing mode gets a new pacer (its
        estimates restored from the CDRs)."""
        self.control_seq += 1
        run = self.campaigns[campaign.id]
        new_mode = campaign.pacing_mode != run.campaign.pacing_mode
        run.campaign = campaign
        run.bucket = self._trunk_rates.for_campaign(campaign, trunk)
        if new_mode:
            run.pacer = self._pacer_factory(campaign)
            self._spawn_restore(run, ledgers=False)
        if self._refuse_campaign(campaign, trunk):
            run.paused = True  # no new calls with values the grammar refuses
        self.update_trunk(trunk)

    def update_trunk(self, trunk: Trunk) -> None:
        """New channel and rate limits for the campaigns on this trunk."""
        self.control_seq += 1
        for run in self.campaigns.values():
            if run.trunk.id == trunk.id and run.trunk != trunk:
                run.trunk = trunk
                run.bucket = self._trunk_rates.for_campaign(run.campaign, trunk)
                if self._refuse_campaign(run.campaign, trunk):
                    run.paused = True  # no new calls with a trunk the grammar refuses

    def move_agent(self, agent_id: int, campaign_id: int | None, endpoint: str) -> bool:
        """The agent now belongs to `campaign_id` (None: to none). At once when it is idle
        (its headset leg stays up); after its current call and wrap-up when busy (then False).
        Moved to a campaign this daemon does not run, it is logged out here. An agent not
        loaded here joins the campaign if this daemon runs it."""
        self.control_seq += 1
        key = str(agent_id)
        try:
            run, agent = self.find_agent(key)
        except KeyError:
            if campaign_id is not None and campaign_id in self.campaigns:
                self.add_agent(campaign_id, agent_id, endpoint)
            return True
        if run.campaign.id == campaign_id:
            self._moves.pop(key, None)
            return True
        if self._busy(run, agent):
            self._moves[key] = campaign_id
            logger.info(
                "agent %s moves to campaign %s after its call",
                key,
                campaign_id,
                extra={"agent": key},
            )
            return False
        self._moves.pop(key, None)
        self._move_now(run, agent, campaign_id)
        return True

    def agent_campaigns(self) -> dict[int, int | None]:
        """Each agent loaded here -> the campaign it is in, or moving to after its call."""
        out: dict[int, int | None] = {}
        for run in self.campaigns.values():
            for key in run.agents:
                if key.isdigit():
                    out[int(key)] = self._moves.get(key, run.campaign.id)
        return out

    @staticmethod
    def _busy(run: CampaignRun, agent: ag.Agent) -> bool:
        return agent.state in _BUSY or agent.call_id is not None or agent.agent_id in run.reserved

    def _settle_move(self, run: CampaignRun, agent: ag.Agent) -> bool:
        """A move asked for while the agent was busy takes effect once it is free."""
        if agent.agent_id not in self._moves or self._busy(run, agent):
            return False
        self._move_now(run, agent, self._moves.pop(agent.agent_id))
        return True

    def _move_now(self, run: CampaignRun, agent: ag.Agent, campaign_id: int | None) -> None:
        key = agent.agent_id
        run.agents.pop(key, None)
        relogin = self._timers.pop(f"login:{key}", None)
        if relogin is not None:
            relogin.cancel()
        target = self.campaigns.get(campaign_id) if campaign_id is not None else None
        now = self._loop.time()
        self._claim_agents_soon(now)  # given back when it leaves, claimed if not ours
        if target is None:
            logger.info(
                "agent %s left campaign %s; logged out here (campaign %s is not running here)",
                key,
                run.campaign.name,
                campaign_id,
                extra={"agent": key},
            )
            if agent.leg_id is not None and agent.state is not ag.AgentState.LOGGED_OUT:
                self._agent_do(run, agent, ag.Logout(now))
                self._tasks.spawn(self._pbx.hangup(agent.leg_id), "agent-logout")
            return
        target.agents[key] = agent
        if agent.leg_id is not None:
            self._legs[agent.leg_id] = (target, agent)
        logger.info(
            "agent %s moved from campaign %s to %s",
            key,
            run.campaign.name,
            target.campaign.name,
            extra={"agent": key},
        )
        if self._observers:
            self._emit(AgentChanged(target.campaign.name, key, agent.state.value, now))
        if relogin is not None and self._accepting:
            self._tasks.spawn(self._login(target, agent), "agent-login")
        if agent.is_ready:
            self._agent_free(target, agent)

    # -- agent leases (several daemons on one database) -------------------------------------

    def _agents_sure(self) -> bool:
        """Our agents' leases have not run out since the last renewal that succeeded: no other
        daemon can have taken them (a database outage stops renewals). Past that, no call is
        handed to them, and none dialed for them."""
        if self._agent_leases is None:
            return True
        return self._loop.time() - self._agent_leases_ok_at < self._settings.agent_lease_s

    def _owns(self, agent_id: str) -> bool:
        return self._agent_leases is None or agent_id in self._owned

    @property
    def owner(self) -> str:
        """This process's identity in the store (`dialer.domain.identity`)."""
        return self._owner

    def owns_agent(self, agent_id: str) -> bool:
        """This daemon holds the agent's lease (always true for a daemon without leases)."""
        return self._owns(agent_id)

    def _claim_agents_soon(self, at: float) -> None:
        if self._agent_leases is not None and at not in self._agent_rounds_due:
            self._agent_rounds_due.append(at)

    def _wanted_agents(self, now: float) -> tuple[dict[int, int], dict[int, int]]:
        """The agents to keep (held) or to claim, and those of runs started here less than a
        settling time ago (claimed only by a daemon alone), -> the campaign they are in."""
        autologin = self._settings.autologin_agents
        out: dict[int, int] = {}
        settling: dict[int, int] = {}
        for cid, run in self.campaigns.items():
            settled = now >= self._run_started.get(cid, 0.0) + self._settle_s
            for key, agent in run.agents.items():
                if not key.isdigit():
                    continue
                if key in self._owned:
                    keep = (
                        autologin
                        or agent.state is not ag.AgentState.LOGGED_OUT
                        or key in self._login_pending
                    )
                else:
                    keep = autologin and settled and self._accepting
                    if autologin and not settled and self._accepting:
                        settling[int(key)] = cid
                if keep:
                    out[int(key)] = cid
        return out, settling

    async def _agent_round(self) -> None:
        """Renew this daemon's agent leases, claim its share of the agents nobody holds, give
        back those it no longer runs; log in the ones it got (autologin), drop the ones
        another daemon took after a stall (`_drop_agent`)."""
        leases = self._agent_leases
        assert leases is not None
        async with self._agent_lock:
            if self._agent_leases_closed:
                return
            held = {int(k) for k in self._owned}
            asked_at = self._loop.time()
            want, settling = self._wanted_agents(asked_at)
            try:
                got = await leases.lease_agents(
                    want, held, self._settings.agent_lease_s, list(self.campaigns), settling
                )
            except Exception as exc:
                if not self._agent_leases_failing:
                    logger.warning("renewing the agents' leases failed: %s", exc)
                self._agent_leases_failing = True
                return  # the agents are kept meanwhile; the next round tries again
            if self._agent_leases_failing:
                logger.info("agent leases renewed again")
            self._agent_leases_failing = False
            self._agent_leases_ok_at = asked_at
            self._owned = {str(a) for a in got.owned}
            for agent_id, holder in got.lost.items():
                self._drop_agent(str(agent_id), holder)
            new = [str(a) for a in got.owned if a not in held]
            if new:
                logger.info("agents claimed: %s", ", ".join(sorted(new)))
            for key in [k for k in self._busy_elsewhere if k not in self._owned]:
                del self._busy_elsewhere[key]
        if not (self._settings.autologin_agents and self._accepting):
            return
        await self._log_in_claimed(leases, new)

    async def _log_in_claimed(self, leases: AgentLeaseStore, new: list[str]) -> None:
        """Log in agents just claimed, unless a daemon that died left their headset leg up:
        then that leg is adopted (ready) instead of calling the headset again, or, while it is
        still bridged to a customer, the agent is left alone until the call ends."""
        check = [*new, *(k for k in self._busy_elsewhere if k not in new)]
        legs: dict[int, str | None] = {}
        live: dict[str, pbx.LiveChannel] = {}
        try:
            legs = await leases.agent_legs([int(k) for k in check])
            if any(legs.values()):
                live = {ch.channel_id: ch for ch in await self._pbx.live_channels()}
        except Exception as exc:
            logger.warning("reading the claimed agents' legs failed: %s", exc)
            return  # the next round tries again
        now = self._loop.time()
        for key in check:
            self._busy_elsewhere.pop(key, None)
            try:
                run, agent = self.find_agent(key)
            except KeyError:
                continue
            if agent.state is not ag.AgentState.LOGGED_OUT or f"login:{key}" in self._timers:
                continue
            leg = legs.get(int(key))
            ch = live.get(leg) if leg is not None else None
            if ch is None:
                self._tasks.spawn(self._login(run, agent), "agent-login")
            elif ch.bridged_to is None:
                self._agent_do(run, agent, ag.Adopt(ch.channel_id, None, now))
                self._legs[ch.channel_id] = (run, agent)
                logger.info("agent %s: headset leg adopted", key, extra={"agent": key})
                self._agent_free(run, agent)
            else:
                self._busy_elsewhere[key] = ch.channel_id
                logger.info(
                    "agent %s is still on a call its stopped daemon made; logged in after it",
                    key,
                    extra={"agent": key},
                )

    def _drop_agent(self, key: str, holder: str | None) -> None:
        """Another daemon owns the agent now (this one stalled past the lease): log it out
        here, at once when idle, after its call and wrap-up when busy (never a live call)."""
        self._owned.discard(key)
        self._cancel_timer(f"login:{key}")
        try:
            run, agent = self.find_agent(key)
        except KeyError:
            return
        logger.warning(
            "agent %s belongs to daemon %s now; logged out here", key, holder, extra={"agent": key}
        )
        if agent.state in (ag.AgentState.LOGGED_OUT, ag.AgentState.LOGGING_OUT):
            return
        state = self._agent_do(run, agent, ag.Logout(self._loop.time()))
        if state is ag.AgentState.LOGGING_OUT and agent.leg_id is not None:
            self._tasks.spawn(self._pbx.hangup(agent.leg_id), "agent-logout")

    async def claim_agent(self, agent_id: str) -> str | None:
        """Claim the agent for this daemon before a log-in over the API: None when it is ours
        now, else the daemon that owns it."""
        leases = self._agent_leases
        if leases is None or not agent_id.isdigit():
            return None
        async with self._agent_lock:
            holder = await leases.claim_agent(int(agent_id), self._settings.agent_lease_s)
            if holder is None:
                self._owned.add(agent_id)
        return holder

    async def _release_agent_leases(self) -> None:
        """Clean stop: every agent this daemon owns is given back (its leg is down)."""
        leases = self._agent_leases
        if leases is None:
            return
        async with self._agent_lock:
            self._agent_leases_closed = True
            self._owned.clear()
            try:
                released = await leases.release_agents()
            except Exception as exc:
                logger.warning("giving back the agents failed (they expire): %s", exc)
            else:
                logger.info("drain: %d agents given back", released)

    def _new_run(self, campaign: Campaign, trunk: Trunk) -> CampaignRun:
        run = CampaignRun(
            campaign=campaign,
            trunk=trunk,
            pacer=self._pacer_factory(campaign),
            bucket=self._trunk_rates.for_campaign(campaign, trunk),
        )
        self.campaigns[campaign.id] = run
        now = self._loop.time()
        self._run_started[campaign.id] = now
        self._claim_agents_soon(now)  # tell the other daemons this one runs it too
        self._claim_agents_soon(now + self._settle_s)  # then claim its share of the agents
        return run

    def _spawn_restore(self, run: CampaignRun, *, ledgers: bool = True) -> None:
        if self._history is not None:
            run.restoring += 1  # no calls until it is back
            self._tasks.spawn(self._restore(run, ledgers=ledgers), "restore-history")

    async def _restore(self, run: CampaignRun, *, ledgers: bool = True) -> None:
        """Put the campaign's stored history back: its abandonment windows and life totals
        (`ledgers`) and its pacer's estimates. The caller raised `run.restoring`: no calls
        until this returns. After `_RESTORE_TRIES` failed reads the campaign is dialed without
        it (logged as an error: its windows then start from zero)."""
        assert self._history is not None
        name = run.campaign.name
        pacer = run.pacer
        try:
            history = None
            for attempt in range(1, _RESTORE_TRIES + 1):
                try:
                    history = await self._history.campaign_history(run.campaign)
                    break
                except Exception as exc:
                    logger.warning(
                        "campaign %s: reading its history failed (%d of %d): %s",
                        name,
                        attempt,
                        _RESTORE_TRIES,
                        exc,
                        extra={"campaign": name},
                    )
                    if attempt < _RESTORE_TRIES:
                        await asyncio.sleep(1.0)
            if history is None:
                logger.error(
                    "campaign %s: dialed without its stored history; its abandonment windows "
                    "start from zero",
                    name,
                    extra={"campaign": name},
                )
                return
            # The loop time at which it was read (the read may have taken a while).
            read_at = self._loop.time() - max(0.0, time.time() - history.wall_now)
            if run.pacer is pacer:
                restore_pacer(pacer, history, read_at)
            if ledgers:
                # Tens of milliseconds each for a month of busy minutes: let other calls'
                # events through in between.
                await asyncio.sleep(0)
                restore_ledger(run.abandonment, history, read_at)
                await asyncio.sleep(0)
                self._emit(HistoryRestored(name, history, read_at))
                run.others = others_tally(history)
            now = self._loop.time()
            day = run.abandonment.counts(now)[0]
            logger.info(
                "campaign %s: history restored: %d/%d abandoned over 24 h, %d/%d over its life; "
                "%d recent calls replayed into pacing",
                name,
                day.abandoned,
                day.answered,
                history.life_abandoned,
                history.life_answered,
                len(history.recent),
                extra={"campaign": name},
            )
        finally:
            run.restoring -= 1
            if not run.restoring:
                self._pace(run)

    async def _sync_history(self, history: HistorySource) -> None:
        await self._count_others(history)
        await self._save_calibrations(history)

    async def _save_calibrations(self, history: HistorySource) -> None:
        """Keep each predictive pacer's calibration (the threshold its feedback loop
        tuned) in the campaign's row, so a restart goes on from it. Only once the run's history
        was read (which restores it), and only when it changed."""
        for run in list(self.campaigns.values()):
            pacer = run.pacer
            if not isinstance(pacer, PredictivePacer) or run.others is None:
                continue
            calibration = pacer.calibration
            if calibration == run.saved_calibration:
                continue
            try:
                await history.save_calibration(run.campaign.id, *calibration)
            except Exception as exc:
                logger.warning(
                    "saving the pacer's calibration failed: %s",
                    exc,
                    extra={"campaign": run.campaign.name},
                )
                return
            run.saved_calibration = calibration

    async def _count_others(self, history: HistorySource) -> None:
        """Add the calls other daemons finished on our campaigns that their CDRs show
        and this run has not counted (dialer/pacing/others.py) to its abandonment windows, the
        pacer's and observers' (`OthersCounted`): with several daemons on a campaign, each
        brakes on its true rate. Their calls still in progress join when they end (their CDR
        is written then). One statement per campaign, over the last few hours of its CDRs."""
        for run in list(self.campaigns.values()):
            tally = run.others
            if tally is None:
                continue
            name = run.campaign.name
            since = tally.next_since(time.time())
            try:
                rows = await history.others_minutes(
                    run.campaign.id, datetime.fromtimestamp(since, UTC)
                )
            except Exception as exc:
                if not self._others_failing:
                    logger.warning(
                        "counting other daemons' calls failed (tried again every %.0f s): %s",
                        self._settings.abandonment_sync_s,
                        exc,
                        extra={"campaign": name},
                    )
                self._others_failing = True
                continue
            if self._others_failing:
                logger.info("counting other daemons' calls works again", extra={"campaign": name})
                self._others_failing = False
            if run.others is not tally or self.campaigns.get(run.campaign.id) is not run:
                continue  # restored again meanwhile
            shift = self._loop.time() - time.time()
            ledger = getattr(run.pacer, "ledger", None)
            added = 0
            for minute, answered, abandoned, machines in tally.merge(since, rows):
                at = min(minute + 30.0, time.time()) + shift
                run.abandonment.add(at, answered, abandoned)
                if isinstance(ledger, AbandonLedger):
                    ledger.add(at, answered, abandoned)
                self._emit(OthersCounted(name, at, answered, abandoned, machines))
                added += answered
            if added:
                logger.debug("%d answers of other daemons counted", added, extra={"campaign": name})

    def end_wrapup(self, agent_id: str) -> None:
        """The agent gave the call's result: its wrap-up ends now (nothing outside wrap-up)."""
        run, agent = self.find_agent(agent_id)
        if agent.state is ag.AgentState.WRAPUP:
            self._cancel_timer(f"wrapup:{agent_id}")
            self._wrapup_done(run, agent)

    # -- pacing and originating -------------------------------------------------------------

    def _take_back(self, run: CampaignRun, n: int, now: float) -> None:
        """Hang up the `n` calls that have rung longest, among those that have rung (from their
        first ring, not their originate) at least MIN_RING_S: the pacer saw far too many calls
        ringing for the agents to come. Their result is a no-answer, retried as one."""
        rung = sorted(
            (c.ringing_at, cid)
            for cid, c in run.calls.items()
            if c.state is cl.CallState.RINGING
            and not c.taken_back
            and c.ringing_at is not None
            and now - c.ringing_at >= MIN_RING_S
        )
        for _, cid in rung[:n]:
            run.calls[cid].taken_back = True
            self._tasks.spawn(self._quiet_hangup(cid), "take-back")
        if rung:
            logger.debug(
                "pacing: took back %d ringing call(s)",
                min(n, len(rung)),
                extra={"campaign": run.campaign.name},
            )

    def _trunk_in_use(self, trunk_id: int) -> int:
        return sum(len(r.calls) for r in self.campaigns.values() if r.trunk.id == trunk_id)

    def _pace(self, run: CampaignRun) -> None:
        if not self._accepting or not self._pbx_up or run.paused or run.restoring:
            return
        if self.cdr.failing or not self._agents_sure():
            return  # the database is away: no new call until its records can be kept
        now = self._loop.time()
        if run.holding or any(lead.callback_agent_id is not None for lead in run.leads):
            self._dial_named_callbacks(run, now)
        snap = run.snapshot(now, self._trunk_in_use(run.trunk.id))
        decision = run.pacer.decide(snap)
        if decision.dial and self._observers:
            self._emit(
                PacingDecided(
                    run.campaign.name, decision.dial, decision.level, decision.reason, now
                )
            )
        if decision.reason != run.last_reason:
            logger.debug("pacing: %s", decision.reason, extra={"campaign": run.campaign.name})
            run.last_reason = decision.reason
        if decision.cancel:
            self._take_back(run, decision.cancel, now)
        for _ in range(decision.dial):
            if not run.leads or not run.bucket.take(now):
                break
            lead = run.next_lead()
            if lead is None:
                run.bucket.release()
                break
            self._originate(run, lead, now)
        if not run.wants_leads():
            # No agent of this daemon here (another daemon has them all): leads held
            # here could only wait, and the other daemon could not dial them meanwhile.
            if run.leads and not run.refilling:
                unused = [lead.id for lead in run.leads]
                run.leads.clear()
                self._tasks.spawn(self._store.release(unused), "release-leads")
            return
        if (
            len(run.leads) < self._settings.lease_batch // 2
            and not run.refilling
            and now >= run.exhausted_until
        ):
            run.refilling = True
            self._tasks.spawn(self._refill(run), "lease")

    def _dial_named_callbacks(self, run: CampaignRun, now: float) -> None:
        """Callbacks for a named agent go when `CampaignRun.named_callback_may_go`
        says, within the trunk's channels and calls-per-second budget; the pacer does not count
        their agents, so they take nothing from its calls."""
        while self._trunk_in_use(run.trunk.id) < run.trunk.max_channels:
            if run.bucket.available(now) < 1:
                return
            lead = run.next_named_callback(now)
            if lead is None:
                return
            run.bucket.take(now)  # reserved; counted as sent when the originate goes
            self._originate(run, lead, now)

    async def _refill(self, run: CampaignRun) -> None:
        try:
            leads = await self._store.lease(run.campaign.id, self._settings.lease_batch)
        except Exception as exc:
            logger.warning("leasing leads failed: %s", exc, extra={"campaign": run.campaign.name})
            leads = []
        finally:
            run.refilling = False
        if not leads:
            run.exhausted_until = self._loop.time() + 2.0
            return
        if not self._accepting or not run.wants_leads():
            await self._store.release([lead.id for lead in leads])
            return
        run.leads.extend(leads)
        self._pace(run)

    async def _poll_callbacks(self, guard: DialGuard) -> None:
        """Due callbacks go to the front of their campaign's buffer. One for a named
        agent is leased only while that agent is ready and not kept for another callback."""
        for run in list(self.campaigns.values()):
            if run.paused:
                continue
            ready = [
                int(a.agent_id)
                for a in run.agents.values()
                if a.is_ready and a.agent_id not in run.reserved and a.agent_id.isdigit()
            ]
            try:
                due = await guard.lease_callbacks(run.campaign.id, ready)
            except Exception as exc:
                logger.warning("callbacks: %s", exc, extra={"campaign": run.campaign.name})
                continue
            if not due:
                continue
            if not self._accepting:
                await self._store.release([lead.id for lead in due])
                continue
            run.leads.extendleft(reversed(due))
            self._pace(run)

    def _originate(self, run: CampaignRun, lead: LeasedLead, now: float) -> None:
        cid = str(uuid.uuid4())
        call = cl.CallAttempt(cid, lead.id, amd=run.campaign.amd_enabled)
        self._call_do(run, call, cl.Originate(now))
        run.calls[cid] = call
        if lead.callback_agent_id is not None:
            run.reserved[str(lead.callback_agent_id)] = cid  # kept until answer or end
        self._call_index[cid] = run
        run.dialed += 1
        c = run.campaign
        self.cdr.start(
            AttemptStart(cid, lead.id, c.id, run.trunk.id, self._owner, self._clock.at(now), cid)
        )
        hold = min(MAX_ANSWER_WAIT_S - 0.1, max(c.hold_s, 0.0) + 0.5)
        # The campaign's caller ID, else the trunk's (a campaign with neither is not
        # started); the abandon message's number and name prompt ride along as variables.
        caller_id = abandon.caller_id_or_none(c.caller_id, run.trunk.caller_id) or ""
        request = pbx.CustomerCall(
            channel_id=cid,
            trunk=run.trunk.endpoint,
            number=run.trunk.dial_prefix + lead.phone,
            caller_id=caller_id,
            ring_timeout_s=c.ring_timeout_s,
            variables={
                "DIALER_LEAD": str(lead.id),
                "DIALER_CAMPAIGN": str(c.id),
                "DIALER_HOLD": f"{hold:.1f}",
                **self._amd_variables(c),
                **abandon.message_variables(
                    caller_id=caller_id,
                    callback_number=c.callback_number,
                    name_prompt=c.name_prompt,
                ),
            },
        )
        self._tasks.spawn(self._send_originate(run, request, lead), "originate")

    @staticmethod
    def _amd_variables(c: Campaign) -> dict[str, str]:
        """The dialplan contract for answering-machine detection (deploy/asterisk/README.md)."""
        if not c.amd_enabled:
            return {}
        out = {"DIALER_AMD": "1"}
        if c.machine_message:
            out["DIALER_MACHINE_MESSAGE"] = c.machine_message
        return out

    async def _send_originate(
        self, run: CampaignRun, request: pbx.CustomerCall, lead: LeasedLead
    ) -> None:
        if self._guard is not None:
            # Checked again right before the originate (DNC lists, the 72-hour lock,
            # calling hours): a lead may wait in the buffer for minutes after its lease.
            try:
                refused = await self._guard.refuse_reason(lead)
            except BaseException:
                run.bucket.release()  # the reserved call will not go
                raise
            if refused is not None:
                logger.warning(
                    "lead %d not dialed: %s", lead.id, refused, extra={"call": request.channel_id}
                )
                run.bucket.release()
                now = self._loop.time()
                self._on_call_event(run, request.channel_id, cl.Cancel(now))
                self._on_call_event(
                    run,
                    request.channel_id,
                    pbx.OriginateFailed(request.channel_id, f"not dialed: {refused}", now),
                )
                return
        # The calls-per-second limits count the originate when it goes, not when it was
        # decided: the check above may hold one call longer than another.
        run.bucket.sent(self._loop.time())
        try:
            await self._pbx.originate_customer(request)
        except pbx.PbxError as exc:
            logger.warning("originate not sent: %s", exc, extra={"call": request.channel_id})
            now = self._loop.time()
            self._on_call_event(run, request.channel_id, cl.Cancel(now))
            self._on_call_event(
                run, request.channel_id, pbx.OriginateFailed(request.channel_id, str(exc), now)
            )

    def _finish(self, run: CampaignRun, call: cl.CallAttempt) -> None:
        cid = call.channel_id
        run.calls.pop(cid, None)
        self._call_index.pop(cid, None)
        for agent_id, kept_for in list(run.reserved.items()):
            if kept_for == cid:
                del run.reserved[agent_id]
                kept = run.agents.get(agent_id)
                if kept is not None:
                    self._settle_move(run, kept)
        self._cancel_timer(f"hold:{cid}")
        with contextlib.suppress(ValueError):
            run.waiting.remove(cid)
        result = call.result or CallResult.FAILED
        run.results[result.value] += 1
        if result in (CallResult.CONNECTED, CallResult.ABANDONED) and call.answered_at is not None:
            late = is_abandoned(call.answered_at, call.connected_at)
            run.abandonment.record(self._loop.time(), result is CallResult.ABANDONED or late)
        latency = call.answer_to_agent_ms
        if latency is not None:
            self.latencies_ms.append(latency)
        clk = self._clock
        agent_db_id = (
            int(call.agent_id) if call.agent_id is not None and call.connected_at else None
        )
        self.cdr.end(
            AttemptEnd(
                attempt_id=cid,
                hangup_at=clk.at(call.ended_at if call.ended_at is not None else self._loop.time()),
                result=result,
                cause=call.cause,
                cause_text=call.cause_text or call.failure_reason,
                ring_at=clk.at(call.ringing_at) if call.ringing_at is not None else None,
                answer_at=clk.at(call.answered_at) if call.answered_at is not None else None,
                agent_connect_at=clk.at(call.connected_at)
                if call.connected_at is not None
                else None,
                agent_id=agent_db_id,
                answer_to_agent_ms=round(latency) if latency is not None else None,
                message_at=clk.at(call.message_at) if call.message_at is not None else None,
            )
        )
        if result is not CallResult.CANCELLED:
            self._observe_outcome(run, call, result is CallResult.ABANDONED)
        self._observed.discard(cid)
        message_ms = (
            (call.message_at - call.answered_at) * 1000
            if call.message_at is not None and call.answered_at is not None
            else None
        )
        self.finished.append(
            CallRecord(
                cid, run.campaign.id, call.lead_id, result, call.agent_id, latency, message_ms
            )
        )
        if len(self.finished) > 100_000:
            del self.finished[:50_000]
        if call.agent_id is not None:
            agent = run.agents.get(call.agent_id)
            if agent is not None:
                self._release_agent(run, agent, cid, talked=call.connected_at is not None)
        self._calls_ended.set()
        self._pace(run)

    # -- housekeeping -----------------------------------------------------------------------

    def _sweep(self, run: CampaignRun, now: float) -> None:
        """No stale calls: a pre-answer call far past its ring time is hung up, then closed."""
        limit = run.campaign.ring_timeout_s + _STALE_GRACE_S
        for cid, call in list(run.calls.items()):
            if call.state in PRE_ANSWER and call.originated_at is not None:
                age = now - call.originated_at
                if age > 2 * limit:
                    self._on_call_event(run, cid, cl.Cancel(now))
                    self._on_call_event(run, cid, pbx.HungUp(cid, 0, "no events from the PBX", now))
                elif age > limit and not call.cancelled:
                    call.cancelled = True
                    self._tasks.spawn(self._quiet_hangup(cid), "stale-hangup")

    async def _quiet_hangup(self, cid: str) -> None:
        with contextlib.suppress(pbx.PbxError):
            await self._pbx.hangup(cid)

    def _reconcile(self, event: pbx.ConnectionRestored) -> None:
        """After a reconnect: calls and agent legs the PBX no longer has ended while we were
        away; calls it answered or bridged meanwhile catch up."""
        live = {ch.channel_id: ch for ch in event.live}
        now = event.at
        ended = 0
        for run in self.campaigns.values():
            for cid, call in list(run.calls.items()):
                ch = live.get(cid)
                if ch is None:
                    ended += 1
                    self._on_call_event(
                        run, cid, pbx.HungUp(cid, 0, "ended while the PBX link was down", now)
                    )
                elif ch.state is pbx.ChannelState.UP and call.state in PRE_ANSWER:
                    self._on_call_event(run, cid, pbx.Answered(cid, now))
                elif ch.bridged_to and call.state is cl.CallState.CONNECTING and call.agent_id:
                    agent = run.agents.get(call.agent_id)
                    if agent is not None and agent.leg_id is not None:
                        self._on_call_event(run, cid, pbx.Bridged(cid, agent.leg_id, now))
            for agent in run.agents.values():
                if agent.leg_id is not None and agent.leg_id not in live:
                    self._leg_down(run, agent, now)
        logger.info(
            "PBX link restored: %d live channels, %d calls ended while it was down",
            len(live),
            ended,
        )
        for run in self.campaigns.values():
            self._pace(run)

    # -- statistics -------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "campaigns": {},
            "pbx_up": self._pbx_up,
            "cdr_pending": self.cdr.pending,
        }
        for run in self.campaigns.values():
            states = Counter(c.state.value for c in run.calls.values())
            out["campaigns"][run.campaign.name] = {
                "dialed": run.dialed,
                "answered": run.answered,
                "in_flight": dict(states),
                "results": dict(run.results),
                "agents": {a.agent_id: a.state.value for a in run.agents.values()},
                "leads_buffered": len(run.leads),
                "pacing": run.last_reason,
            }
        return out

    @staticmethod
    def wall_now() -> float:
        return time.time()
