"""One call attempt as a state machine driven by normalised PBX events.

Rules:
- The transition table `_TRANSITIONS` is the whole behaviour: (state, event type) -> next state.
  An event with no entry for the current state raises `IllegalCallTransition` and leaves the
  attempt unchanged (h11 style), except in ENDED, which absorbs everything: PBXs send trailing
  events (OriginateResponse, DialEnd, BridgeLeave) after a hang-up.
- An answered call not bridged to an agent ends ABANDONED, whatever the reason (no agent, the
  callee hung up while waiting, the bridge failed): a person answered and got no agent.
- With answering-machine detection (`amd=True`) an answer goes to SCREENING first; the
  detection's verdict sends it to ANSWERED (a person, or not sure) or MACHINE (result MACHINE,
  counted apart from people). A hang-up during SCREENING is ABANDONED (it may have been a person).
- The result of an unanswered call comes from a hang-up cause that names a failure (no such
  number, network failure), else from the dial status when the PBX gave one, else from the
  Q.850 hang-up cause (Asterisk 22 reports busy as DialEnd BUSY and Hangup cause 17, while its
  OriginateResponse says Reason 0, so the response is never used for the result).
- Before the PBX confirms the channel exists, an `OriginateFailed` ends the attempt FAILED; after
  that, the hang-up decides (Asterisk sends a failure response for busy and ring-out too).
- A call whose daemon died and that the PBX still has is `Adopt`ed by the next one from QUEUED:
  its durable progress and the PBX's view put it where it is (connected, abandoned, a machine,
  ringing); answered and never connected it is abandoned, since the dialplan's own hold has run
  out long before a daemon restarts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dialer import pbx
from dialer.domain.results import CallResult


class CallState(enum.Enum):
    QUEUED = "queued"  # leased lead, not yet sent to the PBX
    ORIGINATING = "originating"  # originate sent, no ring yet
    RINGING = "ringing"
    SCREENING = "screening"  # answered; answering-machine detection is running
    ANSWERED = "answered"  # a person answered; waiting for an agent
    MACHINE = "machine"  # an answering machine: hung up or left a message
    CONNECTING = "connecting"  # an agent is assigned, bridge requested
    CONNECTED = "connected"  # bridged to the agent
    ABANDONING = "abandoning"  # hearing the abandon message
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Originate:
    """The dialer sent the originate."""

    at: float


@dataclass(frozen=True, slots=True)
class AssignAgent:
    """The dialer picked a ready agent for an answered call and asked the PBX to bridge."""

    agent_id: str
    at: float


@dataclass(frozen=True, slots=True)
class Abandon:
    """The dialer found no agent for an answered call (or the bridge failed)."""

    at: float


@dataclass(frozen=True, slots=True)
class Cancel:
    """The dialer is giving up on the call before answer (stop, reconciliation)."""

    at: float


@dataclass(frozen=True, slots=True)
class Adopt:
    """A call left by a daemon that died, which the PBX still has: what its durable progress
    (`outcome` one of dialer.domain.recovery.PROGRESS_OUTCOMES) and the PBX (`bridged`) say.
    Times are on the adopting daemon's clock."""

    originated_at: float
    ringing_at: float | None
    answered_at: float | None
    connected_at: float | None
    agent_id: str | None
    outcome: CallResult | None
    bridged: bool
    at: float


CallEvent = (
    Adopt
    | Originate
    | AssignAgent
    | Abandon
    | Cancel
    | pbx.OriginateAccepted
    | pbx.OriginateFailed
    | pbx.Ringing
    | pbx.Answered
    | pbx.DialEnded
    | pbx.Bridged
    | pbx.Unbridged
    | pbx.MessageStarted
    | pbx.MachineDetected
    | pbx.HungUp
)

S = CallState
_PRE_ANSWER = (S.ORIGINATING, S.RINGING)
_LIVE = (
    S.ORIGINATING,
    S.RINGING,
    S.SCREENING,
    S.ANSWERED,
    S.CONNECTING,
    S.CONNECTED,
    S.ABANDONING,
    S.MACHINE,
)

_TRANSITIONS: dict[CallState, dict[type, CallState]] = {
    S.QUEUED: {Originate: S.ORIGINATING, Cancel: S.ENDED, Adopt: S.ORIGINATING},
    S.ORIGINATING: {
        pbx.OriginateAccepted: S.ORIGINATING,
        pbx.OriginateFailed: S.ORIGINATING,  # ends it only if no channel was seen; see _apply
        pbx.Ringing: S.RINGING,
    },
    S.RINGING: {
        pbx.OriginateAccepted: S.RINGING,
        pbx.OriginateFailed: S.RINGING,
        pbx.Ringing: S.RINGING,
    },
    S.ANSWERED: {
        AssignAgent: S.CONNECTING,
        Abandon: S.ABANDONING,
        pbx.MessageStarted: S.ABANDONING,  # the dialplan's own fail-safe hold ran out
    },
    S.CONNECTING: {
        pbx.Bridged: S.CONNECTED,
        Abandon: S.ABANDONING,
        pbx.MessageStarted: S.ABANDONING,
    },
    S.CONNECTED: {pbx.Bridged: S.CONNECTED, pbx.Unbridged: S.CONNECTED},
    S.ABANDONING: {pbx.MessageStarted: S.ABANDONING, Abandon: S.ABANDONING},
    # A person -> ANSWERED; a machine -> MACHINE (decided in _apply from the event's value).
    S.SCREENING: {pbx.MachineDetected: S.ANSWERED},
    S.MACHINE: {pbx.MessageStarted: S.MACHINE, pbx.MachineDetected: S.MACHINE},
    S.ENDED: {},
}
for _s in _PRE_ANSWER:
    _TRANSITIONS[_s].update({pbx.Answered: S.ANSWERED, pbx.DialEnded: _s, Cancel: _s})
for _s in _LIVE:
    _TRANSITIONS[_s][pbx.HungUp] = S.ENDED
    _TRANSITIONS[_s].setdefault(pbx.DialEnded, _s)
    _TRANSITIONS[_s].setdefault(pbx.OriginateAccepted, _s)
    _TRANSITIONS[_s].setdefault(pbx.OriginateFailed, _s)
    _TRANSITIONS[_s].setdefault(pbx.Ringing, _s)
    _TRANSITIONS[_s].setdefault(pbx.Answered, _s)  # duplicate answer events are harmless

# Q.850 causes for calls that ended before answer without a dial status.
_BUSY_CAUSES = frozenset({17})
_NOANSWER_CAUSES = frozenset({18, 19, 16})
# Unallocated number, no route, number changed, destination out of order, invalid format,
# no circuit, network out of order, temporary failure, congestion, unavailable.
_FAILURE_CAUSES = frozenset({1, 2, 3, 22, 27, 28, 34, 38, 41, 42, 44, 47})
DIAL_STATUS_RESULT = {
    pbx.DialStatus.BUSY: CallResult.BUSY,
    pbx.DialStatus.NOANSWER: CallResult.NO_ANSWER,
    pbx.DialStatus.CONGESTION: CallResult.FAILED,
    pbx.DialStatus.CHANUNAVAIL: CallResult.FAILED,
}


class IllegalCallTransition(Exception):
    def __init__(self, state: CallState, event: object) -> None:
        super().__init__(f"event {type(event).__name__} is not allowed in state {state.value}")
        self.state = state
        self.event = event


class CallAttempt:
    """The state and timeline of one call attempt. Pure: feed it events, read its fields."""

    __slots__ = (
        "agent_id",
        "amd",
        "amd_status",
        "answered_at",
        "cancelled",
        "cause",
        "cause_text",
        "channel_id",
        "channel_seen",
        "connected_at",
        "dial_status",
        "ended_at",
        "failure_reason",
        "hold_expired",
        "human_at",
        "lead_id",
        "message_at",
        "originated_at",
        "result",
        "ringing_at",
        "state",
        "taken_back",
    )

    def __init__(self, channel_id: str, lead_id: int, *, amd: bool = False) -> None:
        self.channel_id = channel_id
        self.lead_id = lead_id
        self.amd = amd  # answering-machine detection runs after the answer
        self.amd_status: str | None = None
        self.human_at: float | None = None  # when AMD said a person is there
        self.state = CallState.QUEUED
        self.originated_at: float | None = None
        self.ringing_at: float | None = None
        self.answered_at: float | None = None
        self.connected_at: float | None = None
        self.message_at: float | None = None
        self.ended_at: float | None = None
        self.agent_id: str | None = None
        self.dial_status: pbx.DialStatus | None = None
        self.cause: int | None = None
        self.cause_text: str | None = None
        self.failure_reason: str | None = None
        self.channel_seen = False
        self.cancelled = False
        self.taken_back = False  # hung up by the dialer while ringing (pacing took it back)
        self.hold_expired = False
        self.result: CallResult | None = None

    def handle(self, event: CallEvent) -> CallState:
        """Apply one event; returns the new state. Raises IllegalCallTransition if not allowed."""
        if self.state is CallState.ENDED:
            return self.state
        nxt = _TRANSITIONS[self.state].get(type(event))
        if nxt is None:
            raise IllegalCallTransition(self.state, event)
        self._apply(event, nxt)
        return self.state

    @property
    def answer_to_agent_ms(self) -> float | None:
        if self.answered_at is None or self.connected_at is None:
            return None
        return (self.connected_at - self.answered_at) * 1000.0

    def _apply(self, event: CallEvent, nxt: CallState) -> None:
        match event:
            case Adopt():
                nxt = self._adopt(event)
            case Originate(at=at):
                self.originated_at = at
            case Cancel(at=at):
                self.cancelled = True
                if self.state is CallState.QUEUED:
                    self._end(at, CallResult.CANCELLED)
                    return
            case pbx.OriginateAccepted():
                self.channel_seen = True
            case pbx.OriginateFailed(reason=reason, at=at):
                self.failure_reason = reason
                if not self.channel_seen and self.state is CallState.ORIGINATING:
                    # Never reached the PBX when the dialer itself gave up on sending it.
                    self._end(at, CallResult.CANCELLED if self.cancelled else CallResult.FAILED)
                    return
            case pbx.Ringing(at=at):
                self.channel_seen = True
                if self.ringing_at is None:
                    self.ringing_at = at
            case pbx.Answered(at=at):
                self.channel_seen = True
                if self.answered_at is None:
                    self.answered_at = at
                if self.amd and nxt is CallState.ANSWERED:
                    nxt = CallState.SCREENING
            case pbx.MachineDetected(machine=machine, status=status, at=at):
                if self.amd_status is None:
                    self.amd_status = status
                if machine:
                    nxt = CallState.MACHINE
                elif self.human_at is None:
                    self.human_at = at
            case pbx.DialEnded(status=status):
                self.channel_seen = True
                self.dial_status = status
            case AssignAgent(agent_id=agent_id):
                self.agent_id = agent_id
            case pbx.Bridged(at=at):
                if self.connected_at is None:
                    self.connected_at = at
            case Abandon():
                pass
            case pbx.MessageStarted(at=at):
                if self.message_at is None:
                    self.message_at = at
                if self.state is CallState.ANSWERED:
                    self.hold_expired = True
            case pbx.Unbridged():
                pass
            case pbx.HungUp(cause=cause, cause_text=text, at=at):
                self.cause = cause
                self.cause_text = text
                if self.taken_back and self.state in _PRE_ANSWER:
                    self.cause_text = f"taken back by the dialer after ringing ({text})"
                self._end(at, self._result_at_hangup())
                return
        self.state = nxt

    def _adopt(self, event: Adopt) -> CallState:
        self.channel_seen = True
        self.originated_at = event.originated_at
        self.ringing_at = event.ringing_at
        self.answered_at = event.answered_at
        self.connected_at = event.connected_at
        self.agent_id = event.agent_id
        if event.outcome is CallResult.CONNECTED or (
            event.bridged and event.connected_at is not None
        ):
            return CallState.CONNECTED
        if event.outcome is CallResult.MACHINE:
            return CallState.MACHINE
        if event.answered_at is not None or event.outcome is CallResult.ABANDONED:
            return CallState.ABANDONING
        return CallState.RINGING if event.ringing_at is not None else CallState.ORIGINATING

    def _result_at_hangup(self) -> CallResult:
        if self.state is CallState.CONNECTED:
            return CallResult.CONNECTED
        if self.state is CallState.MACHINE:
            return CallResult.MACHINE
        # Hung up during detection counts as abandoned: it may have been a person, and the rules
        # protect the person (the conservative side of the abandonment rate).
        if self.state in (
            CallState.SCREENING,
            CallState.ANSWERED,
            CallState.CONNECTING,
            CallState.ABANDONING,
        ):
            return CallResult.ABANDONED
        # Not answered. A cause that says the number or the network is wrong wins over the dial
        # status: Asterisk 22 reports a 404 as DialEnd NOANSWER with Hangup cause 1.
        if self.cause in _FAILURE_CAUSES:
            return CallResult.FAILED
        if self.taken_back:  # it rang the minimum and nobody answered: a no-answer to retry
            return CallResult.NO_ANSWER
        if self.dial_status in DIAL_STATUS_RESULT:
            return DIAL_STATUS_RESULT[self.dial_status]
        if self.cancelled:
            return CallResult.CANCELLED
        if self.cause in _BUSY_CAUSES:
            return CallResult.BUSY
        if self.cause in _NOANSWER_CAUSES:
            return CallResult.NO_ANSWER
        return CallResult.FAILED

    def _end(self, at: float, result: CallResult) -> None:
        self.state = CallState.ENDED
        self.ended_at = at
        self.result = result
