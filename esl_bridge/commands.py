"""The FreeSWITCH API commands the dialer sends, as text. Pure: no sockets here.

The extensions named here are defined in deploy/freeswitch/dialplan/dialer.xml; the channel
variables are the contract between the daemon and that dialplan:

- `origination_uuid` makes the dialer's id the channel's Unique-ID; the same id is the
  originate's Job-UUID (see codec.bgapi_command).
- `dialer_leg` (customer | agent) marks the dialer's legs; the event socket filters on it.
- `originate_timeout` is the ring time, in whole seconds (see _ring_seconds).
- `origination_caller_id_number` is the call's caller ID, always sent (an empty one is refused).

The port's typed call (`dialer.pbx.CustomerCall`) becomes the rest (`customer_variables`):
- `hold_s` becomes `dialer_hold_ms`, which overrides the dialplan's hold time (`hold_ms`).
- The abandon message (`message_variables`): its call-back number (E.164) becomes
  `dialer_callback_digits` (what `say ... iterated` reads) and its name prompt (a sound name,
  no extension) becomes `dialer_campaign_prompt` (`<name>.wav`, relative to FreeSWITCH's
  sounds directory).
- `lead_id` and `campaign_id` become `dialer_lead` and `dialer_campaign` (the dialplan does not
  read them; they name the call in FreeSWITCH's own logs and CDRs).
- `amd` is refused: this dialplan has no answering-machine detection (the adapter declares no
  such capability, esl_bridge/adapter.py, and the daemon refuses to start a campaign that asks
  for it).

Every value goes into an originate's `{...}` block or a space-separated API line, so values are
checked here against the dialer's one grammar (`dialer.domain.pbx_values`): a number with a
space, brace or line break would change the command, an agent endpoint with a slash or `@`
would be a dial string of the sender's choosing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from dialer.domain import pbx_values as grammar
from dialer.pbx import AbandonMessage, AgentLeg, Capability, CustomerCall

_FORBIDDEN_IN_VALUE = set(" \t\r\n\0{}[]<>'\"^")


@dataclass(frozen=True, slots=True)
class Dialplan:
    """Where the dialer's legs go once answered: extensions in one XML dialplan context."""

    context: str = "dialer"
    customer: str = "dialer-customer"
    agent: str = "dialer-agent"
    abandon: str = "dialer-abandon"

    def __post_init__(self) -> None:
        for field_name in ("context", "customer", "agent", "abandon"):
            grammar.check_name(getattr(self, field_name), f"dialplan {field_name}")


def variable_value(value: str) -> str:
    """A value for an originate's `{...}` block: commas escaped, separators refused."""
    bad = _FORBIDDEN_IN_VALUE.intersection(value)
    if bad:
        raise ValueError(f"channel variable value contains {''.join(sorted(bad))!r}")
    return value.replace(",", "\\,")


def channel_variables(values: Mapping[str, str]) -> str:
    parts = [f"{grammar.check_variable_name(k)}={variable_value(v)}" for k, v in values.items()]
    return "{" + ",".join(parts) + "}"


def _caller_id(raw: str) -> str:
    """The caller ID as sent: never empty (FreeSWITCH would send its default)."""
    if not raw.strip():
        raise ValueError("no caller ID for a customer call")
    return grammar.check_caller_id(raw)


def _ring_seconds(seconds: float) -> str:
    """originate_timeout for a ring time of `seconds`.

    FreeSWITCH compares whole epoch seconds (`elapsed >= timelimit_sec` in
    switch_ivr_originate.c), so a limit of N ends the ring between N-1 and N s after the start
    (a 2 s limit ended one after 1.1 s). Asking for ceil(t) + 1 makes it ring at least t and
    at most t + 1 seconds; the dialer can cancel sooner with hangup().
    """
    if not seconds > 0:
        raise ValueError(f"ring timeout must be positive, got {seconds}")
    return str(math.ceil(seconds) + 1)


HOLD_VARIABLE = "dialer_hold_ms"


def hold_ms(seconds: float) -> str:
    """`dialer_hold_ms` for a hold of `seconds`.

    The engine sets a hold on every customer call: the dialplan's own hold timer, a backstop
    that fires after the engine's (which abandons at most 1.5 s after the answer). Without it
    the dialplan keeps the vars.xml default (1.5 s) whatever the campaign's hold time, and could
    start the message just as the engine bridged the call.
    """
    try:
        ms = round(seconds * 1000)
    except (ValueError, OverflowError):  # NaN, infinity
        raise ValueError(f"invalid hold time: {seconds!r} s") from None
    if not 0 <= ms <= 60_000:
        raise ValueError(f"invalid hold time: {seconds!r} s")
    return str(ms)


CALLBACK_DIGITS_VARIABLE = "dialer_callback_digits"
PROMPT_FILE_VARIABLE = "dialer_campaign_prompt"
_DIGITS = re.compile(r"^\+?([0-9]{2,20})$")


def message_variables(message: AbandonMessage) -> dict[str, str]:
    """The abandon message's variables for the FreeSWITCH dialplan.

    The XML dialplan has no string functions to keep a number's digits, and FreeSWITCH's
    `playback` needs a file name with its extension (it otherwise looks for a file named after
    the codec), so both are prepared here."""
    out: dict[str, str] = {}
    if message.callback_number:
        digits = _DIGITS.fullmatch(message.callback_number)
        if digits is None:
            raise ValueError(f"invalid call-back number: {message.callback_number!r}")
        out[CALLBACK_DIGITS_VARIABLE] = digits[1]
    if message.name_prompt:
        prompt = grammar.check_sound_name(message.name_prompt, "campaign prompt")
        out[PROMPT_FILE_VARIABLE] = prompt + ".wav"
    return out


def customer_variables(call: CustomerCall) -> dict[str, str]:
    """The channel variables the dialplan (and FreeSWITCH's logs) get from the typed call."""
    if call.amd is not None:
        raise ValueError(
            f"{Capability.ANSWERING_MACHINE_DETECTION.value} requested, which the FreeSWITCH "
            "adapter does not offer"
        )
    out: dict[str, str] = {}
    if call.lead_id is not None:
        out["dialer_lead"] = str(call.lead_id)
    if call.campaign_id is not None:
        out["dialer_campaign"] = str(call.campaign_id)
    if call.hold_s is not None:
        out[HOLD_VARIABLE] = hold_ms(call.hold_s)
    if call.message is not None:
        out.update(message_variables(call.message))
    return out


def originate_customer(call: CustomerCall, dialplan: Dialplan, leg_variable: str) -> str:
    """`originate {vars}sofia/gateway/<trunk>/<number> dialer-customer XML dialer`."""
    values = {
        **grammar.check_variables(customer_variables(call)),
        "origination_uuid": grammar.check_channel_id(call.channel_id),
        leg_variable: "customer",
        "originate_timeout": _ring_seconds(call.ring_timeout_s),
        "origination_caller_id_number": _caller_id(call.caller_id),
        # In force from the answer on (the dialplan sets it too): a customer bridged before its
        # dialplan ran that step must still be hung up, not sent on to the abandon message,
        # when its agent leaves (on Asterisk such early bridges were seen, 1 in 16 bridges made
        # on the answer; deploy/asterisk/extensions.conf).
        "hangup_after_bridge": "true",
    }
    dial = (
        f"sofia/gateway/{grammar.check_name(call.trunk, 'trunk')}/"
        f"{grammar.check_dialled_number(call.number)}"
    )
    return f"originate {channel_variables(values)}{dial} {dialplan.customer} XML {dialplan.context}"


def agent_dial_string(endpoint: str) -> str:
    """An agent endpoint as a dial string: `agent1` -> `user/agent1` (the directory user).

    Only a name: a dial string given as the endpoint (`sofia/...`, `...@host`) could call
    anything through anything. An agent at a fixed address is a directory user whose
    `dial-string` says where (deploy/freeswitch/directory/agent_reach/fixed.xml)."""
    return f"user/{grammar.check_name(endpoint, 'agent endpoint')}"


def originate_agent(leg: AgentLeg, dialplan: Dialplan, leg_variable: str) -> str:
    """`originate {vars}user/<agent> dialer-agent XML dialer`; the leg parks between calls."""
    values = {
        **grammar.check_variables({"dialer_agent": leg.agent_id} if leg.agent_id else {}),
        "origination_uuid": grammar.check_channel_id(leg.channel_id),
        leg_variable: "agent",
        "originate_timeout": _ring_seconds(leg.ring_timeout_s),
        # Back to park when the customer hangs up (the dialplan sets it too).
        "park_after_bridge": "true",
    }
    return (
        f"originate {channel_variables(values)}{agent_dial_string(leg.endpoint)} "
        f"{dialplan.agent} XML {dialplan.context}"
    )


def bridge(channel_id: str, agent_channel_id: str) -> str:
    """The customer first: it is the bridge's A leg, whose hangup_after_bridge ends the call
    when the agent's side leaves, while the agent's leg parks again when the customer leaves."""
    customer = grammar.check_channel_id(channel_id)
    agent = grammar.check_channel_id(agent_channel_id)
    return f"uuid_bridge {customer} {agent}"


def transfer_abandon(channel_id: str, dialplan: Dialplan) -> str:
    return (
        f"uuid_transfer {grammar.check_channel_id(channel_id)} "
        f"{dialplan.abandon} XML {dialplan.context}"
    )


def kill(channel_id: str, cause: str = "NORMAL_CLEARING") -> str:
    return f"uuid_kill {grammar.check_channel_id(channel_id)} {grammar.check_name(cause, 'cause')}"
