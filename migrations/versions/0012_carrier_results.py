"""What the carrier answers means what it says (dialer.domain.causes), and the trunk breaker.

- Results `invalid` (the number does not exist), `declined` (the person refused the call),
  `unavailable` (it never rang) for attempts and leads, and `unreachable` for leads whose number
  failed on the network `campaigns.network_failure_cap` times in a row
  (`leads.network_failures` counts them; a network failure no longer counts towards the
  attempt caps).
- `campaigns.cause_results`: the campaign's changes to the default mapping from SIP responses
  and Q.850 causes to results ({"sip": {"603": "no_answer"}, "q850": {...}}).
- `call_attempts.lead_before`: the lead as it was before an attempt that failed on the network
  or as invalid, so that the trunk breaker can give it back untouched when the trunk, not the
  number, was at fault; `call_attempts.trunk_fault` marks the attempts given back.

Downgrade: the columns go; the new results become `failed` (attempts) and `failed`/`no_answer`
(leads), as they were counted before.

Revision ID: 0012_carrier_results
Revises: 0011_campaign_preview_power
Create Date: 2026-12-07 22:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012_carrier_results"
down_revision: str | None = "0011_campaign_preview_power"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RESULTS_0010 = (
    "'connected', 'abandoned', 'busy', 'no_answer', 'failed', 'cancelled', 'machine', 'unknown'"
)
_RESULTS_0011 = _RESULTS_0010 + ", 'invalid', 'declined', 'unavailable', 'unreachable'"


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
    _result_checks(_RESULTS_0011)
    op.add_column(
        "leads", sa.Column("network_failures", sa.Integer(), server_default="0", nullable=False)
    )
    op.create_check_constraint(
        op.f("ck_leads_network_failures_not_negative"), "leads", "network_failures >= 0"
    )
    op.add_column(
        "campaigns",
        sa.Column("network_failure_cap", sa.Integer(), server_default="5", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_campaigns_network_failure_cap_positive"), "campaigns", "network_failure_cap >= 1"
    )
    op.add_column(
        "campaigns",
        sa.Column(
            "cause_results",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column(
        "call_attempts",
        sa.Column("lead_before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column(
        "call_attempts",
        sa.Column("trunk_fault", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("call_attempts", "trunk_fault")
    op.drop_column("call_attempts", "lead_before")
    op.drop_column("campaigns", "cause_results")
    op.drop_constraint(
        op.f("ck_campaigns_network_failure_cap_positive"), "campaigns", type_="check"
    )
    op.drop_column("campaigns", "network_failure_cap")
    op.drop_constraint(op.f("ck_leads_network_failures_not_negative"), "leads", type_="check")
    op.drop_column("leads", "network_failures")
    op.execute(
        "UPDATE call_attempts SET result = 'failed' "
        "WHERE result IN ('invalid', 'declined', 'unavailable', 'unreachable')"
    )
    op.execute(
        "UPDATE leads SET last_result = CASE WHEN last_result IN ('declined', 'unavailable') "
        "THEN 'no_answer' ELSE 'failed' END "
        "WHERE last_result IN ('invalid', 'declined', 'unavailable', 'unreachable')"
    )
    _result_checks(_RESULTS_0010)
