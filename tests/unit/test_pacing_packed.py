"""Packed rows of chances: column sums by integer addition match the sums of the floats."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.pacing.packed import FRACTION_BITS, MAX_ROWS, column_sums, pack, unpack

STEP = 2.0**-FRACTION_BITS
chances = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@given(st.integers(1, 6).flatmap(lambda n: st.lists(st.lists(chances, min_size=n, max_size=n))))
def test_column_sums_match_float_sums(rows: list[list[float]]) -> None:
    if not rows:
        return
    n = len(rows[0])
    got = column_sums([pack(r) for r in rows], n)
    for col in range(n):
        want = sum(r[col] for r in rows)
        # each chance is rounded to the nearest step: half a step each at most
        assert abs(got[col] - want) <= len(rows) * STEP / 2 + 1e-12


def test_chances_outside_zero_one_are_clamped() -> None:
    assert unpack(pack([-0.5, 1.7, 0.25]), 3) == [0.0, 1.0, 0.25]


@settings(max_examples=5, deadline=None)
@given(st.integers(MAX_ROWS + 1, 3 * MAX_ROWS))
def test_many_rows_of_ones_do_not_carry_into_the_next_column(count: int) -> None:
    # one full column beside an empty one: a carry would show up in column 1
    rows = [pack([1.0, 0.0, 1.0])] * count
    assert column_sums(rows, 3) == [float(count), 0.0, float(count)]


def test_a_single_sum_past_the_limit_would_carry() -> None:
    # why column_sums chunks: the plain sum of MAX_ROWS + 1 ones overflows field 0
    rows = [pack([1.0, 0.0])] * (MAX_ROWS + 1)
    assert unpack(sum(rows), 2) != [float(MAX_ROWS + 1), 0.0]
