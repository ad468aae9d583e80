"""The abandon message per campaign (the number to call back, the campaign's name as a PBX
sound) and a caller ID per trunk, for campaigns that have none of their own.

Existing rows keep working: '' everywhere means "none" (the message does not name the campaign,
the number said is the caller ID; a trunk without a caller ID lends none).

Downgrade: the columns go. A campaign that relied on its trunk's caller ID (its own is '')
first gets that caller ID written into `campaigns.caller_id`, so code of revision 0003, which
reads only the campaign's, still sends one.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Kept here (not imported) so the migration does not change if the application's copy does.
_E164 = r"^\+[1-9][0-9]{1,14}$"
_SOUND_NAME = r"^([A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*)?$"


def upgrade() -> None:
    op.add_column("trunks", sa.Column("caller_id", sa.Text(), nullable=False, server_default=""))
    op.add_column(
        "campaigns", sa.Column("callback_number", sa.Text(), nullable=False, server_default="")
    )
    op.add_column(
        "campaigns", sa.Column("name_prompt", sa.Text(), nullable=False, server_default="")
    )
    op.create_check_constraint(
        op.f("ck_campaigns_callback_number_e164"),
        "campaigns",
        f"callback_number = '' OR callback_number ~ '{_E164}'",
    )
    op.create_check_constraint(
        op.f("ck_campaigns_name_prompt_sound_name"), "campaigns", f"name_prompt ~ '{_SOUND_NAME}'"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE campaigns SET caller_id = trunks.caller_id FROM trunks "
        "WHERE campaigns.trunk_id = trunks.id AND campaigns.caller_id = '' "
        "AND trunks.caller_id <> ''"
    )
    op.drop_constraint(op.f("ck_campaigns_name_prompt_sound_name"), "campaigns", type_="check")
    op.drop_constraint(op.f("ck_campaigns_callback_number_e164"), "campaigns", type_="check")
    op.drop_column("campaigns", "name_prompt")
    op.drop_column("campaigns", "callback_number")
    op.drop_column("trunks", "caller_id")
