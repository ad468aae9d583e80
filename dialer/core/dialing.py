"""Pacing and originating: how many calls to make now, which leads, and the buffer of leased
leads behind them.

Rules:
- Pacing runs after every call or agent event (an answer too) and at least every tick.
- No new call while the daemon stops, the PBX link is down, the campaign is paused or its
  history is being restored, the call records cannot be written, or the agents' leases ran out.
- Every originate takes one token of the trunk's calls-per-second budget (shared by the
  campaigns on that trunk) and one of its channels.
- Callbacks for a named agent go outside the pacer's count (`CampaignRun.named_callback_may_go`).
"""

from __future__ import annotations

import logging

from dialer import pbx
from dialer.core import commands as cmd
from dialer.core import inputs as ev
from dialer.core.base import MAX_ANSWER_WAIT_S, CoreBase
from dialer.core.campaign import CampaignRun, Offer
from dialer.core.observe import LeadOffered, OfferEnded, PacingDecided, TrunkBreakerChanged
from dialer.domain import abandon
from dialer.domain import agent as ag
from dialer.domain import call as cl
from dialer.domain.breaker import BreakerState, Verdict
from dialer.domain.causes import mapping_for
from dialer.pacing.base import MIN_RING_S
from dialer.store.records import AttemptStart, Campaign, LeasedLead, PacingMode

logger = logging.getLogger(__name__)

EXHAUSTED_RETRY_S = 2.0  # no dialable lead at the last lease: ask again after this


class Dialing(CoreBase):
    def _trunk_in_use(self, trunk_id: int) -> int:
        return sum(len(r.calls) for r in self.campaigns.values() if r.trunk.id == trunk_id)

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
            self._do(cmd.Hangup(cid))
        if rung:
            logger.debug(
                "pacing: took back %d ringing call(s)",
                min(n, len(rung)),
                extra={"campaign": run.campaign.name},
            )

    def _pace(self, run: CampaignRun) -> None:
        if not self.accepting or not self.pbx_up or run.paused or run.restoring:
            return
        if self.records_failing or not self.agents_sure():
            return  # the database is away: no new call until its records can be kept
        now = self._now
        run.paced_at = now
        breaker = self.breakers.of(run.trunk.id)
        self._breaker_verdict(run, breaker.poll(now), now)
        budget = breaker.allowance()  # None: closed; else the probe calls that may go
        if budget == 0:
            return
        if budget is None and (run.holding or run.named_callbacks):
            self._dial_named_callbacks(run, now)
        if run.campaign.pacing_mode is PacingMode.PREVIEW or run.offers:
            self._preview(run, now)
        if run.campaign.pacing_mode is PacingMode.PREVIEW:
            self._refill_if_low(run, now)
            return
        snap = run.snapshot(now, self._trunk_in_use(run.trunk.id))
        decision = run.pacer.decide(snap)
        if decision.dial and self.observed:
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
        for _ in range(decision.dial if budget is None else min(decision.dial, budget)):
            if not run.leads or not run.bucket.take(now):
                break
            lead = run.next_lead()
            if lead is None:
                run.bucket.release()
                break
            self._originate(run, lead, now)
            breaker.dialed()
        self._refill_if_low(run, now)

    def _refill_if_low(self, run: CampaignRun, now: float) -> None:
        if not run.wants_leads():
            # No agent of this daemon here (another daemon has them all): leads held
            # here could only wait, and the other daemon could not dial them meanwhile.
            if run.leads and not run.refilling:
                unused = [lead.id for lead in run.leads]
                run.leads.clear()
                self._do(cmd.ReleaseLeads(unused))
            return
        if (
            len(run.leads) < self.settings.lease_batch // 2
            and not run.refilling
            and now >= run.exhausted_until
        ):
            run.refilling = True
            self._do(cmd.LeaseLeads(run.campaign.id, self.settings.lease_batch))

    def _breaker_verdict(self, run: CampaignRun, verdict: Verdict, now: float) -> None:
        """Tell of a trunk breaker's change; give back the leads of the calls it names."""
        if verdict.give_back:
            self._do(cmd.GiveBack(verdict.give_back))
        if verdict.state is None:
            return
        trunk = run.trunk.name
        logger.warning(
            "trunk %s breaker %s: %s%s",
            trunk,
            verdict.state.value,
            verdict.reason,
            f"; no calls for {verdict.backoff_s:g} s, {len(verdict.give_back)} leads given back"
            if verdict.state is BreakerState.OPEN
            else "",
            extra={"campaign": run.campaign.name, "trunk": trunk},
        )
        self._emit(
            TrunkBreakerChanged(
                trunk,
                verdict.state.value,
                verdict.reason,
                len(verdict.give_back),
                verdict.backoff_s,
                now,
            )
        )

    # -- preview ------------------------------------------------------------------------------

    def _preview(self, run: CampaignRun, now: float) -> None:
        """Dial the offered leads their agents asked for (or whose time ran out), within the
        trunk's channels and calls-per-second budget; withdraw offers from agents no longer
        ready; offer a lead to each ready agent without one, longest waiting first."""
        for agent_id, offer in list(run.offers.items()):
            agent = run.agents.get(agent_id)
            if agent is None or agent.state is not ag.AgentState.READY:
                self._end_offer(run, agent_id, "withdrawn", "the agent is no longer ready")
                self._do(cmd.ReleaseLeads([offer.lead.id]))
            elif offer.requested:
                if self._trunk_in_use(run.trunk.id) >= run.trunk.max_channels:
                    continue
                if not run.bucket.take(now):
                    continue
                self._end_offer(run, agent_id, offer.how, "")
                self._originate(run, offer.lead, now, for_agent=agent_id)
        if run.campaign.pacing_mode is not PacingMode.PREVIEW:
            return
        while run.leads:
            agent = run.ready_agent()  # not kept for a callback, not looking at a lead
            if agent is None:
                return
            lead = run.next_lead()
            if lead is None:
                return
            timeout = run.campaign.preview_timeout_s
            dial_by = now + timeout if timeout > 0 else None
            run.offers[agent.agent_id] = Offer(lead, now, dial_by)
            if dial_by is not None:
                self._start_timer(cmd.TimerKind.PREVIEW, agent.agent_id, dial_by)
            self._emit(LeadOffered(run.campaign.name, agent.agent_id, lead.id, now, dial_by))

    def _end_offer(self, run: CampaignRun, agent_id: str, how: str, reason: str) -> Offer:
        offer = run.offers.pop(agent_id)
        self._cancel_timer(cmd.TimerKind.PREVIEW, agent_id)
        self._emit(OfferEnded(run.campaign.name, agent_id, offer.lead.id, how, reason, self._now))
        return offer

    def offer_of(self, agent_id: str) -> Offer | None:
        """The lead shown to the agent (preview), if any."""
        for run in self.campaigns.values():
            offer = run.offers.get(agent_id)
            if offer is not None:
                return offer
        return None

    def _dial_named_callbacks(self, run: CampaignRun, now: float) -> None:
        """Callbacks for a named agent go when `CampaignRun.named_callback_may_go`
        says, within the trunk's channels and calls-per-second budget; the pacer does not count
        their agents, so they take nothing from its calls."""
        while self._trunk_in_use(run.trunk.id) < run.trunk.max_channels:
            if run.bucket.available(now) < 1:
                break
            lead = run.next_named_callback(now)
            if lead is None:
                break
            run.bucket.take(now)  # reserved; counted as sent when the originate goes
            self._originate(run, lead, now)
        run.named_callbacks = any(lead.callback_agent_id is not None for lead in run.leads)

    def _leads_leased(self, got: ev.LeadsLeased) -> None:
        run = self.campaigns.get(got.campaign_id)
        if run is None:
            if got.leads:
                self._do(cmd.ReleaseLeads([lead.id for lead in got.leads]))
            return
        run.refilling = False
        if not got.leads:
            run.exhausted_until = self._now + EXHAUSTED_RETRY_S
            return
        if not self.accepting or not run.wants_leads():
            self._do(cmd.ReleaseLeads([lead.id for lead in got.leads]))
            return
        run.leads.extend(got.leads)
        run.named_callbacks |= any(lead.callback_agent_id is not None for lead in got.leads)
        self._pace(run)

    def _callbacks_due(self, due: ev.CallbacksDue) -> None:
        """Due callbacks go to the front of their campaign's buffer."""
        run = self.campaigns.get(due.campaign_id)
        if not due.leads:
            return
        if run is None or not self.accepting:
            self._do(cmd.ReleaseLeads([lead.id for lead in due.leads]))
            return
        run.leads.extendleft(reversed(due.leads))
        run.named_callbacks |= any(lead.callback_agent_id is not None for lead in due.leads)
        self._pace(run)

    def callback_agents(self, campaign_id: int) -> list[int]:
        """The campaign's agents a due callback for a named agent may be leased for now: ready,
        and not kept for another callback."""
        run = self.campaigns[campaign_id]
        return [
            int(a.agent_id)
            for a in run.agents.values()
            if a.is_ready and a.agent_id not in run.reserved and a.agent_id.isdigit()
        ]

    def _originate(
        self, run: CampaignRun, lead: LeasedLead, now: float, *, for_agent: str | None = None
    ) -> None:
        """Dial the lead; `for_agent` (else the callback's named agent, if any) is kept free
        for it until it is answered or ends."""
        cid = self._new_id()
        call = cl.CallAttempt(
            cid,
            lead.id,
            amd=run.campaign.amd_enabled,
            causes=mapping_for(run.campaign.cause_results),
        )
        self._call_do(run, call, cl.Originate(now))
        run.calls[cid] = call
        if for_agent is None and lead.callback_agent_id is not None:
            for_agent = str(lead.callback_agent_id)
        if for_agent is not None:
            run.reserved[for_agent] = cid  # kept until answer or end
        self._call_index[cid] = run
        run.dialed += 1
        c = run.campaign
        self._do(
            cmd.WriteStart(
                AttemptStart(cid, lead.id, c.id, run.trunk.id, self.owner, self.clock.at(now), cid)
            )
        )
        hold = min(MAX_ANSWER_WAIT_S - 0.1, max(c.hold_s, 0.0) + 0.5)
        # The campaign's caller ID, else the trunk's (a campaign with neither is not
        # started); the abandon message's number and name prompt ride along with the call.
        caller_id = abandon.caller_id_or_none(c.caller_id, run.trunk.caller_id) or ""
        request = pbx.CustomerCall(
            channel_id=cid,
            trunk=run.trunk.endpoint,
            number=run.trunk.dial_prefix + lead.phone,
            caller_id=caller_id,
            ring_timeout_s=c.ring_timeout_s,
            lead_id=lead.id,
            campaign_id=c.id,
            hold_s=round(hold, 1),
            amd=_amd_request(c),
            message=abandon.message_for(
                caller_id=caller_id,
                callback_number=c.callback_number,
                name_prompt=c.name_prompt,
            ),
        )
        self._do(cmd.Dial(request, lead))


def _amd_request(c: Campaign) -> pbx.AmdRequest | None:
    """Answering-machine detection, when the campaign asks for it."""
    if not c.amd_enabled:
        return None
    return pbx.AmdRequest(machine_message=c.machine_message)
