"""Calls: the PBX's events on them, the hand-over of an answer to an agent, the abandon, the
end and its record, and calls found again after a reconnect or left by a dead process.

Rules:
- An answered call goes at once to the ready agent who has waited longest. With no ready agent
  it waits at most the campaign's hold time for one (never more than 2 s in total, the
  abandonment rule) and then hears the abandon message.
- One agent never gets two calls: the second `Assign` is refused by the agent's transitions.
- A pre-answer call far past its ring time is hung up, then closed (`_sweep`).
- After a reconnect, calls the PBX no longer has ended while the link was down; calls it
  answered or bridged meanwhile catch up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from dialer import pbx
from dialer.core import commands as cmd
from dialer.core import inputs as ev
from dialer.core.agents import AgentFlow
from dialer.core.base import FINISHED_KEPT, MAX_ANSWER_WAIT_S, MAX_SCREENING_S, CallRecord
from dialer.core.campaign import PRE_ANSWER, CampaignRun
from dialer.domain import agent as ag
from dialer.domain import call as cl
from dialer.domain.results import CallResult
from dialer.pacing.ledger import is_abandoned
from dialer.store.records import AttemptEnd, Takeover

logger = logging.getLogger(__name__)

STALE_GRACE_S = 20.0  # a pre-answer call this long past its ring timeout is hung up
_SCREEN = cmd.TimerKind.SCREEN
_HOLD = cmd.TimerKind.HOLD


class CallFlow(AgentFlow):
    def _on_pbx_event(self, event: pbx.PbxEvent) -> None:
        if isinstance(event, pbx.ConnectionLost):
            self.pbx_up = False
            logger.warning("PBX link lost; pacing paused until it is back")
            return
        if isinstance(event, pbx.ConnectionRestored):
            self.pbx_up = True
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
            self._cancel_timer(_SCREEN, cid)
            run.answered += 1
            self._give_to_agent(run, call)
            self._pace(run)  # a ringing call less, an agent busy: the look-ahead changed
        elif after is cl.CallState.SCREENING:
            # No verdict in time (a PBX without AMD, a lost event): treat it as a person.
            self._start_timer(_SCREEN, cid, self._now + MAX_SCREENING_S)
        elif after is cl.CallState.MACHINE:
            self._cancel_timer(_SCREEN, cid)
        elif after is cl.CallState.ENDED:
            self._cancel_timer(_SCREEN, cid)
            self._finish(run, call)

    def _screening_expired(self, cid: str) -> None:
        run = self._call_index.get(cid)
        call = run.calls.get(cid) if run is not None else None
        if run is not None and call is not None and call.state is cl.CallState.SCREENING:
            logger.warning(
                "call %s: no AMD verdict in %.0f s; treated as a person",
                cid,
                MAX_SCREENING_S,
                extra={"call": cid},
            )
            verdict = pbx.MachineDetected(cid, False, "TIMEOUT", "no verdict", self._now)
            self._on_call_event(run, cid, verdict)

    # -- answer to agent ------------------------------------------------------------------------

    def _give_to_agent(self, run: CampaignRun, call: cl.CallAttempt) -> None:
        # A callback for a named agent goes to that agent, kept free for it since the originate;
        # if it is no longer ready, to whoever is. Kept agents take no other call.
        agent = None
        for agent_id, cid in list(run.reserved.items()):
            if cid == call.channel_id:
                del run.reserved[agent_id]
                kept = run.agents.get(agent_id)
                agent = kept if kept is not None and kept.is_ready else None
        if not self.agents_sure():
            # The agents' leases ran out in a database outage: another daemon may have given
            # them calls. The person hears the message now, not after a hold for nobody.
            logger.warning(
                "call %s abandoned: agent leases not renewed for %.0f s",
                call.channel_id,
                self._now - self.leases_ok_at,
                extra={"call": call.channel_id},
            )
            self._abandon(run, call)
            return
        agent = agent or run.ready_agent()
        if agent is not None:
            self._assign(run, call, agent)
            return
        answered = call.answered_at if call.answered_at is not None else self._now
        wait = min(run.campaign.hold_s, MAX_ANSWER_WAIT_S - 0.5)
        if wait <= 0:
            self._abandon(run, call)
            return
        run.waiting.append(call.channel_id)
        self._start_timer(_HOLD, call.channel_id, max(self._now, answered + wait))

    def _hold_expired(self, cid: str) -> None:
        run = self._call_index.get(cid)
        call = run.calls.get(cid) if run is not None else None
        if run is not None and call is not None and call.state is cl.CallState.ANSWERED:
            if cid in run.waiting:
                run.waiting.remove(cid)
            self._abandon(run, call)

    def _assign(self, run: CampaignRun, call: cl.CallAttempt, agent: ag.Agent) -> None:
        now = self._now
        self._agent_do(run, agent, ag.Assign(call.channel_id, now))  # refused if not ready
        self._call_do(run, call, cl.AssignAgent(agent.agent_id, now))
        leg = agent.leg_id
        assert leg is not None  # a READY agent has a leg
        self._do(cmd.Bridge(call.channel_id, leg, agent.agent_id))

    def _bridge_failed(self, failed: ev.BridgeFailed) -> None:
        cid = failed.call_id
        logger.warning(
            "bridge of call %s to agent %s failed: %s",
            cid,
            failed.agent_id,
            failed.error,
            extra={"call": cid, "agent": failed.agent_id},
        )
        run = self._call_index.get(cid)
        call = run.calls.get(cid) if run is not None else None
        if run is None or call is None or call.state is not cl.CallState.CONNECTING:
            return
        self._call_do(run, call, cl.Abandon(self._now))
        agent = run.agents.get(failed.agent_id)
        if agent is not None:
            self._release_agent(run, agent, cid, talked=False)
        self._do(cmd.PlayAbandonMessage(cid))

    def _abandon(self, run: CampaignRun, call: cl.CallAttempt) -> None:
        self._call_do(run, call, cl.Abandon(self._now))
        logger.info(
            "call %s abandoned: no agent free", call.channel_id, extra={"call": call.channel_id}
        )
        self._do(cmd.PlayAbandonMessage(call.channel_id))

    # -- originates that did not go -------------------------------------------------------------

    def _not_dialed(self, cid: str, reason: str) -> None:
        run = self._call_index.get(cid)
        if run is None:
            return
        self._on_call_event(run, cid, cl.Cancel(self._now))
        self._on_call_event(run, cid, pbx.OriginateFailed(cid, reason, self._now))

    def _dial_sent(self, cid: str) -> None:
        """The calls-per-second limits count an originate when it goes, not when it was
        decided: the rules' check before it may hold one call longer than another."""
        run = self._call_index.get(cid)
        if run is not None:
            run.bucket.sent(self._now)

    def _dial_refused(self, refused: ev.DialRefused) -> None:
        run = self._call_index.get(refused.call_id)
        if run is not None:
            run.bucket.release()
        call = run.calls.get(refused.call_id) if run is not None else None
        if call is not None:
            logger.warning(
                "lead %d not dialed: %s",
                call.lead_id,
                refused.reason,
                extra={"call": refused.call_id},
            )
        self._not_dialed(refused.call_id, f"not dialed: {refused.reason}")

    def _dial_failed(self, failed: ev.DialFailed) -> None:
        logger.warning("originate not sent: %s", failed.error, extra={"call": failed.call_id})
        self._not_dialed(failed.call_id, failed.error)

    # -- the end ----------------------------------------------------------------------------------

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
        self._cancel_timer(_HOLD, cid)
        if cid in run.waiting:
            run.waiting.remove(cid)
        result = call.result or CallResult.FAILED
        run.results[result.value] += 1
        if result in (CallResult.CONNECTED, CallResult.ABANDONED) and call.answered_at is not None:
            late = is_abandoned(call.answered_at, call.connected_at)
            run.abandonment.record(self._now, result is CallResult.ABANDONED or late)
        latency = call.answer_to_agent_ms
        clk = self.clock
        agent_db_id = (
            int(call.agent_id) if call.agent_id is not None and call.connected_at else None
        )
        self._do(
            cmd.WriteEnd(
                AttemptEnd(
                    attempt_id=cid,
                    hangup_at=clk.at(call.ended_at if call.ended_at is not None else self._now),
                    result=result,
                    cause=call.cause,
                    cause_text=call.cause_text or call.failure_reason,
                    ring_at=clk.at(call.ringing_at) if call.ringing_at is not None else None,
                    answer_at=clk.at(call.answered_at) if call.answered_at is not None else None,
                    agent_connect_at=(
                        clk.at(call.connected_at) if call.connected_at is not None else None
                    ),
                    agent_id=agent_db_id,
                    answer_to_agent_ms=round(latency) if latency is not None else None,
                    message_at=clk.at(call.message_at) if call.message_at is not None else None,
                )
            )
        )
        verdict = self.breakers.of(run.trunk.id).record(cid, result, self._now)
        self._breaker_verdict(run, verdict, self._now)
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
        if len(self.finished) > FINISHED_KEPT:
            del self.finished[: FINISHED_KEPT // 2]
        paced = run.paced_at
        if call.agent_id is not None:
            agent = run.agents.get(call.agent_id)
            if agent is not None:
                self._release_agent(run, agent, cid, talked=call.connected_at is not None)
        if run.paced_at == paced:  # the agent's release did not pace already
            self._pace(run)

    # -- housekeeping -----------------------------------------------------------------------------

    def _sweep(self, run: CampaignRun, now: float) -> None:
        """No stale calls: a pre-answer call far past its ring time is hung up, then closed."""
        limit = run.campaign.ring_timeout_s + STALE_GRACE_S
        for cid, call in list(run.calls.items()):
            if call.state in PRE_ANSWER and call.originated_at is not None:
                age = now - call.originated_at
                if age > 2 * limit:
                    self._on_call_event(run, cid, cl.Cancel(now))
                    self._on_call_event(run, cid, pbx.HungUp(cid, 0, "no events from the PBX", now))
                elif age > limit and not call.cancelled:
                    call.cancelled = True
                    self._do(cmd.Hangup(cid))

    def _close_left_calls(self) -> None:
        """Graceful stop: calls with still no hang-up event are closed here."""
        for run in self.campaigns.values():
            for cid in list(run.calls):
                self._on_call_event(
                    run, cid, pbx.HungUp(cid, 0, "closed at daemon stop", self._now)
                )

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

    def _adopt(self, takeover: Takeover, live: Mapping[str, pbx.LiveChannel]) -> None:
        """Follow what dead processes left that the PBX still has: their calls to their hang-up
        (a customer talking to an agent is not cut off), their agents' headset legs (not called
        again). The agents they held are ours now."""
        if not takeover.calls and not takeover.agent_legs:
            return
        now = self._now
        clk = self.clock
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
                    originated_at=clk.core_time(left.originated_at),
                    ringing_at=clk.core_time(left.ring_at) if left.ring_at else None,
                    # Up at the PBX with no answer stored: answered within the last flush.
                    answered_at=(
                        clk.core_time(left.answer_at)
                        if left.answer_at
                        else (now if ch.state is pbx.ChannelState.UP else None)
                    ),
                    connected_at=(
                        clk.core_time(left.agent_connect_at) if left.agent_connect_at else None
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
            self.owned.add(key)
            if leg_id is None or leg_id in adopted_legs or leg_id not in live:
                continue
            try:
                run, agent = self.find_agent(key)
            except KeyError:
                self._do(cmd.Hangup(leg_id))
                continue
            if agent.state is ag.AgentState.LOGGED_OUT:
                self._agent_do(run, agent, ag.Adopt(leg_id, None, now))
                self._legs[leg_id] = (run, agent)
                logger.info("agent %s: headset leg adopted", key, extra={"agent": key})
