"""The course's own appropriateness pairs, written from its imaging table.

Every condition x variant x procedure of `tables/imaging.json` becomes one pair, rated by
the table and explained by a rationale built from the variant's teaching point.

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
from medlab.data.tables import CONDITIONS


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
    for row in CONDITIONS:
        for index, variant in enumerate(row.variants):
            for procedure, ratings in row.ratings.items():
                level = radiation_level(procedure)
                items.append(AppropriatenessItem(
                    condition=row.condition, variant=variant.scenario, procedure=procedure,
                    appropriateness=category_of(ratings[index]), rating=ratings[index],
                    radiation_level=level,
                    rationale=write_rationale(variant.scenario, variant.teaching_point, procedure, ratings[index],
                                              level),
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
