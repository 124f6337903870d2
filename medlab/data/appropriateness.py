"""Imaging appropriateness: condition + variant + procedure -> one of three categories.

The course generates its variant/procedure pairs from its own table (`imaging_table`), and
reads a learner's own table from a CSV with the same columns. Each pair carries the 1-9
rating, the relative radiation level, a gold rationale and short evidence snippets, which the
"citations" reward variants place in the prompt.

Introduced in notebooks/01_data.ipynb.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from pathlib import Path

from medlab.data.errors import DataError
from medlab.data.imaging_table import CONDITIONS, RADIATION, radiation_level

CATEGORIES = ("Usually Appropriate", "May Be Appropriate", "Usually Not Appropriate")
DISAGREEMENT = "May Be Appropriate (Disagreement)"  # 4-6 with scattered panel votes
CSV_COLUMNS = ("condition", "variant", "procedure", "appropriateness", "rating", "radiation_level",
               "rationale", "evidence")


@dataclass(frozen=True)
class AppropriatenessItem:
    condition: str
    variant: str
    procedure: str
    appropriateness: str  # one of CATEGORIES (the disagreement flavour folds into May Be)
    rating: int
    radiation_level: str
    rationale: str
    evidence: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.condition}|{self.variant}|{self.procedure}".lower()


def category_of(rating: int) -> str:
    """7-9 Usually Appropriate, 4-6 May Be Appropriate, 1-3 Usually Not Appropriate.

    >>> [category_of(r) for r in (9, 5, 2)]
    ['Usually Appropriate', 'May Be Appropriate', 'Usually Not Appropriate']
    """
    if not 1 <= rating <= 9:
        raise ValueError(f"rating {rating} is outside 1-9")
    return CATEGORIES[0] if rating >= 7 else CATEGORIES[1] if rating >= 4 else CATEGORIES[2]


def write_rationale(variant: str, point: str, procedure: str, rating: int, level: str) -> str:
    """The gold reasoning for one pair: the scenario's teaching point, then the verdict's reason."""
    dose = "no ionising radiation" if level == "O" else f"a radiation level of {RADIATION[level]}"
    category = category_of(rating)
    if category == CATEGORIES[0]:
        why = f"{procedure} answers that question directly, with {dose}."
    elif category == CATEGORIES[1]:
        why = f"{procedure} can help in selected patients but is not the first choice; it carries {dose}."
    else:
        why = f"{procedure} is unlikely to change management here and carries {dose}."
    return f"For {variant}, {point}. {why}"


def generate_pairs() -> list[AppropriatenessItem]:
    """Every variant x procedure pair of the course's table (30 x 3 x 6 = 540)."""
    items = []
    for condition, variants, procedures, evidence in CONDITIONS:
        for index, (variant, point) in enumerate(variants):
            for procedure, ratings in procedures.items():
                level = radiation_level(procedure)
                items.append(AppropriatenessItem(
                    condition=condition, variant=variant, procedure=procedure,
                    appropriateness=category_of(ratings[index]), rating=ratings[index],
                    radiation_level=level,
                    rationale=write_rationale(variant, point, procedure, ratings[index], level),
                    evidence=tuple(evidence)))
    return items


def write_csv(items: list[AppropriatenessItem], path: str | Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for item in items:
            row = asdict(item)
            row["evidence"] = " | ".join(item.evidence)
            writer.writerow(row)


def load_appropriateness_csv(path: str | Path) -> list[AppropriatenessItem]:
    """A table of appropriateness rows with the columns in `CSV_COLUMNS`.

    `evidence` holds snippets separated by " | " (it may be empty); `radiation_level` may be
    empty, in which case it is inferred from the procedure's name.
    """
    path = Path(path)
    if not path.exists():
        raise DataError(path, None, None, "file not found")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(path, 1, missing[0], f"missing column(s) {missing}: the header needs {list(CSV_COLUMNS)}")
        return [_item(row, path, line) for line, row in enumerate(reader, start=2)]


def _item(row: dict, path: Path, line: int) -> AppropriatenessItem:
    for column in ("condition", "variant", "procedure"):
        if not (row[column] or "").strip():
            raise DataError(path, line, column, "empty: every row needs a condition, variant and procedure")
    try:
        rating = int(row["rating"])
        expected = category_of(rating)
    except ValueError:
        raise DataError(path, line, "rating", f"{row['rating']!r} is not a whole number from 1 to 9") from None
    category = row["appropriateness"].strip()
    if category == DISAGREEMENT:
        category = CATEGORIES[1]
    if category not in CATEGORIES:
        raise DataError(path, line, "appropriateness", f"{category!r} is not one of {list(CATEGORIES)}")
    if category != expected:
        raise DataError(path, line, "appropriateness", f"{category!r} does not match rating {rating} "
                        f"(which means {expected!r})")
    level = (row["radiation_level"] or "").strip() or radiation_level(row["procedure"])
    if level not in RADIATION:
        raise DataError(path, line, "radiation_level", f"{level!r} is not one of {list(RADIATION)}")
    evidence = tuple(s.strip() for s in (row["evidence"] or "").split(" | ") if s.strip())
    return AppropriatenessItem(condition=row["condition"].strip(), variant=row["variant"].strip(),
                               procedure=row["procedure"].strip(), appropriateness=category,
                               rating=rating, radiation_level=level,
                               rationale=(row["rationale"] or "").strip(), evidence=evidence)
