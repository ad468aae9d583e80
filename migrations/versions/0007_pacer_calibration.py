"""The predictive pacer's calibration per campaign: the threshold its feedback loop
tuned to hold the target abandonment rate, and how many abandonments it learned from, saved now
and then by the daemons running the campaign, so a restarted daemon goes on from it instead of
tuning again from the default. NULL: never saved (the pacer starts from its default).

Downgrade: the columns go (the pacer then starts from its default after a restart).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 10:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("pacer_threshold", sa.Float(), nullable=True))
    op.add_column("campaigns", sa.Column("pacer_abandons_seen", sa.Integer(), nullable=True))
    op.create_check_constraint(
        op.f("ck_campaigns_pacer_threshold"),
        "campaigns",
        "pacer_threshold IS NULL OR (pacer_threshold > 0 AND pacer_threshold <= 1)",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_campaigns_pacer_threshold"), "campaigns", type_="check")
    op.drop_column("campaigns", "pacer_abandons_seen")
    op.drop_column("campaigns", "pacer_threshold")
