"""The course's own appropriateness pairs, written from its imaging table.

Every condition x variant x procedure of `tables/imaging.json` becomes one pair, rated by
the table and explained by a rationale built from the variant's teaching point and what the
procedure shows in that condition.

Introduced in notebooks/01_data.ipynb.
"""

from __future__ import annotations

import csv
from dataclasses import asdict
from pathlib import Path

from medlab.data.load.appropriateness import (
    CATEGORIES,
    CSV_COLUMNS,
    RADIATION,
    AppropriatenessItem,
    category_of,
    radiation_level,
)
from medlab.data.tables import CONDITIONS, Variant

# The verdict and its reason, one per category: what a rating of that band means for the request.
VERDICTS = {
    CATEGORIES[0]: "Usually appropriate: it is a recommended test for this scenario",
    CATEGORIES[1]: "May be appropriate: it helps in selected patients but is not the first choice",
    CATEGORIES[2]: "Usually not appropriate: it is unlikely to change management here",
}


def write_rationale(variant: Variant, procedure: str, role: str, rating: int, level: str) -> str:
    """The gold reasoning for one pair: the scenario's teaching point, what the procedure does in
    this condition, then the verdict with its reason and the radiation dose.

    Saying what the procedure shows keeps an appropriate test from being praised for more than it
    does (a chest radiograph helps in suspected embolism, but cannot show the clot).
    """
    # The dose in words: the level's symbols stay in the CSV column, and read as noise in prose.
    dose = "no ionising radiation" if level == "O" else f"an effective dose of {RADIATION[level]}"
    return (f"For {variant.scenario}, {variant.teaching_point}. {procedure} {role}. "
            f"{VERDICTS[category_of(rating)]}, with {dose}.")


def generate_pairs() -> list[AppropriatenessItem]:
    """Every variant x procedure pair of the course's table (30 x 3 x 6 = 540)."""
    items = []
    for row in CONDITIONS:
        for index, variant in enumerate(row.variants):
            for procedure, ratings in row.ratings.items():
                level = radiation_level(procedure)
                items.append(AppropriatenessItem(
                    condition=row.condition, variant=variant.scenario, procedure=procedure,
                    appropriateness=category_of(ratings[index]), rating=ratings[index],
                    radiation_level=level,
                    rationale=write_rationale(variant, procedure, row.roles[procedure], ratings[index], level),
                    evidence=tuple(row.evidence)))
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
