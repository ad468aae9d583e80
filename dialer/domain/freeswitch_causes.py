"""FreeSWITCH's hang-up cause names (switch_types.h switch_call_cause_t) as dial statuses. Pure.

One reading of a cause for both places FreeSWITCH reports one: a leg's CHANNEL_HANGUP_COMPLETE on
the event socket (esl_bridge/translate.py) and FreeSWITCH's own call record of it in pbx_cdr,
written by mod_cdr_pg_csv whether or not a daemon listens (dialer/domain/recovery.py).
"""

from __future__ import annotations

from dialer import pbx

# How an unanswered leg's hang-up cause reads as a dial status. Anything not listed is a
# network-side failure: CONGESTION (503 gave NORMAL_TEMPORARY_FAILURE, an unreachable far end
# the same).
_DIAL_STATUS: dict[str, pbx.DialStatus] = {
    "USER_BUSY": pbx.DialStatus.BUSY,  # 486
    "CALL_REJECTED": pbx.DialStatus.BUSY,  # 603 Decline
    "BUSY_EVERYWHERE": pbx.DialStatus.BUSY,  # 600
    "DECLINE": pbx.DialStatus.BUSY,
    "NO_ANSWER": pbx.DialStatus.NOANSWER,  # originate_timeout expired while ringing
    "NO_USER_RESPONSE": pbx.DialStatus.NOANSWER,  # 480
    "ALLOTTED_TIMEOUT": pbx.DialStatus.NOANSWER,
    "PROGRESS_TIMEOUT": pbx.DialStatus.NOANSWER,
    "ORIGINATOR_CANCEL": pbx.DialStatus.CANCEL,  # uuid_kill while ringing
    "NORMAL_CLEARING": pbx.DialStatus.CANCEL,  # hung up by us before answer
    "LOSE_RACE": pbx.DialStatus.CANCEL,
    "MANAGER_REQUEST": pbx.DialStatus.CANCEL,
    "SYSTEM_SHUTDOWN": pbx.DialStatus.CANCEL,
    "UNALLOCATED_NUMBER": pbx.DialStatus.CHANUNAVAIL,  # 404
    "NO_ROUTE_TRANSIT_NET": pbx.DialStatus.CHANUNAVAIL,
    "NO_ROUTE_DESTINATION": pbx.DialStatus.CHANUNAVAIL,
    "SUBSCRIBER_ABSENT": pbx.DialStatus.CHANUNAVAIL,
    "NUMBER_CHANGED": pbx.DialStatus.CHANUNAVAIL,  # 410
    "DESTINATION_OUT_OF_ORDER": pbx.DialStatus.CHANUNAVAIL,
    "INVALID_NUMBER_FORMAT": pbx.DialStatus.CHANUNAVAIL,  # 484
    "USER_NOT_REGISTERED": pbx.DialStatus.CHANUNAVAIL,
    "DOES_NOT_EXIST_ANYWHERE": pbx.DialStatus.CHANUNAVAIL,
    "INVALID_GATEWAY": pbx.DialStatus.CHANUNAVAIL,
    "GATEWAY_DOWN": pbx.DialStatus.CHANUNAVAIL,
    "INVALID_URL": pbx.DialStatus.CHANUNAVAIL,
    "INVALID_PROFILE": pbx.DialStatus.CHANUNAVAIL,
    "CHAN_NOT_IMPLEMENTED": pbx.DialStatus.CHANUNAVAIL,
    "REQUESTED_CHAN_UNAVAIL": pbx.DialStatus.CHANUNAVAIL,
}


def dial_status(cause_name: str) -> pbx.DialStatus:
    """The dial status of a leg that ended with this cause before it was answered."""
    return _DIAL_STATUS.get(cause_name.upper(), pbx.DialStatus.CONGESTION)
