"""The course's clinical content, as data: the tables its generators write from.

- `mcq_facts.json`: one clinical association per entry (clue sets, the right option, its
  distractors) for the MedQA- and MedMCQA-schema questions.
- `imaging.json`: 30 conditions, each with three variants (scenario and teaching point),
  a 1-9 rating per variant for six procedures, and two evidence snippets.
- `diagnoses.json`: 12 diagnoses, each with the phrases a generated DiReCT note is composed
  from; every finding comes paired with the rationale that links it to the diagnosis.

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


@dataclass(frozen=True)
class Diagnosis:
    """What a generated note of one diagnosis is composed from."""

    name: str
    category: str  # the folder its notes are filed in, as DiReCT does
    suspicion: str  # the first step of the reasoning, before the results
    ages: tuple[int, int]
    complaints: list[str]  # the i-th complaint is the chief complaint of the i-th story
    stories: list[tuple[str, str]]  # (what happened, why it matters)
    history: list[str]
    findings: list[tuple[str, str]]  # (examination finding, why it matters)
    results: list[tuple[str, str]]  # (result, why it matters)


def read_table(name: str) -> list[dict]:
    return json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))


def _pairs(rows) -> list[tuple[str, str]]:
    return [tuple(row) for row in rows]


FACTS = [Fact(**row) for row in read_table("mcq_facts")]
CONDITIONS = [Condition(row["condition"], [Variant(**v) for v in row["variants"]],
                        {procedure: tuple(r) for procedure, r in row["ratings"].items()}, row["evidence"])
              for row in read_table("imaging")]
DIAGNOSES = [Diagnosis(**{**row, "ages": tuple(row["ages"]), "stories": _pairs(row["stories"]),
                          "findings": _pairs(row["findings"]), "results": _pairs(row["results"])})
             for row in read_table("diagnoses")]
