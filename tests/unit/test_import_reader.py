"""Reading messy real-world lead files: encodings, delimiters, headers, blank lines, line
numbers. The files are in tests/data/imports/ (see the script comments there for what each
one stands for)."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from dialer.imports.reader import (
    BadRow,
    CsvFeed,
    ImportFormatError,
    JsonFeed,
    Limits,
    RawRow,
    column_key,
    decode,
    read_csv,
    read_json,
    sniff_delimiter,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "imports"


def rows(read_rows: list[RawRow | BadRow]) -> list[RawRow]:
    return [r for r in read_rows if isinstance(r, RawRow)]


def test_excel_french_export_with_bom_semicolons_and_crlf() -> None:
    read = read_csv((DATA / "excel_fr_semicolon_bom.csv").read_bytes())
    assert read.delimiter == ";"
    assert read.columns == ("Nom", "Prénom", "Téléphone", "Ville")  # no BOM in the first name
    assert read.phone_column == "Téléphone"
    assert read.blank_lines == 2  # a row of empty fields and an empty line
    good = rows(read.rows)
    assert [r.line for r in good] == [2, 3, 6, 7, 8, 9, 10]
    assert good[0].phone == "06 12 34 56 78"
    assert good[0].extra == {"Nom": "Dupont", "Prénom": "Hélène", "Ville": "Paris"}
    assert good[-1].phone == ""  # kept, so the row is reported with its line


def test_quoted_fields_with_commas_and_line_breaks_keep_file_line_numbers() -> None:
    read = read_csv((DATA / "crm_export_us.csv").read_bytes())
    assert read.delimiter == ","
    by_id = {r.extra["id"]: r for r in rows(read.rows)}
    assert by_id["1"].extra["name"] == "Smith, John"
    assert by_id["3"].extra["notes"] == "two\nlines of notes"
    assert by_id["3"].line == 4
    assert by_id["4"].line == 6  # the record after the two-line one starts on line 6
    assert by_id["2"].country == "US"
    assert by_id["2"].time_zone == "America/Los_Angeles"
    assert by_id["2"].priority == "5"


def test_windows_1252_tab_separated_with_accented_header() -> None:
    data = (DATA / "cp1252_tabs.txt").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    read = read_csv(data)
    assert read.delimiter == "\t"
    assert read.phone_column == "Numéro"
    good = rows(read.rows)
    assert [r.extra["Nom"] for r in good] == ["Gérard", "André", "François"]
    assert good[0].time_zone == "Europe/Paris"  # the "Fuseau" column


def test_utf16_excel_unicode_text() -> None:
    read = read_csv((DATA / "excel_utf16.txt").read_bytes())
    assert read.delimiter == "\t"
    assert [r.phone for r in rows(read.rows)] == ["+4915123456789", "+4915123456780"]


def test_bare_list_of_numbers_without_header() -> None:
    read = read_csv((DATA / "numbers_only.txt").read_bytes())
    assert [(r.line, r.phone) for r in rows(read.rows)] == [
        (1, "+14155552671"),
        (2, "+14155552672"),
        (3, "+44 20 7946 0958"),
    ]
    assert read.blank_lines == 2


def test_row_with_an_unquoted_delimiter_is_rejected_with_its_line() -> None:
    read = read_csv((DATA / "unquoted_comma.csv").read_bytes())
    bad = [r for r in read.rows if isinstance(r, BadRow)]
    assert len(bad) == 1
    assert bad[0].line == 3
    assert "4 fields where the header has 3" in bad[0].reason
    assert [r.line for r in rows(read.rows)] == [2, 4]


def test_wrong_delimiter_forced_names_the_header_it_saw() -> None:
    data = (DATA / "excel_fr_semicolon_bom.csv").read_bytes()
    with pytest.raises(ImportFormatError) as info:
        read_csv(data, delimiter=",")
    message = str(info.value)
    assert "no phone column" in message
    assert "Nom;Prénom;Téléphone;Ville" in message
    assert "delimiter ','" in message


def test_named_phone_column_wins_and_a_missing_one_is_an_error() -> None:
    data = "id,phone,mobile\n1,+14155550101,+14155550102\n"
    read = read_csv(data, phone_column="Mobile")
    assert rows(read.rows)[0].phone == "+14155550102"
    assert rows(read.rows)[0].extra == {"id": "1", "phone": "+14155550101"}
    with pytest.raises(ImportFormatError, match="no column 'cell'"):
        read_csv(data, phone_column="cell")


def test_short_rows_are_padded_and_long_rows_with_empty_tail_accepted() -> None:
    read = read_csv("name,phone,city\nA,+14155550101\nB,+14155550102,X,,\n")
    assert [(r.line, r.phone) for r in rows(read.rows)] == [
        (2, "+14155550101"),
        (3, "+14155550102"),
    ]


def test_empty_file_and_header_only() -> None:
    with pytest.raises(ImportFormatError, match="no rows"):
        read_csv(b"\n\n  \n")
    assert read_csv("phone\n").rows == []


def test_json_array_and_wrapper() -> None:
    read = read_json((DATA / "leads.json").read_bytes())
    assert read.delimiter is None
    assert read.blank_lines == 1
    kinds = [(type(r).__name__, r.line) for r in read.rows]
    assert kinds == [
        ("RawRow", 1),
        ("RawRow", 2),
        ("RawRow", 3),
        ("BadRow", 4),
        ("RawRow", 6),
        ("RawRow", 7),
    ]
    first = read.rows[0]
    assert isinstance(first, RawRow)
    assert first.time_zone == "Europe/Paris"
    assert first.extra == {"name": "Hélène"}
    wrapped = read_json('{"leads": [{"Phone": "+14155550101", "crm_id": 7}]}')
    only = wrapped.rows[0]
    assert isinstance(only, RawRow)
    assert only.extra == {"crm_id": 7}


def test_json_that_is_not_a_list_of_leads() -> None:
    with pytest.raises(ImportFormatError, match="not valid JSON"):
        read_json(b"[{")
    with pytest.raises(ImportFormatError, match="expected a JSON array"):
        read_json(b'{"phone": "+1"}')


def test_helpers() -> None:
    assert column_key(" Phone Number ") == "phonenumber"
    assert column_key("Téléphone") == "telephone"
    assert sniff_delimiter("a;b;c") == ";"
    assert sniff_delimiter("a\tb") == "\t"
    assert sniff_delimiter("phone") == ","
    assert decode(codecs.BOM_UTF8 + "é".encode()) == "é"
    assert decode("é".encode("cp1252")) == "é"


# -- read as it arrives, within limits --------------------------------------------------------


def fed(feed: CsvFeed | JsonFeed, data: bytes, size: int) -> list[RawRow | BadRow]:
    """Every row of `data` given to `feed` in pieces of `size` bytes."""
    out: list[RawRow | BadRow] = []
    for at in range(0, len(data), size):
        out += feed.feed(data[at : at + size])
    return out + feed.close()


@pytest.mark.parametrize(
    "name",
    [
        "crm_export_us.csv",
        "excel_fr_semicolon_bom.csv",
        "cp1252_tabs.txt",
        "excel_utf16.txt",
        "numbers_only.txt",
        "unquoted_comma.csv",
    ],
)
@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_csv_in_pieces_reads_as_the_whole_file(name: str, size: int) -> None:
    data = (DATA / name).read_bytes()
    whole = read_csv(data)
    feed = CsvFeed()
    assert fed(feed, data, size) == whole.rows
    assert (feed.blank_lines, feed.delimiter, feed.columns) == (
        whole.blank_lines,
        whole.delimiter,
        whole.columns,
    )


@pytest.mark.parametrize("size", [1, 5, 64])
def test_json_in_pieces_reads_as_the_whole_file(size: int) -> None:
    data = (DATA / "leads.json").read_bytes()
    assert fed(JsonFeed(), data, size) == read_json(data).rows
    wrapped = b'{"leads": [{"phone": 12345678901}, {"phone": "+14155550101"}]}'
    rows = fed(JsonFeed(), wrapped, size)
    assert [(r.line, r.phone) for r in rows if isinstance(r, RawRow)] == [
        (1, "12345678901"),  # a number cut between two pieces is read whole
        (2, "+14155550101"),
    ]


def test_the_header_is_known_from_the_first_piece() -> None:
    feed = CsvFeed()
    assert feed.feed(b"name;Phone;city\r\nA;+14155550101;X\r") == []
    assert feed.header_read and feed.delimiter == ";" and feed.phone_column == "Phone"
    rows = feed.feed(b"\nB;+14155550102;Y\r\n")  # the CR LF cut in two is one line end
    assert [(r.line, r.phone) for r in rows if isinstance(r, RawRow)] == [
        (2, "+14155550101"),
        (3, "+14155550102"),
    ]


SMALL = Limits(max_columns=5, max_field_chars=20, max_record_chars=200, max_name_chars=10)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            b"phone," + b",".join(b"c%d" % i for i in range(10)) + b"\n",
            "the header has 11 columns: at most 5",
        ),
        (b"phone," + b"x" * 300 + b"\n+14155550101,1\n", "line 1: a record longer than 200"),
        (b'phone,name\n+14155550101,"never closed\n' + b"x,y\n" * 100, "line 2: a record"),
        (b"phone,averyveryverylongname\n", "column 2's name has 21 characters: at most 10"),
        (b"phone,na\x00me\n", "the header contains a NUL character"),
        ("phone,name\n+1,Hélène\n".encode() + b"+2,caf\xe9\n", "line 3: byte 0xe9 is not UTF-8"),
    ],
)
def test_files_past_the_limits_cannot_be_read(data: bytes, message: str) -> None:
    with pytest.raises(ImportFormatError, match=message):
        fed(CsvFeed(limits=SMALL), data, 16)


def test_rows_past_the_limits_are_rejected_alone() -> None:
    data = b"phone,note\n+14155550101,ok\n+14155550102," + b"n" * 30 + b"\n+14155550103,a\x00b\n"
    rows = fed(CsvFeed(limits=SMALL), data, 16)
    assert [(type(r).__name__, r.line) for r in rows] == [
        ("RawRow", 2),
        ("BadRow", 3),
        ("BadRow", 4),
    ]
    assert (
        isinstance(rows[1], BadRow)
        and rows[1].reason == "field 'note' has 30 characters: at most 20"
    )
    assert isinstance(rows[2], BadRow) and rows[2].reason == "field 'note' contains a NUL character"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'[{"phone": "caf\xe9"}]', "line 1: byte 0xe9 is not UTF-8"),
        (b"[" + b"[" * 5000 + b"]" * 5000 + b"]", "element 1: nested too deeply"),
        (b'[{"phone": "+1", "x": NaN}]', "NaN is not a number JSON allows"),
        (b'[{"phone": "+1"}, {"phone": ', "element 2"),
        (b'[{"phone": "+1"}] [', "more data after the array"),
        (b'{"other": 1, "leads": []}', "expected a JSON array"),
        (b"", "the file is empty"),
    ],
)
def test_json_files_that_cannot_be_read(data: bytes, message: str) -> None:
    with pytest.raises(ImportFormatError, match=message):
        fed(JsonFeed(limits=Limits(max_record_chars=20_000)), data, 7)


def test_json_rows_with_a_nul_or_a_long_field_are_rejected_alone() -> None:
    data = b'[{"phone": "+1\\u0000"}, {"phone": "+14155550101", "note": "' + b"n" * 30 + b'"}, 7]'
    rows = fed(JsonFeed(limits=SMALL), data, 5)
    assert [(type(r).__name__, r.line) for r in rows] == [
        ("BadRow", 1),
        ("BadRow", 2),
        ("RawRow", 3),
    ]
