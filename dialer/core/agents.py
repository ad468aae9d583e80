"""Agents: their headset legs, becoming free for a call, wrap-up, the agent controls, moves
between campaigns, and ownership across daemons.

Rules:
- An agent's headset leg is called once at log-in and stays up between calls; a leg that drops
  is called again after `LOGIN_RETRY_S` while autologin is on.
- A free agent takes the oldest answered call waiting for one, else pacing runs.
- With several daemons on one database an agent belongs to the daemon holding its lease
  (dialer/domain/ownership.py): only that one logs it in and hands it calls. An agent another
  daemon took after a stall is logged out here at once when idle, after its call when busy.
- A move asked for while the agent is busy takes effect after its call and wrap-up.
"""

from __future__ import annotations

import logging

from dialer import pbx
from dialer.core import commands as cmd
from dialer.core import inputs as ev
from dialer.core.campaign import CampaignRun
from dialer.core.dialing import Dialing
from dialer.core.observe import AgentChanged
from dialer.core.refusals import agent_refusal
from dialer.domain import agent as ag
from dialer.domain import call as cl
from dialer.pacing.base import AgentWork

logger = logging.getLogger(__name__)

LOGIN_RETRY_S = 5.0
SKIPPED_LEAD_DELAY_S = 3600.0  # a lead an agent skipped in preview is dialable again after this
_LOGIN = cmd.TimerKind.LOGIN
_WRAPUP = cmd.TimerKind.WRAPUP


class AgentFlow(Dialing):
    # -- the headset leg ------------------------------------------------------------------------

    def _on_leg_event(self, run: CampaignRun, agent: ag.Agent, event: pbx.PbxEvent) -> None:
        at = getattr(event, "at", self._now)
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
        self._cancel_timer(_WRAPUP, agent.agent_id)
        expected = was_logging_out or not self.accepting
        logger.log(
            logging.INFO if expected else logging.WARNING,
            "agent %s leg is down; logged out",
            agent.agent_id,
            extra={"agent": agent.agent_id},
        )
        if self.accepting and self.settings.autologin_agents and not was_logging_out:
            self._start_timer(_LOGIN, agent.agent_id, self._now + LOGIN_RETRY_S)
        self._settle_move(run, agent)

    def _agent_call_failed(self, failed: ev.AgentCallFailed) -> None:
        logger.warning("agent %s login failed: %s", failed.agent_id, failed.error)
        try:
            run, agent = self.find_agent(failed.agent_id)
        except KeyError:
            self._legs.pop(failed.leg_id, None)
            return
        if agent.leg_id == failed.leg_id:
            self._leg_down(run, agent, self._now)

    def _login(self, run: CampaignRun, agent: ag.Agent) -> None:
        if (
            agent.state is not ag.AgentState.LOGGED_OUT
            or not self.accepting
            or not self.owns(agent.agent_id)
        ):
            return
        refused = agent_refusal(agent.agent_id, agent.endpoint)
        if refused is not None:
            # Stays logged out, with no retry: the same endpoint would be refused again.
            if self._refused_endpoints.get(agent.agent_id) != agent.endpoint:
                self._refused_endpoints[agent.agent_id] = agent.endpoint
                logger.error("%s", refused, extra={"agent": agent.agent_id})
            return
        leg_id = self._new_id()
        self._agent_do(run, agent, ag.Login(leg_id, self._now))
        self._legs[leg_id] = (run, agent)
        self._do(
            cmd.CallAgent(
                agent.agent_id,
                pbx.AgentLeg(
                    leg_id,
                    agent.endpoint,
                    self.settings.agent_ring_timeout_s,
                    agent_id=agent.agent_id,
                ),
            )
        )

    def _login_due(self, agent_id: str) -> None:
        try:
            run, agent = self.find_agent(agent_id)
        except KeyError:
            return
        self._login(run, agent)

    # -- free, busy, wrap-up ------------------------------------------------------------------

    def _agent_free(self, run: CampaignRun, agent: ag.Agent) -> None:
        """An agent became ready: serve the oldest waiting answered call, else pace."""
        # An agent kept for a callback waits for that call.
        while (
            run.waiting
            and agent.is_ready
            and agent.agent_id not in run.reserved
            and self.agents_sure()
        ):
            cid = run.waiting.popleft()
            call = run.calls.get(cid)
            if call is not None and call.state is cl.CallState.ANSWERED:
                self._cancel_timer(cmd.TimerKind.HOLD, cid)
                self._assign(run, call, agent)
        self._pace(run)

    def _release_agent(self, run: CampaignRun, agent: ag.Agent, cid: str, *, talked: bool) -> None:
        if agent.call_id != cid:
            return
        now = self._now
        started = agent.talk_started
        self._agent_do(run, agent, ag.CallEnded(cid, now, talked))
        if agent.state is ag.AgentState.WRAPUP:
            run.talked[agent.agent_id] = now - (started or now)
            wrap = run.campaign.wrapup_s
            if wrap <= 0:
                self._wrapup_done(run, agent)
            else:
                self._start_timer(_WRAPUP, agent.agent_id, now + wrap)
        elif self._settle_move(run, agent):
            pass
        elif agent.is_ready:
            self._agent_free(run, agent)

    def _wrapup_done(self, run: CampaignRun, agent: ag.Agent) -> None:
        self._cancel_timer(_WRAPUP, agent.agent_id)
        if agent.state is not ag.AgentState.WRAPUP:
            return
        # The pacer learns the work as it was: the talk, and the wrap-up until the agent gave
        # the result (or the campaign's wrap-up time ran out).
        talk = run.talked.pop(agent.agent_id, 0.0)
        run.pacer.observe_work(AgentWork(talk, self._now - agent.since))
        state = self._agent_do(run, agent, ag.WrapupDone(self._now))
        if state is ag.AgentState.LOGGING_OUT and agent.leg_id is not None:
            self._do(cmd.Hangup(agent.leg_id))
        elif self._settle_move(run, agent):
            pass
        elif agent.is_ready:
            self._agent_free(run, agent)

    def _wrapup_due(self, agent_id: str) -> None:
        try:
            run, agent = self.find_agent(agent_id)
        except KeyError:
            return
        self._wrapup_done(run, agent)

    # -- controls -------------------------------------------------------------------------------

    def _login_agent(self, agent_id: str) -> None:
        """Call the agent's headset; the agent is ready once it answers."""
        run, agent = self.find_agent(agent_id)
        if agent.state is not ag.AgentState.LOGGED_OUT:
            raise ag.IllegalAgentTransition(agent.state, ag.Login("", self._now))
        self._cancel_timer(_LOGIN, agent_id)
        self._login(run, agent)

    def _logout_agent(self, agent_id: str) -> None:
        """Log out now, or after the current call and wrap-up."""
        run, agent = self.find_agent(agent_id)
        state = self._agent_do(run, agent, ag.Logout(self._now))
        if state is ag.AgentState.LOGGING_OUT and agent.leg_id is not None:
            self._do(cmd.Hangup(agent.leg_id))

    def _pause_agent(self, agent_id: str, reason: str) -> None:
        """Pause now, or after the current call and wrap-up."""
        run, agent = self.find_agent(agent_id)
        self._agent_do(run, agent, ag.Pause(reason, self._now))

    def _resume_agent(self, agent_id: str) -> None:
        run, agent = self.find_agent(agent_id)
        if self._agent_do(run, agent, ag.Resume(self._now)) is ag.AgentState.READY:
            self._agent_free(run, agent)

    def _end_wrapup(self, agent_id: str) -> None:
        """The agent gave the call's result: its wrap-up ends now (nothing outside wrap-up)."""
        run, agent = self.find_agent(agent_id)
        if agent.state is ag.AgentState.WRAPUP:
            self._wrapup_done(run, agent)

    # -- preview ------------------------------------------------------------------------------

    def _offered(self, agent_id: str) -> CampaignRun:
        run, _ = self.find_agent(agent_id)
        if agent_id not in run.offers:
            raise KeyError(f"no lead is offered to agent {agent_id}")
        return run

    def _dial_offer(self, agent_id: str) -> None:
        """The agent dials the lead shown to it (as soon as the trunk allows)."""
        run = self._offered(agent_id)
        run.offers[agent_id].requested = True
        self._cancel_timer(cmd.TimerKind.PREVIEW, agent_id)
        self._pace(run)

    def _skip_offer(self, agent_id: str, reason: str) -> None:
        """The agent skips the lead shown to it: back to its list for a while; the agent is
        shown the next one."""
        run = self._offered(agent_id)
        offer = self._end_offer(run, agent_id, "skipped", reason)
        self._do(cmd.SkipLead(offer.lead.id, SKIPPED_LEAD_DELAY_S))
        logger.info(
            "agent %s skipped lead %d: %s",
            agent_id,
            offer.lead.id,
            reason,
            extra={"agent": agent_id},
        )
        self._pace(run)

    def _offer_timed_out(self, agent_id: str) -> None:
        for run in self.campaigns.values():
            offer = run.offers.get(agent_id)
            if offer is not None:
                offer.requested = True
                offer.how = "timed_out"
                self._pace(run)

    def _add_agent(self, campaign_id: int, agent_id: int, endpoint: str) -> None:
        """Put an agent in a loaded campaign (logged in at once when autologin is on). An
        agent already in a loaded campaign stays where it is."""
        key = str(agent_id)
        if any(key in r.agents for r in self.campaigns.values()):
            return
        run = self.campaigns[campaign_id]
        agent = ag.Agent(key, endpoint)
        run.agents[key] = agent
        run.agents_changed()
        self._claim_agents_at(self.run_started.get(campaign_id, 0.0) + self.settle_s)
        if self.settings.autologin_agents and self.accepting:
            self._login(run, agent)

    # -- moves ----------------------------------------------------------------------------------

    def _move_agent(self, agent_id: int, campaign_id: int | None, endpoint: str) -> None:
        """The agent now belongs to `campaign_id` (None: to none). At once when it is idle
        (its headset leg stays up); after its current call and wrap-up when busy (it is in
        `moves` meanwhile). Moved to a campaign this daemon does not run, it is logged out
        here. An agent not loaded here joins the campaign if this daemon runs it."""
        key = str(agent_id)
        try:
            run, agent = self.find_agent(key)
        except KeyError:
            if campaign_id is not None and campaign_id in self.campaigns:
                self._add_agent(campaign_id, agent_id, endpoint)
            return
        if run.campaign.id == campaign_id:
            self.moves.pop(key, None)
            return
        if self.busy(run, agent):
            self.moves[key] = campaign_id
            logger.info(
                "agent %s moves to campaign %s after its call",
                key,
                campaign_id,
                extra={"agent": key},
            )
            return
        self.moves.pop(key, None)
        self._move_now(run, agent, campaign_id)

    def agent_campaigns(self) -> dict[int, int | None]:
        """Each agent loaded here -> the campaign it is in, or moving to after its call."""
        out: dict[int, int | None] = {}
        for run in self.campaigns.values():
            for key in run.agents:
                if key.isdigit():
                    out[int(key)] = self.moves.get(key, run.campaign.id)
        return out

    def _settle_move(self, run: CampaignRun, agent: ag.Agent) -> bool:
        """A move asked for while the agent was busy takes effect once it is free."""
        if agent.agent_id not in self.moves or self.busy(run, agent):
            return False
        self._move_now(run, agent, self.moves.pop(agent.agent_id))
        return True

    def _move_now(self, run: CampaignRun, agent: ag.Agent, campaign_id: int | None) -> None:
        key = agent.agent_id
        run.agents.pop(key, None)
        run.agents_changed()
        relogin = self._cancel_timer(_LOGIN, key)
        target = self.campaigns.get(campaign_id) if campaign_id is not None else None
        now = self._now
        self._claim_agents_at(now)  # given back when it leaves, claimed if not ours
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
                self._do(cmd.Hangup(agent.leg_id))
            return
        target.agents[key] = agent
        target.agents_changed()
        if agent.leg_id is not None:
            self._legs[agent.leg_id] = (target, agent)
        logger.info(
            "agent %s moved from campaign %s to %s",
            key,
            run.campaign.name,
            target.campaign.name,
            extra={"agent": key},
        )
        if self.observed:
            self._emit(AgentChanged(target.campaign.name, key, agent.state.value, now))
        if relogin and self.accepting:
            self._login(target, agent)
        if agent.is_ready:
            self._agent_free(target, agent)

    # -- ownership across daemons ---------------------------------------------------------------

    def wanted_agents(self, now: float) -> tuple[dict[int, int], dict[int, int]]:
        """The agents to keep (held) or to claim, and those of runs started here less than a
        settling time ago (claimed only by a daemon alone), -> the campaign they are in."""
        autologin = self.settings.autologin_agents
        out: dict[int, int] = {}
        settling: dict[int, int] = {}
        for cid, run in self.campaigns.items():
            settled = now >= self.run_started.get(cid, 0.0) + self.settle_s
            for key, agent in run.agents.items():
                if not key.isdigit():
                    continue
                if key in self.owned:
                    keep = autologin or agent.state is not ag.AgentState.LOGGED_OUT
                else:
                    keep = autologin and settled and self.accepting
                    if autologin and not settled and self.accepting:
                        settling[int(key)] = cid
                if keep:
                    out[int(key)] = cid
        return out, settling

    def _leases_renewed(self, got: ev.AgentLeasesRenewed) -> None:
        self.leases_ok_at = got.asked_at
        self.owned = set(got.owned)
        for agent_id, holder in got.lost.items():
            self._drop_agent(agent_id, holder)
        for key in [k for k in self.busy_elsewhere if k not in self.owned]:
            del self.busy_elsewhere[key]

    def _drop_agent(self, key: str, holder: str | None) -> None:
        """Another daemon owns the agent now (this one stalled past the lease): log it out
        here, at once when idle, after its call and wrap-up when busy (never a live call)."""
        self.owned.discard(key)
        self._cancel_timer(_LOGIN, key)
        try:
            run, agent = self.find_agent(key)
        except KeyError:
            return
        logger.warning(
            "agent %s belongs to daemon %s now; logged out here", key, holder, extra={"agent": key}
        )
        if agent.state in (ag.AgentState.LOGGED_OUT, ag.AgentState.LOGGING_OUT):
            return
        state = self._agent_do(run, agent, ag.Logout(self._now))
        if state is ag.AgentState.LOGGING_OUT and agent.leg_id is not None:
            self._do(cmd.Hangup(agent.leg_id))

    def _claimed_legs(self, found: ev.ClaimedLegs) -> None:
        """Log in agents just claimed, unless a daemon that died left their headset leg up:
        then that leg is adopted (ready) instead of calling the headset again, or, while it is
        still bridged to a customer, the agent is left alone until the call ends."""
        now = self._now
        for key in found.agent_ids:
            self.busy_elsewhere.pop(key, None)
            try:
                run, agent = self.find_agent(key)
            except KeyError:
                continue
            if agent.state is not ag.AgentState.LOGGED_OUT or self._timer_set(_LOGIN, key):
                continue
            leg = found.legs.get(int(key))
            ch = found.live.get(leg) if leg is not None else None
            if ch is None:
                self._login(run, agent)
            elif ch.bridged_to is None:
                self._agent_do(run, agent, ag.Adopt(ch.channel_id, None, now))
                self._legs[ch.channel_id] = (run, agent)
                logger.info("agent %s: headset leg adopted", key, extra={"agent": key})
                self._agent_free(run, agent)
            else:
                self.busy_elsewhere[key] = ch.channel_id
                logger.info(
                    "agent %s is still on a call its stopped daemon made; logged in after it",
                    key,
                    extra={"agent": key},
                )
