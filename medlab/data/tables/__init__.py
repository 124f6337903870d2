"""The course's clinical content, as data: the tables its generators write from.

- `mcq_facts.json`: one clinical association per entry (clue sets, the right option, its
  distractors, and the ages and sexes the clues fit) for the MedQA- and MedMCQA-schema questions.
- `imaging.json`: 30 conditions, each with three variants (scenario and teaching point),
  a 1-9 rating per variant for six procedures, what each procedure shows (or cannot show) in
  that condition, and two evidence snippets.
- `diagnoses.json`: 12 diagnoses, each with the phrases a generated DiReCT note is composed
  from; every finding comes paired with the rationale that links it to the diagnosis, and the
  row says which findings cannot go together, which history fits only one sex, and which
  results establish the diagnosis.

The tables are written for this course, for teaching: they are not published criteria and
must not guide care. Each data card in `data/` lists the sources a table follows and where it
departs from them. Edit a table, then run `python -m medlab.data.build` to rewrite `data/`.

Introduced in notebooks/01_data.ipynb.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Fact:
    """A clinical association a question can test."""

    kind: str  # what the question asks for: diagnosis, next step, treatment, organism...
    subject: str  # MedMCQA's subject_name
    topic: str  # MedMCQA's topic_name
    clue_sets: list[str]  # alternative presentations, so no two questions need read alike
    answer: str
    distractors: list[str]  # plausible wrong options; four are drawn per question
    ages: tuple[int, int]  # the patients every clue set fits, in years
    sexes: tuple[str, ...] = ("female", "male")  # narrowed where a clue fits one sex


@dataclass(frozen=True)
class Variant:
    scenario: str  # the clinical variant, as a panel would phrase it
    teaching_point: str  # why the ratings fall as they do


@dataclass(frozen=True)
class Condition:
    condition: str
    variants: list[Variant]
    ratings: dict[str, tuple[int, ...]]  # procedure -> one 1-9 rating per variant
    evidence: list[str]  # short snippets the "citations" prompts quote
    # procedure -> what it shows (or cannot show) in this condition, so a rationale says why it
    # fits the scenario rather than praising every appropriate test alike
    roles: dict[str, str]

    def __post_init__(self):
        # A procedure without a role would get a rationale that never says what it does.
        if set(self.roles) != set(self.ratings):
            raise ValueError(f"{self.condition}: roles and ratings name different procedures: "
                             f"{sorted(set(self.roles) ^ set(self.ratings))}")


@dataclass(frozen=True)
class Diagnosis:
    """What a generated note of one diagnosis is composed from."""

    name: str
    category: str  # the folder its notes are filed in, as DiReCT does
    suspicion: str  # the first step of the reasoning, before the results
    ages: tuple[int, int]
    complaints: list[str]  # the i-th complaint is the chief complaint of the i-th story
    stories: list[tuple[str, str]]  # (what happened, why it matters)
    history: list[str]  # true of a patient of either sex
    history_by_sex: dict[str, list[str]]  # "man"/"woman" -> history only that sex can have
    findings: list[tuple[str, str]]  # (examination finding, why it matters)
    results: list[tuple[str, str]]  # (result, why it matters)
    # Groups of findings or results one patient cannot have together (two sources of one bleed,
    # signs on opposite sides): a note takes at most one phrase of each group.
    exclusive: list[list[str]]
    # Results that establish the diagnosis; every note reports one, so no label rests on
    # supporting tests alone. Empty where the story and examination already make the diagnosis.
    decisive: list[str]

    def __post_init__(self):
        # A misspelt phrase would silently never match, and so never constrain a note.
        phrases = {text for text, _ in [*self.findings, *self.results]}
        unknown = [p for group in self.exclusive for p in group if p not in phrases]
        unknown += [p for p in self.decisive if p not in {text for text, _ in self.results}]
        if unknown:
            raise ValueError(f"{self.name}: exclusive or decisive phrases not in its findings/results: {unknown}")


def read_table(name: str) -> list[dict]:
    return json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))


def _pairs(rows) -> list[tuple[str, str]]:
    return [tuple(row) for row in rows]


FACTS = [Fact(**{**row, "ages": tuple(row["ages"]), "sexes": tuple(row.get("sexes", Fact.sexes))})
         for row in read_table("mcq_facts")]
CONDITIONS = [Condition(row["condition"], [Variant(**v) for v in row["variants"]],
                        {procedure: tuple(r) for procedure, r in row["ratings"].items()}, row["evidence"],
                        row["roles"])
              for row in read_table("imaging")]
DIAGNOSES = [Diagnosis(**{**row, "ages": tuple(row["ages"]), "stories": _pairs(row["stories"]),
                          "findings": _pairs(row["findings"]), "results": _pairs(row["results"])})
             for row in read_table("diagnoses")]
