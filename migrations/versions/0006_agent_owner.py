"""Agent leases: the daemon that owns an agent (logs its headset in and hands it calls) and
until when, so that with several daemons on one database an agent belongs to one of them at a
time (`dialer.store.agents.lease_agents`). NULL: no daemon owns the agent. And `daemons`: each
daemon and the campaigns it runs, renewed with its agent leases, so daemons running one campaign
split its agents.

Downgrade: the columns and the table go (only a few seconds' worth of state).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("agents", sa.Column("owner", sa.Text(), nullable=True))
    op.add_column(
        "agents", sa.Column("owner_expires_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.create_check_constraint(
        op.f("ck_agents_owner_and_expiry"), "agents", "(owner IS NULL) = (owner_expires_at IS NULL)"
    )
    op.create_index(
        "ix_agents_owner", "agents", ["owner"], postgresql_where=sa.text("owner IS NOT NULL")
    )
    op.create_table(
        "daemons",
        sa.Column("owner", sa.Text(), nullable=False),
        sa.Column(
            "campaign_ids",
            sa.ARRAY(sa.BigInteger()),
            nullable=False,
            server_default=sa.text("'{}'"),
        ),
        sa.Column("seen_until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("owner", name=op.f("pk_daemons")),
    )


def downgrade() -> None:
    op.drop_table("daemons")
    op.drop_index("ix_agents_owner", table_name="agents")
    op.drop_constraint(op.f("ck_agents_owner_and_expiry"), "agents", type_="check")
    op.drop_column("agents", "owner_expires_at")
    op.drop_column("agents", "owner")
