"""People who sign in to the web console: a name, a role (admin, supervisor, agent), an
Argon2 password hash, the agent an agent's account acts as, and whether it is disabled.

Downgrade: the table goes (the accounts with it).

Revision ID: 0013_console_users
Revises: 0012_carrier_results
Create Date: 2026-12-07 22:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_console_users"
down_revision: str | None = "0012_carrier_results"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("agent_id", sa.BigInteger(), nullable=True),
        sa.Column("disabled", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "role IN ('admin', 'supervisor', 'agent')", name=op.f("ck_users_role_known")
        ),
        sa.CheckConstraint(
            "(role = 'agent') = (agent_id IS NOT NULL)", name=op.f("ck_users_agent_for_agents")
        ),
        sa.CheckConstraint("length(name) BETWEEN 1 AND 100", name=op.f("ck_users_name_length")),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_users_agent_id_agents"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("name", name=op.f("uq_users_name")),
        sa.UniqueConstraint("agent_id", name=op.f("uq_users_agent_id")),
    )


def downgrade() -> None:
    op.drop_table("users")
