"""Request and response bodies of the HTTP API (pydantic lives here, at the HTTP edge only).

Requests refuse unknown fields, so a misspelt field is a 422 naming it rather than a silent
no-op.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from dialer.rules.policy import MIN_RING_TIMEOUT_S
from dialer.store.records import CampaignStatus, PacingMode

Ref = Annotated[int | str, Field(description="a numeric id or a name")]
Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^\S(.*\S)?$")]
CallerId = Annotated[str, Field(pattern=r"^\+?[0-9]{2,20}$", examples=["+15550000000"])]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DispositionCode(Request):
    code: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^\S+$")]
    label: Annotated[str, Field(max_length=200)] = ""


class CampaignCreate(Request):
    name: Name
    trunk: Ref
    caller_id: CallerId
    pacing_mode: PacingMode = PacingMode.PROGRESSIVE
    ring_timeout_s: Annotated[float, Field(ge=MIN_RING_TIMEOUT_S, le=300)] = 25.0
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 3
    wrapup_s: Annotated[float, Field(ge=0, le=3600)] = 10.0
    hold_s: Annotated[float, Field(ge=0, le=2)] = 2.0
    dispositions: list[DispositionCode] = Field(default_factory=list)


class CampaignUpdate(Request):
    name: Name | None = None
    trunk: Ref | None = None
    caller_id: CallerId | None = None
    pacing_mode: PacingMode | None = None
    ring_timeout_s: Annotated[float, Field(ge=MIN_RING_TIMEOUT_S, le=300)] | None = None
    max_attempts: Annotated[int, Field(ge=1, le=100)] | None = None
    wrapup_s: Annotated[float, Field(ge=0, le=3600)] | None = None
    hold_s: Annotated[float, Field(ge=0, le=2)] | None = None


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


class DispositionCodes(Request):
    codes: list[DispositionCode]


class TrunkCreate(Request):
    name: Name
    endpoint: Annotated[str, Field(min_length=1, max_length=200)]
    max_channels: Annotated[int, Field(ge=1, le=100_000)]
    max_cps: Annotated[float, Field(gt=0, le=10_000)]
    dial_prefix: Annotated[str, Field(max_length=20, pattern=r"^[0-9*#+]*$")] = ""


class TrunkUpdate(Request):
    endpoint: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    max_channels: Annotated[int, Field(ge=1, le=100_000)] | None = None
    max_cps: Annotated[float, Field(gt=0, le=10_000)] | None = None
    dial_prefix: Annotated[str, Field(max_length=20, pattern=r"^[0-9*#+]*$")] | None = None


class TrunkOut(BaseModel):
    id: int
    name: str
    endpoint: str
    max_channels: int
    max_cps: float
    dial_prefix: str
    in_use: int = Field(description="calls of running campaigns on this trunk now")


class PbxOut(BaseModel):
    kind: str
    host: str
    port: int
    connected: bool


class AgentCreate(Request):
    name: Name
    sip_endpoint: Annotated[str, Field(min_length=1, max_length=200)]
    campaign: Ref | None = None


class AgentOut(BaseModel):
    id: int
    name: str
    sip_endpoint: str
    campaign_id: int | None
    state: str = Field(description="live state: logged_out, logging_in, ready, on_call, ...")
    pause_reason: str | None = None
    calls: int = Field(default=0, description="calls taken since the daemon started")


class PauseBody(Request):
    reason: Annotated[str, Field(min_length=1, max_length=200)]


class DispositionBody(Request):
    code: Annotated[str, Field(min_length=1, max_length=64)]
    note: Annotated[str, Field(max_length=4000)] = ""
    attempt_id: Annotated[
        str | None,
        Field(
            pattern=r"^[0-9a-fA-F-]{36}$",
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
    lead_id: int
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


class StatsOut(BaseModel):
    campaign: CampaignOut
    live: LiveOut
    window_s: float
    window: Figures
    total: Figures
    leads: dict[str, int]


class StatusOut(BaseModel):
    version: str
    uptime_s: float
    stopping: bool
    pbx: PbxOut
    cdr_pending: int
    campaigns: list[dict[str, Any]]
