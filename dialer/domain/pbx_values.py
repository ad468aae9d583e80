"""The grammar of every value the dialer hands to a PBX. Pure: a string in, the checked string
(or ValueError naming the field) out.

Why so strict: these values end up on the wire and inside dialplans, where their characters
have meanings.
- AMI is lines of `Name: value` ended by CR LF, and panoramisk escapes nothing: a CR or LF in
  a value adds headers of the sender's choosing (an injected `Application: System` runs a shell
  command when the account may, an `Application: Dial` calls any number through the trunk).
  FreeSWITCH's event socket is lines too. NUL ends a C string early on both.
- An Asterisk dial string is `PJSIP/<endpoint>` or `PJSIP/<number>@<trunk>`, FreeSWITCH's
  `user/<agent>` or `sofia/gateway/<trunk>/<number>`: an agent endpoint with `@` or `/` is a
  call through a trunk (`+1900...@trunk` turns an agent's always-up leg into a toll call).
- An originate is one space-separated API line on FreeSWITCH, with a `{var=value,...}` block;
  dialplan applications split their arguments on `,` and Playback its files on `&`.

So each kind of value has one grammar, here. It is checked where a value enters (the HTTP API's
models, the CLI, lead files, the config), again when the daemon takes a stored row (a row
written before these rules is refused with a logged error, never dialled), and the PBX adapters
refuse line breaks in whatever they send (`wire_problem`).

The kinds:
- name: a PBX object the admin configured: an agent's endpoint (a PJSIP endpoint, a FreeSWITCH
  directory user), a trunk (PJSIP endpoint, FreeSWITCH gateway), a dialplan context. 1 to 64
  letters, digits, `_ . -`, not starting with `.` or `-`: never a dial string.
- phone number: E.164, `+` and 2 to 15 digits, the first not 0 (what lead imports store).
- dial prefix: up to 20 of digits, `*` and `#`, dialled before a lead's number.
- dialled number: what goes to the trunk, a dial prefix and then a number.
- caller ID: an optional `+` and 2 to 20 digits.
- call-back number: E.164 and a number `phonenumbers` knows to be assignable.
- sound name: `/`-separated parts of letters, digits, `_ . -` (never `..`, `&`, `,`, spaces).
- channel variable: a name of letters, digits and `_`; a value of letters, digits and
  `_ . + / * # -` (ids, numbers, durations, sound names), up to 256 characters.
- channel id: the dialer's own (a UUID), letters, digits, `. _ -`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

import phonenumbers

NAME_PATTERN: Final = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"
E164_PATTERN: Final = r"^\+[1-9][0-9]{1,14}$"
DIAL_PREFIX_PATTERN: Final = r"^[0-9*#]{0,20}$"
DIALLED_NUMBER_PATTERN: Final = r"^[0-9*#]{0,20}\+?[0-9*#]{1,32}$"
CALLER_ID_PATTERN: Final = r"^\+?[0-9]{2,20}$"
SOUND_NAME_PATTERN: Final = (
    r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}(/[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}){0,7}$"
)
VARIABLE_NAME_PATTERN: Final = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
VARIABLE_VALUE_PATTERN: Final = r"^[A-Za-z0-9_.+/*#-]{0,256}$"
CHANNEL_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"

LINE_BREAKS: Final = frozenset("\r\n\0")
"""What no value may carry onto an AMI or ESL connection (see the module's rules)."""

_NAME: Final = re.compile(NAME_PATTERN)
_E164: Final = re.compile(E164_PATTERN)
_DIAL_PREFIX: Final = re.compile(DIAL_PREFIX_PATTERN)
_DIALLED_NUMBER: Final = re.compile(DIALLED_NUMBER_PATTERN)
_CALLER_ID: Final = re.compile(CALLER_ID_PATTERN)
_SOUND_NAME: Final = re.compile(SOUND_NAME_PATTERN)
_VARIABLE_NAME: Final = re.compile(VARIABLE_NAME_PATTERN)
_VARIABLE_VALUE: Final = re.compile(VARIABLE_VALUE_PATTERN)
_CHANNEL_ID: Final = re.compile(CHANNEL_ID_PATTERN)


def wire_problem(text: str) -> str | None:
    """What is wrong with `text` as a protocol line's part (a CR, LF or NUL), or None."""
    bad = LINE_BREAKS.intersection(text)
    if not bad:
        return None
    return "contains " + ", ".join(repr(ch) for ch in sorted(bad))


def _match(pattern: re.Pattern[str], raw: str, field_name: str, what: str) -> str:
    # fullmatch: `$` alone would accept a trailing newline.
    if pattern.fullmatch(raw) is None:
        raise ValueError(f"{field_name} must be {what}, got {raw!r}")
    return raw


def check_name(raw: str, field_name: str = "endpoint") -> str:
    """A PBX object's name (endpoint, trunk, context), exactly as given, or ValueError."""
    return _match(
        _NAME,
        raw,
        field_name,
        "a PBX name: 1 to 64 letters, digits, _ . - (not starting with . or -), "
        "never a dial string (no @ / , : or spaces)",
    )


def is_e164(phone: str) -> bool:
    return _E164.fullmatch(phone) is not None


def check_phone_number(raw: str, field_name: str = "phone") -> str:
    """A number in E.164 (`+` and 2 to 15 digits), or ValueError."""
    return _match(_E164, raw, field_name, "a number in E.164 form (+ and 2 to 15 digits)")


def check_dial_prefix(raw: str, field_name: str = "dial_prefix") -> str:
    """A dial prefix (possibly empty), or ValueError."""
    return _match(_DIAL_PREFIX, raw, field_name, "up to 20 of the digits 0-9, * and #")


def check_dialled_number(raw: str, field_name: str = "number") -> str:
    """What the dialer hands the trunk: a dial prefix and a number, or ValueError."""
    return _match(
        _DIALLED_NUMBER, raw, field_name, "a dial prefix then a number (digits, * #, one +)"
    )


def check_caller_id(raw: str, field_name: str = "caller_id") -> str:
    """A caller ID number (an optional ``+`` and 2 to 20 digits), or ValueError. The empty
    string means "none" (for a campaign: use its trunk's). Surrounding spaces are dropped."""
    text = raw.strip()
    if text and not _CALLER_ID.fullmatch(text):
        raise ValueError(f"{field_name} must be + and 2 to 20 digits, got {raw!r}")
    return text


def check_callback_number(raw: str, field_name: str = "callback_number") -> str:
    """The call-back number in E.164 (``+`` and digits), or ValueError saying why not.

    It must be written in international form (a leading ``+``; spaces, dots, dashes and
    brackets are allowed and dropped) and be a number `phonenumbers` knows to be assignable
    (right length and range for its country): people are asked to dial it. The empty string
    means "none" (the caller ID is said instead) and is returned as it is.
    """
    text = raw.strip()
    if not text:
        return ""
    if wire_problem(text) is not None:  # phonenumbers would drop a line break silently
        raise ValueError(f"{field_name} must be a phone number, got {raw!r}")
    if not text.startswith("+"):
        raise ValueError(
            f"{field_name} must be in international form with a leading + "
            f"(E.164, e.g. +442079460123), got {raw!r}"
        )
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{field_name} {raw!r} is not a phone number: {exc}") from None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not phonenumbers.is_valid_number(number):
        code = number.country_code
        region = phonenumbers.region_code_for_country_code(code or 0)
        where = f"+{code} ({region})" if region != phonenumbers.UNKNOWN_REGION else f"+{code}"
        raise ValueError(
            f"{field_name} {raw!r} is not a valid number for country code {where} "
            "(wrong length or an unassigned range)"
        )
    return e164


def check_sound_name(raw: str, field_name: str = "name_prompt") -> str:
    """A PBX sound name such as ``dialer/campaign-7`` (under the PBX's sounds directory, no
    extension), or ValueError. The empty string means "none". Surrounding spaces are
    dropped."""
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


def check_variable_name(raw: str) -> str:
    return _match(_VARIABLE_NAME, raw, "channel variable name", "letters, digits and _")


def check_variable_value(raw: str, name: str) -> str:
    return _match(
        _VARIABLE_VALUE, raw, f"channel variable {name}", "letters, digits and _ . + / * # -"
    )


def check_channel_id(raw: str) -> str:
    return _match(_CHANNEL_ID, raw, "channel id", "letters, digits and . _ -")


def check_variables(values: Mapping[str, str]) -> dict[str, str]:
    """Channel variables (names and values) as the engine hands them to an adapter."""
    return {check_variable_name(k): check_variable_value(v, k) for k, v in values.items()}
