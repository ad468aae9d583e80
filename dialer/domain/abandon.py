"""What an abandoned call hears, and the caller ID every call shows. Pure: values in, values out.

Rules (issue 5):
- Every customer call sends a caller ID: the campaign's own, else its trunk's. A campaign with
  neither is not started (`caller_id_or_none` says which case it is; the API refuses the start).
- An answered call that finds no agent hears, within 2 s of the answer, a recorded message:
  a fixed "sorry we missed you", the campaign's name (a sound the admin recorded, when the
  campaign has one), then "please call us back on" and the call-back number digit by digit.
  The call-back number is the campaign's `callback_number`, else the caller ID the callee saw.
- The daemon hands these to the PBX as channel variables at the originate (`message_variables`);
  the dialplan plays them (deploy/asterisk/extensions.conf [dialer-abandon],
  deploy/freeswitch/dialplan/dialer.xml dialer-abandon), so the fail-safe path, when the daemon
  is gone, says the same.

Values checked here end up inside dialplan applications (`Playback(${...})`, an originate's
`{...}` block): a sound name is letters, digits and `_ . -` in `/`-separated parts, never `..`,
`&` (Playback's file separator), `,` or spaces.
"""

from __future__ import annotations

import re
from typing import Final

import phonenumbers

CALLBACK_VARIABLE: Final = "DIALER_CALLBACK"
"""Channel variable: the call-back number (E.164, with its +); the dialplan says its digits."""
PROMPT_VARIABLE: Final = "DIALER_CAMPAIGN_PROMPT"
"""Channel variable: the campaign's name prompt (a sound name); absent when it has none."""

SOUND_NAME_PATTERN: Final = (
    r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}){0,7}$"
)
_SOUND_NAME: Final = re.compile(SOUND_NAME_PATTERN)
CALLER_ID_PATTERN: Final = r"^\+?[0-9]{2,20}$"
_CALLER_ID: Final = re.compile(CALLER_ID_PATTERN)


def campaign_prompt_name(campaign_id: int) -> str:
    """The sound name a campaign's name prompt gets by convention (`dialer/campaign-<id>`)."""
    if campaign_id < 1:
        raise ValueError(f"campaign id must be positive, got {campaign_id}")
    return f"dialer/campaign-{campaign_id}"


def check_callback_number(raw: str) -> str:
    """The call-back number in E.164 (``+`` and digits), or ValueError saying why not.

    It must be written in international form (a leading ``+``; spaces, dots, dashes and
    brackets are allowed and dropped) and be a number `phonenumbers` knows to be assignable
    (right length and range for its country): people are asked to dial it. The empty string
    means "none" (the caller ID is said instead) and is returned as it is.
    """
    text = raw.strip()
    if not text:
        return ""
    if not text.startswith("+"):
        raise ValueError(
            f"callback_number must be in international form with a leading + "
            f"(E.164, e.g. +442079460123), got {raw!r}"
        )
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"callback_number {raw!r} is not a phone number: {exc}") from None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(number):
        code = number.country_code
        region = phonenumbers.region_code_for_country_code(code or 0)
        where = f"+{code} ({region})" if region != phonenumbers.UNKNOWN_REGION else f"+{code}"
        raise ValueError(
            f"callback_number {raw!r} is not a valid number for country code {where} "
            "(wrong length or an unassigned range)"
        )
    return e164


def check_sound_name(raw: str, field_name: str = "name_prompt") -> str:
    """A PBX sound name such as ``dialer/campaign-7`` (under the PBX's sounds directory, no
    extension), or ValueError. The empty string means "none"."""
    text = raw.strip()
    if not text:
        return ""
    if not _SOUND_NAME.fullmatch(text):
        raise ValueError(
            f"{field_name} must be a sound name under the PBX's sounds directory, without "
            f"extension: letters, digits, _ . - in parts separated by / (e.g. dialer/campaign-7), "
            f"got {raw!r}"
        )
    return text


def check_caller_id(raw: str, field_name: str = "caller_id") -> str:
    """A caller ID number (an optional ``+`` and 2 to 20 digits), or ValueError. The empty
    string means "none" (for a campaign: use its trunk's)."""
    text = raw.strip()
    if text and not _CALLER_ID.fullmatch(text):
        raise ValueError(f"{field_name} must be + and 2 to 20 digits, got {raw!r}")
    return text


def caller_id_or_none(campaign_caller_id: str, trunk_caller_id: str) -> str | None:
    """The caller ID a call of this campaign sends: the campaign's, else the trunk's; None when
    neither has one (such a campaign must not dial)."""
    return campaign_caller_id.strip() or trunk_caller_id.strip() or None


def no_caller_id_reason(campaign_name: str, trunk_name: str) -> str:
    return (
        f"campaign {campaign_name!r} has no caller_id and neither has its trunk {trunk_name!r}: "
        "set caller_id on the campaign or on the trunk (every call must show a number)"
    )


def message_variables(*, caller_id: str, callback_number: str, name_prompt: str) -> dict[str, str]:
    """The channel variables of the abandon message for one call (see the module's rules)."""
    out = {CALLBACK_VARIABLE: callback_number or caller_id}
    if name_prompt:
        out[PROMPT_VARIABLE] = name_prompt
    return out


def spoken_digits(number: str) -> str:
    """The digits the message says for a call-back number (what SayDigits gets)."""
    return "".join(ch for ch in number if ch.isdigit())
