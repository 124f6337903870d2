"""The course's own appropriateness pairs, written from its imaging table.

Every condition x variant x procedure of `tables/imaging.json` becomes one pair, rated by
the table, with the condition's evidence snippets plus one line of what studies of the
scenario found for the procedure, and a short rationale that reads that line.

Introduced in notebooks/01_data.ipynb.
"""

from __future__ import annotations

import csv
import random
from dataclasses import asdict
from pathlib import Path

from medlab.data.load.appropriateness import (
    CATEGORIES,
    CSV_COLUMNS,
    AppropriatenessItem,
    category_of,
    radiation_level,
)
from medlab.data.tables import CONDITIONS

# The verdict and its reason, one per category: what a rating of that band means for the request.
VERDICTS = {
    CATEGORIES[0]: "Usually appropriate: it is a recommended test for this scenario",
    CATEGORIES[1]: "May be appropriate: it helps in selected patients but is not the first choice",
    CATEGORIES[2]: "Usually not appropriate: it is unlikely to change management here",
}


# What studies of a scenario found for a procedure, by category: the line of evidence that
# grounds the rating, as the ACR cites studies for each of its ratings. Three wordings each, so
# that reading the evidence means reading its sense, not matching one fixed phrase.
FINDINGS = {
    CATEGORIES[0]: ("changed management in most patients studied", "answered the clinical question in most "
                    "patients studied", "is the first test that published series recommend"),
    CATEGORIES[1]: ("helped in selected patients, mainly when first tests were unclear", "added information in "
                    "some patients but is not a first test", "gave mixed results across studies"),
    CATEGORIES[2]: ("rarely changed management", "added little or nothing to the diagnosis in studies",
                    "showed no benefit for these patients"),
}


def study_finding(rating: int, rng: random.Random) -> str:
    """What studies of a scenario found for a procedure rated `rating`, in one of its category's
    wordings.

    With it in the prompt the rating can be read from the context, as the reproduced system's
    evidence variants read abstracts of the studies the ACR cites; without it, a model must
    already know the rating, which the pocket model, never shown the table, cannot.

    >>> study_finding(1, random.Random(0)) in FINDINGS["Usually Not Appropriate"]
    True
    """
    return rng.choice(FINDINGS[category_of(rating)])


def write_rationale(rating: int, finding: str) -> str:
    """The gold reasoning for one pair: what the evidence found, then the verdict it supports.

    Short on purpose, and in this order: the verdict stands next to the answer it decides, and
    the finding comes first, where the model reads the evidence most directly. Measured on the
    pocket model, a rationale that also restated the scenario's teaching point and what the
    procedure shows drifted in its middle and lost the evidence: its answers fell to one label.
    """
    return f"The evidence found that it {finding}. {VERDICTS[category_of(rating)]}."


def generate_pairs() -> list[AppropriatenessItem]:
    """Every variant x procedure pair of the course's table (30 x 3 x 6 = 540), each with its
    condition's evidence snippets and the line of what studies found for its procedure."""
    rng = random.Random(0)  # the wording of each evidence line, the same on every machine
    items = []
    for row in CONDITIONS:
        for index, variant in enumerate(row.variants):
            for procedure, ratings in row.ratings.items():
                level = radiation_level(procedure)
                finding = study_finding(ratings[index], rng)
                items.append(AppropriatenessItem(
                    condition=row.condition, variant=variant.scenario, procedure=procedure,
                    appropriateness=category_of(ratings[index]), rating=ratings[index],
                    radiation_level=level,
                    rationale=write_rationale(ratings[index], finding),
                    evidence=(*row.evidence, f"In studies of this scenario, {procedure} {finding}.")))
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
