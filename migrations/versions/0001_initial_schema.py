"""Initial schema: trunks, campaigns, disposition codes, lead lists, leads, agents, call
attempts (CDRs) and dispositions.

Written from `dialer/store/tables.py` by autogenerate, then reviewed; it does not import the
application, so it stays what it was when later revisions change the tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-22 02:46:53.751332
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trunks",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("max_channels", sa.Integer(), nullable=False),
        sa.Column("max_cps", sa.Float(), nullable=False),
        sa.Column("dial_prefix", sa.Text(), server_default="", nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("max_channels > 0", name=op.f("ck_trunks_max_channels_positive")),
        sa.CheckConstraint("max_cps > 0", name=op.f("ck_trunks_max_cps_positive")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trunks")),
        sa.UniqueConstraint("name", name=op.f("uq_trunks_name")),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), server_default="draft", nullable=False),
        sa.Column("pacing_mode", sa.Text(), server_default="progressive", nullable=False),
        sa.Column("caller_id", sa.Text(), nullable=False),
        sa.Column("trunk_id", sa.BigInteger(), nullable=False),
        sa.Column("ring_timeout_s", sa.Float(), server_default="25", nullable=False),
        sa.Column("max_attempts", sa.Integer(), server_default="3", nullable=False),
        sa.Column("wrapup_s", sa.Float(), server_default="10", nullable=False),
        sa.Column("hold_s", sa.Float(), server_default="2", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "pacing_mode IN ('preview', 'progressive', 'power', 'predictive')",
            name=op.f("ck_campaigns_pacing_mode"),
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'running', 'paused', 'stopped', 'finished')",
            name=op.f("ck_campaigns_status"),
        ),
        sa.CheckConstraint("hold_s >= 0", name=op.f("ck_campaigns_hold_not_negative")),
        sa.CheckConstraint("max_attempts >= 1", name=op.f("ck_campaigns_max_attempts_positive")),
        sa.CheckConstraint("ring_timeout_s > 0", name=op.f("ck_campaigns_ring_timeout_positive")),
        sa.CheckConstraint("wrapup_s >= 0", name=op.f("ck_campaigns_wrapup_not_negative")),
        sa.ForeignKeyConstraint(
            ["trunk_id"],
            ["trunks.id"],
            name=op.f("fk_campaigns_trunk_id_trunks"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("name", name=op.f("uq_campaigns_name")),
    )
    op.create_index(op.f("ix_campaigns_trunk_id"), "campaigns", ["trunk_id"], unique=False)
    op.create_table(
        "agents",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("sip_endpoint", sa.Text(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.Text(), server_default="offline", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "state IN ('offline', 'ready', 'talking', 'wrapup', 'paused')",
            name=op.f("ck_agents_state"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_agents_campaign_id_campaigns"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agents")),
        sa.UniqueConstraint("name", name=op.f("uq_agents_name")),
        sa.UniqueConstraint("sip_endpoint", name=op.f("uq_agents_sip_endpoint")),
    )
    op.create_index(op.f("ix_agents_campaign_id"), "agents", ["campaign_id"], unique=False)
    op.create_table(
        "disposition_codes",
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), server_default="", nullable=False),
        sa.CheckConstraint(
            "length(code) BETWEEN 1 AND 64", name=op.f("ck_disposition_codes_code_length")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_disposition_codes_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", "code", name=op.f("pk_disposition_codes")),
    )
    op.create_table(
        "lead_lists",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_lead_lists_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_lists")),
        sa.UniqueConstraint("campaign_id", "name", name=op.f("uq_lead_lists_campaign_id_name")),
        sa.UniqueConstraint("id", "campaign_id", name=op.f("uq_lead_lists_id_campaign_id")),
    )
    op.create_table(
        "leads",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("list_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("time_zone", sa.Text(), server_default="UTC", nullable=False),
        sa.Column("status", sa.Text(), server_default="new", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "next_call_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_result", sa.Text(), nullable=True),
        sa.Column("priority", sa.Integer(), server_default="0", nullable=False),
        sa.Column(
            "extra",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "last_result IS NULL OR last_result IN ('connected', 'abandoned', 'busy', 'no_answer', 'failed', 'cancelled')",
            name=op.f("ck_leads_last_result"),
        ),
        sa.CheckConstraint("phone ~ '^\\+[1-9][0-9]{1,14}$'", name=op.f("ck_leads_phone_e164")),
        sa.CheckConstraint(
            "status IN ('new', 'retry', 'dialing', 'done')", name=op.f("ck_leads_status")
        ),
        sa.CheckConstraint(
            "(lease_owner IS NULL) = (lease_expires_at IS NULL)",
            name=op.f("ck_leads_lease_owner_and_expiry"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_leads_attempts_not_negative")),
        sa.ForeignKeyConstraint(
            ["list_id", "campaign_id"],
            ["lead_lists.id", "lead_lists.campaign_id"],
            name="fk_leads_list_id_campaign_id_lead_lists",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
        sa.UniqueConstraint("list_id", "phone", name=op.f("uq_leads_list_id_phone")),
    )
    op.create_index(
        op.f("ix_leads_campaign_id_status"), "leads", ["campaign_id", "status"], unique=False
    )
    op.create_index(
        "ix_leads_dialable",
        "leads",
        ["campaign_id", sa.literal_column("priority DESC"), "next_call_at", "id"],
        unique=False,
        postgresql_where=sa.text("status IN ('new', 'retry')"),
    )
    op.create_index(
        "ix_leads_lease_expires_at",
        "leads",
        ["lease_expires_at"],
        unique=False,
        postgresql_where=sa.text("lease_owner IS NOT NULL"),
    )
    op.create_index(
        "ix_leads_lease_owner",
        "leads",
        ["lease_owner"],
        unique=False,
        postgresql_where=sa.text("lease_owner IS NOT NULL"),
    )
    op.create_table(
        "call_attempts",
        sa.Column("id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("lead_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("trunk_id", sa.BigInteger(), nullable=True),
        sa.Column("agent_id", sa.BigInteger(), nullable=True),
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column("pbx_unique_id", sa.Text(), nullable=True),
        sa.Column("originated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ring_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("agent_connect_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hangup_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hangup_cause", sa.Integer(), nullable=True),
        sa.Column("hangup_cause_text", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("answer_to_agent_ms", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "result IS NULL OR result IN ('connected', 'abandoned', 'busy', 'no_answer', 'failed', 'cancelled')",
            name=op.f("ck_call_attempts_result"),
        ),
        sa.CheckConstraint(
            "(result IS NULL) = (hangup_at IS NULL)",
            name=op.f("ck_call_attempts_result_iff_hangup"),
        ),
        sa.CheckConstraint(
            "answer_to_agent_ms IS NULL OR answer_to_agent_ms >= 0",
            name=op.f("ck_call_attempts_latency"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_call_attempts_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_call_attempts_campaign_id_campaigns"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"],
            ["leads.id"],
            name=op.f("fk_call_attempts_lead_id_leads"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["trunk_id"],
            ["trunks.id"],
            name=op.f("fk_call_attempts_trunk_id_trunks"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_attempts")),
        sa.UniqueConstraint("id", "campaign_id", name=op.f("uq_call_attempts_id_campaign_id")),
    )
    op.create_index(op.f("ix_call_attempts_agent_id"), "call_attempts", ["agent_id"], unique=False)
    op.create_index(
        op.f("ix_call_attempts_campaign_id_originated_at"),
        "call_attempts",
        ["campaign_id", "originated_at"],
        unique=False,
    )
    op.create_index(op.f("ix_call_attempts_lead_id"), "call_attempts", ["lead_id"], unique=False)
    op.create_index(
        "ix_call_attempts_open_owner",
        "call_attempts",
        ["owner"],
        unique=False,
        postgresql_where=sa.text("hangup_at IS NULL"),
    )
    op.create_table(
        "dispositions",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("attempt_id", sa.UUID(as_uuid=False), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("agent_id", sa.BigInteger(), nullable=True),
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_dispositions_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["attempt_id", "campaign_id"],
            ["call_attempts.id", "call_attempts.campaign_id"],
            name="fk_dispositions_attempt_id_campaign_id_call_attempts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id", "code"],
            ["disposition_codes.campaign_id", "disposition_codes.code"],
            name="fk_dispositions_campaign_id_code_disposition_codes",
            onupdate="CASCADE",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispositions")),
        sa.UniqueConstraint("attempt_id", name=op.f("uq_dispositions_attempt_id")),
    )
    op.create_index(op.f("ix_dispositions_agent_id"), "dispositions", ["agent_id"], unique=False)
    op.create_index(
        op.f("ix_dispositions_campaign_id_code"),
        "dispositions",
        ["campaign_id", "code"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_dispositions_campaign_id_code"), table_name="dispositions")
    op.drop_index(op.f("ix_dispositions_agent_id"), table_name="dispositions")
    op.drop_table("dispositions")
    op.drop_index(
        "ix_call_attempts_open_owner",
        table_name="call_attempts",
        postgresql_where=sa.text("hangup_at IS NULL"),
    )
    op.drop_index(op.f("ix_call_attempts_lead_id"), table_name="call_attempts")
    op.drop_index(op.f("ix_call_attempts_campaign_id_originated_at"), table_name="call_attempts")
    op.drop_index(op.f("ix_call_attempts_agent_id"), table_name="call_attempts")
    op.drop_table("call_attempts")
    op.drop_index(
        "ix_leads_lease_owner",
        table_name="leads",
        postgresql_where=sa.text("lease_owner IS NOT NULL"),
    )
    op.drop_index(
        "ix_leads_lease_expires_at",
        table_name="leads",
        postgresql_where=sa.text("lease_owner IS NOT NULL"),
    )
    op.drop_index(
        "ix_leads_dialable",
        table_name="leads",
        postgresql_where=sa.text("status IN ('new', 'retry')"),
    )
    op.drop_index(op.f("ix_leads_campaign_id_status"), table_name="leads")
    op.drop_table("leads")
    op.drop_table("lead_lists")
    op.drop_table("disposition_codes")
    op.drop_index(op.f("ix_agents_campaign_id"), table_name="agents")
    op.drop_table("agents")
    op.drop_index(op.f("ix_campaigns_trunk_id"), table_name="campaigns")
    op.drop_table("campaigns")
    op.drop_table("trunks")
