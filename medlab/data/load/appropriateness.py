"""Imaging appropriateness: the item type, the radiation scale, and the CSV loader.

A pair is condition + variant + procedure, rated 1-9 and so placed in one of three
categories. Each carries the relative radiation level, a gold rationale and short evidence
snippets, which the "citations" reward variants place in the prompt. A learner's own table is
read from a CSV with the same columns as the course's.

Introduced in notebooks/01_data.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from medlab.data.errors import DataError, read_csv_rows

CATEGORIES = ("Usually Appropriate", "May Be Appropriate", "Usually Not Appropriate")
DISAGREEMENT = "May Be Appropriate (Disagreement)"  # 4-6 with scattered panel votes
CSV_COLUMNS = ("condition", "variant", "procedure", "appropriateness", "rating", "radiation_level",
               "rationale", "evidence")
# Relative radiation level per procedure family, with its adult effective-dose band.
RADIATION = {
    "O": "0 mSv", "☢": "< 0.1 mSv", "☢☢": "0.1-1 mSv", "☢☢☢": "1-10 mSv", "☢☢☢☢": "10-30 mSv",
}


# Procedures above 10 mSv: PET/CT; CT covering chest, abdomen and pelvis in one run, or the kidneys
# in several contrast phases; SPECT myocardial perfusion, which images at rest and under stress;
# and white-cell scans, counted as indium-111 labelled (technetium-labelled cells give less).
HIGHEST_DOSE = ("pet", "ct angiography chest abdomen pelvis", "ct urography", "myocardial perfusion", "white cell")


def radiation_level(procedure: str) -> str:
    """The relative radiation level of a procedure, from its modality and body part.

    >>> [radiation_level(p) for p in ("CT urography", "Radiography lumbar spine", "Radiography cervical spine")]
    ['☢☢☢☢', '☢☢☢', '☢☢']
    """
    p = procedure.lower()
    if p.startswith(("mri", "mr ")) or "ultrasound" in p or "echocardiography" in p:
        return "O"
    if any(name in p for name in HIGHEST_DOSE):
        return "☢☢☢☢"
    if p.startswith("ct") and any(limb in p for limb in ("ankle", "foot", "knee", "shoulder")):
        return "☢"  # CT of a limb keeps the trunk out of the beam
    if p.startswith(("ct", "nuclear", "bone scan", "fluoroscopy", "v/q")) or "angiography" in p:
        return "☢☢☢"
    if "lumbar spine" in p:
        return "☢☢☢"  # lateral views pass through the whole depth of the lower trunk
    if any(part in p for part in ("mammograph", "spine", "pelvis", "abdomen", "hysterosalpingography")):
        return "☢☢"
    return "☢"  # radiography of the chest, the skull, the neck or a limb


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


def load_appropriateness_csv(path: str | Path) -> list[AppropriatenessItem]:
    """A table of appropriateness rows with the columns in `CSV_COLUMNS`.

    `evidence` holds snippets separated by " | " (it may be empty); `radiation_level` may be
    empty, in which case it is inferred from the procedure's name.
    """
    path = Path(path)
    columns, rows = read_csv_rows(path)
    missing = [c for c in CSV_COLUMNS if c not in columns]
    if missing:
        raise DataError(path, 1, missing[0], f"missing column(s) {missing}: the header needs {list(CSV_COLUMNS)}")
    return [_item(row, path, line) for line, row in rows]


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
