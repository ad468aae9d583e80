"""Rules that protect the called person: do-not-call lists, per-campaign rule
settings, callbacks; ring time at least 15 s; look-ups by phone for the lease query's rule
filters; the ``machine`` call result (answering-machine detection) in the result checks.

Written by hand from `dialer/store/tables.py`; it does not import the application.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RESULTS_0001 = "'connected', 'abandoned', 'busy', 'no_answer', 'failed', 'cancelled'"
_RESULTS_0002 = _RESULTS_0001 + ", 'machine'"


def _result_checks(results: str) -> None:
    op.drop_constraint(op.f("ck_leads_last_result"), "leads", type_="check")
    op.create_check_constraint(
        op.f("ck_leads_last_result"), "leads", f"last_result IS NULL OR last_result IN ({results})"
    )
    op.drop_constraint(op.f("ck_call_attempts_result"), "call_attempts", type_="check")
    op.create_check_constraint(
        op.f("ck_call_attempts_result"), "call_attempts", f"result IS NULL OR result IN ({results})"
    )


def upgrade() -> None:
    # Ring time: never below 15 s (a shorter ring is "ring and run").
    op.drop_constraint(op.f("ck_campaigns_ring_timeout_positive"), "campaigns", type_="check")
    op.create_check_constraint(
        op.f("ck_campaigns_ring_timeout_min_15"), "campaigns", "ring_timeout_s >= 15"
    )
    _result_checks(_RESULTS_0002)

    op.create_index("ix_leads_phone", "leads", ["phone"], unique=False)
    op.create_index(
        "ix_call_attempts_abandoned",
        "call_attempts",
        ["lead_id", "hangup_at"],
        unique=False,
        postgresql_where=sa.text("result = 'abandoned'"),
    )

    op.create_table(
        "dnc_lists",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_dnc_lists_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dnc_lists")),
        sa.UniqueConstraint("name", name=op.f("uq_dnc_lists_name")),
    )
    op.create_index(op.f("ix_dnc_lists_campaign_id"), "dnc_lists", ["campaign_id"], unique=False)
    op.create_table(
        "dnc_numbers",
        sa.Column("list_id", sa.BigInteger(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), server_default="import", nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "added_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.CheckConstraint(
            "phone ~ '^\\+[1-9][0-9]{1,14}$'", name=op.f("ck_dnc_numbers_phone_e164")
        ),
        sa.CheckConstraint(
            "source IN ('import', 'opt_out', 'manual', 'complaint')",
            name=op.f("ck_dnc_numbers_source"),
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["dnc_lists.id"],
            name=op.f("fk_dnc_numbers_list_id_dnc_lists"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("list_id", "phone", name=op.f("pk_dnc_numbers")),
    )
    op.create_index(op.f("ix_dnc_numbers_phone"), "dnc_numbers", ["phone"], unique=False)

    op.create_table(
        "campaign_rules",
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("preset", sa.Text(), server_default="none", nullable=False),
        sa.Column("default_time_zone", sa.Text(), server_default="UTC", nullable=False),
        sa.Column("weekday_hours", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "holiday_hours",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "holidays",
            postgresql.ARRAY(sa.Date()),
            server_default=sa.text("'{}'::date[]"),
            nullable=False,
        ),
        sa.Column("cap_per_day", sa.Integer(), nullable=True),
        sa.Column("cap_rolling_24h", sa.Integer(), nullable=True),
        sa.Column("cap_per_week", sa.Integer(), nullable=True),
        sa.Column("cap_per_month", sa.Integer(), nullable=True),
        sa.Column(
            "retry_rules",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "preset IN ('none', 'us', 'uk', 'ru_debt')", name=op.f("ck_campaign_rules_preset")
        ),
        sa.CheckConstraint(
            "(cap_per_day IS NULL OR cap_per_day >= 1) AND "
            "(cap_rolling_24h IS NULL OR cap_rolling_24h >= 1) AND "
            "(cap_per_week IS NULL OR cap_per_week >= 1) AND "
            "(cap_per_month IS NULL OR cap_per_month >= 1)",
            name=op.f("ck_campaign_rules_caps_positive"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_rules_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_campaign_rules")),
    )

    op.create_table(
        "callbacks",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("lead_id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.BigInteger(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agent_id", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.Text(), server_default="pending", nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("created_by", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("taken_by", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'taken', 'done', 'cancelled')",
            name=op.f("ck_callbacks_status"),
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_callbacks_agent_id_agents"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_callbacks_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_callbacks_lead_id_leads"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callbacks")),
    )
    op.create_index(
        "uq_callbacks_open_lead",
        "callbacks",
        ["lead_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('pending', 'taken')"),
    )
    op.create_index(
        "ix_callbacks_due",
        "callbacks",
        ["campaign_id", "due_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_callbacks_due", table_name="callbacks")
    op.drop_index("uq_callbacks_open_lead", table_name="callbacks")
    op.drop_table("callbacks")
    op.drop_table("campaign_rules")
    op.drop_index(op.f("ix_dnc_numbers_phone"), table_name="dnc_numbers")
    op.drop_table("dnc_numbers")
    op.drop_index(op.f("ix_dnc_lists_campaign_id"), table_name="dnc_lists")
    op.drop_table("dnc_lists")
    op.drop_index("ix_call_attempts_abandoned", table_name="call_attempts")
    op.drop_index("ix_leads_phone", table_name="leads")
    # A row with result 'machine' cannot go back to 0001's checks: count it as failed.
    op.execute("UPDATE call_attempts SET result = 'failed' WHERE result = 'machine'")
    op.execute("UPDATE leads SET last_result = 'failed' WHERE last_result = 'machine'")
    _result_checks(_RESULTS_0001)
    op.drop_constraint(op.f("ck_campaigns_ring_timeout_min_15"), "campaigns", type_="check")
    op.create_check_constraint(
        op.f("ck_campaigns_ring_timeout_positive"), "campaigns", "ring_timeout_s > 0"
    )
