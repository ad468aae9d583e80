"""Calls-per-second limits: a burst per trunk (calls that may start back to back) and a limit
per campaign under its trunk's (dialer.pacing.callrate). NULL in both: as before, the trunk's
rate in every sliding second.

Downgrade: the columns go.

Revision ID: 0014_call_rate_limits
Revises: 0013_console_users
Create Date: 2026-12-07 22:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_call_rate_limits"
down_revision: str | None = "0013_console_users"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("trunks", sa.Column("cps_burst", sa.Integer(), nullable=True))
    op.add_column("campaigns", sa.Column("max_cps", sa.Float(), nullable=True))
    op.create_check_constraint(
        op.f("ck_trunks_cps_burst_positive"), "trunks", "cps_burst IS NULL OR cps_burst >= 1"
    )
    op.create_check_constraint(
        op.f("ck_campaigns_max_cps_positive"), "campaigns", "max_cps IS NULL OR max_cps > 0"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_campaigns_max_cps_positive"), "campaigns", type_="check")
    op.drop_constraint(op.f("ck_trunks_cps_burst_positive"), "trunks", type_="check")
    op.drop_column("campaigns", "max_cps")
    op.drop_column("trunks", "cps_burst")
