"""Other daemons' calls read from their CDRs now and then (dialer/pacing/others.py): each read
adds what grew since the last one, never a call twice, and forgets minutes no read covers."""

from __future__ import annotations

import pytest

from dialer.pacing.history import CampaignHistory, others_tally
from dialer.pacing.ledger import AbandonLedger
from dialer.pacing.others import LATE_S, OthersTally, since_for

T = 1_800_000_000.0  # a minute start (epoch s)
M = 60.0


def test_a_read_adds_only_what_grew_since_the_last() -> None:
    tally = OthersTally(T)
    assert tally.merge(T, [(T, 5, 1, 0), (T + M, 2, 0, 1)]) == [(T, 5, 1, 0), (T + M, 2, 0, 1)]
    # The same read again: nothing new.
    assert tally.merge(T, [(T, 5, 1, 0), (T + M, 2, 0, 1)]) == []
    # A CDR of a call answered in the first minute came late; a new minute too.
    got = tally.merge(T, [(T, 6, 2, 0), (T + M, 2, 0, 1), (T + 2 * M, 1, 0, 0)])
    assert got == [(T, 1, 1, 0), (T + 2 * M, 1, 0, 0)]


def test_what_the_history_held_is_not_counted_again() -> None:
    # The restored windows held 4 answers (1 abandoned) of another daemon in the seed's minute;
    # then a call of it answered before the read ended (its CDR came after): only that is new.
    tally = OthersTally(T, seed=[(T, 4, 1, 0), (T - M, 9, 9, 9)])  # before `since`: ignored
    assert tally.minutes == 1
    assert tally.merge(T, [(T, 4, 1, 0)]) == []
    assert tally.merge(T, [(T, 5, 1, 0)]) == [(T, 1, 0, 0)]


def test_counts_that_went_down_add_nothing_until_they_grow_past_what_was_seen() -> None:
    tally = OthersTally(T)
    tally.merge(T, [(T, 10, 3, 2)])
    assert tally.merge(T, [(T, 8, 2, 2)]) == []  # rows deleted by hand
    assert tally.merge(T, [(T, 9, 2, 2)]) == []
    assert tally.merge(T, [(T, 11, 3, 3)]) == [(T, 1, 0, 1)]
    # Abandonments that grew more than the answers still count, each with its answer.
    assert tally.merge(T, [(T, 11, 5, 3)]) == [(T, 2, 2, 0)]


def test_since_moves_on_and_old_minutes_are_forgotten() -> None:
    tally = OthersTally(since_for(T))
    assert tally.since == T - LATE_S
    first = tally.next_since(T)
    tally.merge(first, [(T - 10 * M, 3, 0, 0), (T - M, 1, 0, 0)])
    later = T + LATE_S - 5 * M + 30.0
    since = tally.next_since(later)
    assert since == T - 5 * M  # minute aligned, LATE_S back
    assert tally.merge(since, [(T - M, 1, 0, 0)]) == []  # still covered: nothing new
    assert tally.minutes == 1  # the older minute is no longer read, so no longer kept
    assert tally.next_since(T) == since  # never back
    # A read that started before the last one (reads may overlap) adds nothing twice.
    assert tally.merge(first, [(T - 10 * M, 3, 0, 0), (T - M, 1, 0, 0)]) == []


def test_the_windows_get_each_call_once_over_many_reads() -> None:
    # Another daemon's CDRs trickle in; reading after each one (and re-reading) puts exactly
    # them in a ledger.
    ledger = AbandonLedger()
    tally = OthersTally(T)
    written: dict[float, list[int]] = {}
    for i in range(200):
        minute = T + (i // 7) * M
        counts = written.setdefault(minute, [0, 0, 0])
        counts[0] += 1
        counts[1] += i % 10 == 0
        counts[2] += i % 13 == 0
        rows = [(m, *c) for m, c in sorted(written.items())]
        for _ in range(2):
            for m, answered, abandoned, _machines in tally.merge(T, rows):
                ledger.add(m + 30.0, answered, abandoned)
    day = ledger.counts(T + 200 * M)[0]
    assert (day.answered, day.abandoned) == (200, 20)


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="minute start"):
        OthersTally(T + 1.0)  # not a minute start
    with pytest.raises(ValueError, match="bad counts"):
        OthersTally(T).merge(T, [(T, 1, 2, 0)])  # more abandoned than answered


def history(**kw: object) -> CampaignHistory:
    base: dict[str, object] = {
        "wall_now": T + 90.0,
        "minutes": (),
        "life_answered": 0,
        "life_abandoned": 0,
        "recent": (),
        "wrapup_s": 5.0,
    }
    return CampaignHistory(**(base | kw))  # type: ignore[arg-type]


def test_the_tally_starts_from_the_history() -> None:
    seeded = others_tally(history(others_since=T - LATE_S, others=((T, 2, 1, 0),)))
    assert seeded.since == T - LATE_S
    assert seeded.merge(T - LATE_S, [(T, 2, 1, 0)]) == []
    # A history read without the others' counts: from the next minute on.
    assert others_tally(history()).since == T + 2 * M
