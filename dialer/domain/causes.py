"""What the carrier's answer means: the result of an unanswered call, from its SIP response,
Q.850 cause and dial status. Pure: the one place both PBX adapters' hang-ups become results.

Rules (the defaults; a campaign may map any SIP code or Q.850 cause to another result, see
`CauseMapping.with_overrides`):
- The SIP final response wins when the PBX reports it (FreeSWITCH does, `sip_term_status`;
  Asterisk 22's AMI does not), then the Q.850 cause, then the dial status.
- invalid, the number does not exist: SIP 404, 410, 484, 604; Q.850 1 (unallocated), 3 (no
  route to destination), 22 (number changed), 28 (invalid number format). Never dialed again.
- declined, the person refused the call: SIP 603; Q.850 21 (call rejected).
- unavailable, it never rang (phone off, out of coverage): SIP 480; Q.850 18 (no user
  responding), 20 (subscriber absent), 27 (destination out of order). Q.850 19 ("no answer, user
  alerted") with no ring seen is unavailable too: Asterisk 22 turns a 480 into cause 19 (its
  chan_pjsip `hangup_sip2cause`), and a callee who was never alerted did not ring out.
- busy: SIP 486, 600; Q.850 17.
- failed, the network's fault: SIP 408, 500, 502, 503, 504; Q.850 2, 34, 38, 41, 42, 44, 47,
  102 (a time-out in the network). Retried soon and outside the lead's attempt caps.
- Otherwise: a call the dialer hung up after it rang the minimum (taken back) is a no-answer;
  then the dial status (busy, no answer, congestion, unavailable channel); a call the dialer
  cancelled is cancelled; Q.850 19 or 16 is a no-answer; anything else failed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from dialer import pbx
from dialer.domain.results import CallResult

R = CallResult

# Results a carrier's answer may be mapped to (a campaign's override too): the ones that say
# something about the number or the network. Connected, abandoned, machine, cancelled, unknown
# and unreachable come from what the dialer saw, never from a cause.
MAPPABLE = (R.INVALID, R.DECLINED, R.UNAVAILABLE, R.BUSY, R.NO_ANSWER, R.FAILED)

DEFAULT_SIP: Mapping[int, CallResult] = MappingProxyType(
    {
        404: R.INVALID,  # Not Found
        410: R.INVALID,  # Gone
        484: R.INVALID,  # Address Incomplete
        604: R.INVALID,  # Does Not Exist Anywhere
        603: R.DECLINED,  # Decline
        480: R.UNAVAILABLE,  # Temporarily Unavailable
        486: R.BUSY,  # Busy Here
        600: R.BUSY,  # Busy Everywhere
        408: R.FAILED,  # Request Timeout
        500: R.FAILED,  # Server Internal Error
        502: R.FAILED,  # Bad Gateway
        503: R.FAILED,  # Service Unavailable
        504: R.FAILED,  # Server Time-out
    }
)

DEFAULT_Q850: Mapping[int, CallResult] = MappingProxyType(
    {
        1: R.INVALID,  # unallocated (unassigned) number
        3: R.INVALID,  # no route to destination
        22: R.INVALID,  # number changed
        28: R.INVALID,  # invalid number format (address incomplete)
        21: R.DECLINED,  # call rejected
        18: R.UNAVAILABLE,  # no user responding
        20: R.UNAVAILABLE,  # subscriber absent
        27: R.UNAVAILABLE,  # destination out of order
        17: R.BUSY,  # user busy
        2: R.FAILED,  # no route to specified transit network
        34: R.FAILED,  # no circuit/channel available
        38: R.FAILED,  # network out of order
        41: R.FAILED,  # temporary failure
        42: R.FAILED,  # switching equipment congestion
        44: R.FAILED,  # requested circuit/channel not available
        47: R.FAILED,  # resource unavailable, unspecified
        102: R.FAILED,  # recovery on timer expiry
    }
)

Q850_NO_ANSWER = 19  # "no answer from user (user alerted)"
Q850_NORMAL = 16

_DIAL_STATUS: Mapping[pbx.DialStatus, CallResult] = MappingProxyType(
    {
        pbx.DialStatus.BUSY: R.BUSY,
        pbx.DialStatus.NOANSWER: R.NO_ANSWER,
        pbx.DialStatus.CONGESTION: R.FAILED,
        pbx.DialStatus.CHANUNAVAIL: R.FAILED,
    }
)


def dial_status_result(status: pbx.DialStatus) -> CallResult | None:
    """What a dial status alone says of an unanswered call (None: nothing, as for a cancel)."""
    return _DIAL_STATUS.get(status)


def _result(value: Any, where: str) -> CallResult:
    try:
        result = CallResult(value)
    except ValueError:
        result = None
    if result not in MAPPABLE:
        allowed = ", ".join(r.value for r in MAPPABLE)
        raise ValueError(f"{where}: {value!r} is not a result a cause maps to ({allowed})")
    return result


def _code(key: str, where: str, low: int, high: int) -> int:
    try:
        code = int(key)
    except ValueError:
        raise ValueError(f"{where}: {key!r} is not a number") from None
    if not low <= code <= high:
        raise ValueError(f"{where}: {code} is outside {low}..{high}")
    return code


@dataclass(frozen=True, slots=True)
class CauseMapping:
    """Which result a SIP final response and a Q.850 cause mean (see the module's rules)."""

    sip: Mapping[int, CallResult] = field(default_factory=lambda: DEFAULT_SIP)
    q850: Mapping[int, CallResult] = field(default_factory=lambda: DEFAULT_Q850)

    def __post_init__(self) -> None:
        for code, result in self.sip.items():
            _code(str(code), "sip", 300, 699)
            _result(result, f"sip.{code}")
        for code, result in self.q850.items():
            _code(str(code), "q850", 0, 127)
            _result(result, f"q850.{code}")

    def with_overrides(self, overrides: Mapping[str, Any]) -> CauseMapping:
        """This mapping with a campaign's overrides: ``{"sip": {"603": "no_answer"},
        "q850": {"21": "no_answer"}}`` (the stored and API form; codes as strings)."""
        unknown = set(overrides) - {"sip", "q850"}
        if unknown:
            raise ValueError(f"cause mapping: unknown keys {sorted(unknown)} (sip, q850)")
        sip = dict(self.sip)
        for key, value in (overrides.get("sip") or {}).items():
            sip[_code(str(key), "sip", 300, 699)] = _result(value, f"sip.{key}")
        q850 = dict(self.q850)
        for key, value in (overrides.get("q850") or {}).items():
            q850[_code(str(key), "q850", 0, 127)] = _result(value, f"q850.{key}")
        return CauseMapping(MappingProxyType(sip), MappingProxyType(q850))


DEFAULT_MAPPING = CauseMapping()


def check_overrides(overrides: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """A campaign's overrides, checked and in their stored form (raises ValueError)."""
    DEFAULT_MAPPING.with_overrides(overrides)
    return {
        kind: {str(int(k)): CallResult(v).value for k, v in (overrides.get(kind) or {}).items()}
        for kind in ("sip", "q850")
        if overrides.get(kind)
    }


def mapping_for(overrides: Mapping[str, Any] | None) -> CauseMapping:
    """The mapping a campaign with these stored overrides uses."""
    return DEFAULT_MAPPING.with_overrides(overrides) if overrides else DEFAULT_MAPPING


def unanswered_result(
    *,
    sip_code: int | None,
    cause: int | None,
    dial_status: pbx.DialStatus | None,
    rang: bool,
    taken_back: bool,
    cancelled: bool,
    mapping: CauseMapping = DEFAULT_MAPPING,
) -> CallResult:
    """The result of a call that ended before anyone answered (see the module's rules)."""
    if sip_code is not None and sip_code in mapping.sip:
        return mapping.sip[sip_code]
    if cause is not None and cause in mapping.q850:
        return mapping.q850[cause]
    if taken_back:  # it rang the minimum and nobody answered: a no-answer to retry
        return R.NO_ANSWER
    if cause == Q850_NO_ANSWER and not rang and not cancelled:
        return R.UNAVAILABLE
    if dial_status is not None and dial_status in _DIAL_STATUS:
        return _DIAL_STATUS[dial_status]
    if cancelled:
        return R.CANCELLED
    if cause in (Q850_NO_ANSWER, Q850_NORMAL):
        return R.NO_ANSWER
    return R.FAILED


def breaks_trunk(result: CallResult) -> bool:
    """A result that, repeated on most calls in a row, says the trunk (not the numbers) is
    wrong: every call failing on the network, or every number "unallocated" as a misrouted
    trunk answers (dialer.domain.breaker)."""
    return result in (R.FAILED, R.INVALID)
