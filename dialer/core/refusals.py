"""Stored rows the daemon will not dial with. Pure: records in, a reason or None out.

Values are checked against `dialer.domain.pbx_values` where they enter (API, CLI, lead files),
but rows written before those rules, or straight into the database, may not fit them. Such a
row is kept as it is (nothing is deleted or rewritten) and refused here with a reason naming
the field, which the daemon logs as an error: an agent with a bad endpoint is not logged in, a
campaign whose trunk or own values are bad is not dialed. Fixing the value over the API (or
the CLI) ends the refusal.
"""

from __future__ import annotations

from dialer.domain.pbx_values import (
    check_caller_id,
    check_dial_prefix,
    check_name,
    check_phone_number,
    check_sound_name,
)
from dialer.store.records import Campaign, Trunk


def campaign_refusal(campaign: Campaign, trunk: Trunk) -> str | None:
    """Why the campaign must not dial with these stored values, or None."""
    try:
        check_name(trunk.endpoint, f"trunk {trunk.name!r}: endpoint")
        check_dial_prefix(trunk.dial_prefix, f"trunk {trunk.name!r}: dial_prefix")
        check_caller_id(trunk.caller_id, f"trunk {trunk.name!r}: caller_id")
        check_caller_id(campaign.caller_id, "caller_id")
        if campaign.callback_number:
            check_phone_number(campaign.callback_number, "callback_number")
        check_sound_name(campaign.name_prompt, "name_prompt")
        check_sound_name(campaign.machine_message, "machine_message")
    except ValueError as exc:
        return (
            f"campaign {campaign.name!r} is not dialed: stored value refused: {exc}; "
            "correct it through the API"
        )
    return None


def agent_refusal(agent_id: str, endpoint: str) -> str | None:
    """Why the agent must not be called at this stored endpoint, or None."""
    try:
        check_name(endpoint, "sip_endpoint")
    except ValueError as exc:
        return (
            f"agent {agent_id} is not logged in: stored value refused: {exc}; "
            "correct it through the API"
        )
    return None
