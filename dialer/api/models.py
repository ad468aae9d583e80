"""Request and response bodies of the HTTP API (pydantic lives here, at the HTTP edge only).

Requests refuse unknown fields, so a misspelt field is a 422 naming it rather than a silent
no-op.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    field_validator,
)

from dialer.domain.causes import check_overrides
from dialer.domain.pbx_values import (
    CALLER_ID_PATTERN,
    DIAL_PREFIX_PATTERN,
    NAME_PATTERN,
    SOUND_NAME_PATTERN,
    check_callback_number,
    check_caller_id,
    check_dial_prefix,
    check_name,
    check_sound_name,
)
from dialer.pacing.limits import MAX_LINES_PER_AGENT
from dialer.rules.policy import MIN_RING_TIMEOUT_S
from dialer.store.records import CampaignStatus, PacingMode


def _json_number(value: object) -> object:
    # A number as JSON Schema means it: a string of digits or a boolean is none (pydantic
    # alone would take "5" and true), while 36.0 is the integer 36.
    if isinstance(value, str | bool):
        raise ValueError("expected a number")
    return value


_NUMBER = BeforeValidator(_json_number)

Ref = Annotated[
    Annotated[int, Field(ge=1, le=2**53), _NUMBER] | str,
    Field(description="a numeric id or a name"),
]


# A row id: a number past the bound is refused with 422, never sent to Postgres (bigint). The
# bound is the largest integer a JSON number (a double) holds exactly with its neighbours
# (2**53), so a client reading the schema's maximum as a double does not go past it.
MAX_ROW_ID = 2**53
DbId = Annotated[int, Field(ge=1, le=MAX_ROW_ID), _NUMBER]

ASSIGNABLE_PHONE = "assignable-phone"
"""The schema's format of a call-back number: `+` and digits (spaces, dots, dashes and brackets
allowed) that `phonenumbers` knows to be a valid number (right length, assigned range)."""

# RFC 3339's date-time with its offset, as the schema's `format: date-time` says: pydantic
# alone would also take a number of seconds since 1970, or a date alone.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
)


def _rfc3339(value: object) -> object:
    if isinstance(value, str) and _RFC3339.fullmatch(value) is None:
        raise ValueError("expected a date-time with its offset, e.g. 2026-12-07T10:00:00+01:00")
    if not isinstance(value, str | datetime):
        raise ValueError("expected a date-time with its offset, e.g. 2026-12-07T10:00:00+01:00")
    return value


Instant = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]


def _not_all_digits(value: str) -> str:
    # Paths and agent tokens read digits as an id: a name of digits would be another's id.
    if value.isascii() and value.isdigit():
        raise ValueError("a name must not be all digits (digits name an id)")
    return value


# Every rule a field's validators enforce is stated in its schema pattern, so a client (or a
# fuzzer) reads from the schema exactly what is accepted. Spaces are ASCII's, spelt out: what
# `\s` means differs between regex engines.
_EDGE = r"[^ \t\n\r\x0b\x0c]"  # not a space
_EDGE_LETTER = r"[^ \t\n\r\x0b\x0c0-9]"  # neither a space nor a digit
_NAME_RULE = (  # no space at either end, and not all digits
    rf"^({_EDGE_LETTER}|{_EDGE_LETTER}.*{_EDGE}|{_EDGE}.*{_EDGE_LETTER}|{_EDGE}.*[^0-9].*{_EDGE})$"
)


def _optional(pattern: str) -> str:
    """`pattern` (anchored) or the empty string."""
    return f"^({pattern.removeprefix('^').removesuffix('$')})?$"


def _exact(check: Callable[[str], str]) -> Callable[[str], str]:
    """`check` (which drops surrounding spaces) taking the value only as it is: the schema's
    pattern states no spaces, so the API accepts none."""

    def exact(value: str) -> str:
        checked = check(value)
        if checked != value:
            raise ValueError("must not start or end with spaces")
        return checked

    return exact


Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=100,
        pattern=rf"^{_EDGE}(.*{_EDGE})?$",
        json_schema_extra={"pattern": _NAME_RULE},
    ),
    AfterValidator(_not_all_digits),
]
CallerId = Annotated[
    str,
    Field(
        max_length=21,
        json_schema_extra={"pattern": _optional(CALLER_ID_PATTERN)},
        examples=["+15550000000"],
        description="+ and 2 to 20 digits; '' for none (a campaign then shows its trunk's)",
    ),
    AfterValidator(_exact(check_caller_id)),
]
CallbackNumber = Annotated[
    str,
    Field(
        max_length=40,
        examples=["+442079460123"],
        description="the number an abandoned callee is asked to call back, E.164 (a valid "
        "number); '' for none: the caller ID is said instead",
        json_schema_extra={"format": ASSIGNABLE_PHONE},
    ),
    AfterValidator(check_callback_number),
]
NamePrompt = Annotated[
    str,
    Field(
        max_length=200,
        json_schema_extra={"pattern": _optional(SOUND_NAME_PATTERN)},
        examples=["dialer/campaign-7"],
        description="the campaign's name as a PBX sound (under its sounds directory, no "
        "extension), said in the abandon message; '' for none",
    ),
    AfterValidator(_exact(check_sound_name)),
]
MachineMessage = Annotated[
    str,
    Field(
        max_length=200,
        json_schema_extra={"pattern": _optional(SOUND_NAME_PATTERN)},
        examples=["dialer/machine-message"],
        description="with amd_enabled: the PBX sound left on an answering machine after its "
        "beep (under its sounds directory, no extension); '' : machines are hung up on",
    ),
    AfterValidator(_exact(lambda v: check_sound_name(v, "machine_message"))),
]
Endpoint = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        json_schema_extra={"pattern": NAME_PATTERN},
        examples=["agent1"],
        description="the PBX's name for it (a PJSIP endpoint, a FreeSWITCH directory user or "
        "gateway): letters, digits, _ . -; never a dial string (no @ / , or spaces)",
    ),
    AfterValidator(check_name),
]
DialPrefix = Annotated[
    str,
    Field(
        max_length=20,
        json_schema_extra={"pattern": DIAL_PREFIX_PATTERN},
        description="digits, * and # dialled before each number",
    ),
    AfterValidator(check_dial_prefix),
]
AmdEnabled = Annotated[
    bool,
    Strict(),
    Field(
        description="answering-machine detection on answered calls: machines are counted apart "
        "from people and left machine_message or hung up on"
    ),
]

NetworkFailureCap = Annotated[
    int,
    Field(
        ge=1,
        le=100,
        description="calls in a row failing on the network (congestion, trunk failure) after "
        "which a number ends unreachable; those calls do not count towards max_attempts",
    ),
]
CauseResults = Annotated[
    dict[str, dict[str, str]],
    Field(
        examples=[{"sip": {"603": "no_answer"}, "q850": {"21": "no_answer"}}],
        description="changes to the default meaning of the carrier's answers: SIP final "
        "responses and Q.850 causes to invalid, declined, unavailable, busy, no_answer or "
        "failed (the defaults are in the README)",
    ),
    AfterValidator(check_overrides),
]


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
    dnc: Annotated[bool, Strict()] = Field(
        default=False, description="put the number on the opt-out list first"
    )


class ErasureOut(BaseModel):
    lead_id: int
    notes_cleared: int
    callbacks_cancelled: int
    on_dnc: bool


class DispositionCode(Request):
    code: Annotated[str, Field(min_length=1, max_length=64, pattern=rf"^{_EDGE}+$")]
    label: Annotated[str, Field(max_length=200)] = ""


def _codes_once(codes: list[DispositionCode]) -> list[DispositionCode]:
    seen: set[str] = set()
    for d in codes:
        if d.code in seen:
            raise ValueError(f"code {d.code!r} is given twice")
        seen.add(d.code)
    return codes


DispositionList = Annotated[list[DispositionCode], AfterValidator(_codes_once)]


LinesPerAgent = Annotated[
    float,
    Field(
        ge=1,
        le=MAX_LINES_PER_AGENT,
        description="power mode: calls in flight per ready agent (under the abandonment cap)",
    ),
]
PreviewTimeout = Annotated[
    float,
    Field(
        ge=0,
        le=3600,
        description="preview mode: a lead offered to an agent is dialed by itself after this "
        "many seconds; 0: it waits until the agent dials or skips it",
    ),
]


class CampaignCreate(Request):
    name: Name
    trunk: Ref
    caller_id: CallerId = ""
    callback_number: CallbackNumber = ""
    name_prompt: NamePrompt = ""
    pacing_mode: PacingMode = PacingMode.PROGRESSIVE
    ring_timeout_s: Annotated[float, Field(ge=MIN_RING_TIMEOUT_S, le=300), _NUMBER] = 25.0
    max_attempts: Annotated[int, Field(ge=1, le=100), _NUMBER] = 3
    wrapup_s: Annotated[float, Field(ge=0, le=3600), _NUMBER] = 10.0
    hold_s: Annotated[float, Field(ge=0, le=2), _NUMBER] = 2.0
    amd_enabled: AmdEnabled = False
    machine_message: MachineMessage = ""
    lines_per_agent: LinesPerAgent = 2.0
    preview_timeout_s: PreviewTimeout = 0.0
    network_failure_cap: NetworkFailureCap = 5
    cause_results: CauseResults = Field(default_factory=dict)
    dispositions: DispositionList = Field(default_factory=list)
    max_cps: CampaignCps | None = None


class CampaignUpdate(Request):
    name: Name | None = None
    trunk: Ref | None = None
    caller_id: CallerId | None = None
    callback_number: CallbackNumber | None = None
    name_prompt: NamePrompt | None = None
    pacing_mode: PacingMode | None = None
    ring_timeout_s: Annotated[float, Field(ge=MIN_RING_TIMEOUT_S, le=300), _NUMBER] | None = None
    max_attempts: Annotated[int, Field(ge=1, le=100), _NUMBER] | None = None
    wrapup_s: Annotated[float, Field(ge=0, le=3600), _NUMBER] | None = None
    hold_s: Annotated[float, Field(ge=0, le=2), _NUMBER] | None = None
    amd_enabled: AmdEnabled | None = None
    machine_message: MachineMessage | None = None
    lines_per_agent: LinesPerAgent | None = None
    preview_timeout_s: PreviewTimeout | None = None
    network_failure_cap: NetworkFailureCap | None = None
    cause_results: CauseResults | None = None
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
    lines_per_agent: float = Field(default=2.0, description="power mode: lines per ready agent")
    preview_timeout_s: float = Field(
        default=0.0, description="preview: dialed by itself after this long; 0: never"
    )
    network_failure_cap: int = 5
    cause_results: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="the campaign's changes to the default mapping"
    )
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
    max_channels: Annotated[int, Field(ge=1, le=100_000), _NUMBER]
    max_cps: Annotated[float, Field(gt=0, le=10_000), _NUMBER]
    dial_prefix: DialPrefix = ""
    caller_id: CallerId = ""
    cps_burst: CpsBurst | None = None


class TrunkUpdate(Request):
    endpoint: Endpoint | None = None
    max_channels: Annotated[int, Field(ge=1, le=100_000), _NUMBER] | None = None
    max_cps: Annotated[float, Field(gt=0, le=10_000), _NUMBER] | None = None
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
    at: Instant = Field(description="when to call, with its UTC offset")
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
    rejected_count: int = Field(description="every rejected row")
    counts: dict[str, int]
    zone_sources: dict[str, int]
    skipped_concurrent: int
    seconds: float
    rejected: list[RejectedRow] = Field(
        description="the first rejected rows by line (at most 1,000); `rejected_count` counts all"
    )


class LeadListOut(BaseModel):
    id: int
    name: str
    leads: dict[str, int]
    invalid: int = Field(
        default=0, description="leads whose number does not exist (404, Q.850 1, 3, 22, 28)"
    )
    unreachable: int = Field(
        default=0, description="leads whose number failed on the network on every call"
    )


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
    lists: list[LeadListOut] = Field(
        default_factory=list, description="the campaign's lists: leads by status, invalid numbers"
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
