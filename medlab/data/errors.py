"""Errors, skip counts and line-numbered reading for data loading: say where (file, line,
field) and what to do.

Introduced in notebooks/01_data.ipynb.
"""

from __future__ import annotations

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
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
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
