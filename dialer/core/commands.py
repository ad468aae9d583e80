"""What the core asks the outside world to do: typed values, carried out by the driver
(`dialer.engine.engine.Engine`) against the PBX port, the store and real timers, or by the
simulator against its simulated ones.

A command that can fail tells the core so with an input (`dialer.core.inputs`): an originate the
rules refused or the PBX did not take, a bridge that failed, a headset that could not be called.
Commands are carried out in the order the core gave them.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from dialer import pbx
from dialer.core.observe import EngineEvent
from dialer.store.records import AttemptEnd, AttemptProgress, AttemptStart, Campaign, LeasedLead


class TimerKind(enum.Enum):
    SCREEN = "screen"  # answering-machine detection that gives no verdict in time
    HOLD = "hold"  # an answered call waiting for an agent: the abandon message is due
    WRAPUP = "wrapup"  # an agent's wrap-up time ends
    LOGIN = "login"  # an agent's headset leg dropped: call it again
    PREVIEW = "preview"  # a lead offered to an agent is dialed by itself


@dataclass(frozen=True, slots=True)
class TimerKey:
    kind: TimerKind
    subject: str  # the call id (screen, hold) or the agent id (wrap-up, login)


@dataclass(frozen=True, slots=True)
class StartTimer:
    """Fire `TimerFired(key)` at `at` (core time); a timer of the same key is replaced."""

    key: TimerKey
    at: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    key: TimerKey


@dataclass(frozen=True, slots=True)
class Dial:
    """Check the lead against the rules once more (do-not-call, 72-hour lock, calling hours:
    it may have waited in the buffer), then originate. Refused: `DialRefused`; not taken by
    the PBX: `DialFailed`."""

    call: pbx.CustomerCall
    lead: LeasedLead


@dataclass(frozen=True, slots=True)
class CallAgent:
    """Keep the leg's id with the agent's lease (a daemon taking over after a crash adopts the
    leg instead of calling the headset again), then call the headset. Failed: `AgentCallFailed`."""

    agent_id: str
    leg: pbx.AgentLeg


@dataclass(frozen=True, slots=True)
class Bridge:
    """Bridge an answered call with an agent's waiting leg. Failed: `BridgeFailed`."""

    call_id: str
    leg_id: str
    agent_id: str


@dataclass(frozen=True, slots=True)
class PlayAbandonMessage:
    """The abandon message on an answered call (the dialplan's own hold timer plays it anyway
    if this fails)."""

    call_id: str


@dataclass(frozen=True, slots=True)
class Hangup:
    """Hang up a channel (a call or an agent's leg); a channel already gone is no error."""

    channel_id: str


@dataclass(frozen=True, slots=True)
class WriteStart:
    record: AttemptStart


@dataclass(frozen=True, slots=True)
class WriteProgress:
    record: AttemptProgress


@dataclass(frozen=True, slots=True)
class WriteEnd:
    record: AttemptEnd


@dataclass(frozen=True, slots=True)
class LeaseLeads:
    """Lease up to `limit` dialable leads of the campaign; the answer is `LeadsLeased`."""

    campaign_id: int
    limit: int


@dataclass(frozen=True, slots=True)
class ReleaseLeads:
    """Give leased leads that were never dialed back to their list."""

    lead_ids: Sequence[int]


@dataclass(frozen=True, slots=True)
class GiveBack:
    """The trunk failed these ended attempts (its circuit breaker says so): once their records
    are written, their leads go back as they were before them."""

    attempt_ids: Sequence[str]


@dataclass(frozen=True, slots=True)
class SkipLead:
    """Preview: the agent skipped the lead; it goes back to its list, dialable again after
    `delay_s`."""

    lead_id: int
    delay_s: float


@dataclass(frozen=True, slots=True)
class RestoreHistory:
    """Read the campaign's stored history; the answer is `HistoryRead` (with the same
    `token`), also when it could not be read."""

    campaign: Campaign
    token: int
    ledgers: bool


@dataclass(frozen=True, slots=True)
class ClaimAgents:
    """Run a round of agent leases at `at` (core time): a campaign or agent came or went."""

    at: float


@dataclass(frozen=True, slots=True)
class Notify:
    """Tell the observers (metrics, MQTT, the API's followers)."""

    event: EngineEvent


Command = (
    StartTimer
    | CancelTimer
    | Dial
    | CallAgent
    | Bridge
    | PlayAbandonMessage
    | Hangup
    | WriteStart
    | WriteProgress
    | WriteEnd
    | LeaseLeads
    | ReleaseLeads
    | SkipLead
    | GiveBack
    | RestoreHistory
    | ClaimAgents
    | Notify
)
