"""FreeSWITCH's hang-up cause names (switch_types.h switch_call_cause_t): their Q.850 codes and
their reading as dial statuses. Pure.

One reading of a cause for both places FreeSWITCH reports one: a leg's CHANNEL_HANGUP_COMPLETE on
the event socket (esl_bridge/translate.py) and FreeSWITCH's own call record of it in pbx_cdr,
written by mod_cdr_pg_csv whether or not a daemon listens (dialer/domain/recovery.py).
"""

from __future__ import annotations

from dialer import pbx

# How an unanswered leg's hang-up cause reads as a dial status. Anything not listed is a
# network-side failure: CONGESTION (503 gave NORMAL_TEMPORARY_FAILURE, an unreachable far end
# the same). The call's result comes from the SIP response and Q.850 cause first
# (dialer.domain.causes): a 603 is a refusal, not a busy line.
_DIAL_STATUS: dict[str, pbx.DialStatus] = {
    "USER_BUSY": pbx.DialStatus.BUSY,  # 486
    "BUSY_EVERYWHERE": pbx.DialStatus.BUSY,  # 600
    "CALL_REJECTED": pbx.DialStatus.NOANSWER,  # 603 Decline: nobody took the call
    "DECLINE": pbx.DialStatus.NOANSWER,
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


# FreeSWITCH's hang-up cause names (switch_types.h switch_call_cause_t) and their codes. Codes
# above 127 are FreeSWITCH's own; FreeSWITCH reports them as Q.850 16 (normal clearing).
CAUSE_CODES: dict[str, int] = {
    "NONE": 0,
    "UNALLOCATED_NUMBER": 1,
    "NO_ROUTE_TRANSIT_NET": 2,
    "NO_ROUTE_DESTINATION": 3,
    "CHANNEL_UNACCEPTABLE": 6,
    "CALL_AWARDED_DELIVERED": 7,
    "NORMAL_CLEARING": 16,
    "USER_BUSY": 17,
    "NO_USER_RESPONSE": 18,
    "NO_ANSWER": 19,
    "SUBSCRIBER_ABSENT": 20,
    "CALL_REJECTED": 21,
    "NUMBER_CHANGED": 22,
    "REDIRECTION_TO_NEW_DESTINATION": 23,
    "EXCHANGE_ROUTING_ERROR": 25,
    "DESTINATION_OUT_OF_ORDER": 27,
    "INVALID_NUMBER_FORMAT": 28,
    "FACILITY_REJECTED": 29,
    "RESPONSE_TO_STATUS_ENQUIRY": 30,
    "NORMAL_UNSPECIFIED": 31,
    "NORMAL_CIRCUIT_CONGESTION": 34,
    "NETWORK_OUT_OF_ORDER": 38,
    "NORMAL_TEMPORARY_FAILURE": 41,
    "SWITCH_CONGESTION": 42,
    "ACCESS_INFO_DISCARDED": 43,
    "REQUESTED_CHAN_UNAVAIL": 44,
    "PRE_EMPTED": 45,
    "FACILITY_NOT_SUBSCRIBED": 50,
    "OUTGOING_CALL_BARRED": 52,
    "INCOMING_CALL_BARRED": 54,
    "BEARERCAPABILITY_NOTAUTH": 57,
    "BEARERCAPABILITY_NOTAVAIL": 58,
    "SERVICE_UNAVAILABLE": 63,
    "BEARERCAPABILITY_NOTIMPL": 65,
    "CHAN_NOT_IMPLEMENTED": 66,
    "FACILITY_NOT_IMPLEMENTED": 69,
    "SERVICE_NOT_IMPLEMENTED": 79,
    "INVALID_CALL_REFERENCE": 81,
    "INCOMPATIBLE_DESTINATION": 88,
    "INVALID_MSG_UNSPECIFIED": 95,
    "MANDATORY_IE_MISSING": 96,
    "MESSAGE_TYPE_NONEXIST": 97,
    "WRONG_MESSAGE": 98,
    "IE_NONEXIST": 99,
    "INVALID_IE_CONTENTS": 100,
    "WRONG_CALL_STATE": 101,
    "RECOVERY_ON_TIMER_EXPIRE": 102,
    "MANDATORY_IE_LENGTH_ERROR": 103,
    "PROTOCOL_ERROR": 111,
    "INTERWORKING": 127,
    "SUCCESS": 142,
    "ORIGINATOR_CANCEL": 487,
    "CRASH": 700,
    "SYSTEM_SHUTDOWN": 701,
    "LOSE_RACE": 702,
    "MANAGER_REQUEST": 703,
    "BLIND_TRANSFER": 800,
    "ATTENDED_TRANSFER": 801,
    "ALLOTTED_TIMEOUT": 802,
    "USER_CHALLENGE": 803,
    "MEDIA_TIMEOUT": 804,
    "PICKED_OFF": 805,
    "USER_NOT_REGISTERED": 806,
    "PROGRESS_TIMEOUT": 807,
    "INVALID_GATEWAY": 808,
    "GATEWAY_DOWN": 809,
    "INVALID_URL": 810,
    "INVALID_PROFILE": 811,
    "NO_PICKUP": 812,
    "SRTP_READ_ERROR": 813,
    "BOWOUT": 814,
    "BUSY_EVERYWHERE": 815,
    "DECLINE": 816,
    "DOES_NOT_EXIST_ANYWHERE": 817,
    "NOT_ACCEPTABLE": 818,
    "UNWANTED": 819,
}


def q850(cause_name: str) -> int:
    """The Q.850 code FreeSWITCH reports for a cause name (its own causes read as 16)."""
    code = CAUSE_CODES.get(cause_name.upper(), 0)
    return code if code <= 127 else 16
