"""What the carrier's answer means (dialer.domain.causes), on both PBXs' shapes of it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dialer import pbx
from dialer.domain.call import CallAttempt, Originate
from dialer.domain.causes import (
    DEFAULT_MAPPING,
    CauseMapping,
    breaks_trunk,
    check_overrides,
    mapping_for,
    unanswered_result,
)
from dialer.domain.results import CallResult
from esl_bridge import codec
from esl_bridge.translate import EslTranslator

R = CallResult
D = pbx.DialStatus
ESL = Path(__file__).resolve().parent.parent / "data" / "esl"


def result(
    sip: int | None = None,
    cause: int | None = None,
    status: pbx.DialStatus | None = None,
    *,
    rang: bool = False,
    taken_back: bool = False,
    cancelled: bool = False,
    mapping: CauseMapping = DEFAULT_MAPPING,
) -> CallResult:
    return unanswered_result(
        sip_code=sip,
        cause=cause,
        dial_status=status,
        rang=rang,
        taken_back=taken_back,
        cancelled=cancelled,
        mapping=mapping,
    )


@pytest.mark.parametrize(
    ("sip", "expected"),
    [
        (404, R.INVALID),
        (410, R.INVALID),
        (484, R.INVALID),
        (604, R.INVALID),
        (603, R.DECLINED),
        (480, R.UNAVAILABLE),
        (486, R.BUSY),
        (600, R.BUSY),
        (503, R.FAILED),
        (408, R.FAILED),
        (504, R.FAILED),
    ],
)
def test_sip_responses(sip: int, expected: CallResult) -> None:
    # The SIP code wins over a cause or dial status that says otherwise.
    assert result(sip, 16, D.NOANSWER, rang=True) is expected


@pytest.mark.parametrize(
    ("cause", "expected"),
    [
        (1, R.INVALID),
        (3, R.INVALID),
        (22, R.INVALID),
        (28, R.INVALID),
        (21, R.DECLINED),
        (18, R.UNAVAILABLE),
        (20, R.UNAVAILABLE),
        (17, R.BUSY),
        (34, R.FAILED),
        (38, R.FAILED),
        (41, R.FAILED),
        (42, R.FAILED),
        (44, R.FAILED),
        (47, R.FAILED),
        (102, R.FAILED),
    ],
)
def test_q850_causes_win_over_the_dial_status(cause: int, expected: CallResult) -> None:
    # Asterisk 22 reports a 404 as DialEnd NOANSWER with Hangup cause 1.
    assert result(None, cause, D.NOANSWER, rang=True) is expected


def test_asterisk_shapes_seen_on_the_rig() -> None:
    # busy: DialEnd BUSY, cause 17; ring-out: no DialEnd, cause 19 after a ring; 503: DialEnd
    # CONGESTION, cause 34; 404: DialEnd NOANSWER, cause 1; 603: cause 21.
    assert result(None, 17, D.BUSY, rang=True) is R.BUSY
    assert result(None, 19, None, rang=True) is R.NO_ANSWER
    assert result(None, 34, D.CONGESTION) is R.FAILED
    assert result(None, 1, D.NOANSWER) is R.INVALID
    assert result(None, 21, D.NOANSWER) is R.DECLINED


def test_no_answer_without_a_ring_is_unavailable() -> None:
    # Asterisk maps a 480 to Q.850 19; the callee was never alerted, so it did not ring out.
    assert result(None, 19, D.NOANSWER, rang=False) is R.UNAVAILABLE
    assert result(None, 19, D.NOANSWER, rang=True) is R.NO_ANSWER
    assert result(None, 19, None, rang=False) is R.UNAVAILABLE


def test_the_dialers_own_hangups() -> None:
    assert result(None, 16, D.CANCEL, rang=True, taken_back=True) is R.NO_ANSWER
    assert result(None, 16, D.CANCEL, rang=True, cancelled=True) is R.CANCELLED
    assert result(None, 19, None, rang=False, cancelled=True) is R.CANCELLED
    assert result(None, 0, None) is R.FAILED
    assert result(None, 16, None) is R.NO_ANSWER


def test_a_campaign_changes_a_mapping() -> None:
    mapping = mapping_for({"sip": {"603": "no_answer"}, "q850": {"21": "no_answer"}})
    assert result(603, 21, None, mapping=mapping) is R.NO_ANSWER
    assert result(None, 21, None, mapping=mapping) is R.NO_ANSWER
    assert result(404, 1, None, mapping=mapping) is R.INVALID  # the rest stays
    assert mapping_for(None) is DEFAULT_MAPPING
    assert mapping_for({}) is DEFAULT_MAPPING


@pytest.mark.parametrize(
    "overrides",
    [
        {"sip": {"603": "connected"}},  # not a result a cause can mean
        {"sip": {"603": "nonsense"}},
        {"sip": {"200": "busy"}},  # not a final failure response
        {"q850": {"300": "busy"}},
        {"q850": {"x": "busy"}},
        {"sips": {}},
    ],
)
def test_bad_overrides_are_refused(overrides: dict[str, dict[str, str]]) -> None:
    with pytest.raises(ValueError, match=r"sip|q850|keys"):
        check_overrides(overrides)


def test_overrides_stored_form() -> None:
    assert check_overrides({"sip": {603: "no_answer"}}) == {"sip": {"603": "no_answer"}}
    assert check_overrides({}) == {}


def test_what_trips_a_trunk() -> None:
    assert breaks_trunk(R.FAILED) and breaks_trunk(R.INVALID)
    assert not any(breaks_trunk(r) for r in R if r not in (R.FAILED, R.INVALID))


# -- FreeSWITCH: the hang-up of a real recorded 503, as the carrier's other answers -----------

# What FreeSWITCH 1.10's sofia puts on the leg for each SIP final response
# (sofia_glue_sip_cause_to_freeswitch): cause name, Q.850 code.
_FS = {
    404: ("UNALLOCATED_NUMBER", 1),
    603: ("CALL_REJECTED", 21),
    480: ("NO_USER_RESPONSE", 18),
    503: ("NORMAL_TEMPORARY_FAILURE", 41),
}


def _as_response(event: codec.Event, sip: int) -> codec.Event:
    """The recorded hang-up event with another SIP response and its cause."""
    name, q850 = _FS[sip]
    headers = dict(event.headers)
    for key in ("Hangup-Cause", "variable_hangup_cause"):
        if key in headers:
            headers[key] = name
    headers["variable_sip_term_status"] = str(sip)
    headers["variable_proto_specific_hangup_cause"] = f"sip:{sip}"
    headers["variable_sip_term_cause"] = str(q850)
    headers["variable_hangup_cause_q850"] = str(q850)
    return codec.Event(headers, event.body)


@pytest.mark.parametrize(
    ("sip", "expected"),
    [(404, R.INVALID), (603, R.DECLINED), (480, R.UNAVAILABLE), (503, R.FAILED)],
)
def test_freeswitch_hangups(sip: int, expected: CallResult) -> None:
    tx = (ESL / "failure_503.tx").read_text()
    cid = re.findall(r"Job-UUID: (\S+)", tx)[0]
    translator = EslTranslator()
    translator.originate_sent(cid)
    call = CallAttempt(cid, 1)
    call.handle(Originate(0.0))
    hung: list[pbx.HungUp] = []
    messages = codec.Decoder().feed((ESL / "failure_503.rx").read_bytes())
    for i, msg in enumerate(messages):
        if not isinstance(msg, codec.Event):
            continue
        if msg.name == "CHANNEL_HANGUP_COMPLETE":
            msg = _as_response(msg, sip)
        for event in translator.event(msg, float(i)):
            if isinstance(event, pbx.HungUp):
                hung.append(event)
            call.handle(event)  # type: ignore[arg-type]
    assert [(h.cause, h.sip_code) for h in hung] == [(_FS[sip][1], sip)]
    assert call.result is expected


def test_freeswitch_ring_out_and_cancel_have_no_sip_code() -> None:
    for name, expected in (("no_answer", R.NO_ANSWER), ("cancel", None)):
        tx = (ESL / f"{name}.tx").read_text()
        cid = re.findall(r"Job-UUID: (\S+)", tx)[0]
        translator = EslTranslator()
        translator.originate_sent(cid)
        hung = [
            e
            for i, m in enumerate(codec.Decoder().feed((ESL / f"{name}.rx").read_bytes()))
            if isinstance(m, codec.Event)
            for e in translator.event(m, float(i))
            if isinstance(e, pbx.HungUp)
        ]
        assert len(hung) == 1 and hung[0].sip_code is None
        if expected is not None:
            assert result(hung[0].sip_code, hung[0].cause, D.NOANSWER, rang=True) is expected
