"""Every generated triage case and exam question is checked for clinical coherence: the patient's
age and sex fit the story, and findings agree with the vital signs. (Imaging pairs and DiReCT
notes have their own files: test_imaging_content.py, test_note_content.py.)"""

import csv
import json
import re
from pathlib import Path

import pytest

from medlab.data.esi import NOT_RESOURCES, RESOURCES, danger_thresholds
from medlab.data.generate import triage
from medlab.data.tables import FACTS

DATA = Path(__file__).parent.parent / "data"
TRIAGE_FILES = ("train.jsonl", "validation.jsonl", "test.jsonl", "rule_probes.jsonl")
YEAR = 365


def triage_rows() -> list[dict]:
    return [json.loads(line) for name in TRIAGE_FILES
            for line in (DATA / "triage" / name).read_text().splitlines()]


ROWS = triage_rows()

# Stories that only fit some patients: (pattern in the complaint, youngest and oldest age in years).
STORY_AGES = [
    (r"suicidal", 12, 120), (r"crushing chest pain|ACS", 30, 120), (r"weakness of one side|stroke", 30, 120),
    (r"missed period|ectopic", 12, 55), (r"overdose", 12, 120), (r"motorcycle", 14, 120),
    (r"stab wound", 12, 120), (r"vomiting blood", 12, 120), (r"prescription refill", 12, 120),
    (r"nappies", 0, 3), (r"collapse at home", 30, 120),
]
# The highest systolic pressure a well patient of each age has: (age in days below which, mmHg).
SBP_CEILING = ((29, 90), (90, 105), (3 * YEAR, 115), (8 * YEAR, 120), (16 * YEAR, 130), (None, 150))


def sbp_ceiling(age_days: int) -> int:
    return next(ceiling for upper, ceiling in SBP_CEILING if upper is None or age_days < upper)


@pytest.mark.parametrize("pattern,youngest,oldest", STORY_AGES)
def test_stories_fit_the_patients_age(pattern, youngest, oldest):
    for row in ROWS:
        case = row["case"]
        if re.search(pattern, case["complaint"] + " ".join(case["high_risk"]), re.I):
            assert youngest <= case["age_days"] / YEAR <= oldest, row["narrative"]


def test_pregnancy_stories_are_womens():
    for row in ROWS:
        if re.search(r"missed period|ectopic", row["narrative"]):
            assert row["case"]["sex"] == "female", row["narrative"]


def test_blood_pressure_follows_age():
    for row in ROWS:
        case = row["case"]
        assert case["sbp"] <= sbp_ceiling(case["age_days"]), row["narrative"]
        assert case["dbp"] < case["sbp"] or case["sbp"] == 0, row["narrative"]


def test_only_children_old_enough_rate_their_pain_and_toddlers_do_not_walk_in():
    for row in ROWS:
        case = row["case"]
        if case["pain"] is not None:
            assert case["age_days"] >= 4 * YEAR, row["narrative"]
        if case["age_days"] < 2 * YEAR:
            assert "walks in" not in row["narrative"], row["narrative"]


def test_immediate_findings_agree_with_the_vital_signs():
    for row in ROWS:
        case, text = row["case"], row["narrative"]
        max_hr, max_rr = danger_thresholds(case["age_days"])
        if "pulseless" in case["findings"]:
            assert case["heart_rate"] == 0 and case["sbp"] == 0, text
        if "apneic" in case["findings"]:
            assert case["resp_rate"] == 0, text
        if "severe respiratory distress" in case["findings"]:
            assert case["resp_rate"] > max_rr and case["spo2"] < 92, text
        if case["heart_rate"] == 0:  # nothing measurable is not a number to print
            assert "HR 0" not in text and "pulseless" in case["findings"], text


def test_unresponsive_or_intubated_patients_cannot_rate_pain():
    for row in ROWS:
        case = row["case"]
        if case["mental_status"] == "unresponsive" or "intubation" in case["interventions"]:
            assert case["pain"] is None, row["narrative"]
        if "intubation" in case["interventions"]:
            assert case["mental_status"] == "unresponsive", row["narrative"]


def test_a_complaint_of_fever_comes_with_a_fever():
    for row in ROWS:
        case = row["case"]
        if "fever" in case["complaint"]:
            assert case["temp_c"] >= 38.0, row["narrative"]


def test_injury_risks_come_with_an_injury():
    for row in ROWS:
        case = row["case"]
        if "open fracture" in case["high_risk"]:
            assert re.search(r"deformed|fracture", case["complaint"]), row["narrative"]
        if "penetrating trauma" in case["high_risk"]:
            assert re.search(r"stab|gunshot", case["complaint"]), row["narrative"]


def test_a_drain_or_line_placed_in_resuscitation_comes_with_shock():
    """The reproduced system's rule (a chest tube or central line -> ESI 1) is taught on patients
    who needed them: never on an alert patient with normal vital signs."""
    for row in ROWS:
        case = row["case"]
        if {"chest tube", "central line"} & set(case["interventions"]):
            assert case["heart_rate"] > 100 or case["sbp"] < 90, row["narrative"]
            assert case["mental_status"] != "alert", row["narrative"]


# ---- expected care follows the complaint ---------------------------------------------------
# What a clinician expects for a complaint, written here apart from the generator's table so that
# a wrong table fails: (complaints matching, care every such case expects, care none may expect).
SCANS_DRIPS_AND_SEDATION = {"CT", "MRI", "angiography", "IV fluids", "IV medication", "complex procedure"}
# Complaints a clinician sends home with advice, a point-of-care test or a tablet: no resources.
MINOR = (r"^(a sore throat|ear pain|fever and ear pulling|fever and a runny nose|a cold|cold symptoms|a rash|"
         r"a mild rash|an insect bite|stitches due for removal|cough for three days|"
         r"a request for a prescription refill|a check of a healing scrape)$")
CARE_RULES = [
    (r"septic shock", {"labs", "IV fluids", "IV medication"}, set()),
    (r"major trauma|stab wound", {"labs"}, set()),
    (r"vomiting blood", {"labs", "IV fluids"}, set()),
    (r"chest pain", {"labs", "ECG"}, set()),
    (r"weakness of one side", {"CT"}, set()),
    (r"missed period", {"labs", "ultrasound"}, set()),
    (r"non-blanching|does not blanch", {"labs", "IV medication"}, set()),
    (r"ankle injury|swollen wrist|deformed lower leg", {"x-ray"}, {"CT", "MRI"}),
    (r"laceration|a cut on", {"simple procedure"}, SCANS_DRIPS_AND_SEDATION),
    (r"vomiting and (diarrhoea|fewer wet nappies)", set(), {"CT", "MRI", "x-ray", "complex procedure"}),
    (MINOR, set(), set(RESOURCES)),
]


@pytest.mark.parametrize("pattern,expected,never", CARE_RULES, ids=[rule[0][:30] for rule in CARE_RULES])
def test_expected_care_fits_the_complaint(pattern, expected, never):
    matched = [row for row in ROWS if re.search(pattern, row["case"]["complaint"])]
    assert matched, f"no generated case has a complaint matching {pattern!r}"
    for row in matched:
        care = set(row["case"]["resources"])
        assert expected <= care and not care & never, row["narrative"]


def test_a_check_of_a_healing_scrape_expects_nothing():
    checks = [row for row in ROWS if row["case"]["complaint"] == "a check of a healing scrape"]
    assert checks
    for row in checks:
        assert row["case"]["resources"] == [], row["narrative"]


def drawn_complaints() -> dict[str, set[int]]:
    """Every complaint the generator can write, with the levels whose complaint lists draw it.
    ESI 1 stories, high-risk stories and fever complaints get no level: decision point A or B, or
    a fever rule, decides them whatever care they expect."""
    levels: dict[str, set[int]] = {}
    for table in (triage.COMPLAINTS, triage.INFANT_COMPLAINTS, triage.CHILD_COMPLAINTS):
        for level, complaints in table.items():
            for complaint in complaints:
                levels.setdefault(complaint, set()).add(level)
    others = [story for stories in triage.ESI1_STORIES.values() for story, _ in stories]
    others += [complaint for complaint, *_ in triage.HIGH_RISK_STORIES]
    for complaint in [*others, *triage.INFANT_FEVER_COMPLAINTS, *triage.TODDLER_FEVER_COMPLAINTS]:
        levels.setdefault(complaint, set())
    return levels


def test_every_complaint_has_its_expected_care_in_the_table():
    table = triage.RESOURCES_BY_COMPLAINT
    assert set(drawn_complaints()) | {row["case"]["complaint"] for row in ROWS} <= set(table)
    for complaint, alternatives in table.items():
        assert alternatives, complaint
        for care in alternatives:
            assert all(item in RESOURCES or item in NOT_RESOURCES for item in care), (complaint, care)


def test_every_case_expects_care_the_table_lists_for_its_complaint():
    for row in ROWS:
        case = row["case"]
        assert tuple(case["resources"]) in triage.RESOURCES_BY_COMPLAINT[case["complaint"]], row["narrative"]


def resources_in(care) -> int:
    """Decision point C's count: distinct resource types, a complex procedure counting two."""
    return sum(RESOURCES[item] for item in set(care) if item in RESOURCES)


def test_a_complaints_care_agrees_with_the_level_it_is_drawn_for():
    """Drawn for ESI 5: no resource; for 4: one; for 2 or 3: two or more (2 and 3 differ at
    decision points B and D, not in the care: an ESI 2 complaint with danger-zone vital signs
    needs two to reach D)."""
    wanted = {5: range(0, 1), 4: range(1, 2), 3: range(2, 99), 2: range(2, 99)}
    for complaint, levels in drawn_complaints().items():
        for level in levels:
            for care in triage.RESOURCES_BY_COMPLAINT[complaint]:
                assert resources_in(care) in wanted[level], (complaint, level, care)


def test_the_mietic_format_file_leaves_unmeasurable_vitals_blank():
    with (DATA / "triage" / "mietic_format_36.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and all(row["heartrate"] != "0" and row["o2sat"] != "0" for row in rows)


# ---- exam questions ------------------------------------------------------------------------

def mcq_rows() -> list[dict]:
    rows = []
    for path in sorted((DATA / "mcq").glob("*/*.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if "answer" not in row:  # MedMCQA: the answer is the option `cop` points at (-1: unlabelled)
                options = [row["opa"], row["opb"], row["opc"], row["opd"]]
                row["answer"] = options[row["cop"]] if row["cop"] >= 0 else None
            rows.append(row)
    return rows


MCQ = mcq_rows()
def fact_of(row: dict):
    """The fact a question was written from: its clue set is in the stem, its answer is keyed."""
    for fact in FACTS:
        if any(clue in row["question"] for clue in fact.clue_sets) and row["answer"] in (fact.answer, None):
            return fact
    raise AssertionError(f"no fact wrote {row['question']!r}")


def test_question_patients_fit_the_facts_age_and_sex():
    for row in MCQ:
        fact = fact_of(row)
        age = int(next(g for g in re.search(r"(\d+)-year-old|aged (\d+)", row["question"]).groups() if g))
        assert fact.ages[0] <= age <= fact.ages[1], row["question"]
        if re.search(r"\b(woman|girl)\b", row["question"]):
            assert "female" in fact.sexes, row["question"]
        if re.search(r"\b(man|boy)\b", row["question"]):
            assert "male" in fact.sexes, row["question"]
        if re.search(r"\b(boy|girl|child)\b", row["question"]):
            assert age < 18, row["question"]


def test_lumbar_puncture_after_a_normal_ct_only_beyond_six_hours():
    """NICE NG228 and ACEP: after a normal CT within 6 hours of onset no routine LP; it is done
    at 12 hours or later. The course's imaging evidence says the same of CT."""
    keyed = [row for row in MCQ if row["answer"] == "Lumbar puncture"]
    assert keyed
    for row in keyed:
        hours = re.search(r"(\d+) hours", row["question"])
        assert hours and int(hours.group(1)) >= 12, row["question"]


def test_medmcqa_explanations_quote_the_clues_the_question_used():
    labelled = [row for row in MCQ if row.get("exp")]
    assert labelled
    for row in labelled:
        clue = next(c for c in fact_of(row).clue_sets if c in row["question"])
        assert clue in row["exp"], (row["question"], row["exp"])


# ---- the pocket model's pretraining text ---------------------------------------------------

@pytest.fixture(scope="module")
def corpus():
    from medlab.pocket.corpus import documents

    return documents(1200, seed=0)


def test_pretraining_text_never_gives_one_patient_two_exclusive_findings(corpus):
    from medlab.data.tables import DIAGNOSES

    groups = [group for row in DIAGNOSES for group in row.exclusive]
    assert groups
    for doc in corpus:
        for group in groups:
            assert sum(phrase in doc for phrase in group) <= 1, doc


def test_pretraining_text_says_only_positive_findings_point_to_a_diagnosis(corpus):
    summaries = [m.group(1) for doc in corpus for m in re.finditer(r"Findings such as (.*?) point to", doc)]
    assert summaries
    for summary in summaries:
        assert not re.search(r"\b(normal|no|negative|clear)\b", summary, re.I), summary
