"""Phone numbers that tell the rig's SIPp trunk what to do with the call.

A rig number is a valid 15-digit E.164 number::

    +1555 K RRR TTTT SSS
          | |   |    '-- serial, free for the test (000-999), e.g. to tell leads apart
          | |   '------- talk time before the far end hangs up, tenths of a second
          | '----------- ring time before the final answer, tenths of a second
          '------------- behaviour (Behaviour below)

rig/sipp/trunk_uas.xml decodes the same layout from the INVITE's Request-URI, so one SIPp
process on one port serves a whole mixed campaign. Pure: no I/O here.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

from dialer.pbx import DialStatus

PREFIX: Final = "+1555"
_PATTERN: Final = re.compile(r"^\+1555([0-9])([0-9]{3})([0-9]{4})([0-9]{3})$")
MAX_RING_S: Final = 99.9
MAX_TALK_S: Final = 999.9
MAX_SERIAL: Final = 999


class Behaviour(enum.IntEnum):
    """What the far end does; the value is the K digit."""

    ANSWER = 1
    """Ring, answer, talk, then hang up (BYE) itself."""
    BUSY = 2
    """Ring, then 486 Busy Here."""
    NO_ANSWER = 3
    """Ring until the caller gives up (CANCEL, answered with 487); the ring time is ignored."""
    FAIL = 4
    """Ring, then 503 Service Unavailable (a carrier failure); with the talk digits 0404, 0480
    or 0603 that final response instead (see `failure_number`)."""
    ANSWER_HOLD = 5
    """Ring, answer, and stay on the line until the PBX hangs up (talk time ignored)."""
    AMD_HUMAN = 6
    """Ring, answer, say "Hello?" (0.3-0.74 s after the answer) then stay silent: a person, for
    answering-machine detection (audio from rig/audio.py). Hangs up (BYE) after the talk time,
    or with talk time 0 stays on the line until the PBX hangs up."""
    AMD_MACHINE = 7
    """As AMD_HUMAN with an answering machine's 8.4 s greeting and a beep (ending 9.87 s after
    the answer) instead of the hello."""
    ANSWER_SILENT = 8
    """Ring, answer, and stay on the line until the PBX hangs up, sending no RTP at all (talk
    time ignored): a far end whose media died without a BYE. Every other answered call sends
    RTP until it ends."""


@dataclass(frozen=True, slots=True)
class Expected:
    """What Asterisk 22 reports for a behaviour, as seen on the rig (tests/data/ami/).

    `dial_status` is the dialer's outcome; `dial_end` the DialStatus of the AMI DialEnd event,
    None when Asterisk sends no DialEnd at all (a ring-out: the Originate timeout cancels the
    dial without one); `cause` the Cause of the Hangup event when the call ends that way (an
    answered call: when the far end hangs up while bridged, or the dialplan hangs up).
    `originate_reason` is OriginateResponse's Reason (4 answered, 3 ring-out, 0 otherwise).
    `amd_status` is what AMD() says (the Status of the DialerAmd UserEvent) when the call is
    originated with DIALER_AMD=1; None for the behaviours not made for AMD (ANSWER and
    ANSWER_HOLD send AMD_HUMAN's audio, ANSWER_SILENT none).
    """

    dial_status: DialStatus
    dial_end: str | None
    cause: int
    originate_reason: int
    amd_status: str | None = None


EXPECTED: Final[dict[Behaviour, Expected]] = {
    Behaviour.ANSWER: Expected(DialStatus.ANSWER, "ANSWER", 16, 4),
    Behaviour.ANSWER_HOLD: Expected(DialStatus.ANSWER, "ANSWER", 16, 4),
    Behaviour.BUSY: Expected(DialStatus.BUSY, "BUSY", 17, 0),
    Behaviour.NO_ANSWER: Expected(DialStatus.NOANSWER, None, 19, 3),
    Behaviour.FAIL: Expected(DialStatus.CONGESTION, "CONGESTION", 34, 0),
    Behaviour.AMD_HUMAN: Expected(DialStatus.ANSWER, "ANSWER", 16, 4, amd_status="HUMAN"),
    Behaviour.AMD_MACHINE: Expected(DialStatus.ANSWER, "ANSWER", 16, 4, amd_status="MACHINE"),
    Behaviour.ANSWER_SILENT: Expected(DialStatus.ANSWER, "ANSWER", 16, 4),
}
"""Outcome per behaviour. `cause` 16 is for an answered call that ends in a bridge or by the
dialplan's Hangup(); see CAUSE_HANGUP_IN_DIALPLAN_APP for the other case. Without DIALER_AMD=1
the AMD behaviours are plain answered calls that stay up (as ANSWER_HOLD)."""

CAUSE_HANGUP_IN_DIALPLAN_APP: Final = 0
"""Hangup Cause when an answered channel is hung up while it runs a dialplan application
(waiting in Wait() to be bridged, or hearing the abandon message in Playback()) by a BYE from the
far end without a Reason header, or by AMI Hangup without a Cause header (Asterisk 22.10)."""

NOT_FOUND: Final = Expected(DialStatus.NOANSWER, "NOANSWER", 1, 0)
"""A number the trunk does not know (404): DialEnd says NOANSWER, the Hangup cause is 1."""


def _tenths(seconds: float, limit: float, what: str) -> int:
    if not 0 <= seconds <= limit:
        raise ValueError(f"{what} must be within 0..{limit} s, got {seconds}")
    tenths = round(seconds * 10)
    if abs(tenths - seconds * 10) > 1e-6:
        raise ValueError(f"{what} must be a multiple of 0.1 s, got {seconds}")
    return tenths


@dataclass(frozen=True, slots=True)
class RigNumber:
    """A decoded rig number."""

    behaviour: Behaviour
    ring_s: float = 0.0
    talk_s: float = 0.0
    serial: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.behaviour, Behaviour):
            raise TypeError(f"behaviour must be a Behaviour, got {self.behaviour!r}")
        _tenths(self.ring_s, MAX_RING_S, "ring time")
        _tenths(self.talk_s, MAX_TALK_S, "talk time")
        if not 0 <= self.serial <= MAX_SERIAL:
            raise ValueError(f"serial must be within 0..{MAX_SERIAL}, got {self.serial}")

    @property
    def e164(self) -> str:
        ring = _tenths(self.ring_s, MAX_RING_S, "ring time")
        talk = _tenths(self.talk_s, MAX_TALK_S, "talk time")
        return f"{PREFIX}{self.behaviour.value}{ring:03d}{talk:04d}{self.serial:03d}"

    @property
    def expected(self) -> Expected:
        return EXPECTED[self.behaviour]

    def __str__(self) -> str:
        return self.e164


def make_number(
    behaviour: Behaviour, ring_s: float = 0.0, talk_s: float = 0.0, serial: int = 0
) -> str:
    """The E.164 number that makes the rig's trunk behave so."""
    return RigNumber(behaviour, ring_s, talk_s, serial).e164


FAILURE_CODES: Final = (404, 480, 603, 503)
"""The final responses the rig's trunk gives a FAIL number (rig/sipp/trunk_uas.xml)."""


def failure_number(code: int, ring_s: float = 0.0, serial: int = 0) -> str:
    """A number the rig's trunk answers with the SIP final response `code` (one of
    FAILURE_CODES) after ringing `ring_s` (0: no 180 at all): the code rides in the talk
    digits, which a failure does not use."""
    if code not in FAILURE_CODES:
        raise ValueError(f"the rig's trunk answers only {FAILURE_CODES}, not {code}")
    return make_number(Behaviour.FAIL, ring_s, 0.0 if code == 503 else code / 10, serial)


def parse_number(number: str) -> RigNumber:
    """Decode a rig number; ValueError if it is not one (the trunk answers those 404)."""
    match = _PATTERN.match(number)
    if match is None:
        raise ValueError(f"not a rig number: {number!r}")
    kind, ring, talk, serial = match.groups()
    try:
        behaviour = Behaviour(int(kind))
    except ValueError:
        raise ValueError(f"unknown rig behaviour {kind} in {number!r}") from None
    return RigNumber(behaviour, int(ring) / 10, int(talk) / 10, int(serial))


def is_rig_number(number: str) -> bool:
    try:
        parse_number(number)
    except ValueError:
        return False
    return True
