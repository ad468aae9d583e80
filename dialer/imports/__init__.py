"""Lead import: CSV or JSON files into a campaign's list.

- `reader` (pure): bytes to records, with encodings, delimiters, headers and line numbers
- `normalise` (pure): E.164 with `phonenumbers`, time zones, duplicates within the file
- `service`: the import itself against Postgres, yielding progress and a report
"""
