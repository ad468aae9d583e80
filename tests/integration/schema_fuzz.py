"""Schemathesis hooks for fuzzing the API from its OpenAPI schema (not a test module): how to
make the values whose rules a JSON Schema pattern cannot state, so the fuzzer's valid requests
are valid for the API too.

- `assignable-phone` (a call-back number): numbers `phonenumbers` knows to be valid, or ''.
- a `text/csv` lead file: a header with a phone column and rows of valid numbers.

Loaded by `st run` through SCHEMATHESIS_HOOKS (test_api_schema_fuzz.py, bench/api_fuzz.py).
"""

from __future__ import annotations

import schemathesis
from hypothesis import strategies as st

from dialer.api.models import ASSIGNABLE_PHONE

VALID_NUMBERS = [
    "+442079460123",
    "+33612345678",
    "+14155552671",
    "+49 30 901820",
    "+1 212 555 0123",
]

schemathesis.openapi.format(ASSIGNABLE_PHONE, st.sampled_from(["", *VALID_NUMBERS]))

_CELL = st.text(alphabet=st.characters(codec="utf-8", exclude_characters=',"\r\n\x00'), max_size=20)
_ROW = st.tuples(st.sampled_from(VALID_NUMBERS[:3]), _CELL).map(lambda r: f"{r[0]},{r[1]}")
schemathesis.openapi.media_type(
    "text/csv",
    st.lists(_ROW, max_size=20).map(lambda rows: "\n".join(["phone,name", *rows]).encode()),
)


@schemathesis.hook("filter_body").apply_to(
    path="/api/v1/campaigns/{campaign}/dispositions", method="PUT"
)
def codes_given_once(ctx: schemathesis.HookContext, body: object) -> bool:
    """A campaign's disposition codes are each given once, a rule JSON Schema cannot state
    (`uniqueItems` compares whole items): a repeated code is a 422 naming it, tested in
    tests/unit/test_api_auth.py."""
    if not isinstance(body, dict) or not isinstance(body.get("codes"), list):
        return True
    codes = [c.get("code") for c in body["codes"] if isinstance(c, dict)]
    return len(codes) == len(set(map(repr, codes)))


@schemathesis.hook("filter_query").apply_to(
    path="/api/v1/campaigns/{campaign}/leads", method="POST"
)
def query_that_fits_any_file(ctx: schemathesis.HookContext, query: object) -> bool:
    """`phone_column`, `delimiter` and `format` say how to read the file, so whether a request
    with one is accepted depends on the file (a column it has, the delimiter it uses): left
    out of generated imports, like the file's content, and tested in test_api_leads.py."""
    if not isinstance(query, dict):
        return True
    return not {"phone_column", "delimiter", "format"} & set(query)
