"""Multiple-choice medical QA in the MedQA and MedMCQA schemas: the item type and its loaders.

Learners load the real sets from the hub by id; these machines read the course's own files,
written in exactly the same schemas. Both go through one validation step, as in the MedLLM
report: questions under 10 words are dropped and counted, and malformed rows raise an error
that names the file, the line and the field.

Introduced in notebooks/01_data.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from medlab.data.errors import DataError, SkipReport, read_jsonl

MEDQA_HUB_ID = "GBaker/MedQA-USMLE-4-options"
MEDMCQA_HUB_ID = "openlifescienceai/medmcqa"
MEDQA_COLUMNS = ("question", "answer", "options", "meta_info", "answer_idx")
MEDMCQA_COLUMNS = ("id", "question", "opa", "opb", "opc", "opd", "cop", "choice_type", "exp",
                   "subject_name", "topic_name")
LETTERS = "ABCD"
MIN_QUESTION_WORDS = 10  # the MedLLM recipe drops shorter questions


@dataclass(frozen=True)
class MCQItem:
    """One question in the course's common form, whatever schema it came from."""

    id: str
    question: str
    options: dict[str, str]
    answer: str  # the letter of the right option
    source: str
    meta: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def answer_text(self) -> str:
        return self.options[self.answer]


def hub_rows(hub_id: str, split: str) -> list[tuple[int, dict]]:
    """(row number, row) pairs from a hub dataset, through `datasets.load_dataset`."""
    from datasets import load_dataset

    return list(enumerate(load_dataset(hub_id, split=split), start=1))


def load_medqa(split: str = "train", path: str | Path | None = None,
               skip_malformed: bool = False) -> tuple[list[MCQItem], SkipReport]:
    """MedQA (4 options): `path` to a local JSON-lines file, or None for the hub copy."""
    source = str(path) if path else f"{MEDQA_HUB_ID}:{split}"
    rows = read_jsonl(path) if path else hub_rows(MEDQA_HUB_ID, split)
    return _validated(rows, source, medqa_item, skip_malformed)


def load_medmcqa(split: str = "validation", path: str | Path | None = None,
                 skip_malformed: bool = False) -> tuple[list[MCQItem], SkipReport]:
    """MedMCQA: `path` to a local JSON-lines file, or None for the hub copy.

    Its test split carries no labels (`cop = -1`): evaluate on validation instead.
    """
    if path is None and split == "test":
        raise DataError(f"{MEDMCQA_HUB_ID}:test", None, "cop",
                        "MedMCQA's test split has no labels (cop = -1): use split='validation'")
    source = str(path) if path else f"{MEDMCQA_HUB_ID}:{split}"
    rows = read_jsonl(path) if path else hub_rows(MEDMCQA_HUB_ID, split)
    return _validated(rows, source, medmcqa_item, skip_malformed)


def _validated(rows, source, to_item, skip_malformed: bool) -> tuple[list[MCQItem], SkipReport]:
    report, items = SkipReport(source), []
    for number, row in rows:
        try:
            item = to_item(row, source, number)
        except DataError as error:
            if not skip_malformed:
                raise
            report.skip(f"malformed {error.field}")
            continue
        if len(item.question.split()) < MIN_QUESTION_WORDS:
            report.skip(f"question under {MIN_QUESTION_WORDS} words")
            continue
        items.append(item)
    return items, report


def _require(row: dict, columns, source, number) -> None:
    for column in columns:
        if column not in row:
            raise DataError(source, number, column, f"missing column: a row needs {list(columns)}")


def _text(value, source, number, column: str) -> str:
    """A field that must be non-empty text; a null, a number or a list is a DataError (so
    `skip_malformed` counts it) rather than an AttributeError."""
    if not isinstance(value, str) or not value.strip():
        raise DataError(source, number, column, f"expected text, got {value!r}")
    return value.strip()


def _option_index(cop, source, number) -> int:
    """MedMCQA's `cop`, the right option's index 0-3; 1.0 (a copy saved through pandas) reads as 1.

    >>> _option_index(1.0, "m", 1), _option_index(3, "m", 2)
    (1, 3)
    """
    if cop == -1:
        raise DataError(source, number, "cop",
                        "cop = -1 means no label (MedMCQA's test split): use the validation split")
    if isinstance(cop, bool) or not isinstance(cop, int | float) or cop not in (0, 1, 2, 3):
        raise DataError(source, number, "cop", f"{cop!r} is not 0-3 (for options a-d)")
    return int(cop)


def medqa_item(row: dict, source: str, number: int) -> MCQItem:
    _require(row, MEDQA_COLUMNS, source, number)
    options = row["options"]
    if not isinstance(options, dict) or sorted(options) != list(LETTERS):
        raise DataError(source, number, "options", f"expected a dict with keys A-D, got {options!r}")
    options = {letter: _text(options[letter], source, number, f"options.{letter}") for letter in LETTERS}
    letter = str(row["answer_idx"]).strip()
    if letter not in options:
        raise DataError(source, number, "answer_idx", f"{letter!r} is not one of the options A-D")
    if str(row["answer"]).strip() != options[letter]:
        raise DataError(source, number, "answer",
                        f"{row['answer']!r} is not option {letter} ({options[letter]!r})")
    return MCQItem(id=f"medqa-{number}", question=_text(row["question"], source, number, "question"), options=options,
                   answer=letter, source="medqa", meta={"meta_info": row["meta_info"]})


def medmcqa_item(row: dict, source: str, number: int) -> MCQItem:
    _require(row, MEDMCQA_COLUMNS, source, number)
    cop = _option_index(row["cop"], source, number)
    options = {letter: _text(row[f"op{c}"], source, number, f"op{c}")
               for letter, c in zip(LETTERS, "abcd", strict=True)}
    return MCQItem(id=str(row["id"]), question=_text(row["question"], source, number, "question"), options=options,
                   answer=LETTERS[cop], source="medmcqa",
                   meta={"subject": row["subject_name"], "topic": row["topic_name"]})
