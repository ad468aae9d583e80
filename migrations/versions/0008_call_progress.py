"""Durable call progress: what became known about a call before its hang-up.

`message_at` is when a recorded message started (the abandon message, or the one left on an
answering machine); `outcome` is the result known before the hang-up (connected, abandoned,
machine). With `ring_at`, `answer_at` and `agent_connect_at` they let a call whose daemon died
be closed with what really happened (`dialer.domain.recovery`). The result `unknown` is such a
call with no evidence of an answer. `pbx_cdr` is where Asterisk's cdr_pgsql writes its own
record of each call at its hang-up, whether or not a daemon is listening (deploy/asterisk):
the evidence for calls that ended, or were answered, while no daemon followed them. `agents.leg_id` is the channel of the agent's headset leg
while a daemon has it logged in: a daemon taking over from one that died adopts the leg if the
PBX still has it, instead of calling the headset a second time.

Downgrade: the columns go (a restarted daemon then calls headsets again); `unknown` results and last results become `no_answer` (how they are
retried).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 18:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RESULTS_0007 = (
    "'connected', 'abandoned', 'busy', 'no_answer', 'failed', 'cancelled', 'machine'"
)
_RESULTS_0008 = _RESULTS_0007 + ", 'unknown'"
_OUTCOMES = "'connected', 'abandoned', 'machine'"


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
    _result_checks(_RESULTS_0008)
    op.add_column(
        "call_attempts", sa.Column("message_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("call_attempts", sa.Column("outcome", sa.Text(), nullable=True))
    op.create_check_constraint(
        op.f("ck_call_attempts_outcome"),
        "call_attempts",
        f"outcome IS NULL OR outcome IN ({_OUTCOMES})",
    )
    op.add_column("agents", sa.Column("leg_id", sa.Text(), nullable=True))
    op.create_table(
        "pbx_cdr",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("uniqueid", sa.Text(), nullable=True),
        sa.Column("channel", sa.Text(), nullable=True),
        sa.Column("dcontext", sa.Text(), nullable=True),
        sa.Column("disposition", sa.Text(), nullable=True),
        sa.Column("start", sa.Float(), nullable=True),
        sa.Column("answer", sa.Float(), nullable=True),
        sa.Column("end", sa.Float(), nullable=True),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pbx_cdr")),
    )
    op.create_index(op.f("ix_pbx_cdr_uniqueid"), "pbx_cdr", ["uniqueid"])
    op.create_index(op.f("ix_pbx_cdr_recorded_at"), "pbx_cdr", ["recorded_at"])


def downgrade() -> None:
    op.drop_table("pbx_cdr")
    op.drop_column("agents", "leg_id")
    op.drop_constraint(op.f("ck_call_attempts_outcome"), "call_attempts", type_="check")
    op.drop_column("call_attempts", "outcome")
    op.drop_column("call_attempts", "message_at")
    op.execute("UPDATE call_attempts SET result = 'no_answer' WHERE result = 'unknown'")
    op.execute("UPDATE leads SET last_result = 'no_answer' WHERE last_result = 'unknown'")
    _result_checks(_RESULTS_0007)
