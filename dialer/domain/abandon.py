"""What an abandoned call hears, and the caller ID every call shows. Pure: values in, values out.

Rules:
- Every customer call sends a caller ID: the campaign's own, else its trunk's. A campaign with
  neither is not started (`caller_id_or_none` says which case it is; the API refuses the start).
- An answered call that finds no agent hears, within 2 s of the answer, a recorded message:
  a fixed "sorry we missed you", the campaign's name (a sound the admin recorded, when the
  campaign has one), then "please call us back on" and the call-back number digit by digit.
  The call-back number is the campaign's `callback_number`, else the caller ID the callee saw.
- The daemon hands these to the PBX with the call to place (`message_for`, a
  `dialer.pbx.AbandonMessage`); the adapter turns them into its dialplan's channel variables
  and the dialplan plays them (deploy/asterisk/extensions.conf [dialer-abandon],
  deploy/freeswitch/dialplan/dialer.xml dialer-abandon), so the fail-safe path, when the daemon
  is gone, says the same.

These values end up inside dialplan applications (`Playback(${...})`, an originate's `{...}`
block): their grammar (caller ID, call-back number, sound name) is in `dialer.domain.pbx_values`.
"""

from __future__ import annotations

from dialer.pbx import AbandonMessage


def campaign_prompt_name(campaign_id: int) -> str:
    """The sound name a campaign's name prompt gets by convention (`dialer/campaign-<id>`)."""
    if campaign_id < 1:
        raise ValueError(f"campaign id must be positive, got {campaign_id}")
    return f"dialer/campaign-{campaign_id}"


def caller_id_or_none(campaign_caller_id: str, trunk_caller_id: str) -> str | None:
    """The caller ID a call of this campaign sends: the campaign's, else the trunk's; None when
    neither has one (such a campaign must not dial)."""
    return campaign_caller_id.strip() or trunk_caller_id.strip() or None


def no_caller_id_reason(campaign_name: str, trunk_name: str) -> str:
    return (
        f"campaign {campaign_name!r} has no caller_id and neither has its trunk {trunk_name!r}: "
        "set caller_id on the campaign or on the trunk (every call must show a number)"
    )


def message_for(*, caller_id: str, callback_number: str, name_prompt: str) -> AbandonMessage:
    """What the abandon message of one call says (see the module's rules)."""
    return AbandonMessage(callback_number=callback_number or caller_id, name_prompt=name_prompt)


def spoken_digits(number: str) -> str:
    """The digits the message says for a call-back number (what SayDigits gets)."""
    return "".join(ch for ch in number if ch.isdigit())
