"""A JSON body the API refuses before parsing it, and says why (dialer/api/bodycheck.py)."""

from __future__ import annotations

import pytest

from dialer.api.bodycheck import MAX_DEPTH, json_body_problem


def test_well_formed_bodies_pass() -> None:
    assert json_body_problem(b'{"name": "spring", "rules": {"caps": [1, 2]}, "x": 1.5}') is None
    assert json_body_problem('{"name": "Hélène"}'.encode()) is None
    assert json_body_problem(b"[" * MAX_DEPTH + b"]" * MAX_DEPTH) is None
    assert json_body_problem(b'{"a": ') is None  # not JSON: FastAPI names the position


@pytest.mark.parametrize(
    ("body", "where", "what"),
    [
        (b'{"name": "caf\xe9"}', ["body"], "not UTF-8: byte 0xe9 at offset 13"),
        (b"[" * 100_000 + b"]" * 100_000, ["body"], "nested too deeply"),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), ["body", 0, 0], "nested too deeply"),
        (b'{"max_cps": NaN}', ["body"], "NaN is not a number JSON allows"),
        (b'{"max_cps": -Infinity}', ["body"], "-Infinity is not a number JSON allows"),
        (b'{"max_channels": ' + b"9" * 5000 + b"}", ["body"], "an integer of 5000 digits"),
        (b'{"name": "a\\u0000b"}', ["body", "name"], "must not contain a NUL character"),
        (b'{"rules": {"x": ["ok", "\\u0000"]}}', ["body", "rules", "x", 1], "NUL"),
        (b'{"a\\u0000": 1}', ["body"], "a key must not contain a NUL character"),
    ],
)
def test_problems_are_named(body: bytes, where: list[str | int], what: str) -> None:
    found = json_body_problem(body)
    assert found is not None
    assert found[0] == where
    assert what in found[1]
