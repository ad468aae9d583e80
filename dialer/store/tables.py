"""The schema, as SQLAlchemy Core tables. Alembic's migrations create it; a test checks that the
migrated database and these tables agree.

Integrity the database enforces itself (so a bug in one daemon cannot corrupt the data):
- lead phones are E.164 (check constraint);
- a lead's campaign is its list's campaign (composite foreign key);
- a disposition's code is one of its attempt's campaign's codes (two composite foreign keys);
- an attempt has a result exactly when it has a hang-up time.
The lease query (`leads.lease_leads`) is served by a partial index over dialable leads.
"""

from __future__ import annotations

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

from dialer.domain.pbx_values import E164_PATTERN
from dialer.domain.recovery import PROGRESS_OUTCOMES
from dialer.domain.results import CallResult
from dialer.store.records import (
    AgentState,
    CampaignStatus,
    LeadStatus,
    PacingMode,
)

# A PBX sound name or '' (dialer.domain.pbx_values.SOUND_NAME_PATTERN, as a POSIX regex).
NAME_PROMPT_CHECK = r"^([A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*)?$"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _one_of(column: str, values: list[str]) -> str:
    listed = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({listed})"


trunks = Table(
    "trunks",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
    Column("max_channels", Integer, nullable=False),
    Column("max_cps", Float, nullable=False),
    Column("dial_prefix", Text, nullable=False, server_default=""),
    Column("endpoint", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Migration 0004: the caller ID of calls whose campaign has none ('' : none).
    Column("caller_id", Text, nullable=False, server_default=""),
    # Migration 0011: calls that may start back to back (NULL: up to the second's rate).
    Column("cps_burst", Integer, nullable=True),
    CheckConstraint("max_channels > 0", name="max_channels_positive"),
    CheckConstraint("max_cps > 0", name="max_cps_positive"),
    CheckConstraint("cps_burst IS NULL OR cps_burst >= 1", name="cps_burst_positive"),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
    Column("status", Text, nullable=False, server_default=CampaignStatus.DRAFT.value),
    Column("pacing_mode", Text, nullable=False, server_default=PacingMode.PROGRESSIVE.value),
    Column("caller_id", Text, nullable=False),
    Column("trunk_id", BigInteger, ForeignKey("trunks.id", ondelete="RESTRICT"), nullable=False),
    Column("ring_timeout_s", Float, nullable=False, server_default="25"),
    Column("max_attempts", Integer, nullable=False, server_default="3"),
    Column("wrapup_s", Float, nullable=False, server_default="10"),
    Column("hold_s", Float, nullable=False, server_default="2"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Migration 0003: answering-machine detection; a machine is left `machine_message` (a PBX
    # sound name) or, when it is empty, hung up.
    Column("amd_enabled", Boolean, nullable=False, server_default=false()),
    Column("machine_message", Text, nullable=False, server_default=""),
    # Migration 0004, the abandon message (dialer.domain.abandon): the number to call back
    # ('' : the caller ID) and the campaign's name as a PBX sound name ('' : not said).
    Column("callback_number", Text, nullable=False, server_default=""),
    Column("name_prompt", Text, nullable=False, server_default=""),
    # Migration 0007: the predictive pacer's calibration, saved now and then by the
    # daemons running the campaign and restored after a restart; NULL: never saved.
    Column("pacer_threshold", Float, nullable=True),
    Column("pacer_abandons_seen", Integer, nullable=True),
    # Migration 0011: power mode's lines per ready agent, and how long a preview lead waits for
    # its agent before it is dialed by itself (0: until the agent dials or skips it).
    Column("lines_per_agent", Float, nullable=False, server_default="2"),
    Column("preview_timeout_s", Float, nullable=False, server_default="0"),
    CheckConstraint("lines_per_agent >= 1 AND lines_per_agent <= 10", name="lines_per_agent"),
    CheckConstraint("preview_timeout_s >= 0", name="preview_timeout"),
    # Migration 0012: what the carrier's answers mean (dialer.domain.causes): a number failing
    # on the network this many calls in a row ends unreachable; the campaign's changes to the
    # default mapping of SIP responses and Q.850 causes to results.
    Column("network_failure_cap", Integer, nullable=False, server_default="5"),
    Column("cause_results", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    CheckConstraint("network_failure_cap >= 1", name="network_failure_cap_positive"),
    # Migration 0014: the campaign's own calls-per-second limit under its trunk's (NULL: none).
    Column("max_cps", Float, nullable=True),
    CheckConstraint("max_cps IS NULL OR max_cps > 0", name="max_cps_positive"),
    CheckConstraint(
        "pacer_threshold IS NULL OR (pacer_threshold > 0 AND pacer_threshold <= 1)",
        name="pacer_threshold",
    ),
    CheckConstraint(_one_of("status", [s.value for s in CampaignStatus]), name="status"),
    CheckConstraint(_one_of("pacing_mode", [m.value for m in PacingMode]), name="pacing_mode"),
    # Migration 0002: an unanswered call rings at least 15 s before we give up.
    CheckConstraint("ring_timeout_s >= 15", name="ring_timeout_min_15"),
    CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
    CheckConstraint("wrapup_s >= 0", name="wrapup_not_negative"),
    CheckConstraint("hold_s >= 0", name="hold_not_negative"),
    CheckConstraint(
        f"callback_number = '' OR callback_number ~ '{E164_PATTERN}'", name="callback_number_e164"
    ),
    CheckConstraint(f"name_prompt ~ '{NAME_PROMPT_CHECK}'", name="name_prompt_sound_name"),
    Index(None, "trunk_id"),
)

disposition_codes = Table(
    "disposition_codes",
    metadata,
    Column(
        "campaign_id",
        BigInteger,
        ForeignKey("campaigns.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("code", Text, nullable=False),
    Column("label", Text, nullable=False, server_default=""),
    PrimaryKeyConstraint("campaign_id", "code"),
    CheckConstraint("length(code) BETWEEN 1 AND 64", name="code_length"),
)

lead_lists = Table(
    "lead_lists",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column(
        "campaign_id",
        BigInteger,
        ForeignKey("campaigns.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("name", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("campaign_id", "name"),
    # target of leads' composite key: a lead's campaign is its list's campaign
    UniqueConstraint("id", "campaign_id"),
)

leads = Table(
    "leads",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("list_id", BigInteger, nullable=False),
    Column("campaign_id", BigInteger, nullable=False),
    Column("phone", Text, nullable=False),
    Column("time_zone", Text, nullable=False, server_default="UTC"),
    Column("status", Text, nullable=False, server_default=LeadStatus.NEW.value),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_call_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("lease_owner", Text, nullable=True),
    Column("lease_expires_at", DateTime(timezone=True), nullable=True),
    Column("last_result", Text, nullable=True),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("extra", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Migration 0012: calls in a row that failed on the network (dialer.store.retry).
    Column("network_failures", Integer, nullable=False, server_default="0"),
    CheckConstraint("network_failures >= 0", name="network_failures_not_negative"),
    ForeignKeyConstraint(
        ["list_id", "campaign_id"],
        ["lead_lists.id", "lead_lists.campaign_id"],
        ondelete="CASCADE",
        name="fk_leads_list_id_campaign_id_lead_lists",
    ),
    UniqueConstraint("list_id", "phone"),
    CheckConstraint(f"phone ~ '{E164_PATTERN}'", name="phone_e164"),
    CheckConstraint(_one_of("status", [s.value for s in LeadStatus]), name="status"),
    CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    CheckConstraint(
        "last_result IS NULL OR " + _one_of("last_result", [r.value for r in CallResult]),
        name="last_result",
    ),
    CheckConstraint(
        "(lease_owner IS NULL) = (lease_expires_at IS NULL)", name="lease_owner_and_expiry"
    ),
    # The lease query: dialable leads of one campaign, best first.
    Index(
        "ix_leads_dialable",
        "campaign_id",
        text("priority DESC"),
        "next_call_at",
        "id",
        postgresql_where=text("status IN ('new', 'retry')"),
    ),
    # release_expired_leases and close_open_attempts look leases up by expiry and owner.
    Index(
        "ix_leads_lease_expires_at",
        "lease_expires_at",
        postgresql_where=text("lease_owner IS NOT NULL"),
    ),
    Index("ix_leads_lease_owner", "lease_owner", postgresql_where=text("lease_owner IS NOT NULL")),
    Index(None, "campaign_id", "status"),
)

agents = Table(
    "agents",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
    Column("sip_endpoint", Text, nullable=False, unique=True),
    Column(
        "campaign_id",
        BigInteger,
        ForeignKey("campaigns.id", ondelete="SET NULL"),
        nullable=True,
    ),
    Column("state", Text, nullable=False, server_default=AgentState.OFFLINE.value),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The daemon that owns the agent (logs its headset in, hands it calls) and until when
    # (`agents.lease_agents`); NULL: none.
    Column("owner", Text, nullable=True),
    Column("owner_expires_at", DateTime(timezone=True), nullable=True),
    # The owner's headset leg for this agent (its channel id) while logged in there.
    Column("leg_id", Text, nullable=True),
    CheckConstraint(_one_of("state", [s.value for s in AgentState]), name="state"),
    CheckConstraint("(owner IS NULL) = (owner_expires_at IS NULL)", name="owner_and_expiry"),
    Index(None, "campaign_id"),
    Index("ix_agents_owner", "owner", postgresql_where=text("owner IS NOT NULL")),
)

call_attempts = Table(
    "call_attempts",
    metadata,
    Column("id", UUID(as_uuid=False), primary_key=True),
    Column("lead_id", BigInteger, ForeignKey("leads.id", ondelete="RESTRICT"), nullable=False),
    Column(
        "campaign_id",
        BigInteger,
        ForeignKey("campaigns.id", ondelete="RESTRICT"),
        nullable=False,
    ),
    Column("trunk_id", BigInteger, ForeignKey("trunks.id", ondelete="RESTRICT"), nullable=True),
    Column("agent_id", BigInteger, ForeignKey("agents.id", ondelete="SET NULL"), nullable=True),
    Column("owner", Text, nullable=False),
    Column("pbx_unique_id", Text, nullable=True),
    Column("originated_at", DateTime(timezone=True), nullable=False),
    Column("ring_at", DateTime(timezone=True), nullable=True),
    Column("answer_at", DateTime(timezone=True), nullable=True),
    Column("agent_connect_at", DateTime(timezone=True), nullable=True),
    Column("message_at", DateTime(timezone=True), nullable=True),
    # The result known before the hang-up (dialer.domain.recovery.PROGRESS_OUTCOMES).
    Column("outcome", Text, nullable=True),
    Column("hangup_at", DateTime(timezone=True), nullable=True),
    Column("hangup_cause", Integer, nullable=True),
    Column("hangup_cause_text", Text, nullable=True),
    Column("result", Text, nullable=True),
    Column("answer_to_agent_ms", Integer, nullable=True),
    # Migration 0012: the lead before an attempt that failed on the network or as invalid, and
    # whether the trunk breaker gave it back for that (dialer.domain.breaker).
    Column("lead_before", JSONB, nullable=True),
    Column("trunk_fault", Boolean, nullable=False, server_default=false()),
    # target of dispositions' composite key: a disposition's campaign is its attempt's campaign
    UniqueConstraint("id", "campaign_id"),
    CheckConstraint(
        "result IS NULL OR " + _one_of("result", [r.value for r in CallResult]), name="result"
    ),
    CheckConstraint("(result IS NULL) = (hangup_at IS NULL)", name="result_iff_hangup"),
    CheckConstraint(
        "outcome IS NULL OR " + _one_of("outcome", [r.value for r in PROGRESS_OUTCOMES]),
        name="outcome",
    ),
    CheckConstraint("answer_to_agent_ms IS NULL OR answer_to_agent_ms >= 0", name="latency"),
    Index(None, "campaign_id", "originated_at"),
    Index(None, "lead_id"),
    Index(None, "agent_id"),
    Index("ix_call_attempts_open_owner", "owner", postgresql_where=text("hangup_at IS NULL")),
)

dispositions = Table(
    "dispositions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("attempt_id", UUID(as_uuid=False), nullable=False, unique=True),
    Column("campaign_id", BigInteger, nullable=False),
    Column("agent_id", BigInteger, ForeignKey("agents.id", ondelete="SET NULL"), nullable=True),
    Column("code", Text, nullable=False),
    Column("note", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    ForeignKeyConstraint(
        ["attempt_id", "campaign_id"],
        ["call_attempts.id", "call_attempts.campaign_id"],
        ondelete="CASCADE",
        name="fk_dispositions_attempt_id_campaign_id_call_attempts",
    ),
    ForeignKeyConstraint(
        ["campaign_id", "code"],
        ["disposition_codes.campaign_id", "disposition_codes.code"],
        ondelete="RESTRICT",
        onupdate="CASCADE",
        name="fk_dispositions_campaign_id_code_disposition_codes",
    ),
    Index(None, "campaign_id", "code"),
    Index(None, "agent_id"),
)

# -- rules that protect the called person (migration 0002) ---------------------------

# The lease query's rule filters look numbers up by phone: the same number in other lists (the
# 72-hour lock after an abandoned call holds across campaigns) and on do-not-call lists.
Index("ix_leads_phone", leads.c.phone)
Index(
    "ix_call_attempts_abandoned",
    call_attempts.c.lead_id,
    call_attempts.c.hangup_at,
    postgresql_where=text("result = 'abandoned'"),
)

DNC_SOURCES = ("import", "opt_out", "manual", "complaint")  # dialer.rules.dnc.DncSource

dnc_lists = Table(
    "dnc_lists",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
    # NULL: a global list (every campaign); else the one campaign it applies to
    Column(
        "campaign_id", BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=True
    ),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index(None, "campaign_id"),
)

dnc_numbers = Table(
    "dnc_numbers",
    metadata,
    Column("list_id", BigInteger, ForeignKey("dnc_lists.id", ondelete="CASCADE"), nullable=False),
    Column("phone", Text, nullable=False),
    Column("source", Text, nullable=False, server_default="import"),
    Column("note", Text, nullable=False, server_default=""),
    Column("added_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("list_id", "phone"),
    CheckConstraint(f"phone ~ '{E164_PATTERN}'", name="phone_e164"),
    CheckConstraint(_one_of("source", list(DNC_SOURCES)), name="source"),
    Index(None, "phone"),
)

PRESETS = ("none", "us", "uk", "ru_debt")  # dialer.rules.policy.Preset

campaign_rules = Table(
    "campaign_rules",
    metadata,
    Column(
        "campaign_id",
        BigInteger,
        ForeignKey("campaigns.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("preset", Text, nullable=False, server_default="none"),
    Column("default_time_zone", Text, nullable=False, server_default="UTC"),
    # 7 lists (Monday first) of "HH:MM-HH:MM" windows in the callee's local time
    Column("weekday_hours", JSONB, nullable=False),
    Column("holiday_hours", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("holidays", ARRAY(Date), nullable=False, server_default=text("'{}'::date[]")),
    Column("cap_per_day", Integer, nullable=True),
    Column("cap_rolling_24h", Integer, nullable=True),
    Column("cap_per_week", Integer, nullable=True),
    Column("cap_per_month", Integer, nullable=True),
    # per result: {"busy": {"counts": true, "final": false, "retry_after_s": 600}, ...}
    Column("retry_rules", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # share of AMD machine verdicts that were people (UK abandonment rate); NULL: the default
    Column("amd_false_positive_rate", Float, nullable=True),
    CheckConstraint(_one_of("preset", list(PRESETS)), name="preset"),
    CheckConstraint(
        "amd_false_positive_rate IS NULL OR "
        "(amd_false_positive_rate >= 0 AND amd_false_positive_rate < 1)",
        name="amd_false_positive_rate",
    ),
    CheckConstraint(
        "(cap_per_day IS NULL OR cap_per_day >= 1) AND "
        "(cap_rolling_24h IS NULL OR cap_rolling_24h >= 1) AND "
        "(cap_per_week IS NULL OR cap_per_week >= 1) AND "
        "(cap_per_month IS NULL OR cap_per_month >= 1)",
        name="caps_positive",
    ),
)

CALLBACK_STATUSES = ("pending", "taken", "done", "cancelled")

callbacks = Table(
    "callbacks",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("lead_id", BigInteger, ForeignKey("leads.id", ondelete="CASCADE"), nullable=False),
    Column(
        "campaign_id", BigInteger, ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False
    ),
    Column("due_at", DateTime(timezone=True), nullable=False),
    # NULL: any agent of the campaign
    Column("agent_id", BigInteger, ForeignKey("agents.id", ondelete="SET NULL"), nullable=True),
    Column("status", Text, nullable=False, server_default="pending"),
    Column("note", Text, nullable=False, server_default=""),
    Column("created_by", Text, nullable=False, server_default=""),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("taken_at", DateTime(timezone=True), nullable=True),
    Column("taken_by", Text, nullable=True),
    CheckConstraint(_one_of("status", list(CALLBACK_STATUSES)), name="status"),
    # at most one open callback per lead
    Index(
        "uq_callbacks_open_lead",
        "lead_id",
        unique=True,
        postgresql_where=text("status IN ('pending', 'taken')"),
    ),
    Index(
        "ix_callbacks_due",
        "campaign_id",
        "due_at",
        postgresql_where=text("status = 'pending'"),
    ),
)

# The daemons on the database and the campaigns each runs, renewed with their agent leases:
# how many daemons share a campaign's agents (`agents.lease_agents`). Gone at a clean stop;
# a row past `seen_until` is a stopped daemon's.
daemons = Table(
    "daemons",
    metadata,
    Column("owner", Text, primary_key=True),
    Column("campaign_ids", ARRAY(BigInteger), nullable=False, server_default=text("'{}'")),
    Column("seen_until", DateTime(timezone=True), nullable=False),
)

# The PBX's own record of each call, written at the hang-up with or without a daemon listening:
# by Asterisk's cdr_pgsql (deploy/asterisk/cdr_pgsql_local.conf.example), or by FreeSWITCH's
# mod_cdr_pg_csv (deploy/freeswitch/autoload_configs/cdr_pg_csv.conf.xml, one row per leg,
# `disposition` its hang-up cause, `channel` left empty). Column names are the CDR fields
# cdr_pgsql fills by name; times are epoch seconds (float columns get microseconds from Asterisk,
# whole seconds from FreeSWITCH), 0 when unset.
pbx_cdr = Table(
    "pbx_cdr",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("uniqueid", Text, nullable=True, index=True),
    Column("channel", Text, nullable=True),
    Column("dcontext", Text, nullable=True),
    Column("disposition", Text, nullable=True),
    Column("start", Float, nullable=True),
    Column("answer", Float, nullable=True),
    Column("end", Float, nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index(None, "recorded_at"),
)

# Call records the database refused, kept whole (the spool's JSON line, as text: jsonb would
# refuse a NUL) with the error, so one bad record never blocks the others (dialer.engine.cdr).
cdr_dead_letters = Table(
    "cdr_dead_letters",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("kind", Text, nullable=False),
    Column("record", Text, nullable=False),
    Column("error", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Who changed what and when (dialer.store.audit): supervisor and admin actions.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("who", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("target", Text, nullable=False),
    Column("before", JSONB, nullable=True),
    Column("after", JSONB, nullable=True),
    Index(None, "at"),
)

# People who sign in to the web console (dialer.store.users): an agent's account names its agent.
USER_ROLES = ["admin", "supervisor", "agent"]
users = Table(
    "users",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False, unique=True),
    Column("role", Text, nullable=False),
    Column("password_hash", Text, nullable=False),
    Column("agent_id", BigInteger, ForeignKey("agents.id", ondelete="RESTRICT"), nullable=True),
    Column("disabled", Boolean, nullable=False, server_default=false()),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    CheckConstraint(_one_of("role", USER_ROLES), name="role_known"),
    CheckConstraint("(role = 'agent') = (agent_id IS NOT NULL)", name="agent_for_agents"),
    CheckConstraint("length(name) BETWEEN 1 AND 100", name="name_length"),
    UniqueConstraint("agent_id"),
)

ALL_TABLES = (
    trunks,
    campaigns,
    disposition_codes,
    lead_lists,
    leads,
    agents,
    call_attempts,
    dispositions,
    dnc_lists,
    dnc_numbers,
    campaign_rules,
    callbacks,
    daemons,
    pbx_cdr,
    cdr_dead_letters,
    audit_log,
    users,
)

__all__ = [
    "ALL_TABLES",
    "agents",
    "audit_log",
    "call_attempts",
    "callbacks",
    "campaign_rules",
    "campaigns",
    "cdr_dead_letters",
    "daemons",
    "disposition_codes",
    "dispositions",
    "dnc_lists",
    "dnc_numbers",
    "lead_lists",
    "leads",
    "metadata",
    "pbx_cdr",
    "trunks",
    "users",
]
