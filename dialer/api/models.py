"""Request and response bodies of the HTTP API (pydantic lives here, at the HTTP edge only).

Requests refuse unknown fields, so a misspelt field is a 422 naming it rather than a silent
no-op.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from dialer.domain.pbx_values import (
    check_callback_number,
    check_caller_id,
    check_dial_prefix,
    check_name,
    check_sound_name,
)
from dialer.rules.policy import MIN_RING_TIMEOUT_S
from dialer.store.records import CampaignStatus, PacingMode

Ref = Annotated[int | str, Field(description="a numeric id or a name")]


def _not_all_digits(value: str) -> str:
    # Paths and agent tokens read digits as an id: a name of digits would be another's id.
    if value.isdigit():
        raise ValueError("a name must not be all digits (digits name an id)")
    return value


Name = Annotated[
    str,
    Field(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$"),
    AfterValidator(_not_all_digits),
]
CallerId = Annotated[
    str,
    Field(
        max_length=21,
        examples=["+15550000000"],
        description="+ and 2 to 20 digits; '' for none (a campaign then shows its trunk's)",
    ),
    AfterValidator(check_caller_id),
]
CallbackNumber = Annotated[
    str,
    Field(
        max_length=40,
        examples=["+442079460123"],
        description="the number an abandoned callee is asked to call back, E.164 (a valid "
        "number); '' for none: the caller ID is said instead",
    ),
    AfterValidator(check_callback_number),
]
NamePrompt = Annotated[
    str,
    Field(
        max_length=200,
        examples=["dialer/campaign-7"],
        description="the campaign's name as a PBX sound (under its sounds directory, no "
        "extension), said in the abandon message; '' for none",
    ),
    AfterValidator(check_sound_name),
]
MachineMessage = Annotated[
    str,
    Field(
        max_length=200,
        examples=["dialer/machine-message"],
        description="with amd_enabled: the PBX sound left on an answering machine after its "
        "beep (under its sounds directory, no extension); '' : machines are hung up on",
    ),
    AfterValidator(lambda v: check_sound_name(v, "machine_message")),
]
Endpoint = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        examples=["agent1"],
        description="the PBX's name for it (a PJSIP endpoint, a FreeSWITCH directory user or "
        "gateway): letters, digits, _ . -; never a dial string (no @ / , or spaces)",
    ),
    AfterValidator(check_name),
]
DialPrefix = Annotated[
    str,
    Field(max_length=20, description="digits, * and # dialled before each number"),
    AfterValidator(check_dial_prefix),
]
AmdEnabled = Annotated[
    bool,
    Field(
        description="answering-machine detection on answered calls: machines are counted apart "
        "from people and left machine_message or hung up on"
    ),
]


# A row id as Postgres keeps it (bigint): a larger number is refused with 422, not sent on.
DbId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        # Postgres stores no NUL in text: refused here, naming the field, not as a 500 there.
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain a NUL character")
        return value


class EraseBody(Request):
    dnc: bool = Field(default=False, description="put the number on the opt-out list first")


class ErasureOut(BaseModel):
    lead_id: int
    notes_cleared: int
    callbacks_cancelled: int
    on_dnc: bool


class DispositionCode(Request):
    code: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^\S+$")]
    label: Annotated[str, Field(max_length=200)] = ""


def _codes_once(codes: list[DispositionCode]) -> list[DispositionCode]:
    seen: set[str] = set()
    for d in codes:
        if d.code in seen:
            raise ValueError(f"code {d.code!r} is given twice")
        seen.add(d.code)
    return codes


DispositionList = Annotated[list[DispositionCode], AfterValidator(_codes_once)]


class CampaignCreate(Request):
    name: Name
    trunk: Ref
    caller_id: CallerId = ""
    callback_number: CallbackNumber = ""
    name_prompt: NamePrompt = ""
    pacing_mode: PacingMode = PacingMode.PROGRESSIVE
    ring_timeout_s: Annotated[float, Field(ge=MIN_RING_TIMEOUT_S, le=300)] = 25.0
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 3
    wrapup_s: Annotated[float, Field(ge=0, le=3600)] = 10.0
    hold_s: Annotated[float, Field(ge=0, le=2)] = 2.0
    amd_enabled: AmdEnabled = False
    machine_message: MachineMessage = ""
    dispositions: DispositionList = Field(default_factory=list)
    max_cps: CampaignCps | None = None


class CampaignUpdate(Request):
    name: Name | None = None
    trunk: Ref | None = None
    caller_id: CallerId | None = None
    callback_number: CallbackNumber | None = None
    name_prompt: NamePrompt | None = None
    pacing_mode: PacingMode | None = None
    ring_timeout_s: Annotated[float, Field(ge=MIN_RING_TIMEOUT_S, le=300)] | None = None
    max_attempts: Annotated[int, Field(ge=1, le=100)] | None = None
    wrapup_s: Annotated[float, Field(ge=0, le=3600)] | None = None
    hold_s: Annotated[float, Field(ge=0, le=2)] | None = None
    amd_enabled: AmdEnabled | None = None
    machine_message: MachineMessage | None = None
    max_cps: Annotated[float, Field(ge=0, le=10_000, description="0: none")] | None = None


class CampaignOut(BaseModel):
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
    callback_number: str = Field(default="", description="'' : the caller ID is said")
    name_prompt: str = Field(default="", description="'' : the message does not name it")
    amd_enabled: bool = False
    machine_message: str = Field(default="", description="'' : machines are hung up on")
    max_cps: float | None = Field(default=None, description="None: the trunk's limit alone")


class DispositionCodes(Request):
    codes: DispositionList


# Calls per second (dialer.pacing.callrate): a trunk's burst, a campaign's own limit.
CpsBurst = Annotated[int, Field(ge=1, le=100_000, description="calls that may start back to back")]
CampaignCps = Annotated[
    float, Field(gt=0, le=10_000, description="calls per second, under the trunk's")
]


class TrunkCreate(Request):
    name: Name
    endpoint: Endpoint
    max_channels: Annotated[int, Field(ge=1, le=100_000)]
    max_cps: Annotated[float, Field(gt=0, le=10_000)]
    dial_prefix: DialPrefix = ""
    caller_id: CallerId = ""
    cps_burst: CpsBurst | None = None


class TrunkUpdate(Request):
    endpoint: Endpoint | None = None
    max_channels: Annotated[int, Field(ge=1, le=100_000)] | None = None
    max_cps: Annotated[float, Field(gt=0, le=10_000)] | None = None
    dial_prefix: DialPrefix | None = None
    caller_id: CallerId | None = None
    cps_burst: Annotated[int, Field(ge=0, le=100_000, description="0: none")] | None = None


class TrunkOut(BaseModel):
    id: int
    name: str
    endpoint: str
    max_channels: int
    max_cps: float
    dial_prefix: str
    caller_id: str = Field(default="", description="for campaigns without their own")
    cps_burst: int | None = Field(default=None, description="None: up to the second's rate")
    in_use: int = Field(description="calls of running campaigns on this trunk now")


class PbxOut(BaseModel):
    kind: str
    host: str
    port: int
    connected: bool


class AgentCreate(Request):
    name: Name
    sip_endpoint: Endpoint
    campaign: Ref | None = None


class AgentOut(BaseModel):
    id: int
    name: str
    sip_endpoint: str
    campaign_id: int | None
    state: str = Field(description="live state: logged_out, logging_in, ready, on_call, ...")
    pause_reason: str | None = None
    calls: int = Field(default=0, description="calls taken since the daemon started")
    owner: str | None = Field(
        default=None,
        description="the daemon that owns the agent now (its lease has not expired): only that "
        "one logs the agent in and hands it calls, and its API shows the live state; null: none",
    )
    owned_here: bool = Field(default=False, description="the owner is the daemon answering")


class AgentMove(Request):
    campaign: Ref


class AgentMoveOut(AgentOut):
    moved: str = Field(
        description="'now', or 'after_call' when the agent is on a call or in wrap-up here: it "
        "moves once that call and its wrap-up end"
    )


class PauseBody(Request):
    reason: Annotated[str, Field(min_length=1, max_length=200)]


class DispositionBody(Request):
    code: Annotated[str, Field(min_length=1, max_length=64)]
    note: Annotated[str, Field(max_length=4000)] = ""
    attempt_id: Annotated[
        str | None,
        Field(
            pattern=r"^[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$",
            description="the call; by default the agent's current or last call",
        ),
    ] = None


class DispositionOut(BaseModel):
    attempt_id: str
    campaign_id: int
    agent_id: int | None
    code: str
    note: str
    created_at: datetime


class CallbackCreate(Request):
    lead_id: DbId
    at: AwareDatetime = Field(description="when to call, with its UTC offset")
    agent: Ref | None = Field(default=None, description="the agent to give it to; none: anyone")
    note: Annotated[str, Field(max_length=4000)] = ""


class CallbackOut(BaseModel):
    id: int
    lead_id: int
    campaign_id: int
    at: datetime
    agent_id: int | None
    agent_name: str | None
    note: str
    by: str
    status: str = Field(description="pending, taken, done or cancelled")


class RejectedRow(BaseModel):
    line: int = Field(description="the file's line (for JSON, the item's position)")
    code: str
    reason: str
    value: str


class ImportReportOut(BaseModel):
    campaign_id: int
    list_id: int
    list_name: str
    format: str
    delimiter: str | None
    phone_column: str
    rows: int
    blank_lines: int
    inserted: int
    rejected_count: int
    counts: dict[str, int]
    zone_sources: dict[str, int]
    skipped_concurrent: int
    seconds: float
    rejected: list[RejectedRow]


class LeadListOut(BaseModel):
    id: int
    name: str
    leads: dict[str, int]


class Figures(BaseModel):
    attempts: int
    in_progress: int
    by_result: dict[str, int]
    answered: int
    connected: int
    abandoned: int
    abandonment_rate: float | None = Field(description="abandoned / answered")
    contact_rate: float | None = Field(description="answered / finished attempts")
    latency_p50_ms: int | None
    latency_p99_ms: int | None


class WindowCountOut(BaseModel):
    answered: int
    abandoned: int
    rate: float = Field(description="abandoned / answered; 0 before any answer")


class LiveOut(BaseModel):
    loaded: bool = Field(description="the daemon is running this campaign")
    paused: bool
    calls_in_flight: int
    calls_by_state: dict[str, int]
    waiting_for_agent: int
    dialed: int
    answered: int
    results: dict[str, int]
    agents_by_state: dict[str, int]
    dial_level: float | None
    pacing: str
    leads_buffered: int
    abandonment: dict[str, WindowCountOut] = Field(
        default_factory=dict,
        description="live answers and abandonments over the rolling windows (24h, 30d) and "
        "the campaign's life, as pacing and /metrics count them (restored from the CDRs "
        "when the daemon starts the campaign)",
    )


class StatsOut(BaseModel):
    campaign: CampaignOut
    live: LiveOut
    window_s: float
    window: Figures
    total: Figures
    leads: dict[str, int]
    compliance: AbandonmentOut = Field(
        description="abandonment as the US and UK regulators count it, from the CDRs"
    )


class StatusOut(BaseModel):
    version: str
    uptime_s: float
    stopping: bool
    pbx: PbxOut
    cdr_pending: int
    campaigns: list[dict[str, Any]]


# -- abandonment as the regulators count it; why a lead is (not) dialed -------------


class AbandonWindowOut(BaseModel):
    connected: int = Field(description="live calls connected to an agent within 2 s")
    abandoned: int = Field(description="live calls with no agent within 2 s")
    machines: int = Field(description="calls answering-machine detection classed as machines")
    us_rate: float | None = Field(description="abandoned / (connected + abandoned)")
    estimated_false_positives: float = Field(
        description="machines x the AMD false-positive rate: people taken for machines"
    )
    uk_rate: float | None = Field(
        description="(abandoned + estimate) / (connected + abandoned + estimate)"
    )
    start: datetime | None = Field(default=None, description="the window's first minute")
    end: datetime | None = Field(default=None, description="the minute after the window")


class AbandonmentOut(BaseModel):
    amd_false_positive_rate: float = Field(
        description="share of machine verdicts assumed to be people (the campaign's rules)"
    )
    amd_false_positive_rate_is_default: bool = Field(
        description="true: the default assumption, not a rate the campaign measured and set"
    )
    life: AbandonWindowOut = Field(description="the campaign's life (US rate)")
    last_30d: AbandonWindowOut = Field(description="the last 30 days (US rate)")
    last_24h: AbandonWindowOut = Field(description="the last 24 hours (UK rate)")
    worst_24h: AbandonWindowOut | None = Field(
        description="the 24 hours with the highest UK rate in the campaign's life (minute "
        "aligned); null before any live call"
    )


class BlockerOut(BaseModel):
    reason: str
    detail: str
    until: datetime | None = Field(description="when it passes by itself; null: never")


class LeadCallbackOut(BaseModel):
    id: int
    due_at: datetime
    agent_id: int | None
    agent_name: str | None
    for_whom: str


class LeadWhyOut(BaseModel):
    lead_id: int
    campaign_id: int
    campaign: str
    phone: str = Field(description="masked, as in the logs")
    status: str
    attempts: int
    max_attempts: int
    last_result: str | None
    at: datetime = Field(description="when it was evaluated")
    time_zones: list[str]
    time_zone_source: str
    policy: str
    dialable: bool
    window_closes_at: datetime | None
    callback_due: LeadCallbackOut | None
    blockers: list[BlockerOut]
    dialable_at: datetime | None = Field(description="if nothing but the clock changes")
    notes: list[str]
    text: str = Field(description="what `dialer leads why` prints")


class AttemptHistoryOut(BaseModel):
    attempt_id: str
    originated_at: datetime
    answer_at: datetime | None
    hangup_at: datetime | None
    result: str | None
    cause: int | None
    cause_text: str | None
    agent: str | None
    disposition: str | None
    note: str | None
    answer_to_agent_ms: int | None


class LeadHistoryOut(BaseModel):
    lead_id: int
    attempts: list[AttemptHistoryOut]
    callback: CallbackOut | None = Field(description="the open (pending or taken) callback")
    text: str = Field(description="what `dialer leads history` prints")


class CampaignReasonsOut(BaseModel):
    campaign_id: int
    campaign: str
    at: datetime
    total: int
    dialable_now: int
    by_reason: dict[str, int] = Field(description="a lead counts under each of its reasons")
    by_first_reason: dict[str, int] = Field(description="... and once under its first")
    text: str = Field(description="what `dialer campaign reasons` prints")


StatsOut.model_rebuild()  # its `abandonment` field's model is defined after it
