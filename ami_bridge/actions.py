"""AMI actions the dialer sends, as plain header dicts. Pure: no sockets here.

The dialplan contexts named here are defined in deploy/asterisk/extensions.conf; the variables
are the contract between the daemon and that dialplan (see deploy/asterisk/README.md). The
port's typed call (`dialer.pbx.CustomerCall`) becomes them in `customer_variables`:

| CustomerCall            | channel variable                      |
|-------------------------|---------------------------------------|
| channel_id              | DIALER_ATTEMPT (also `channelvars`)   |
| lead_id, campaign_id    | DIALER_LEAD, DIALER_CAMPAIGN          |
| hold_s                  | DIALER_HOLD (seconds, one decimal)    |
| amd                     | DIALER_AMD=1, DIALER_MACHINE_MESSAGE  |
| message.callback_number | DIALER_CALLBACK (E.164)               |
| message.name_prompt     | DIALER_CAMPAIGN_PROMPT (sound name)   |
| AgentLeg.agent_id       | DIALER_AGENT                          |

AMI is `Name: value` lines ended by CR LF and panoramisk escapes nothing, so a line break in any
value would add headers of its own (`Application: System` runs a shell command). The builders
check what they are given against the dialer's grammar (`dialer.domain.pbx_values`, a
ValueError for that one call), and `wire_checked`, which the client runs on every action it
sends, refuses CR, LF and NUL in any header name or value whatever built it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dialer.domain import pbx_values as grammar
from dialer.pbx import AgentLeg, CustomerCall, PbxValueError

MAX_HOLD_S = 60.0  # the dialplan's hold is a backstop of seconds, never minutes


@dataclass(frozen=True, slots=True)
class Contexts:
    customer: str = "dialer-customer"
    agent: str = "dialer-agent"
    abandon: str = "dialer-abandon"

    def __post_init__(self) -> None:
        for field_name in ("customer", "agent", "abandon"):
            grammar.check_name(getattr(self, field_name), f"{field_name} context")


def _variables(values: Mapping[str, str]) -> list[str]:
    # Asterisk splits Variable headers on commas only in the legacy form; one header per
    # variable is unambiguous.
    return [f"{k}={v}" for k, v in grammar.check_variables(values).items()]


def wire_checked(action: Mapping[str, object]) -> dict[str, object]:
    """The action as it may be sent, or PbxValueError naming the header with a CR, LF or NUL
    in its name or value (each item of a list value, such as `Variable`, counts)."""
    for name, value in action.items():
        problem = grammar.wire_problem(name)
        if problem is not None:
            raise PbxValueError(f"AMI header name {name!r} {problem}")
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            problem = grammar.wire_problem(str(item))
            if problem is not None:
                raise PbxValueError(f"AMI header {name} {problem}: {str(item)!r}")
    return dict(action)


def customer_variables(call: CustomerCall) -> dict[str, str]:
    """The channel variables extensions.conf reads for a customer call, checked: ValueError
    naming the field for a value outside the dialer's grammar."""
    out = {"DIALER_ATTEMPT": grammar.check_channel_id(call.channel_id)}
    if call.lead_id is not None:
        out["DIALER_LEAD"] = str(call.lead_id)
    if call.campaign_id is not None:
        out["DIALER_CAMPAIGN"] = str(call.campaign_id)
    if call.hold_s is not None:
        # Wait() takes seconds with fractions; NaN fails both comparisons.
        if not 0 <= call.hold_s <= MAX_HOLD_S:
            raise ValueError(f"hold time must be 0 to {MAX_HOLD_S:g} s, got {call.hold_s!r}")
        out["DIALER_HOLD"] = f"{call.hold_s:.1f}"
    if call.amd is not None:
        out["DIALER_AMD"] = "1"
        if call.amd.machine_message:
            out["DIALER_MACHINE_MESSAGE"] = grammar.check_sound_name(
                call.amd.machine_message, "machine message"
            )
    if call.message is not None:
        if call.message.callback_number:
            out["DIALER_CALLBACK"] = grammar.check_caller_id(
                call.message.callback_number, "call-back number"
            )
        if call.message.name_prompt:
            out["DIALER_CAMPAIGN_PROMPT"] = grammar.check_sound_name(
                call.message.name_prompt, "campaign prompt"
            )
    return out


def originate_customer(call: CustomerCall, ctx: Contexts) -> dict[str, object]:
    """ValueError without a caller ID: every customer call shows a number. Without
    the header Asterisk would send the trunk endpoint's default (often none or "asterisk")."""
    if not call.caller_id.strip():
        raise ValueError("no caller ID for a customer call")
    channel_id = grammar.check_channel_id(call.channel_id)
    number = grammar.check_dialled_number(call.number)
    trunk = grammar.check_name(call.trunk, "trunk")
    variables = customer_variables(call)
    return {
        "Action": "Originate",
        "ActionID": f"orig-{channel_id}",
        "Channel": f"PJSIP/{number}@{trunk}",
        "Context": ctx.customer,
        "Exten": "s",
        "Priority": "1",
        "Timeout": str(int(call.ring_timeout_s * 1000)),
        "CallerID": grammar.check_caller_id(call.caller_id),
        "Async": "true",
        "ChannelId": channel_id,
        "Variable": _variables(variables),
    }


def originate_agent(leg: AgentLeg, ctx: Contexts) -> dict[str, object]:
    """ValueError unless the endpoint is a name: `PJSIP/<x>@<trunk>` would call through a
    trunk on the agent's always-up leg."""
    channel_id = grammar.check_channel_id(leg.channel_id)
    endpoint = grammar.check_name(leg.endpoint, "agent endpoint")
    variables = {"DIALER_AGENT_LEG": channel_id}
    if leg.agent_id:
        variables["DIALER_AGENT"] = leg.agent_id
    return {
        "Action": "Originate",
        "ActionID": f"orig-{channel_id}",
        "Channel": f"PJSIP/{endpoint}",
        "Context": ctx.agent,
        "Exten": "s",
        "Priority": "1",
        "Timeout": str(int(leg.ring_timeout_s * 1000)),
        "Async": "true",
        "ChannelId": channel_id,
        "Variable": _variables(variables),
    }


def mark_bridged(channel_id: str) -> dict[str, object]:
    """Tell the customer's dialplan it was bridged, so it hangs up instead of abandoning when it
    leaves the bridge. Sent after the Bridge succeeded, never before (see AmiPbx.connect)."""
    return {"Action": "Setvar", "Channel": channel_id, "Variable": "DIALER_BRIDGED", "Value": "1"}


def bridge(channel_id: str, agent_channel_id: str) -> dict[str, object]:
    return {"Action": "Bridge", "Channel1": channel_id, "Channel2": agent_channel_id, "Tone": "no"}


def redirect_abandon(channel_id: str, ctx: Contexts) -> dict[str, object]:
    return {
        "Action": "Redirect",
        "Channel": channel_id,
        "Context": ctx.abandon,
        "Exten": "s",
        "Priority": "1",
    }


def hangup(channel_id: str, cause: int = 16) -> dict[str, object]:
    return {"Action": "Hangup", "Channel": channel_id, "Cause": str(cause)}


def core_show_channels() -> dict[str, object]:
    return {"Action": "CoreShowChannels"}
