"""Rules: the lead status ``blocked`` (the lease found the number on a do-not-call
list; it is not scanned again until the number leaves the lists), and each campaign's AMD
false-positive rate for the UK abandonment rate (NULL: the default assumption).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATUSES_0001 = "'new', 'retry', 'dialing', 'done'"
_STATUSES_0005 = _STATUSES_0001 + ", 'blocked'"


def _lead_statuses(statuses: str) -> None:
    op.drop_constraint(op.f("ck_leads_status"), "leads", type_="check")
    op.create_check_constraint(op.f("ck_leads_status"), "leads", f"status IN ({statuses})")


def upgrade() -> None:
    _lead_statuses(_STATUSES_0005)
    op.add_column("campaign_rules", sa.Column("amd_false_positive_rate", sa.Float(), nullable=True))
    op.create_check_constraint(
        op.f("ck_campaign_rules_amd_false_positive_rate"),
        "campaign_rules",
        "amd_false_positive_rate IS NULL OR "
        "(amd_false_positive_rate >= 0 AND amd_false_positive_rate < 1)",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("ck_campaign_rules_amd_false_positive_rate"), "campaign_rules", type_="check"
    )
    op.drop_column("campaign_rules", "amd_false_positive_rate")
    # Blocked leads go back to the lease's scan, which skips listed numbers anyway.
    op.execute(
        "UPDATE leads SET status = CASE WHEN attempts = 0 THEN 'new' ELSE 'retry' END "
        "WHERE status = 'blocked'"
    )
    _lead_statuses(_STATUSES_0001)
