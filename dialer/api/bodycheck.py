"""What a JSON request body must be before a route parses it. Pure: bytes in, a problem out.

FastAPI answers a body it cannot parse (not UTF-8, nested past Python's recursion limit, a
number of more than 4,300 digits) with a bare 400 "There was an error parsing the body", and
lets NaN and Infinity through to float fields. Checked here first, each problem is a 422 that
names it, and nothing the database cannot keep gets further:

- UTF-8 only (RFC 8259), named with the first bad byte's offset;
- at most `MAX_DEPTH` levels of arrays and objects (no request of this API needs more than 4);
- numbers JSON allows: no NaN or Infinity, no integer of more than `MAX_DIGITS` digits;
- no NUL character in any string or key (Postgres keeps none in text), named by its path.

Syntax errors are left to FastAPI, which already answers them with a 422 naming the position.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32
MAX_DIGITS = 100


class _Refused(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a number JSON allows")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise _Refused(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_DIGITS})")
    return int(text)


def json_body_problem(body: bytes) -> tuple[list[str | int], str] | None:
    """(where, what) for a body that must not reach the route, else None (also for a body that
    is not valid JSON: FastAPI names that)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return ["body"], f"not UTF-8: byte 0x{body[exc.start]:02x} at offset {exc.start}"
    try:
        doc = json.loads(text, parse_constant=_no_constant, parse_int=_int)
    except _Refused as exc:
        return ["body"], str(exc)
    except RecursionError:
        return ["body"], f"nested too deeply (at most {MAX_DEPTH} levels)"
    except ValueError:
        return None
    return _walk(doc)


def _walk(doc: Any) -> tuple[list[str | int], str] | None:
    """The first string with a NUL, or a level past `MAX_DEPTH`; iterative, so any depth the
    parser accepted is walked without recursion."""
    stack: list[tuple[list[str | int], Any]] = [(["body"], doc)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, dict | list) and len(path) > MAX_DEPTH:  # the root is level 1
            return path[:3], f"nested too deeply (at most {MAX_DEPTH} levels)"
        if isinstance(value, str):
            if "\x00" in value:
                return path, "must not contain a NUL character"
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    return path, "a key must not contain a NUL character"
                stack.append(([*path, key], item))
        elif isinstance(value, list):
            stack.extend(([*path, i], item) for i, item in enumerate(value))
    return None
