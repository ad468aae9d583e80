"""Logs never carry a whole phone number or a secret."""

from __future__ import annotations

import json
import logging
import sys

import pytest
from sqlalchemy.exc import IntegrityError

from dialer.logs import JsonFormatter, MaskingFilter, TextFormatter, mask_phone, mask_text


def test_mask_phone_keeps_country_and_last_two() -> None:
    assert mask_phone("+4420794601234") == "+44*********34"
    assert mask_phone("+15550101234") == "+15*******34"


def test_mask_text_masks_numbers_and_secrets() -> None:
    text = mask_text("Originate PJSIP/+15550101234@trunk Secret: hunter2 ids 42 and 2026")
    assert "5550101234" not in text
    assert "hunter2" not in text
    assert "ids 42 and 2026" in text  # short numbers are not phone numbers


def test_uuid_is_not_masked() -> None:
    uid = "3f2c1d9e-8b7a-4c6d-9e0f-123456789012"
    assert mask_text(f"call {uid}") == f"call {uid}"


def test_filter_masks_args_and_json_carries_extra(caplog: pytest.LogCaptureFixture) -> None:
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "dialing %s", ("+33612345678",), None
    )
    record.campaign = "spring"
    MaskingFilter().filter(record)
    out = json.loads(JsonFormatter().format(record))
    assert out["msg"] == "dialing +33*******78"
    assert out["campaign"] == "spring"


def test_one_record_is_one_line_whatever_a_field_holds() -> None:
    record = logging.LogRecord(
        "x",
        logging.WARNING,
        __file__,
        1,
        "agent %s: bad endpoint",
        ("eve\r\nINFO dialer: all good",),
        None,
    )
    record.agent = "eve\nforged"
    MaskingFilter().filter(record)
    line = TextFormatter().format(record)
    assert "\n" not in line and "\r" not in line
    assert "eve\\r\\nINFO dialer" in line and "agent=eve\\nforged" in line


def test_tracebacks_are_masked_like_messages() -> None:
    try:
        raise ValueError("cannot dial +33612345678 with secret=hunter2")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    for formatter in (TextFormatter(), JsonFormatter()):
        out = formatter.format(record)
        assert "612345678" not in out and "hunter2" not in out, out
        assert "+33*******78" in out


def test_sql_errors_do_not_echo_bound_values() -> None:
    exc = IntegrityError(
        "INSERT INTO leads (phone, name) VALUES ($1, $2)",
        ("+33612345678", "Marie Curie"),
        Exception("duplicate key"),
    )
    text = mask_text(f"writing failed: {exc}")
    assert "Marie Curie" not in text and "33612345678" not in text
    assert "duplicate key" in text and "[parameters hidden]" in text
    assert "INSERT INTO leads" in text  # the statement itself stays: it helps and holds no data


def test_numbers_in_a_url_query_are_masked_with_their_encoded_plus() -> None:
    line = '"GET /api/v1/campaigns/x/leads?phone_column=%2B15558675309&n=15558675309 HTTP/1.1" 422'
    out = mask_text(line)
    assert "5558675309" not in out, out
    assert "phone_column=+15*******09" in out and "n=1********09" in out
