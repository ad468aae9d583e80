"""Values going into and coming out of the store: enums and frozen dataclasses, no SQL.

Every timestamp is timezone-aware (UTC in the database, `timestamptz`); a naive datetime is
refused at construction, because mixing naive and aware times is how retry schedules drift by
the server's UTC offset. Attempt ids are the UUID strings the daemon chose for the PBX channel.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dialer.domain.pbx_values import is_e164
from dialer.domain.recovery import PROGRESS_OUTCOMES, PbxRecord, result_without_hangup
from dialer.domain.results import CallResult
from dialer.pacing import modes


def mask_phone(phone: str) -> str:
    """Keep the country code area and the last 2 digits: logs must not carry full numbers."""
    if len(phone) <= 6:
        return "*" * len(phone)
    return phone[:4] + "*" * (len(phone) - 6) + phone[-2:]


def require_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")


def require_uuid(name: str, value: str) -> None:
    try:
        uuid.UUID(value)
    except ValueError:
        raise ValueError(f"{name} must be a UUID string, got {value!r}") from None


# A number that failed on the network on this many calls in a row ends unreachable (a
# campaign's `network_failure_cap`; dialer.store.retry).
DEFAULT_NETWORK_FAILURE_CAP = 5


class CampaignStatus(enum.StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"
    FINISHED = "finished"


# The pacing modes are the pacer's own (`dialer.pacing.modes`): one definition, stored by value.
PacingMode = modes.PacingMode


class LeadStatus(enum.StrEnum):
    """new: never attempted (or only cancelled attempts); retry: waiting for next_call_at;
    dialing: leased by a daemon (queued or on a call); done: no more calls; blocked: the lease
    found its number on a do-not-call list (new or retry again when the number leaves every
    list, `dnc.remove_number`)."""

    NEW = "new"
    RETRY = "retry"
    DIALING = "dialing"
    DONE = "done"
    BLOCKED = "blocked"


class AgentState(enum.StrEnum):
    OFFLINE = "offline"
    READY = "ready"
    TALKING = "talking"
    WRAPUP = "wrapup"
    PAUSED = "paused"


@dataclass(frozen=True, slots=True)
class Trunk:
    id: int
    name: str
    max_channels: int
    max_cps: float
    dial_prefix: str
    endpoint: str
    caller_id: str = ""  # shown by calls of campaigns that have none of their own (migration 0004)
    # Calls that may start back to back (dialer.pacing.callrate); None: up to the second's rate.
    cps_burst: int | None = None


@dataclass(frozen=True, slots=True)
class Campaign:
    id: int
    name: str
    status: CampaignStatus
    pacing_mode: PacingMode
    caller_id: str
    trunk_id: int
    ring_timeout_s: float
    max_attempts: int
    wrapup_s: float
    hold_s: float
    created_at: datetime
    updated_at: datetime
    amd_enabled: bool = False  # answering-machine detection on answered calls
    machine_message: str = ""  # PBX sound left on a machine; empty: hang up on machines
    # Migration 0004, the abandon message (dialer.domain.abandon): the number an abandoned
    # callee is asked to call back (E.164; empty: the caller ID) and the campaign's name as a
    # PBX sound (empty: the message does not name the campaign).
    callback_number: str = ""
    name_prompt: str = ""
    # Migration 0011: power mode's lines per ready agent; a preview lead dialed by itself after
    # this long with its agent (0: it waits until the agent dials or skips it).
    lines_per_agent: float = 2.0
    preview_timeout_s: float = 0.0
    # Migration 0012, what the carrier's answers mean (dialer.domain.causes): calls in a row
    # failing on the network before a number ends unreachable, and the campaign's changes to
    # the default mapping ({"sip": {"603": "no_answer"}, "q850": {"21": "no_answer"}}).
    network_failure_cap: int = DEFAULT_NETWORK_FAILURE_CAP
    cause_results: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    # The campaign's own calls-per-second limit, under its trunk's (the lower binds); None: the
    # trunk's alone.
    max_cps: float | None = None


@dataclass(frozen=True, slots=True)
class LeadList:
    id: int
    campaign_id: int
    name: str


@dataclass(frozen=True, slots=True)
class Agent:
    id: int
    name: str
    sip_endpoint: str
    campaign_id: int | None
    state: AgentState


@dataclass(frozen=True, slots=True)
class AgentLeases:
    """One round of a daemon's agent leases (`agents.lease_agents`): the agents it owns now,
    those it held but another daemon owns now (agent id -> that daemon; None: nobody, the
    agent is gone), those it gave back, and how many other daemons are on the database."""

    owned: frozenset[int]
    lost: Mapping[int, str | None] = field(default_factory=dict)
    released: frozenset[int] = frozenset()
    other_daemons: int = 0


@dataclass(frozen=True, slots=True)
class NewLead:
    """One lead to import. `phone` must be E.164 (with the +); `time_zone` an IANA name."""

    phone: str
    time_zone: str = "UTC"
    priority: int = 0
    next_call_at: datetime | None = None  # None: dialable from the moment of import
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not is_e164(self.phone):
            raise ValueError(f"lead phone {mask_phone(self.phone)!r} is not E.164 (+ and digits)")
        require_aware("next_call_at", self.next_call_at)


@dataclass(frozen=True, slots=True)
class LeasedLead:
    """A lead handed to one daemon (`owner`) until `lease_expires_at`."""

    id: int
    campaign_id: int
    list_id: int
    phone: str
    time_zone: str
    attempts: int
    priority: int
    extra: Mapping[str, Any]
    lease_expires_at: datetime
    # Set when the lead was leased as a due callback (`store.callbacks`); the engine
    # dials it first, and with an agent named gives the answered call to that agent.
    callback_id: int | None = None
    callback_agent_id: int | None = None

    def __repr__(self) -> str:  # keep full numbers out of logs and tracebacks
        return (
            f"LeasedLead(id={self.id}, campaign_id={self.campaign_id}, "
            f"phone={mask_phone(self.phone)!r})"
        )


@dataclass(frozen=True, slots=True)
class AttemptStart:
    """Written when the originate is sent. `attempt_id` is the PBX channel id (a UUID)."""

    attempt_id: str
    lead_id: int
    campaign_id: int
    trunk_id: int | None
    owner: str
    originated_at: datetime
    pbx_unique_id: str | None = None

    def __post_init__(self) -> None:
        require_uuid("attempt_id", self.attempt_id)
        require_aware("originated_at", self.originated_at)


@dataclass(frozen=True, slots=True)
class AttemptProgress:
    """What became known about a call in flight; None leaves the stored value as it is."""

    attempt_id: str
    ring_at: datetime | None = None
    answer_at: datetime | None = None
    agent_connect_at: datetime | None = None
    agent_id: int | None = None
    pbx_unique_id: str | None = None
    answer_to_agent_ms: int | None = None
    message_at: datetime | None = None
    outcome: CallResult | None = None  # one of recovery.PROGRESS_OUTCOMES

    def __post_init__(self) -> None:
        require_uuid("attempt_id", self.attempt_id)
        for name in ("ring_at", "answer_at", "agent_connect_at", "message_at"):
            require_aware(name, getattr(self, name))
        if self.answer_to_agent_ms is not None and self.answer_to_agent_ms < 0:
            raise ValueError("answer_to_agent_ms must be >= 0")
        if self.outcome is not None and self.outcome not in PROGRESS_OUTCOMES:
            raise ValueError(f"outcome {self.outcome.value!r} is not known before a hang-up")


@dataclass(frozen=True, slots=True)
class AttemptEnd:
    """Written at hang-up; also updates the lead (attempts, status, next call) and frees it.

    The optional progress fields let a daemon that skipped progress updates write the whole
    attempt with one start and one end. `answer_to_agent_ms` is computed from `answer_at` and
    `agent_connect_at` when not given.
    """

    attempt_id: str
    hangup_at: datetime
    result: CallResult
    cause: int | None = None
    cause_text: str | None = None
    ring_at: datetime | None = None
    answer_at: datetime | None = None
    agent_connect_at: datetime | None = None
    agent_id: int | None = None
    answer_to_agent_ms: int | None = None
    message_at: datetime | None = None

    def __post_init__(self) -> None:
        require_uuid("attempt_id", self.attempt_id)
        for name in ("hangup_at", "ring_at", "answer_at", "agent_connect_at", "message_at"):
            require_aware(name, getattr(self, name))
        if self.answer_to_agent_ms is not None and self.answer_to_agent_ms < 0:
            raise ValueError("answer_to_agent_ms must be >= 0")


@dataclass(frozen=True, slots=True)
class EndedAttempt:
    """An attempt that `end_attempts` closed, and what became of its lead."""

    attempt_id: str
    lead_id: int
    result: CallResult
    lead_status: LeadStatus
    lead_attempts: int
    next_call_at: datetime


@dataclass(frozen=True, slots=True)
class Disposition:
    id: int
    attempt_id: str
    campaign_id: int
    agent_id: int | None
    code: str
    note: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Attempt:
    """One call attempt as stored (a CDR)."""

    id: str
    lead_id: int
    campaign_id: int
    trunk_id: int | None
    agent_id: int | None
    owner: str
    pbx_unique_id: str | None
    originated_at: datetime
    ring_at: datetime | None
    answer_at: datetime | None
    agent_connect_at: datetime | None
    message_at: datetime | None
    outcome: CallResult | None  # known before the hang-up (dialer.domain.recovery)
    hangup_at: datetime | None
    hangup_cause: int | None
    hangup_cause_text: str | None
    result: CallResult | None
    answer_to_agent_ms: int | None


@dataclass(frozen=True, slots=True)
class CloseReport:
    """What a clean stop closed: open attempts ended by their evidence, leases given back."""

    attempts_closed: int
    leads_released: int


@dataclass(frozen=True, slots=True)
class LeftCall:
    """An open attempt a dead process left, with its durable progress."""

    attempt_id: str
    lead_id: int
    campaign_id: int
    originated_at: datetime
    ring_at: datetime | None
    answer_at: datetime | None
    agent_connect_at: datetime | None
    agent_id: int | None
    message_at: datetime | None
    outcome: CallResult | None

    def closed(self, at: datetime, why: str, pbx: PbxRecord | None = None) -> AttemptEnd:
        """Its end, by the evidence, for a call the PBX no longer has; `pbx` is the PBX's own
        record of it, if any. Its hang-up time is the PBX's unless the call was connected
        (the customer's record may end where the bridge began), else `at`."""
        result = result_without_hangup(self.outcome, self.answer_at is not None, pbx)
        ended = pbx.ended_at if pbx is not None and result is not CallResult.CONNECTED else None
        return AttemptEnd(
            attempt_id=self.attempt_id,
            hangup_at=max(ended or at, self.answer_at or self.originated_at),
            result=result,
            answer_at=self.answer_at or (pbx.answered_at if pbx is not None else None),
            cause_text=why if pbx is None else f"{why}; the PBX recorded {pbx.disposition}",
        )


@dataclass(frozen=True, slots=True)
class Takeover:
    """What a daemon took over from dead processes (its predecessors of the same name, or
    daemons whose leases expired)."""

    calls: tuple[LeftCall, ...]  # their open attempts, now owned by the taker
    agent_legs: dict[int, str | None]  # agents now owned by the taker -> their leg
    leads_released: int  # leased and never dialed: dialable again

    def __add__(self, other: Takeover) -> Takeover:
        return Takeover(
            self.calls + other.calls,
            {**self.agent_legs, **other.agent_legs},
            self.leads_released + other.leads_released,
        )
