"""Calling hours with frozen clocks across time zones and daylight-saving changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.rules.hours import (
    CallingHours,
    Window,
    local_instant,
    next_open_in_all,
    open_in_all,
)
from dialer.rules.policy import Preset, preset_rules

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
LONDON = ZoneInfo("Europe/London")
MOSCOW = ZoneInfo("Europe/Moscow")
TOKYO = ZoneInfo("Asia/Tokyo")
US = preset_rules(Preset.US).hours
RU = preset_rules(Preset.RU_DEBT).hours


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("instant", "zone", "expected"),
    [
        (utc(2030, 1, 8, 12, 59), NY, False),  # 07:59 EST
        (utc(2030, 1, 8, 13, 0), NY, True),  # 08:00 EST
        (utc(2030, 1, 9, 1, 59), NY, True),  # 20:59 EST
        (utc(2030, 1, 9, 2, 0), NY, False),  # 21:00 EST: the end is excluded
        (utc(2030, 7, 8, 12, 0), NY, True),  # 08:00 EDT (summer: UTC-4)
        (utc(2030, 7, 8, 11, 59), NY, False),
        (utc(2030, 1, 8, 8, 0), LONDON, True),  # GMT
        (utc(2030, 7, 8, 7, 0), LONDON, True),  # 08:00 BST
        (utc(2030, 7, 8, 6, 59), LONDON, False),
        (utc(2030, 1, 8, 23, 0), TOKYO, True),  # 08:00 JST the next day
        (utc(2030, 1, 8, 12, 0), TOKYO, False),  # 21:00 JST
    ],
)
def test_us_hours_in_the_callees_zone(instant: datetime, zone: ZoneInfo, expected: bool) -> None:
    assert US.is_open(instant, zone) is expected


def test_window_opens_at_local_eight_on_both_sides_of_spring_forward() -> None:
    # New York moves to EDT on Sunday 2030-03-10 at 02:00 local.
    assert US.next_open(utc(2030, 3, 9, 6, 0), NY) == utc(2030, 3, 9, 13, 0)  # 08:00 EST
    assert US.next_open(utc(2030, 3, 10, 6, 0), NY) == utc(2030, 3, 10, 12, 0)  # 08:00 EDT
    # and closes at 21:00 local: 02:00 UTC before, 01:00 UTC after
    assert US.closes_at(utc(2030, 3, 9, 20, 0), NY) == utc(2030, 3, 10, 2, 0)
    assert US.closes_at(utc(2030, 3, 10, 20, 0), NY) == utc(2030, 3, 11, 1, 0)


def test_window_opens_at_local_eight_on_both_sides_of_fall_back() -> None:
    # London returns to GMT on Sunday 2030-10-27 at 02:00 BST.
    assert US.next_open(utc(2030, 10, 26, 3, 0), LONDON) == utc(2030, 10, 26, 7, 0)
    assert US.next_open(utc(2030, 10, 27, 3, 0), LONDON) == utc(2030, 10, 27, 8, 0)


def test_window_starting_in_the_skipped_hour_opens_when_the_clocks_jump() -> None:
    hours = CallingHours.every_day(Window.parse("02:30-05:00"))
    # 02:30 does not exist on 2030-03-10 in New York; the clocks jump 02:00 EST -> 03:00 EDT.
    assert hours.next_open(utc(2030, 3, 10, 5, 0), NY) == utc(2030, 3, 10, 7, 0)
    assert hours.is_open(utc(2030, 3, 10, 7, 0), NY)
    assert not hours.is_open(utc(2030, 3, 10, 6, 59), NY)


def test_repeated_hour_reopens_a_window_by_the_wall_clock() -> None:
    hours = CallingHours.every_day(Window.parse("01:30-01:45"))
    # 2030-11-03 01:30 EDT = 05:30 UTC; the clock reads 01:30 again at 01:30 EST = 06:30 UTC.
    assert hours.next_open(utc(2030, 11, 3, 5, 0), NY) == utc(2030, 11, 3, 5, 30)
    assert hours.next_open(utc(2030, 11, 3, 5, 50), NY) == utc(2030, 11, 3, 6, 30)


def test_local_instant_in_a_gap_is_the_jump() -> None:
    assert local_instant(date(2030, 3, 10), 150, NY) == utc(2030, 3, 10, 7, 0)
    assert local_instant(date(2030, 3, 10), 1440, NY) == utc(2030, 3, 11, 4, 0)


def test_russian_hours_weekday_weekend_and_holiday() -> None:
    # Wednesday 2030-01-09 in Moscow (UTC+3): 08:00-22:00
    assert RU.is_open(utc(2030, 1, 9, 5, 0), MOSCOW)  # 08:00
    assert RU.is_open(utc(2030, 1, 9, 18, 59), MOSCOW)  # 21:59
    assert not RU.is_open(utc(2030, 1, 9, 19, 0), MOSCOW)  # 22:00
    # Saturday 2030-01-12: 09:00-20:00
    assert not RU.is_open(utc(2030, 1, 12, 5, 30), MOSCOW)  # 08:30
    assert RU.is_open(utc(2030, 1, 12, 6, 0), MOSCOW)  # 09:00
    assert not RU.is_open(utc(2030, 1, 12, 17, 0), MOSCOW)  # 20:00
    # The same Wednesday as a holiday: weekend hours
    holiday = preset_rules(Preset.RU_DEBT, holidays=[date(2030, 1, 9)]).hours
    assert not holiday.is_open(utc(2030, 1, 9, 5, 30), MOSCOW)  # 08:30
    assert holiday.next_open(utc(2030, 1, 9, 5, 30), MOSCOW) == utc(2030, 1, 9, 6, 0)


def test_us_holiday_means_no_calls() -> None:
    hours = preset_rules(Preset.US, holidays=[date(2030, 12, 25)]).hours
    assert not hours.is_open(utc(2030, 12, 25, 17, 0), NY)  # noon on Christmas Day
    assert hours.next_open(utc(2030, 12, 25, 17, 0), NY) == utc(2030, 12, 26, 13, 0)


def test_several_zones_must_all_be_open() -> None:
    # Tuesday 2030-01-08 15:00 UTC: 10:00 in New York, 07:00 in Los Angeles
    t = utc(2030, 1, 8, 15, 0)
    assert US.is_open(t, NY) and not US.is_open(t, LA)
    assert not open_in_all(US, [NY, LA], t)
    assert next_open_in_all(US, [NY, LA], t) == utc(2030, 1, 8, 16, 0)  # 08:00 in LA
    # New York and Tokyo share 08:00-21:00 from 23:00 to 02:00 UTC (18:00 EST, 08:00 JST) ...
    assert next_open_in_all(US, [NY, TOKYO], t) == utc(2030, 1, 8, 23, 0)
    # ... but never 09:00-10:00
    narrow = CallingHours.every_day(Window.parse("09:00-10:00"))
    assert next_open_in_all(narrow, [NY, TOKYO], t) is None


def test_windows_are_validated() -> None:
    with pytest.raises(ValueError, match="HH:MM-HH:MM"):
        Window.parse("8-21h")
    with pytest.raises(ValueError, match="start < end"):
        Window(600, 600)
    with pytest.raises(ValueError, match="7 weekdays"):
        CallingHours(((Window(0, 60),),))
    assert str(Window.parse("08:00-24:00")) == "08:00-24:00"


ZONES = [NY, LA, LONDON, MOSCOW, TOKYO, ZoneInfo("Australia/Lord_Howe"), ZoneInfo("Asia/Kolkata")]


@st.composite
def hours_strategy(draw: st.DrawFn) -> CallingHours:
    days = []
    for _ in range(7):
        cuts = sorted(draw(st.sets(st.integers(0, 1440), max_size=4)))
        pairs = [(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False) if a < b]
        days.append(tuple(Window(a, b) for a, b in pairs))
    if not any(days):
        days[0] = (Window(600, 700),)
    return CallingHours(tuple(days))


@settings(max_examples=200, deadline=None)
@given(
    hours=hours_strategy(),
    zone=st.sampled_from(ZONES),
    start=st.datetimes(datetime(2029, 1, 1), datetime(2031, 12, 31), timezones=st.just(UTC)),
    probes=st.lists(st.floats(0, 1), min_size=1, max_size=8),
)
def test_next_open_is_open_and_nothing_before_it_is(
    hours: CallingHours, zone: ZoneInfo, start: datetime, probes: list[float]
) -> None:
    opens = hours.next_open(start, zone)
    assert opens is not None  # some window every week
    assert opens >= start
    assert hours.is_open(opens, zone)
    gap = (opens - start).total_seconds()
    for p in probes:
        probe = start + timedelta(seconds=int(gap * p))
        if probe < opens:
            assert not hours.is_open(probe, zone), (probe, opens)
    closes = hours.closes_at(opens, zone)
    if closes is not None:
        assert closes > opens and not hours.is_open(closes, zone)
        assert hours.is_open(closes - timedelta(seconds=1), zone)
