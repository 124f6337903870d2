"""Errors, skip counts and line-numbered reading for data loading: say where (file, line,
field) and what to do.

Introduced in notebooks/01_data.ipynb.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path


class DataError(ValueError):
    """Malformed input: the message names the file, the line or row, the field and the fix."""

    def __init__(self, path: str | Path | None, line: int | None, field_name: str | None, problem: str):
        self.path, self.line, self.field = path, line, field_name
        where = str(path) if path else "<data>"
        if line is not None:
            where += f", line {line}"
        if field_name:
            where += f", field {field_name!r}"
        super().__init__(f"{where}: {problem}")


def read_text(path: str | Path) -> str:
    r"""A data file's text, read as UTF-8 (a byte-order mark dropped). A file in another encoding
    (Latin-1, UTF-16 as Excel saves "Unicode text") is a DataError naming the file, the line and
    the fix, not a bare UnicodeDecodeError.

    >>> import tempfile; folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "notes.csv").write_bytes("level,text\n2,fi\u00e8vre\n".encode("latin-1"))
    >>> read_text(folder / "notes.csv")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    medlab.data.errors.DataError: .../notes.csv, line 2: not UTF-8 text (byte 0xe8): save the file as UTF-8 ...
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, None, "file not found")
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        looks = " (it looks like UTF-16)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise DataError(path, line, None, f"not UTF-8 text (byte {data[error.start]:#04x}){looks}: save the file as "
                        "UTF-8 (in a spreadsheet: CSV UTF-8) and load it again") from None


def read_csv_rows(path: str | Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """A CSV file's header and its (line, row) pairs, every row as long as the header. A row
    with too few or too many fields, or a field over the csv module's 128 KiB limit, is a
    DataError with the file and line."""
    path = Path(path)
    reader = csv.DictReader(io.StringIO(read_text(path), newline=""))
    rows = []
    try:
        columns = [c.strip() for c in reader.fieldnames or []]
        for row in reader:
            if None in row or None in row.values():  # a short row's missing fields, a long row's extra ones
                fields = len([v for v in row.values() if v is not None]) + len(row.get(None) or [])
                raise DataError(path, reader.line_num, None, f"{fields} fields where the header has {len(columns)}: "
                                "a truncated or broken row; fix or remove it")
            rows.append((reader.line_num, {k.strip(): v for k, v in row.items()}))
    except csv.Error as error:
        raise DataError(path, reader.line_num, None, f"unreadable CSV ({error})") from None
    return columns, rows


@dataclass
class SkipReport:
    """Rows dropped on purpose (too short, removed by experts), counted by reason: never silent."""

    source: str
    reasons: Counter = field(default_factory=Counter)

    def skip(self, reason: str, n: int = 1) -> None:
        if n:
            self.reasons[reason] += n

    @property
    def skipped(self) -> int:
        return sum(self.reasons.values())

    def __str__(self) -> str:
        if not self.reasons:
            return f"{self.source}: nothing skipped"
        detail = ", ".join(f"{n} {reason}" for reason, n in self.reasons.most_common())
        return f"{self.source}: skipped {self.skipped} ({detail})"


def read_jsonl(path: str | Path) -> list[tuple[int, dict]]:
    """(line number, row) pairs from a JSON-lines file; a bad line raises with its number."""
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, None, "file not found")
    rows = []
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataError(path, number, None, f"not valid JSON ({error.msg}): fix or delete the line") from None
        if not isinstance(row, dict):
            raise DataError(path, number, None, "each line must be a JSON object")
        rows.append((number, row))
    return rows
