"""A campaign's rule set and the presets a campaign can pick.

Presets (the outer bounds; a campaign may narrow them, never widen them, see `within_preset`):
- ``us``: 08:00–21:00 every day in the callee's local time (47 CFR 64.1200(c)(1), TCPA);
  no calls on the campaign's holidays.
- ``uk``: 08:00–21:00 every day (the FCA's examples of unreasonable times to contact, CONC 7.9,
  are before 8 am and after 9 pm); no calls on the campaign's holidays.
- ``ru_debt``: Russian debt collection (Federal Law 230-FZ, art. 7): working days 08:00–22:00,
  weekends and non-working holidays 09:00–20:00 in the debtor's local time; at most 1 call a
  day, 2 a week, 8 a month. The law counts conversations; we count every call placed, which is
  stricter.
- ``none``: around the clock, no caps: what a campaign has until it picks a policy. The
  do-not-call lists, the 72-hour abandoned-call lock, the lifetime attempt cap and the retry
  rules hold under every preset.
Holidays are dates the campaign lists (in the callee's calendar); a preset ships no holiday
dates, since they differ by country, state and year.

A campaign also keeps its AMD false-positive rate, the share of machine verdicts that were
really people, for the UK abandonment rate (`dialer.rules.abandonment`); unset, the default
assumption holds.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from dialer.domain.results import CallResult
from dialer.rules.abandonment import (
    DEFAULT_AMD_FALSE_POSITIVE_RATE,
    validate_false_positive_rate,
)
from dialer.rules.caps import CapKind, Caps
from dialer.rules.hours import CallingHours, Window
from dialer.rules.retry import DEFAULT_RESULT_RULES, ResultRule, retry_rules
from dialer.rules.zones import zone_info

MIN_RING_TIMEOUT_S = 15.0  # an unanswered call rings at least this long before we give up


class Preset(enum.StrEnum):
    NONE = "none"
    US = "us"
    UK = "uk"
    RU_DEBT = "ru_debt"


ALWAYS = CallingHours.every_day(Window(0, 1440))
_DAY_8_21 = (Window.parse("08:00-21:00"),)
_RU_WORK = (Window.parse("08:00-22:00"),)
_RU_REST = (Window.parse("09:00-20:00"),)


def validate_ring_timeout(value: float, field_name: str = "ring_timeout_s") -> None:
    """Refuse a ring time below 15 s: a call hung up sooner is a nuisance ("ring and run")."""
    if not value >= MIN_RING_TIMEOUT_S:
        raise ValueError(
            f"{field_name} must be at least {MIN_RING_TIMEOUT_S:g} s (an unanswered call rings "
            f"at least 15 s before the dialer gives up), got {value!r}"
        )


@dataclass(frozen=True, slots=True)
class CampaignRules:
    preset: Preset = Preset.NONE
    hours: CallingHours = ALWAYS
    default_zone: str = "UTC"  # for a lead with no zone whose number's region is unknown
    caps: Caps = field(default_factory=Caps)
    retry: Mapping[CallResult, ResultRule] = field(default_factory=lambda: DEFAULT_RESULT_RULES)
    # The share of machine verdicts that were really people (UK abandonment rate); None: the
    # default assumption (`abandonment.DEFAULT_AMD_FALSE_POSITIVE_RATE`).
    amd_false_positive_rate: float | None = None

    def __post_init__(self) -> None:
        zone_info(self.default_zone)  # raises ValueError on an unknown zone
        if self.amd_false_positive_rate is not None:
            validate_false_positive_rate(self.amd_false_positive_rate)
        missing = [r.value for r in CallResult if r not in self.retry]
        if missing:
            raise ValueError(f"retry rules missing for: {', '.join(missing)}")

    @property
    def effective_amd_false_positive_rate(self) -> float:
        if self.amd_false_positive_rate is None:
            return DEFAULT_AMD_FALSE_POSITIVE_RATE
        return self.amd_false_positive_rate

    @property
    def retry_overrides(self) -> dict[CallResult, ResultRule]:
        return {r: rule for r, rule in self.retry.items() if DEFAULT_RESULT_RULES[r] != rule}


def preset_rules(
    preset: Preset, *, default_zone: str = "UTC", holidays: Iterable[date] = ()
) -> CampaignRules:
    days = frozenset(holidays)
    if preset is Preset.NONE:
        hours = ALWAYS.with_holidays(days, ALWAYS.weekdays[0])
        return CampaignRules(preset, hours, default_zone)
    if preset in (Preset.US, Preset.UK):
        return CampaignRules(
            preset, CallingHours.every_day(*_DAY_8_21, holidays=days), default_zone
        )
    weekdays = (_RU_WORK,) * 5 + (_RU_REST,) * 2
    return CampaignRules(
        preset,
        CallingHours(weekdays, days, _RU_REST),
        default_zone,
        Caps(per_day=1, per_week=2, per_month=8),
    )


def _inside(windows: Sequence[Window], bounds: Sequence[Window]) -> bool:
    return all(any(b.start <= w.start and w.end <= b.end for b in bounds) for w in windows)


def within_preset(rules: CampaignRules) -> list[str]:
    """Where `rules` go beyond its preset's bounds (empty: within them)."""
    base = preset_rules(rules.preset, holidays=rules.hours.holidays)
    problems = []
    names = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
    for name, mine, bounds in zip(names, rules.hours.weekdays, base.hours.weekdays, strict=True):
        if not _inside(mine, bounds):
            allowed = ", ".join(map(str, bounds)) or "no calls"
            got = ", ".join(map(str, mine))
            problems.append(f"{name} hours {got} exceed the {rules.preset} preset ({allowed})")
    if not _inside(rules.hours.holiday_windows, base.hours.holiday_windows):
        allowed = ", ".join(map(str, base.hours.holiday_windows)) or "no calls"
        problems.append(f"holiday hours exceed the {rules.preset} preset ({allowed})")
    for kind in CapKind:
        limit = getattr(base.caps, kind.value)
        mine_cap = getattr(rules.caps, kind.value)
        if limit is not None and (mine_cap is None or mine_cap > limit):
            problems.append(
                f"cap {kind.value}={mine_cap} exceeds the {rules.preset} preset ({limit})"
            )
    return problems


class Keep(enum.Enum):
    """`customise`'s marker for "leave this setting as it is" where None means something."""

    KEEP = "keep"


KEEP = Keep.KEEP


def customise(
    base: CampaignRules,
    *,
    weekday_hours: Sequence[Sequence[str]] | None = None,
    holiday_hours: Sequence[str] | None = None,
    holidays: Iterable[date] | None = None,
    caps: Caps | None = None,
    retry: Mapping[CallResult, ResultRule] | None = None,
    default_zone: str | None = None,
    amd_false_positive_rate: float | Keep | None = KEEP,
) -> CampaignRules:
    """`base` with some settings replaced; raises ValueError if the result leaves its preset.
    `amd_false_positive_rate=None` goes back to the default assumption."""
    hours = base.hours
    if weekday_hours is not None:
        if len(weekday_hours) != 7:
            raise ValueError("weekday_hours needs 7 entries, Monday first")
        hours = CallingHours(
            tuple(tuple(Window.parse(w) for w in day) for day in weekday_hours),
            hours.holidays,
            hours.holiday_windows,
        )
    if holiday_hours is not None:
        hours = hours.with_holidays(hours.holidays, [Window.parse(w) for w in holiday_hours])
    if holidays is not None:
        hours = hours.with_holidays(holidays)
    rules = replace(
        base,
        hours=hours,
        caps=caps if caps is not None else base.caps,
        retry=retry_rules(retry) if retry is not None else base.retry,
        default_zone=default_zone if default_zone is not None else base.default_zone,
        amd_false_positive_rate=(
            base.amd_false_positive_rate
            if isinstance(amd_false_positive_rate, Keep)
            else amd_false_positive_rate
        ),
    )
    problems = within_preset(rules)
    if problems:
        raise ValueError("; ".join(problems))
    return rules


# -- the stored form (one row of campaign_rules) ----------------------------------------------


def rules_to_row(rules: CampaignRules) -> dict[str, Any]:
    return {
        "preset": rules.preset.value,
        "default_time_zone": rules.default_zone,
        "weekday_hours": [[str(w) for w in day] for day in rules.hours.weekdays],
        "holiday_hours": [str(w) for w in rules.hours.holiday_windows],
        "holidays": sorted(rules.hours.holidays),
        "cap_per_day": rules.caps.per_day,
        "cap_rolling_24h": rules.caps.rolling_24h,
        "cap_per_week": rules.caps.per_week,
        "cap_per_month": rules.caps.per_month,
        "retry_rules": {r.value: rule.to_json() for r, rule in rules.retry_overrides.items()},
        "amd_false_positive_rate": rules.amd_false_positive_rate,
    }


def rules_from_row(row: Mapping[str, Any]) -> CampaignRules:
    overrides = {
        CallResult(name): ResultRule.from_json(data, f"retry_rules.{name}")
        for name, data in (row.get("retry_rules") or {}).items()
    }
    hours = CallingHours(
        tuple(tuple(Window.parse(w) for w in day) for day in row["weekday_hours"]),
        frozenset(row.get("holidays") or ()),
        tuple(Window.parse(w) for w in row.get("holiday_hours") or ()),
    )
    return CampaignRules(
        preset=Preset(row["preset"]),
        hours=hours,
        default_zone=row["default_time_zone"],
        caps=Caps(
            per_day=row.get("cap_per_day"),
            rolling_24h=row.get("cap_rolling_24h"),
            per_week=row.get("cap_per_week"),
            per_month=row.get("cap_per_month"),
        ),
        retry=retry_rules(overrides),
        amd_false_positive_rate=row.get("amd_false_positive_rate"),
    )
