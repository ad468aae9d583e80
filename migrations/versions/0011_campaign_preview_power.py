"""Preview and power settings per campaign: power mode's lines per agent, and how long a preview
lead waits for its agent before it is dialed by itself (0: it waits for the agent).

Revision ID: 0011_campaign_preview_power
Revises: 0010
Create Date: 2026-12-07 22:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_campaign_preview_power"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "campaigns",
        sa.Column("lines_per_agent", sa.Float(), nullable=False, server_default="2"),
    )
    op.add_column(
        "campaigns",
        sa.Column("preview_timeout_s", sa.Float(), nullable=False, server_default="0"),
    )
    op.create_check_constraint(
        op.f("ck_campaigns_lines_per_agent"),
        "campaigns",
        "lines_per_agent >= 1 AND lines_per_agent <= 10",
    )
    op.create_check_constraint(
        op.f("ck_campaigns_preview_timeout"), "campaigns", "preview_timeout_s >= 0"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_campaigns_preview_timeout"), "campaigns", type_="check")
    op.drop_constraint(op.f("ck_campaigns_lines_per_agent"), "campaigns", type_="check")
    op.drop_column("campaigns", "preview_timeout_s")
    op.drop_column("campaigns", "lines_per_agent")
