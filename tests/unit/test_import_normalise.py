"""E.164 normalisation, time zones and duplicates, on messy real-world files and single rows."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dialer.imports.normalise import (
    Accepted,
    Check,
    Normaliser,
    Options,
    RejectCode,
    Rejected,
)
from dialer.imports.reader import RawRow, read_csv, read_json

DATA = Path(__file__).resolve().parents[1] / "data" / "imports"


def run(name: str, region: str | None) -> list[Accepted | Rejected]:
    data = (DATA / name).read_bytes()
    read = read_json(data) if name.endswith(".json") else read_csv(data)
    return Normaliser(Options(region=region)).rows(read.rows)


def outcome(results: list[Accepted | Rejected]) -> dict[int, str]:
    """line -> E.164 number, or the rejection code and reason."""
    return {
        r.line: r.phone if isinstance(r, Accepted) else f"{r.code.value}: {r.reason}"
        for r in results
    }


def test_french_excel_file_national_and_international() -> None:
    assert outcome(run("excel_fr_semicolon_bom.csv", "FR")) == {
        2: "+33612345678",
        3: "+33142685300",
        6: "+33491551111",  # 0033 prefix
        7: "duplicate_in_file: duplicate of line 2",  # 06.12.34.56.78
        8: "invalid: not a valid number in FR",
        9: "+442079460958",  # a UK number written internationally in a French file
        10: "invalid: no phone number",
    }


def test_us_crm_export_mixed_formats_countries_zones_and_bad_fields() -> None:
    results = run("crm_export_us.csv", "US")
    assert outcome(results) == {
        2: "+14155552671",
        3: "+14155552672",
        4: "+12125550123",
        6: "bad_field: unknown time zone 'Mars/Olympus_Mons'",
        7: "+442079460959",  # national GB number, country column GB
        8: "+33698765432",  # national FR number, country column FR
        9: "invalid: not a phone number",  # N/A
        10: "duplicate_in_file: duplicate of line 2",
        11: "bad_field: priority must be a whole number, got 'high'",
        12: "invalid: not a valid number in US",
        13: "+18005550199",
        14: "bad_field: unknown country 'ZZ'",
    }
    zones = {r.line: (r.time_zone, r.zone_source) for r in results if isinstance(r, Accepted)}
    assert zones[2] == ("America/Los_Angeles", "number")  # 415: California
    assert zones[3] == ("America/Los_Angeles", "column")
    assert zones[4] == ("America/New_York", "number")  # 212: New York
    assert zones[7] == ("Europe/London", "number")
    assert zones[13] == ("UTC", "default")  # toll-free: no single zone
    prio = {r.line: r.priority for r in results if isinstance(r, Accepted)}
    assert prio[3] == 5


def test_windows_and_utf16_files() -> None:
    assert outcome(run("cp1252_tabs.txt", "FR")) == {
        2: "+33612345670",
        3: "+33612345671",
        4: "+33612345672",
    }
    assert outcome(run("excel_utf16.txt", None)) == {2: "+4915123456789", 3: "+4915123456780"}


def test_json_file() -> None:
    assert outcome(run("leads.json", None)) == {
        1: "+33612345678",
        2: "+14155552671",  # national, with its own country field
        3: "invalid: not a phone number",
        4: "bad_field: no phone field",
        6: "+14155552673",
        7: "duplicate_in_file: duplicate of line 1",
    }


def test_national_number_without_region_is_rejected_with_the_reason() -> None:
    [result] = Normaliser(Options()).rows([RawRow(5, "0612345678")])
    assert isinstance(result, Rejected)
    assert result.line == 5
    assert result.reason == "no country code (+...) and no default region"


@pytest.mark.parametrize(
    ("check", "accepted"),
    [(Check.VALID, False), (Check.POSSIBLE, False), (Check.FORMAT, True)],
)
def test_check_levels_for_the_rigs_test_numbers(check: Check, accepted: bool) -> None:
    # The rig's numbers (+1555 + 11 digits) are well-formed E.164 but no real plan's.
    [result] = Normaliser(Options(check=check)).rows([RawRow(2, "+155511234567890")])
    assert isinstance(result, Accepted) is accepted
    if accepted:
        assert isinstance(result, Accepted)
        assert result.phone == "+155511234567890"


def test_possible_accepts_an_unassigned_number_of_the_right_length() -> None:
    row = RawRow(2, "+1 212 099 1234")  # exchange 099 does not exist
    [strict] = Normaliser(Options(check=Check.VALID)).rows([row])
    [loose] = Normaliser(Options(check=Check.POSSIBLE)).rows([row])
    assert isinstance(strict, Rejected)
    assert strict.code is RejectCode.INVALID
    assert isinstance(loose, Accepted)


def test_options_refuse_unknown_region_and_zone() -> None:
    with pytest.raises(ValueError, match="unknown region 'XX'"):
        Options(region="XX")
    with pytest.raises(ValueError, match="unknown time zone"):
        Options(default_time_zone="Europe/Atlantis")


def test_hundred_thousand_rows_in_a_few_seconds() -> None:
    lines = ["name,phone"]
    lines += [f"n{i},(212) {201 + 7 * (i // 10_000):03d}-{i % 10_000:04d}" for i in range(100_000)]
    started = time.perf_counter()
    read = read_csv("\n".join(lines))
    results = Normaliser(Options(region="US")).rows(read.rows)
    elapsed = time.perf_counter() - started
    accepted = sum(isinstance(r, Accepted) for r in results)
    assert len(results) == 100_000
    assert accepted == 100_000
    assert elapsed < 15, f"{elapsed:.1f} s"
