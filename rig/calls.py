"""The dialer's AMI moves, done by hand on the rig's raw AMI client (tests, recorder, demo).

They follow the dialplan contract of deploy/asterisk/extensions.conf: customers are originated
into `dialer-customer` with our own ChannelId, agents' legs into `dialer-agent`, a connection is
Bridge then, once it succeeded, Setvar DIALER_BRIDGED=1; an abandon is a Redirect to
`dialer-abandon`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from rig.ami import AmiClient, Headers, event, first

CALLER_ID = "Dialer <+15550000000>"


async def originate_customer(
    ami: AmiClient,
    number: str,
    *,
    channel_id: str | None = None,
    timeout_ms: int = 30000,
    hold_s: float | None = None,
    attempt: str | None = None,
    trunk: str = "trunk",
    variables: Mapping[str, str] | None = None,
    caller_id: str = CALLER_ID,
) -> tuple[str, Headers]:
    """Originate a customer call; returns (channel id, the action's response). `variables` are
    more channel variables (e.g. DIALER_CALLBACK)."""
    channel_id = channel_id or str(uuid.uuid4())
    more = [f"{k}={v}" for k, v in (variables or {}).items()]
    variables_ = [f"DIALER_ATTEMPT={attempt or channel_id}", *more]
    if hold_s is not None:
        variables_.append(f"DIALER_HOLD={hold_s}")
    response = await ami.request(
        "Originate",
        Channel=f"PJSIP/{number}@{trunk}",
        Context="dialer-customer",
        Exten="s",
        Priority="1",
        Timeout=str(timeout_ms),
        CallerID=caller_id,
        Async="true",
        ChannelId=channel_id,
        Variable=variables_,
    )
    return channel_id, response


async def login_agent(
    ami: AmiClient, endpoint: str, *, channel_id: str | None = None, wait_s: float = 10.0
) -> str:
    """Call an agent's headset into `dialer-agent` and wait until the leg is ready."""
    channel_id = channel_id or str(uuid.uuid4())
    start = len(ami.messages)
    await ami.request(
        "Originate",
        Channel=f"PJSIP/{endpoint}",
        Context="dialer-agent",
        Exten="s",
        Priority="1",
        Timeout="10000",
        Async="true",
        ChannelId=channel_id,
        Variable=[f"DIALER_AGENT={endpoint}"],
    )
    await ami.wait_for(event("UserEvent", channel_id, UserEvent="DialerAgentReady"), wait_s, start)
    return channel_id


async def bridge(ami: AmiClient, customer_id: str, agent_id: str) -> Headers:
    """Bridge, then (only if it succeeded) Setvar DIALER_BRIDGED=1, as the daemon does; returns
    the Bridge's response. The Setvar goes out without waiting for its reply: AMI runs one
    session's actions in order, so it is set before any later action of this client."""
    response = await ami.request("Bridge", Channel1=customer_id, Channel2=agent_id, Tone="no")
    if first(response, "Response") == "Success":
        await ami.send("Setvar", Channel=customer_id, Variable="DIALER_BRIDGED", Value="1")
    return response


async def abandon(ami: AmiClient, customer_id: str) -> Headers:
    """Send an answered customer to the abandon message."""
    return await ami.request(
        "Redirect", Channel=customer_id, Context="dialer-abandon", Exten="s", Priority="1"
    )
