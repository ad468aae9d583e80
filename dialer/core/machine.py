"""The dialer's core: one synchronous, pure state machine for every campaign, call and agent
of a daemon. `handle(input, now)` takes one input (a PBX event, a timer, a control, the answer
to a command) and returns the commands it leads to, in order. It does no I/O and reads no
clock: the daemon's driver (`dialer.engine.engine.Engine`) and the simulator run the same core.

A control the core refuses raises (KeyError for an agent or campaign it does not run,
`IllegalAgentTransition` for an agent that cannot do it now) before anything changed.

Campaigns: a campaign run starts with its stored history restored (its abandonment windows and
pacing estimates; no calls until then); a new pacing mode gets a new pacer, restored likewise;
stored values the grammar refuses keep a campaign from dialing (logged once per reason).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from dialer import pbx
from dialer.core import commands as cmd
from dialer.core import inputs as ev
from dialer.core.calls import CallFlow
from dialer.core.campaign import CampaignRun
from dialer.core.observe import HistoryRestored, OthersCounted
from dialer.core.refusals import campaign_refusal
from dialer.domain import agent as ag
from dialer.pacing.history import others_tally, restore_ledger, restore_pacer
from dialer.pacing.ledger import AbandonLedger
from dialer.store.records import Campaign, PacingMode, Trunk

logger = logging.getLogger(__name__)


class Core(CallFlow):
    def handle(self, event: ev.Input, now: float) -> list[cmd.Command]:
        """Take one input at `now` (core time); the commands it leads to, in order."""
        return self.handle_all((event,), now)

    def handle_all(self, events: Sequence[ev.Input], now: float) -> list[cmd.Command]:
        """Take inputs that arrived together at `now` (a burst of PBX events, such as the
        no-answers of calls dialed together); the commands they lead to, in order."""
        self._now = now
        self._out = []
        self._to_pace = {}
        self._pacing_deferred = True
        try:
            for event in events:
                if isinstance(event, pbx.PbxEvent):
                    self._on_pbx_event(event)
                else:
                    self._on_input(event)
            # Pace each campaign the inputs touched once, on its final state: one input often
            # asks several times (a call ends, its agent is free, its wrap-up is over), and
            # each pacing looks at every agent and call of the campaign.
            while self._to_pace:
                campaign_id, run = next(iter(self._to_pace.items()))
                del self._to_pace[campaign_id]
                super()._pace(run)
        finally:
            self._pacing_deferred = False
            self._to_pace = {}
        out, self._out = self._out, []
        return out

    def _pace(self, run: CampaignRun) -> None:
        if self._pacing_deferred:
            self._to_pace[run.campaign.id] = run
        else:
            super()._pace(run)

    def _on_input(self, event: ev.Input) -> None:
        match event:
            case ev.TimerFired(key):
                if key not in self._timers:
                    return  # cancelled meanwhile
                self._timers.discard(key)
                self._timer_fired(key)
            case ev.Tick():
                # Pacing runs after every event and at least every tick: a run paced by an
                # event within the last tick is not paced again by the timer.
                due = self._now - self.settings.tick_s * 0.999
                for run in self.campaigns.values():
                    self._sweep(run, self._now)
                    if run.paced_at <= due:
                        self._pace(run)
            case ev.LeadsLeased():
                self._leads_leased(event)
            case ev.CallbacksDue():
                self._callbacks_due(event)
            case ev.DialSent(call_id):
                self._dial_sent(call_id)
            case ev.DialRefused():
                self._dial_refused(event)
            case ev.DialFailed():
                self._dial_failed(event)
            case ev.BridgeFailed():
                self._bridge_failed(event)
            case ev.AgentCallFailed():
                self._agent_call_failed(event)
            case ev.RecordsFailing(failing):
                self.records_failing = failing
            case ev.LoginAgent(agent_id):
                self._login_agent(agent_id)
            case ev.LogoutAgent(agent_id):
                self._logout_agent(agent_id)
            case ev.PauseAgent(agent_id, reason):
                self._pause_agent(agent_id, reason)
            case ev.ResumeAgent(agent_id):
                self._resume_agent(agent_id)
            case ev.EndWrapup(agent_id):
                self._end_wrapup(agent_id)
            case ev.DialOffer(agent_id):
                self._dial_offer(agent_id)
            case ev.SkipOffer(agent_id, reason):
                self._skip_offer(agent_id, reason)
            case ev.PauseCampaign(campaign_id):
                self.campaigns[campaign_id].paused = True
            case ev.ResumeCampaign(campaign_id):
                self._resume_campaign(campaign_id)
            case ev.StopCampaign(campaign_id):
                self._stop_campaign(campaign_id)
            case ev.AddCampaign(campaign, trunk, agents):
                self._add_campaign(campaign, trunk, agents)
            case ev.AddAgent(campaign_id, agent_id, endpoint):
                self._add_agent(campaign_id, agent_id, endpoint)
            case ev.UpdateCampaign(campaign, trunk):
                self._update_campaign(campaign, trunk)
            case ev.UpdateTrunk(trunk):
                self._update_trunk(trunk)
            case ev.MoveAgent(agent_id, campaign_id, endpoint):
                self._move_agent(agent_id, campaign_id, endpoint)
            case ev.HistoryRead():
                self._history_read(event)
            case ev.OthersRead():
                self._others_read(event)
            case ev.AgentLeasesRenewed():
                self._leases_renewed(event)
            case ev.AgentClaimed(agent_id):
                self.owned.add(agent_id)
            case ev.AgentsGivenBack():
                self.owned.clear()
            case ev.ClaimedLegs():
                self._claimed_legs(event)
            case ev.Adopt(takeover, live):
                self._adopt(takeover, live)
            case ev.LoadCampaign(campaign, trunk, agents):
                self._load_campaign(campaign, trunk, agents)
            case ev.StartDialing():
                self._start_dialing()
            case ev.StopDialing():
                self.accepting = False
            case ev.CloseLeftCalls():
                self._close_left_calls()
            case ev.ReturnLeads():
                unused = [i for run in self.campaigns.values() for i in self._unused_leads(run)]
                if unused:
                    self._do(cmd.ReleaseLeads(unused))

    def _timer_fired(self, key: cmd.TimerKey) -> None:
        match key.kind:
            case cmd.TimerKind.SCREEN:
                self._screening_expired(key.subject)
            case cmd.TimerKind.HOLD:
                self._hold_expired(key.subject)
            case cmd.TimerKind.WRAPUP:
                self._wrapup_due(key.subject)
            case cmd.TimerKind.LOGIN:
                self._login_due(key.subject)
            case cmd.TimerKind.PREVIEW:
                self._offer_timed_out(key.subject)

    def _start_dialing(self) -> None:
        self.accepting = True
        if self.settings.autologin_agents:
            for run in self.campaigns.values():
                for agent in list(run.agents.values()):
                    self._login(run, agent)

    # -- campaigns --------------------------------------------------------------------------------

    def _new_run(self, campaign: Campaign, trunk: Trunk) -> CampaignRun:
        now = self._now
        run = CampaignRun(
            campaign=campaign,
            trunk=trunk,
            pacer=self._pacer_factory(campaign),
            bucket=self._trunk_rates.for_campaign(campaign, trunk),
        )
        self.campaigns[campaign.id] = run
        self.run_started[campaign.id] = now
        self._claim_agents_at(now)  # tell the other daemons this one runs it too
        self._claim_agents_at(now + self.settle_s)  # then claim its share of the agents
        return run

    def _load_campaign(
        self, campaign: Campaign, trunk: Trunk, agents: Sequence[tuple[int, str]]
    ) -> None:
        """A running campaign read at start-up: its agents join as they are (logged in when
        dialing starts), its history is restored before it dials."""
        if self._refuse_campaign(campaign, trunk):
            return
        run = self._new_run(campaign, trunk)
        for agent_id, endpoint in agents:
            run.agents[str(agent_id)] = ag.Agent(str(agent_id), endpoint)
        run.agents_changed()
        self._restore(run)
        logger.info(
            "campaign %s loaded: %d agents, trunk %s",
            campaign.name,
            len(agents),
            trunk.name,
            extra={"campaign": campaign.name},
        )

    def _refuse_campaign(self, campaign: Campaign, trunk: Trunk) -> bool:
        """Whether stored values keep the campaign from dialing (logged once per reason: the
        campaign follower offers a running campaign again at every poll)."""
        refused = campaign_refusal(campaign, trunk, self.capabilities)
        if refused is None:
            self._refused_campaigns.pop(campaign.id, None)
            return False
        if self._refused_campaigns.get(campaign.id) != refused:
            self._refused_campaigns[campaign.id] = refused
            logger.error("%s", refused, extra={"campaign": campaign.name})
        return True

    def _add_campaign(
        self, campaign: Campaign, trunk: Trunk, agents: Sequence[tuple[int, str]]
    ) -> None:
        """Dial a campaign started while the daemon runs (HTTP API). A loaded campaign is
        updated and resumed; a new one dials once its stored history is restored."""
        if self._refuse_campaign(campaign, trunk):
            return
        if campaign.id in self.campaigns:
            self._update_campaign(campaign, trunk)
        else:
            self._restore(self._new_run(campaign, trunk))
            logger.info("campaign %s started", campaign.name, extra={"campaign": campaign.name})
        for agent_id, endpoint in agents:
            self._add_agent(campaign.id, agent_id, endpoint)
        self._resume_campaign(campaign.id)

    def _resume_campaign(self, campaign_id: int) -> None:
        run = self.campaigns[campaign_id]
        run.paused = False
        self._pace(run)

    def _stop_campaign(self, campaign_id: int) -> None:
        """No new calls, and the leads leased but not dialed go back to the list."""
        run = self.campaigns[campaign_id]
        run.paused = True
        unused = self._unused_leads(run)
        run.holding.clear()
        if unused:
            self._do(cmd.ReleaseLeads(unused))

    def _unused_leads(self, run: CampaignRun) -> list[int]:
        """Take the run's leads leased and not dialed: those buffered, those shown to agents."""
        unused = [lead.id for lead in run.leads]
        run.leads.clear()
        for agent_id in list(run.offers):
            unused.append(
                self._end_offer(run, agent_id, "withdrawn", "the campaign stopped").lead.id
            )
        return unused

    def _update_campaign(self, campaign: Campaign, trunk: Trunk) -> None:
        """New settings for a loaded campaign; a new pacing mode gets a new pacer (its
        estimates restored from the CDRs)."""
        run = self.campaigns[campaign.id]
        # A new pacing mode, or new lines per agent in power mode, gets a new pacer.
        new_mode = campaign.pacing_mode != run.campaign.pacing_mode or (
            campaign.pacing_mode is PacingMode.POWER
            and campaign.lines_per_agent != run.campaign.lines_per_agent
        )
        run.campaign = campaign
        run.bucket = self._trunk_rates.for_campaign(campaign, trunk)
        if new_mode:
            run.pacer = self._pacer_factory(campaign)
            run.pacer_generation += 1
            self._restore(run, ledgers=False)
        if self._refuse_campaign(campaign, trunk):
            run.paused = True  # no new calls with values the grammar refuses
        self._update_trunk(trunk)

    def _update_trunk(self, trunk: Trunk) -> None:
        """New channel and rate limits for the campaigns on this trunk."""
        for run in self.campaigns.values():
            if run.trunk.id == trunk.id and run.trunk != trunk:
                run.trunk = trunk
                run.bucket = self._trunk_rates.for_campaign(run.campaign, trunk)
                if self._refuse_campaign(run.campaign, trunk):
                    run.paused = True  # no new calls with a trunk the grammar refuses

    # -- history ----------------------------------------------------------------------------------

    def _restore(self, run: CampaignRun, *, ledgers: bool = True) -> None:
        if self._restores_history:
            run.restoring += 1  # no calls until it is back
            self._do(cmd.RestoreHistory(run.campaign, run.pacer_generation, ledgers))

    def _history_read(self, read: ev.HistoryRead) -> None:
        """Put the campaign's stored history back: its abandonment windows and life totals
        (`ledgers`) and its pacer's estimates (unless the pacer changed meanwhile). Without
        it (the reads failed) the campaign is dialed anyway, logged as an error: its windows
        then start from zero."""
        run = self.campaigns.get(read.campaign_id)
        if run is None:
            return
        name = run.campaign.name
        history = read.history
        try:
            if history is None:
                logger.error(
                    "campaign %s: dialed without its stored history; its abandonment windows "
                    "start from zero",
                    name,
                    extra={"campaign": name},
                )
                return
            if run.pacer_generation == read.token:
                restore_pacer(run.pacer, history, read.read_at)
            if read.ledgers:
                restore_ledger(run.abandonment, history, read.read_at)
                if self.observed:
                    self._emit(HistoryRestored(name, history, read.read_at))
                run.others = others_tally(history)
            day = run.abandonment.counts(self._now)[0]
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

    def _others_read(self, read: ev.OthersRead) -> None:
        """Add the calls other daemons finished on the campaign that their CDRs show and this
        run has not counted (dialer/pacing/others.py) to its abandonment windows, the pacer's
        and observers' (`OthersCounted`): with several daemons on a campaign, each brakes on
        its true rate."""
        run = self.campaigns.get(read.campaign_id)
        if run is None or run.others is not read.tally:
            return  # stopped or restored again meanwhile
        shift = self._now - read.wall_now
        ledger = getattr(run.pacer, "ledger", None)
        added = 0
        for minute, answered, abandoned, machines in read.tally.merge(read.since, read.rows):
            at = min(minute + 30.0, read.wall_now) + shift
            run.abandonment.add(at, answered, abandoned)
            if isinstance(ledger, AbandonLedger):
                ledger.add(at, answered, abandoned)
            if self.observed:
                self._emit(OthersCounted(run.campaign.name, at, answered, abandoned, machines))
            added += answered
        if added:
            logger.debug(
                "%d answers of other daemons counted", added, extra={"campaign": run.campaign.name}
            )

    # -- statistics -------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"campaigns": {}, "pbx_up": self.pbx_up}
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
