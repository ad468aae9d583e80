"""Stored rows the daemon will not dial with. Pure: records in, a reason or None out.

Values are checked against `dialer.domain.pbx_values` where they enter (API, CLI, lead files),
but rows written before those rules, or straight into the database, may not fit them. Such a
row is kept as it is (nothing is deleted or rewritten) and refused here with a reason naming
the field, which the daemon logs as an error: an agent with a bad endpoint is not logged in, a
campaign whose trunk or own values are bad is not dialed. Fixing the value over the API (or
the CLI) ends the refusal.

A campaign is refused too when it needs a capability its PBX adapter does not declare
(`dialer.pbx.Capability`; answering-machine detection for `amd_enabled`): dialing it anyway
would give every answered call the screening wait and no verdict. The reason names the
capability and the setting that needs it.
"""

from __future__ import annotations

from collections.abc import Collection

from dialer.domain.pbx_values import (
    check_caller_id,
    check_dial_prefix,
    check_name,
    check_phone_number,
    check_sound_name,
)
from dialer.pbx import Capability
from dialer.store.records import Campaign, Trunk


def needed_capabilities(campaign: Campaign) -> dict[Capability, str]:
    """The PBX capabilities the campaign's settings need, each with the setting that needs it."""
    needed: dict[Capability, str] = {}
    if campaign.amd_enabled:
        needed[Capability.ANSWERING_MACHINE_DETECTION] = "amd_enabled"
    return needed


def capability_refusal(campaign: Campaign, capabilities: Collection[Capability]) -> str | None:
    """Why the campaign cannot dial on a PBX offering `capabilities`, or None."""
    missing = {c: s for c, s in needed_capabilities(campaign).items() if c not in capabilities}
    if not missing:
        return None
    names = ", ".join(f"{c.value} (for {s})" for c, s in missing.items())
    settings = " and ".join(missing.values())
    return (
        f"campaign {campaign.name!r} is not dialed: it needs {names}, which this daemon's PBX "
        f"adapter does not offer; turn {settings} off or run the campaign on a PBX that has it"
    )


def campaign_refusal(
    campaign: Campaign, trunk: Trunk, capabilities: Collection[Capability]
) -> str | None:
    """Why the campaign must not dial with these stored values on a PBX offering
    `capabilities`, or None."""
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
    return capability_refusal(campaign, capabilities)


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
