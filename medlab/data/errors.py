"""Errors and skip counts for data loading: say where (file, line, field) and what to do.

Introduced in notebooks/01_data.ipynb.
"""

from __future__ import annotations

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
