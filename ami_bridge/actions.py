"""AMI actions the dialer sends, as plain header dicts. Pure: no sockets here.

The dialplan contexts named here are defined in deploy/asterisk/extensions.conf; the variables
are the contract between the daemon and that dialplan (see deploy/asterisk/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from dialer.pbx import AgentLeg, CustomerCall


@dataclass(frozen=True, slots=True)
class Contexts:
    customer: str = "dialer-customer"
    agent: str = "dialer-agent"
    abandon: str = "dialer-abandon"


def _variables(values: dict[str, str]) -> list[str]:
    # Asterisk splits Variable headers on commas only in the legacy form; one header per
    # variable is unambiguous.
    return [f"{k}={v}" for k, v in values.items()]


def originate_customer(call: CustomerCall, ctx: Contexts) -> dict[str, object]:
    """ValueError without a caller ID: every customer call shows a number (issue 5). Without
    the header Asterisk would send the trunk endpoint's default (often none or "asterisk")."""
    if not call.caller_id.strip():
        raise ValueError("no caller ID for a customer call")
    variables = {"DIALER_ATTEMPT": call.channel_id, **call.variables}
    return {
        "Action": "Originate",
        "ActionID": f"orig-{call.channel_id}",
        "Channel": f"PJSIP/{call.number}@{call.trunk}",
        "Context": ctx.customer,
        "Exten": "s",
        "Priority": "1",
        "Timeout": str(int(call.ring_timeout_s * 1000)),
        "CallerID": call.caller_id,
        "Async": "true",
        "ChannelId": call.channel_id,
        "Variable": _variables(variables),
    }


def originate_agent(leg: AgentLeg, ctx: Contexts) -> dict[str, object]:
    variables = {"DIALER_AGENT_LEG": leg.channel_id, **leg.variables}
    return {
        "Action": "Originate",
        "ActionID": f"orig-{leg.channel_id}",
        "Channel": f"PJSIP/{leg.endpoint}",
        "Context": ctx.agent,
        "Exten": "s",
        "Priority": "1",
        "Timeout": str(int(leg.ring_timeout_s * 1000)),
        "Async": "true",
        "ChannelId": leg.channel_id,
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


def event_filter(events: tuple[str, ...]) -> list[dict[str, object]]:
    """Whitelist filters: Asterisk then sends this session only the named events."""
    return [{"Action": "Filter", "Operation": "Add", "Filter": f"Event: {name}"} for name in events]
