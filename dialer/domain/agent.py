"""An agent as a state machine: logged out, logging in, ready, on call, wrap-up, paused.

Rules:
- `_TRANSITIONS` is the whole behaviour; an event not allowed in the current state raises
  `IllegalAgentTransition` and changes nothing. This is what makes "never two calls to one agent"
  structural: `Assign` is only allowed in READY.
- Logging in calls the agent's headset once; the leg stays up between calls. Losing the leg
  (the agent hung up, the PBX dropped it) logs the agent out from any state.
- A pause or log-out asked for during a call or wrap-up takes effect when the wrap-up ends.
- Wrap-up ends when its time is over (`WrapupDone`, driven by the engine's clock) or when the agent
  records the call's result.
- A daemon that takes over from one that died `Adopt`s the agent's headset leg if the PBX still
  has it: ready, or on the call the leg is bridged to, without calling the headset again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class AgentState(enum.Enum):
    LOGGED_OUT = "logged_out"
    LOGGING_IN = "logging_in"  # headset is being called
    READY = "ready"
    ON_CALL = "on_call"  # a call is assigned (bridge requested or up)
    WRAPUP = "wrapup"
    PAUSED = "paused"
    LOGGING_OUT = "logging_out"  # leg hang-up requested


@dataclass(frozen=True, slots=True)
class Login:
    leg_id: str
    at: float


@dataclass(frozen=True, slots=True)
class LegUp:
    at: float


@dataclass(frozen=True, slots=True)
class LegDown:
    at: float


@dataclass(frozen=True, slots=True)
class Assign:
    call_id: str
    at: float


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The customer call ended (hang-up) or the bridge to this agent failed."""

    call_id: str
    at: float
    talked: bool  # False when the bridge never came up: no wrap-up then


@dataclass(frozen=True, slots=True)
class WrapupDone:
    at: float


@dataclass(frozen=True, slots=True)
class Pause:
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class Resume:
    at: float


@dataclass(frozen=True, slots=True)
class Logout:
    at: float


@dataclass(frozen=True, slots=True)
class Adopt:
    """The agent's leg, left up by a daemon that died; `call_id` when it is on that call."""

    leg_id: str
    call_id: str | None
    at: float


AgentEvent = (
    Login | LegUp | LegDown | Assign | CallEnded | WrapupDone | Pause | Resume | Logout | Adopt
)

A = AgentState
_TRANSITIONS: dict[AgentState, dict[type, AgentState]] = {
    A.LOGGED_OUT: {Login: A.LOGGING_IN, Adopt: A.READY},
    A.LOGGING_IN: {LegUp: A.READY, Logout: A.LOGGING_OUT},
    A.READY: {Assign: A.ON_CALL, Pause: A.PAUSED, Logout: A.LOGGING_OUT},
    A.ON_CALL: {CallEnded: A.WRAPUP, Pause: A.ON_CALL, Logout: A.ON_CALL},
    A.WRAPUP: {WrapupDone: A.READY, Pause: A.WRAPUP, Logout: A.WRAPUP, Resume: A.WRAPUP},
    A.PAUSED: {Resume: A.READY, Pause: A.PAUSED, Logout: A.LOGGING_OUT},
    A.LOGGING_OUT: {Logout: A.LOGGING_OUT},
}
for _s in A:
    if _s is not A.LOGGED_OUT:
        _TRANSITIONS[_s][LegDown] = A.LOGGED_OUT


class IllegalAgentTransition(Exception):
    def __init__(self, state: AgentState, event: object) -> None:
        super().__init__(
            f"event {type(event).__name__} is not allowed in agent state {state.value}"
        )
        self.state = state
        self.event = event


class Agent:
    """One agent's state. Pure: feed it events, read its fields."""

    __slots__ = (
        "agent_id",
        "call_id",
        "calls",
        "endpoint",
        "leg_id",
        "pause_reason",
        "pending",
        "since",
        "state",
        "talk_started",
    )

    def __init__(self, agent_id: str, endpoint: str) -> None:
        self.agent_id = agent_id
        self.endpoint = endpoint
        self.state = AgentState.LOGGED_OUT
        self.since = 0.0
        self.leg_id: str | None = None
        self.call_id: str | None = None
        self.pause_reason: str | None = None
        self.pending: AgentState | None = None  # PAUSED or LOGGING_OUT after the current work
        self.calls = 0
        self.talk_started: float | None = None

    def handle(self, event: AgentEvent) -> AgentState:
        nxt = _TRANSITIONS[self.state].get(type(event))
        if nxt is None:
            raise IllegalAgentTransition(self.state, event)
        match event:
            case Login(leg_id=leg_id):
                self.leg_id = leg_id
            case Adopt(leg_id=leg_id, call_id=call_id, at=at):
                self.leg_id = leg_id
                if call_id is not None:
                    self.call_id = call_id
                    self.calls += 1
                    self.talk_started = at
                    nxt = AgentState.ON_CALL
            case Assign(call_id=call_id, at=at):
                self.call_id = call_id
                self.calls += 1
                self.talk_started = at
            case CallEnded(call_id=call_id, talked=talked):
                if call_id != self.call_id:
                    raise IllegalAgentTransition(self.state, event)
                self.call_id = None
                if not talked:
                    # The bridge never came up: straight back, no wrap-up to do.
                    nxt = self.pending or AgentState.READY
                    self.pending = None
            case WrapupDone():
                nxt = self.pending or AgentState.READY
                self.pending = None
            case Pause(reason=reason):
                self.pause_reason = reason
                if self.state in (AgentState.ON_CALL, AgentState.WRAPUP):
                    self.pending = AgentState.PAUSED
            case Resume():
                self.pause_reason = None
                if self.state is AgentState.WRAPUP:
                    self.pending = None
            case Logout():
                if self.state in (AgentState.ON_CALL, AgentState.WRAPUP):
                    self.pending = AgentState.LOGGING_OUT
            case LegDown():
                self.leg_id = None
                self.call_id = None
                self.pending = None
            case LegUp():
                pass
        if nxt is not self.state:
            self.since = event.at
        self.state = nxt
        return nxt

    @property
    def is_ready(self) -> bool:
        return self.state is AgentState.READY
