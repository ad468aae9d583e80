"""Column sums of many short rows of chances, as one integer addition per row.

The look-ahead sums, over every busy agent and every ringing call, a short row of chances (a few
answer-time points, and their variances). Summing those rows column by column in Python costs a
loop per column; packing a row into one integer (each chance in [0, 1] as a fixed-point field of
`FIELD_BITS` bits, `FRACTION_BITS` of them after the point) turns the whole row sum into
`sum(rows)`, one big-integer addition per row, done in C.

Rules:
- Chances are clamped to [0, 1] and rounded to 2**-FRACTION_BITS (6e-8): far below what the
  estimates are good for.
- A field holds sums up to 2**(FIELD_BITS - FRACTION_BITS) - 1 (`MAX_ROWS`, 4095 rows of ones)
  without carrying into the next; `column_sums` adds longer lists in chunks of `MAX_ROWS`, so any
  number of rows sums right. Narrow fields keep the integers short, which is what makes it fast.
"""

from __future__ import annotations

from collections.abc import Iterable

FRACTION_BITS = 18
FIELD_BITS = 30
_SCALE = float(1 << FRACTION_BITS)
_MASK = (1 << FIELD_BITS) - 1
MAX_ROWS = (1 << (FIELD_BITS - FRACTION_BITS)) - 1


def pack(chances: Iterable[float]) -> int:
    """One row as an integer: field i holds chance i."""
    out = 0
    for i, q in enumerate(chances):
        q = 0.0 if q < 0.0 else 1.0 if q > 1.0 else q
        out |= round(q * _SCALE) << (FIELD_BITS * i)
    return out


def unpack(total: int, n: int) -> list[float]:
    """The `n` column sums of a sum of packed rows."""
    return [((total >> (FIELD_BITS * i)) & _MASK) / _SCALE for i in range(n)]


def column_sums(rows: list[int], n: int) -> list[float]:
    """The `n` column sums of packed rows, however many rows there are."""
    if len(rows) <= MAX_ROWS:
        return unpack(sum(rows), n)
    out = [0.0] * n
    for start in range(0, len(rows), MAX_ROWS):
        part = unpack(sum(rows[start : start + MAX_ROWS]), n)
        out = [a + b for a, b in zip(out, part, strict=True)]
    return out
