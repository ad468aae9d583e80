"""The PBX port: what the dialer needs from Asterisk or FreeSWITCH, and the events it gets back.

`dialer/` talks to a PBX only through `Pbx` and the event types below. `ami_bridge/` (Asterisk,
over AMI) and `esl_bridge/` (FreeSWITCH, over ESL) implement it; configuration picks one. The
dialer never imports a PBX library.

Identity: every channel the dialer starts gets an id chosen by the dialer (`channel_id`, a UUID
string). The adapter makes the PBX use it as the channel's own unique id where it can (Asterisk
`Originate ChannelId=`, FreeSWITCH `origination_uuid`), so events, live-channel listings and the
dialer's records share one key, and an originate that was in flight when the connection dropped
can be reconciled by that key instead of being sent again.

Events are plain frozen values with the PBX's timestamp of arrival (`at`, seconds on the
dialer's monotonic clock when the adapter read them).
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


class DialStatus(enum.Enum):
    """How an outbound leg ended before (or at) answer, normalised across PBXs."""

    ANSWER = "answer"
    BUSY = "busy"
    NOANSWER = "noanswer"
    CONGESTION = "congestion"  # trunk or network failure, 5xx/503, no route
    CHANUNAVAIL = "chanunavail"  # endpoint unreachable or unregistered
    CANCEL = "cancel"  # the dialer (or the PBX) gave up before answer


@dataclass(frozen=True, slots=True)
class OriginateAccepted:
    """The PBX took the originate and created the channel (it may not ring yet)."""

    channel_id: str
    at: float


@dataclass(frozen=True, slots=True)
class OriginateFailed:
    """The PBX refused the originate or could not create the channel at all."""

    channel_id: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class Ringing:
    channel_id: str
    at: float


@dataclass(frozen=True, slots=True)
class Answered:
    channel_id: str
    at: float


@dataclass(frozen=True, slots=True)
class DialEnded:
    """The dial attempt of an outbound leg finished with a status (before hang-up)."""

    channel_id: str
    status: DialStatus
    at: float


@dataclass(frozen=True, slots=True)
class Bridged:
    """Two channels are in one bridge (an answered call joined an agent's leg)."""

    channel_id: str
    peer_id: str
    at: float


@dataclass(frozen=True, slots=True)
class Unbridged:
    channel_id: str
    at: float


@dataclass(frozen=True, slots=True)
class MessageStarted:
    """A recorded message started playing on the channel: the abandon message, or the message
    left on an answering machine (the call's state tells which)."""

    channel_id: str
    at: float


@dataclass(frozen=True, slots=True)
class MachineDetected:
    """Answering-machine detection finished on an answered channel.

    `status` is the PBX's verdict (Asterisk AMDSTATUS: HUMAN, MACHINE, NOTSURE, HANGUP);
    `machine` is True only for a machine. NOTSURE counts as a person: hanging up on a person who
    said a long "hello" is worse than giving an agent a machine.
    """

    channel_id: str
    machine: bool
    status: str
    cause: str
    at: float


@dataclass(frozen=True, slots=True)
class HungUp:
    """The channel is gone. `cause` is the Q.850 cause code (16 normal, 17 busy, ...);
    `sip_code` the SIP final response of an outbound leg when the PBX reports it (FreeSWITCH's
    `sip_term_status`; Asterisk 22's AMI gives only the cause)."""

    channel_id: str
    cause: int
    cause_text: str
    at: float
    sip_code: int | None = None


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    """The link to the PBX dropped; the adapter is reconnecting."""

    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class ConnectionRestored:
    """The link is back. `live` lists the channels the PBX still has (for reconciliation)."""

    live: tuple[LiveChannel, ...]
    at: float


PbxEvent = (
    OriginateAccepted
    | OriginateFailed
    | Ringing
    | Answered
    | DialEnded
    | Bridged
    | Unbridged
    | MessageStarted
    | MachineDetected
    | HungUp
    | ConnectionLost
    | ConnectionRestored
)


class ChannelState(enum.Enum):
    DOWN = "down"
    RINGING = "ringing"
    UP = "up"


@dataclass(frozen=True, slots=True)
class LiveChannel:
    """A channel the PBX has now, as listed by CoreShowChannels / show channels."""

    channel_id: str
    name: str
    state: ChannelState
    bridged_to: str | None = None  # the channel it is bridged with


class Capability(enum.Enum):
    """What a PBX adapter may or may not offer beyond placing, bridging and ending calls.

    An adapter declares the ones it has (`Pbx.capabilities`); a campaign that needs one its
    PBX lacks is refused at start, with the capability's value in the reason
    (dialer/core/refusals.py), rather than dialing without it."""

    ANSWERING_MACHINE_DETECTION = "answering-machine detection"


@dataclass(frozen=True, slots=True)
class AmdRequest:
    """Run answering-machine detection on the answered call (needs
    Capability.ANSWERING_MACHINE_DETECTION). `machine_message` is the sound to leave on a
    machine once its greeting ends (a sound name, no extension); empty: hang up on a machine."""

    machine_message: str = ""


@dataclass(frozen=True, slots=True)
class AbandonMessage:
    """What the recorded message says to an answered call no agent takes (and the PBX's own
    fail-safe says when the daemon is gone): the call-back number (E.164, said digit by digit)
    and the campaign's name prompt (a sound name; empty: none). See dialer/domain/abandon.py."""

    callback_number: str
    name_prompt: str = ""


@dataclass(frozen=True, slots=True)
class CustomerCall:
    """An outbound call to a lead through a trunk.

    Typed values, not dialplan variables: each adapter turns them into its own PBX's channel
    variables (ami_bridge/actions.py, esl_bridge/commands.py), and checks each against the
    dialer's value grammar (dialer/domain/pbx_values.py) there; a value it refuses fails this
    call as OriginateFailed."""

    channel_id: str
    trunk: str
    number: str  # a dial prefix then the number (E.164, with the leading +)
    caller_id: str
    ring_timeout_s: float
    lead_id: int | None = None
    campaign_id: int | None = None
    hold_s: float | None = None
    """How long the PBX's own hold lasts after the answer before it plays the abandon message:
    a backstop behind the daemon's timer. None: the dialplan's default."""
    amd: AmdRequest | None = None
    message: AbandonMessage | None = None
    """None: the dialplan says the caller ID the callee saw, and no name prompt."""


@dataclass(frozen=True, slots=True)
class AgentLeg:
    """The nailed-up call to an agent's headset, made once at log-in."""

    channel_id: str
    endpoint: str
    ring_timeout_s: float = 30.0
    agent_id: str = ""  # shown in the PBX's ready event; empty: none


class PbxError(Exception):
    """Root of the errors a PBX adapter raises."""


class PbxAuthError(PbxError):
    """The PBX refused our credentials: a configuration error, not something to retry."""


class PbxUnavailable(PbxError):
    """The PBX cannot be reached right now (the adapter will retry)."""


class PbxValueError(PbxError, ValueError):
    """A value the adapter will not send: it breaks the protocol's framing (a CR, LF or NUL
    would add headers or commands of its own) or the grammar of what it names. Nothing was
    sent; retrying the same value fails the same way."""


@runtime_checkable
class Pbx(Protocol):
    """What the dialer asks of a PBX. Results come back as events, not return values."""

    @property
    def capabilities(self) -> frozenset[Capability]:
        """What this adapter offers of `Capability` (a campaign needing more is refused)."""
        ...

    async def start(self) -> None:
        """Connect and log in.

        Raises PbxAuthError on bad credentials, PbxUnavailable if the PBX is unreachable."""

    async def close(self) -> None:
        """Disconnect; no more events after this."""

    def events(self) -> AsyncIterator[PbxEvent]:
        """The normalised event stream (one consumer)."""
        ...

    async def originate_customer(self, call: CustomerCall) -> None:
        """Start dialing a lead. Never re-sent by the adapter after a reconnect."""

    async def originate_agent(self, leg: AgentLeg) -> None:
        """Call an agent's headset; once answered the leg waits in the PBX for calls."""

    async def connect(self, channel_id: str, agent_channel_id: str) -> None:
        """Bridge an answered customer channel with an agent's waiting leg."""

    async def abandon(self, channel_id: str) -> None:
        """Play the abandon message on an answered channel, then hang it up."""

    async def hangup(self, channel_id: str) -> None:
        """Hang up a channel (customer or agent leg)."""

    async def live_channels(self) -> list[LiveChannel]:
        """The channels the PBX has now."""
        ...
