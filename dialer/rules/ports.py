"""What the engine asks of the rules at run time (the Postgres side is
`dialer.store.rules_gateway.RulesStore`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from dialer.store.records import LeasedLead


class DialGuard(Protocol):
    # How often the engine asks for due callbacks, in seconds.
    callback_poll_s: float

    async def refuse_reason(self, lead: LeasedLead) -> str | None:
        """Checked right before the originate: why this lead must not be dialed now (on a
        do-not-call list, locked after an abandoned call, outside its calling hours), or None.
        An error means "do not dial" (fail closed)."""
        ...

    async def lease_callbacks(
        self, campaign_id: int, ready_agent_ids: Sequence[int]
    ) -> list[LeasedLead]:
        """Lease the campaign's due callbacks: those for anyone, and those for an agent in
        `ready_agent_ids` (each with `callback_agent_id` set)."""
        ...
