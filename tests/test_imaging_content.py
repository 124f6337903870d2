"""The imaging table and the pairs written from it hang together clinically.

Every check reads the rows `generate_pairs()` writes (or the table they come from), so a table
edit that breaks a rule fails here before it reaches `data/`.
"""

import re
from dataclasses import fields
from pathlib import Path

import pytest

from medlab.data.generate.appropriateness import generate_pairs
from medlab.data.tables import CONDITIONS, Condition

PAIRS = generate_pairs()
CARD = Path(__file__).parent.parent / "data" / "appropriateness" / "CARD.md"

# Written out here rather than imported, so a wrong verdict in the generator cannot pass.
VERDICT_WORDS = {
    "Usually Appropriate": ("usually appropriate:", "recommended"),
    "May Be Appropriate": ("may be appropriate:", "selected patients", "not the first choice"),
    "Usually Not Appropriate": ("usually not appropriate:", "unlikely to change management"),
}


def sentences(text: str) -> list[str]:
    return re.split(r"(?<=\.) (?=[A-Z])", text)


def test_every_rationale_is_the_finding_then_the_verdict_of_its_category():
    """Two sentences, the verdict last, next to the answer it decides (see `write_rationale`)."""
    for item in PAIRS:
        parts = sentences(item.rationale)
        assert len(parts) == 2, item.rationale
        verdict = parts[-1].lower()
        assert all(word in verdict for word in VERDICT_WORDS[item.appropriateness]), (item.key, verdict)
        others = [c for c in VERDICT_WORDS if c != item.appropriateness and VERDICT_WORDS[c][0] in verdict]
        assert not others, (item.key, verdict)


def test_no_rationale_claims_a_test_answers_the_question_directly():
    assert not [i.key for i in PAIRS if "answers that question directly" in i.rationale]


def test_roles_are_the_last_field_of_a_condition():
    assert [f.name for f in fields(Condition)][-1] == "roles"


@pytest.mark.parametrize("condition", CONDITIONS, ids=lambda c: c.condition)
def test_every_procedure_has_its_own_role(condition):
    assert set(condition.roles) == set(condition.ratings)
    assert all(role.strip() for role in condition.roles.values())
    assert len(set(condition.roles.values())) == len(condition.roles), "a role copied between procedures"


@pytest.mark.parametrize(("procedure", "level"), [
    ("Radiography lumbar spine", "☢☢☢"),
    ("CT angiography chest abdomen pelvis", "☢☢☢☢"),
    ("CT urography", "☢☢☢☢"),
    ("Nuclear medicine myocardial perfusion", "☢☢☢☢"),
    ("Nuclear medicine white cell scan", "☢☢☢☢"),
    ("Nuclear medicine white cell scan foot", "☢☢☢☢"),
    # neighbours of those rules that must stay where they are
    ("Radiography cervical spine", "☢☢"),
    ("Fluoroscopy intravenous urography", "☢☢☢"),
    ("CT pulmonary angiography", "☢☢☢"),
    ("CT coronary angiography", "☢☢☢"),
    ("Radiography chest", "☢"),
    ("MRI urography", "O"),
])
def test_radiation_level_of_the_procedures_the_review_named(procedure, level):
    levels = {i.radiation_level for i in PAIRS if i.procedure == procedure}
    assert levels == {level}, f"{procedure}: {levels or 'not in the table'}"


# "normal radiographs", "a normal chest radiograph": a test the scenario says is done and normal.
DONE_AND_NORMAL = re.compile(r"\bnormal (?:(\w+) )?(radiograph|ultrasound|ct|mri)s?\b", re.I)
MODALITY = {"radiograph": "radiography", "ultrasound": "ultrasound", "ct": "ct ", "mri": "mri "}


def already_done(condition: Condition, scenario: str) -> list[str]:
    """The procedures of the condition that the scenario says were done and normal."""
    found = DONE_AND_NORMAL.search(scenario)
    if not found:
        return []
    part, modality = found.group(1), MODALITY[found.group(2).lower()]
    return [p for p in condition.ratings
            if p.lower().startswith(modality) and (part is None or part.lower() in p.lower())]


def test_a_test_already_done_and_normal_is_not_rated_appropriate_again():
    checked, repeated = set(), []
    for condition in CONDITIONS:
        for index, variant in enumerate(condition.variants):
            for procedure in already_done(condition, variant.scenario):
                checked.add((condition.condition, procedure))
                if condition.ratings[procedure][index] >= 7:
                    repeated.append((condition.condition, variant.scenario, procedure))
    assert not repeated
    # the scenarios the review found must still be recognised, or the check above checks nothing
    assert {("Hip pain", "Radiography pelvis and hip"), ("Suspected pulmonary embolism", "Radiography chest"),
            ("Suspected osteomyelitis of the foot", "Radiography foot"), ("Ankle trauma", "Radiography ankle"),
            ("Shoulder pain", "Radiography shoulder"), ("Knee pain", "Radiography knee")} <= checked


def test_thunderclap_headache_follows_acr_headache():
    headache = next(c for c in CONDITIONS if c.condition == "Headache")
    index = next(i for i, v in enumerate(headache.variants) if "within one minute" in v.scenario)
    rated = {procedure: ratings[index] for procedure, ratings in headache.ratings.items()}
    assert rated["CT head without IV contrast"] >= 7
    assert 4 <= rated["CT angiography head and neck"] <= 6
    assert rated["MRI head without IV contrast"] <= 3 and rated["MRI head without and with IV contrast"] <= 3


def test_evidence_snippets_do_not_overstate():
    evidence = " ".join(snippet for c in CONDITIONS for snippet in c.evidence)
    assert "PIOPED II" in evidence and "83%" in evidence
    assert "4 mm or less" in evidence and "under 4 mm" not in evidence
    assert "sensitivity and specificity above 90%" not in evidence
    assert all(len(c.evidence) == 2 for c in CONDITIONS)


def test_card_names_its_sources_and_departures():
    card = CARD.read_text()
    assert "ACR Appropriateness Criteria" in card and "Headache (2019)" in card and "Acute Hip Pain" in card
    assert "### Sources" in card and "### Where the table departs from them on purpose" in card
    assert "Synthetic, written for this course" in card


def test_each_pair_carries_a_finding_that_grounds_its_category_and_its_rationale_reads_it():
    """The evidence variants (and the warm start) read the rating from a line of what studies of
    the scenario found for the procedure: that line must name the procedure, say what its
    category says, and be the finding the gold rationale starts from. Without it the pocket
    model, which never read the table, answered one category to every held-out pair."""
    from medlab.data.generate.appropriateness import FINDINGS, generate_pairs

    pairs = generate_pairs()
    for pair in pairs:
        line = pair.evidence[-1]
        assert line.startswith(f"In studies of this scenario, {pair.procedure} "), line
        finding = line.removeprefix(f"In studies of this scenario, {pair.procedure} ").rstrip(".")
        assert finding in FINDINGS[pair.appropriateness], (pair.key, finding)
        assert pair.rationale.startswith(f"The evidence found that it {finding}."), pair.rationale
    wordings = {pair.evidence[-1].split(pair.procedure + " ", 1)[1] for pair in pairs}
    assert len(wordings) == sum(len(w) for w in FINDINGS.values()), "every wording of every category is used"
