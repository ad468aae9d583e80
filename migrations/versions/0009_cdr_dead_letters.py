"""Call records the database refused (a lead deleted under a call in flight, a value out of
range): kept here, whole, with the error, instead of blocking every later write.

Downgrade: the table goes (with what it kept).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 18:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cdr_dead_letters",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("record", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cdr_dead_letters")),
    )


def downgrade() -> None:
    op.drop_table("cdr_dead_letters")
