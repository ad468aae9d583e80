"""Logs never carry a whole phone number or a secret."""

from __future__ import annotations

import json
import logging

import pytest

from dialer.logs import JsonFormatter, MaskingFilter, mask_phone, mask_text


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
