"""Emergency triage examples: the item type, the course's case files, and MIETIC's files.

A `TriageRecord` is what a model sees (a narrative) and what it should answer (an ESI
level), with the decision trail when one is known. `load_cases` reads the course's JSON-lines
cases; `load_mietic` reads a learner's local copy of the credentialed MIETIC corpus.

Introduced in notebooks/01_data.ipynb.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from medlab.data.errors import DataError, SkipReport, read_csv_rows, read_jsonl


@dataclass(frozen=True)
class TriageRecord:
    """One triage example as the model sees it: narrative in, ESI level out."""

    id: str
    narrative: str
    level: int
    trail: tuple[str, ...] = ()
    source: str = "course"
    pain_text: str = ""  # the pain field as written, for the pain >= 7 rule bonus


CASE_FIELDS = ("id", "narrative", "level", "trail", "case")


def load_cases(path: str | Path) -> list[TriageRecord]:
    """The course's triage cases from a JSON-lines file; a malformed row raises with its line."""
    records = []
    for line, row in read_jsonl(path):
        for name in CASE_FIELDS:
            if name not in row:
                raise DataError(path, line, name, f"missing: each case needs {', '.join(CASE_FIELDS)}")
        if row["level"] not in (1, 2, 3, 4, 5):
            raise DataError(path, line, "level", f"{row['level']!r} is not an ESI level 1-5")
        if not isinstance(row["narrative"], str) or not row["narrative"].strip():
            raise DataError(path, line, "narrative", f"expected the case's text, got {row['narrative']!r}")
        if not isinstance(row["case"], dict):
            raise DataError(path, line, "case", f"expected the case's fields as an object, got {row['case']!r}")
        if not isinstance(row["trail"], list):
            raise DataError(path, line, "trail", f"expected the decision points as a list, got {row['trail']!r}")
        records.append(record_from_row(row))
    return records


def record_from_row(row: dict) -> TriageRecord:
    pain = row["case"].get("pain")
    return TriageRecord(id=row["id"], narrative=row["narrative"], level=int(row["level"]),
                        trail=tuple(row["trail"]), pain_text="" if pain is None else str(pain))


# ---- MIETIC (PhysioNet, credentialed): a learner's local copy -------------------------------

MIETIC_SAMPLE_COLUMNS = ("acuity", "tiragecase")  # the 50-row expert-validated sample file
MIETIC_CORPUS_COLUMNS = ("instruction", "input", "output")  # MIETIC.csv, 9,629 cases


def fahrenheit_to_celsius(value: float) -> float:
    return round((value - 32) * 5 / 9, 1)


def parse_pain(text: str) -> int | None:
    """MIETIC writes pain as a number, or as text such as "Critical" or "uta" (unable to assess)."""
    text = (text or "").strip()
    match = re.fullmatch(r"(\d+(?:\.\d+)?)", text)
    if match and 0 <= float(match.group(1)) <= 10:
        return int(float(match.group(1)))
    return None


def parse_level(text: str) -> int | None:
    match = re.search(r"\b([1-5])\b", text or "")
    return int(match.group(1)) if match else None


MIETIC_SAMPLE_HEADER = ("acuity", "chiefcomplaint", "heartrate", "resprate", "o2sat", "sbp", "dbp",
                        "temperature", "pain", "tiragecase", "expert_1", "expert_2", "Final Decision")


def load_mietic(path: str | Path, retained_only: bool = True) -> tuple[list[TriageRecord], SkipReport]:
    """Read MIETIC's expert sample file or its full `MIETIC.csv` into `TriageRecord`s.

    Handles the byte-order mark on the first header, pain written as text, and temperatures
    in Fahrenheit. With `retained_only`, the sample file keeps the rows whose `Final Decision`
    is RETAIN (the 36 cases often called MIETIC-36).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, None, "file not found: give the path to your local MIETIC copy")
    columns, rows = read_csv_rows(path)  # the byte-order mark dropped, every row as long as the header
    if all(c in columns for c in MIETIC_SAMPLE_COLUMNS):
        if retained_only and "Final Decision" not in columns:
            raise DataError(path, 1, "Final Decision", "no such column, so the experts' REMOVE rows cannot be left "
                            "out: give MIETIC's sample file as released, or load it with retained_only=False")
        return _mietic_sample(path, rows, retained_only)
    if all(c in columns for c in MIETIC_CORPUS_COLUMNS):
        return _mietic_corpus(path, rows)
    raise DataError(path, 1, "header", f"columns {columns} match neither MIETIC file: expected "
                    f"{list(MIETIC_SAMPLE_COLUMNS)} (sample) or {list(MIETIC_CORPUS_COLUMNS)} (MIETIC.csv)")


def _mietic_sample(path: Path, rows: list[dict], retained_only: bool):
    report, records = SkipReport(str(path)), []
    for line, row in rows:
        row = {k: v.strip() for k, v in row.items()}
        if retained_only and row["Final Decision"].upper() != "RETAIN":
            report.skip("expert decision REMOVE")
            continue
        level = parse_level(row["acuity"])
        if level is None:
            raise DataError(path, line, "acuity", f"{row['acuity']!r} is not an ESI level 1-5")
        if not row["tiragecase"]:
            raise DataError(path, line, "tiragecase", "empty narrative")
        records.append(TriageRecord(id=f"{path.stem}-{line}", narrative=_sample_narrative(row, path, line),
                                    level=level, source="mietic", pain_text=row.get("pain", "")))
    return records, report


def celsius(text: str, path: Path, line: int) -> float | None:
    """A body temperature in Celsius, read as it is written: MIETIC writes Fahrenheit (98.6), a
    copy may hold Celsius (37.0). Blank is None; a number that is neither is an error.

    >>> celsius("98.6", Path("m.csv"), 2), celsius("37.0", Path("m.csv"), 3), celsius("", Path("m.csv"), 4)
    (37.0, 37.0, None)
    """
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise DataError(path, line, "temperature", f"{text!r} is not a number") from None
    if FAHRENHEIT_BODY[0] <= value <= FAHRENHEIT_BODY[1]:
        return fahrenheit_to_celsius(value)
    if CELSIUS_BODY[0] <= value <= CELSIUS_BODY[1]:
        return value
    raise DataError(path, line, "temperature", f"{value} is a body temperature in neither Fahrenheit "
                    f"({FAHRENHEIT_BODY[0]}-{FAHRENHEIT_BODY[1]}) nor Celsius ({CELSIUS_BODY[0]}-{CELSIUS_BODY[1]})")


FAHRENHEIT_BODY = (75.0, 115.0)  # survivable body temperatures, with room: 24-46 C
CELSIUS_BODY = (24.0, 46.0)


VITALS_AFTER = " Vitals: "
"""What separates a sample-file case's own words from the vital signs the loader appends."""


def _sample_narrative(row: dict, path: Path, line: int) -> str:
    """The expert narrative with the structured vitals appended, temperature in Celsius."""
    vitals = []
    for key, label in (("heartrate", "HR"), ("resprate", "RR"), ("o2sat", "SpO2")):
        if row.get(key):
            vitals.append(f"{label} {row[key]}")
    if row.get("sbp") and row.get("dbp"):
        vitals.append(f"BP {row['sbp']}/{row['dbp']}")
    temperature = celsius(row.get("temperature", ""), path, line)
    if temperature is not None:
        vitals.append(f"temperature {temperature} C")
    pain = parse_pain(row.get("pain", ""))
    vitals.append(f"pain {pain}/10" if pain is not None else f"pain {row.get('pain') or 'not recorded'}")
    return f"{row['tiragecase']}{VITALS_AFTER}{', '.join(vitals)}."


def _mietic_corpus(path: Path, rows: list[dict]):
    report, records = SkipReport(str(path)), []
    for line, row in rows:
        level = parse_level(row.get("output", ""))
        if level is None:
            report.skip("output holds no ESI level")
            continue
        if not (row.get("input") or "").strip():
            raise DataError(path, line, "input", "empty case text")
        records.append(TriageRecord(id=f"mietic-{line}", narrative=row["input"].strip(), level=level,
                                    source="mietic"))
    return records, report
