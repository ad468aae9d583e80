"""The engine: the driver that runs the dialer's pure core (`dialer.core.Core`) in the daemon.

It feeds the core the PBX's events, real timers, the periodic tick, supervisor and agent
controls and the answers of the store, and carries out the commands the core returns: PBX
actions and store writes run as owned tasks whose failures come back to the core as inputs;
call records go to the batched CDR writer; observers are told of every state change.

Services that talk to the store on their own schedule live here too, each feeding the core
what it read: lead and agent leases across daemons, history restore, other daemons' tallies,
due callbacks, and what dead processes left (taken over at start and now and then).

Stop: no new originates, live calls may finish within the drain time, then they are hung up;
every CDR is written or closed, leases not dialed are released.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from dialer import pbx
from dialer.core import commands as cmd
from dialer.core import inputs as ev
from dialer.core.base import CallRecord
from dialer.core.campaign import CampaignRun, Offer
from dialer.core.machine import Core
from dialer.core.observe import EngineEvent, Observer
from dialer.core.records import WallClock
from dialer.domain.agent import Agent
from dialer.domain.identity import ProcessIdentity
from dialer.engine.agent_leases import AgentLeaseRounds
from dialer.engine.cdr import CdrWriter
from dialer.engine.follow import HistorySource
from dialer.engine.history_sync import HistorySync
from dialer.engine.ports import AgentLeaseStore, EngineStore
from dialer.pacing.base import Pacer
from dialer.rules.ports import DialGuard
from dialer.settings import DialerSettings
from dialer.store.records import Campaign, Takeover, Trunk
from dialer.store.spool import Spool
from dialer.tasks import OwnedTasks

__all__ = ["CallRecord", "Engine"]

logger = logging.getLogger(__name__)


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
        self._store = store
        self._settings = settings
        self._guard = guard  # the rules' check right before each originate, and due callbacks
        self._loop = asyncio.get_event_loop()
        self.core = Core(
            settings,
            WallClock.from_now(self._loop.time()),
            capabilities=pbx_.capabilities,
            pacer_factory=pacer_factory,
            owner=owner or ProcessIdentity.new(settings.owner_name()).owner,
            restores_history=history is not None,
            agent_leases=agent_leases is not None,
        )
        # When the last round of agent leases succeeded: at start, now.
        self.core.leases_ok_at = self._loop.time()
        self.cdr = CdrWriter(
            store,
            settings.cdr_flush_s,
            max_pending=settings.cdr_backlog,
            spool=Spool(settings.spool_path()),
        )
        self._tasks = OwnedTasks(logger, "engine")
        self._timers: dict[cmd.TimerKey, asyncio.TimerHandle] = {}
        self._calls_ended = asyncio.Event()
        self._observers: list[Observer] = []
        self.events_handled = 0
        self.control_seq = 0  # bumped by every control call (see dialer.engine.follow)
        self._records_failing = False
        self._agent_rounds = (
            AgentLeaseRounds(agent_leases, self.core, pbx_, self._feed, settings.agent_lease_s)
            if agent_leases is not None
            else None
        )
        self._history_sync = (
            HistorySync(
                history, self.core, self._feed, self._loop.time, settings.abandonment_sync_s
            )
            if history is not None
            else None
        )
        self._next_others_sync = 0.0
        self._next_callback_poll = 0.0
        self._unresolved: Takeover | None = None  # taken over, not yet checked with the PBX

    # -- what the outside reads ---------------------------------------------------------------

    @property
    def campaigns(self) -> dict[int, CampaignRun]:
        return self.core.campaigns

    @property
    def finished(self) -> list[CallRecord]:
        return self.core.finished

    @property
    def owner(self) -> str:
        """This process's identity in the store (`dialer.domain.identity`)."""
        return self.core.owner

    def owns_agent(self, agent_id: str) -> bool:
        """This daemon holds the agent's lease (always true for a daemon without leases)."""
        return self.core.owns(agent_id)

    def agent_campaigns(self) -> dict[int, int | None]:
        """Each agent loaded here -> the campaign it is in, or moving to after its call."""
        return self.core.agent_campaigns()

    def find_agent(self, agent_id: str) -> tuple[CampaignRun, Agent]:
        return self.core.find_agent(agent_id)

    def saved_calibration(self, campaign_id: int) -> tuple[float, int] | None:
        """The campaign's predictive-pacer calibration as last saved by this daemon."""
        return self._history_sync.saved(campaign_id) if self._history_sync is not None else None

    def stats(self) -> dict[str, Any]:
        out = self.core.stats()
        out["cdr_pending"] = self.cdr.pending
        return out

    @staticmethod
    def wall_now() -> float:
        return time.time()

    def add_observer(self, observer: Observer) -> None:
        self._observers.append(observer)
        self.core.observed = True

    # -- feeding the core -----------------------------------------------------------------------

    def _feed(self, event: ev.Input) -> list[asyncio.Task[Any]]:
        """Give the core one input now and carry out its commands; the tasks started."""
        failing = self.cdr.failing
        if failing is not self._records_failing:
            self._records_failing = failing
            self._execute(self.core.handle(ev.RecordsFailing(failing), self._loop.time()))
        started = self._execute(self.core.handle(event, self._loop.time()))
        self._calls_ended.set()
        return started

    def _control(self, event: ev.Input) -> list[asyncio.Task[Any]]:
        self.control_seq += 1
        return self._feed(event)

    def _execute(self, commands: Sequence[cmd.Command]) -> list[asyncio.Task[Any]]:
        started: list[asyncio.Task[Any]] = []
        for c in commands:
            match c:
                case cmd.Notify(event):
                    self._notify(event)
                case cmd.WriteProgress(record):
                    self.cdr.progress(record)
                case cmd.WriteStart(record):
                    self.cdr.start(record)
                case cmd.WriteEnd(record):
                    self.cdr.end(record)
                case cmd.StartTimer(key, at):
                    old = self._timers.pop(key, None)
                    if old is not None:
                        old.cancel()
                    self._timers[key] = self._loop.call_at(at, self._timer_fired, key)
                case cmd.CancelTimer(key):
                    handle = self._timers.pop(key, None)
                    if handle is not None:
                        handle.cancel()
                case cmd.ClaimAgents(at):
                    if self._agent_rounds is not None:
                        self._agent_rounds.ask_at(at)
                case _:
                    started.append(self._tasks.spawn(self._carry_out(c), type(c).__name__))
        return started

    def _timer_fired(self, key: cmd.TimerKey) -> None:
        self._timers.pop(key, None)
        self._feed(ev.TimerFired(key))

    def _notify(self, event: EngineEvent) -> None:
        for observer in self._observers:
            try:
                observer(event)
            except Exception:
                logger.exception("engine observer %r failed", observer)

    async def _carry_out(self, c: cmd.Command) -> None:
        """A command that waits for the PBX or the store; its failure goes back to the core."""
        match c:
            case cmd.Dial(call, lead):
                if self._guard is not None:
                    try:
                        refused = await self._guard.refuse_reason(lead)
                    except Exception as exc:  # the call does not go; its reservation neither
                        refused = f"the last check before the originate failed: {exc}"
                    if refused is not None:
                        self._feed(ev.DialRefused(call.channel_id, refused))
                        return
                self._feed(ev.DialSent(call.channel_id))
                try:
                    await self._pbx.originate_customer(call)
                except pbx.PbxError as exc:
                    self._feed(ev.DialFailed(call.channel_id, str(exc)))
            case cmd.CallAgent(agent_id, leg):
                if self._agent_rounds is not None:
                    await self._agent_rounds.note_leg(agent_id, leg.channel_id)
                try:
                    await self._pbx.originate_agent(leg)
                except pbx.PbxError as exc:
                    self._feed(ev.AgentCallFailed(agent_id, leg.channel_id, str(exc)))
            case cmd.Bridge(call_id, leg_id, agent_id):
                try:
                    await self._pbx.connect(call_id, leg_id)
                except pbx.PbxError as exc:
                    self._feed(ev.BridgeFailed(call_id, agent_id, str(exc)))
            case cmd.PlayAbandonMessage(call_id):
                try:
                    await self._pbx.abandon(call_id)
                except pbx.PbxError as exc:
                    # The dialplan's own hold timer plays the message anyway.
                    logger.warning(
                        "abandon redirect for %s failed: %s", call_id, exc, extra={"call": call_id}
                    )
            case cmd.Hangup(channel_id):
                with contextlib.suppress(pbx.PbxError):
                    await self._pbx.hangup(channel_id)
            case cmd.LeaseLeads(campaign_id, limit):
                await self._lease(campaign_id, limit)
            case cmd.ReleaseLeads(lead_ids):
                await self._store.release(lead_ids)
            case cmd.SkipLead(lead_id, delay_s):
                await self._store.skip(lead_id, delay_s)
            case cmd.GiveBack(attempt_ids):
                await self._give_back(attempt_ids)
            case cmd.RestoreHistory(campaign, token, ledgers):
                if self._history_sync is not None:
                    await self._history_sync.restore(campaign, token, ledgers)

    async def _give_back(self, attempt_ids: Sequence[str]) -> None:
        """Their ends are written first (the flush), then their leads go back as they were."""
        try:
            await self.cdr.flush()
            n = await self._store.give_back(attempt_ids)
        except Exception as exc:
            logger.warning("leads the trunk failed not given back: %s", exc)
            return
        logger.info("%d of %d leads the trunk failed given back as they were", n, len(attempt_ids))

    async def _lease(self, campaign_id: int, limit: int) -> None:
        try:
            leads = await self._store.lease(campaign_id, limit)
        except Exception as exc:
            run = self.campaigns.get(campaign_id)
            name = run.campaign.name if run is not None else str(campaign_id)
            logger.warning("leasing leads failed: %s", exc, extra={"campaign": name})
            leads = []
        self._feed(ev.LeadsLeased(campaign_id, leads))

    # -- lifecycle ------------------------------------------------------------------------------

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
            started = self._feed(
                ev.LoadCampaign(campaign, trunk, [(a.id, a.sip_endpoint) for a in agents])
            )
            await asyncio.gather(*started)  # its history is back before the next one
        self._feed(ev.Adopt(mine, live_mine))
        self._feed(ev.Adopt(theirs, live_theirs))

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
        if not self.core.pbx_up:
            return
        try:
            took = self._unresolved or await self._store.take_over_expired()
            self._unresolved = took
            live = await self._resolve(took, "daemons whose leases expired")
        except Exception as exc:
            logger.warning("taking over expired leases: %s (tried again later)", exc)
            return
        self._unresolved = None
        self._feed(ev.Adopt(took, live))

    async def run(self) -> None:
        """Consume PBX events and pace until cancelled (the app cancels it after `drain`)."""
        started = self._feed(ev.StartDialing())
        await asyncio.gather(*started)
        self._tasks.spawn(self.cdr.run(), "cdr-writer")
        self._tasks.spawn(self._tick_loop(), "pacing-tick")
        async for event in self._pbx.events():
            self.events_handled += 1
            self._feed(event)

    async def _wait_calls_ended(self, timeout_s: float) -> None:
        deadline = self._loop.time() + timeout_s
        while self.core.live_calls() and self._loop.time() < deadline:
            self._calls_ended.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._calls_ended.wait(), max(0.0, deadline - self._loop.time())
                )

    async def drain(self, timeout_s: float) -> None:
        """Graceful stop: no new calls, let live ones end, then hang up, close every record."""
        self._feed(ev.StopDialing())
        await self._wait_calls_ended(timeout_s)
        remaining = [cid for run in self.campaigns.values() for cid in run.calls]
        if remaining:
            logger.info("drain: hanging up %d live calls", len(remaining))
            for cid in remaining:
                with contextlib.suppress(pbx.PbxError):
                    await self._pbx.hangup(cid)
            await self._wait_calls_ended(3.0)
        self._feed(ev.CloseLeftCalls())  # still no hang-up event: closed here
        for run in self.campaigns.values():
            for agent in run.agents.values():
                if agent.leg_id is not None:
                    with contextlib.suppress(pbx.PbxError):
                        await self._pbx.hangup(agent.leg_id)
        unused = [
            lead_id
            for c in self.core.handle(ev.ReturnLeads(), self._loop.time())
            if isinstance(c, cmd.ReleaseLeads)
            for lead_id in c.lead_ids
        ]
        if not await self.cdr.flush():
            self.cdr.spill()  # the database is away: the next start replays them
        if self._history_sync is not None:
            await self._history_sync.save_calibrations()
        with contextlib.suppress(Exception):
            if unused:
                await self._store.release(unused)
            closed = await self._store.close_open()
            if closed:
                logger.info("drain: closed %d open attempt records", closed)
        if self._agent_rounds is not None:
            await self._agent_rounds.give_back()
        for timer in self._timers.values():
            timer.cancel()
        self._tasks.cancel_nowait()

    # -- periodic services ----------------------------------------------------------------------

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
            rounds = self._agent_rounds
            if rounds is not None and rounds.due(now):
                log_in = self._settings.autologin_agents and self.core.accepting
                self._tasks.spawn(rounds.round(now, log_in), "agent-leases")
            sync_s = self._settings.abandonment_sync_s
            if sync_s > 0 and self._history_sync is not None and now >= self._next_others_sync:
                self._next_others_sync = now + sync_s
                self._tasks.spawn(self._history_sync.sync(), "history-sync")
            if self._guard is not None and now >= self._next_callback_poll:
                self._next_callback_poll = now + self._guard.callback_poll_s
                self._tasks.spawn(self._poll_callbacks(self._guard), "callbacks")
            self._feed(ev.Tick())

    async def _poll_callbacks(self, guard: DialGuard) -> None:
        """Due callbacks go to the front of their campaign's buffer. One for a named
        agent is leased only while that agent is ready and not kept for another callback."""
        for run in list(self.campaigns.values()):
            if run.paused:
                continue
            try:
                due = await guard.lease_callbacks(
                    run.campaign.id, self.core.callback_agents(run.campaign.id)
                )
            except Exception as exc:
                logger.warning("callbacks: %s", exc, extra={"campaign": run.campaign.name})
                continue
            if due:
                self._feed(ev.CallbacksDue(run.campaign.id, due))

    async def claim_agent(self, agent_id: str) -> str | None:
        """Claim the agent for this daemon before a log-in over the API: None when it is ours
        now (or agents are not leased), else the daemon that owns it."""
        if self._agent_rounds is None:
            return None
        return await self._agent_rounds.claim(agent_id)

    # -- controls (HTTP API, CLI) ---------------------------------------------------------------

    def login_agent(self, agent_id: str) -> None:
        """Call the agent's headset; the agent is ready once it answers."""
        self._feed(ev.LoginAgent(agent_id))

    def logout_agent(self, agent_id: str) -> None:
        """Log out now, or after the current call and wrap-up."""
        self._feed(ev.LogoutAgent(agent_id))

    def pause_agent(self, agent_id: str, reason: str) -> None:
        """Pause now, or after the current call and wrap-up."""
        self._feed(ev.PauseAgent(agent_id, reason))

    def resume_agent(self, agent_id: str) -> None:
        self._feed(ev.ResumeAgent(agent_id))

    def end_wrapup(self, agent_id: str) -> None:
        """The agent gave the call's result: its wrap-up ends now (nothing outside wrap-up)."""
        self._feed(ev.EndWrapup(agent_id))

    def offer_of(self, agent_id: str) -> Offer | None:
        """Preview: the lead shown to the agent, if any."""
        return self.core.offer_of(agent_id)

    def dial_offer(self, agent_id: str) -> None:
        """Preview: the agent dials the lead shown to it (KeyError: none is)."""
        self._feed(ev.DialOffer(agent_id))

    def skip_offer(self, agent_id: str, reason: str) -> None:
        """Preview: the agent skips the lead shown to it (KeyError: none is)."""
        self._feed(ev.SkipOffer(agent_id, reason))

    def pause_campaign(self, campaign_id: int) -> None:
        """No new calls; calls in progress go on."""
        self._control(ev.PauseCampaign(campaign_id))

    def resume_campaign(self, campaign_id: int) -> None:
        self._control(ev.ResumeCampaign(campaign_id))

    async def stop_campaign(self, campaign_id: int) -> None:
        """No new calls, and the leads leased but not dialed go back to the list."""
        await _all(self._control(ev.StopCampaign(campaign_id)))

    def add_campaign(
        self, campaign: Campaign, trunk: Trunk, agents: Sequence[tuple[int, str]]
    ) -> None:
        """Dial a campaign started while the daemon runs (HTTP API); `agents` are (id, SIP
        endpoint) pairs, logged in as at start-up. A loaded campaign is updated and resumed;
        a new one dials once its stored history is restored."""
        self._control(ev.AddCampaign(campaign, trunk, agents))

    def add_agent(self, campaign_id: int, agent_id: int, endpoint: str) -> None:
        """Put an agent in a loaded campaign (logged in at once when autologin is on)."""
        self._control(ev.AddAgent(campaign_id, agent_id, endpoint))

    def update_campaign(self, campaign: Campaign, trunk: Trunk) -> None:
        """New settings for a loaded campaign."""
        self._control(ev.UpdateCampaign(campaign, trunk))

    def update_trunk(self, trunk: Trunk) -> None:
        """New channel and rate limits for the campaigns on this trunk."""
        self._control(ev.UpdateTrunk(trunk))

    def move_agent(self, agent_id: int, campaign_id: int | None, endpoint: str) -> bool:
        """The agent now belongs to `campaign_id` (None: to none): at once when it is idle
        (True), after its current call and wrap-up when busy (False)."""
        self._control(ev.MoveAgent(agent_id, campaign_id, endpoint))
        return str(agent_id) not in self.core.moves


async def _all(tasks: Sequence[Awaitable[Any]]) -> None:
    await asyncio.gather(*tasks)
