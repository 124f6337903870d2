"""The course's own ESI cases: sampled, labelled by the algorithm, told as narratives.

The generator samples structured `TriageCase`s, labels each with `esi_level` (never by hand),
and renders the narrative a model reads plus a gold step-by-step reasoning. It also writes
36 benchmark cases in MIETIC's sample-file format, quirks included. A case's expected care
comes from its chief complaint (`RESOURCES_BY_COMPLAINT`), so that the story, the care and the
level agree.

Introduced in notebooks/01_data.ipynb.
"""

from __future__ import annotations

import csv
import random
from dataclasses import asdict
from pathlib import Path

from medlab.data.esi import TriageCase, esi_level
from medlab.data.generate.words import with_article
from medlab.data.load.triage import MIETIC_SAMPLE_HEADER

# Chief complaints, grouped by the decision point they usually end at, so that generated cases
# read like real presentations; the label still comes from esi_level alone. A complaint sits at
# the level its care in RESOURCES_BY_COMPLAINT gives: two or more resources at 2 and 3 (2 and 3
# part at decision points B and D), one at 4, none at 5.
COMPLAINTS = {
    2: ["chest pain", "a severe headache", "palpitations", "a fall from a ladder", "abdominal pain"],
    3: ["abdominal pain", "fever and cough", "shortness of breath", "back pain with fever",
        "vomiting and diarrhoea", "a fainting episode"],
    4: ["an ankle injury", "a laceration to the hand", "painful urination", "an abscess on the arm",
        "a minor fall with a swollen wrist"],
    5: ["a request for a prescription refill", "a rash", "stitches due for removal", "an insect bite",
        "cold symptoms", "a sore throat", "ear pain"],
}
INFANT_COMPLAINTS = {  # up to 3 years: what a parent brings a baby or toddler in with
    2: ["fever and poor feeding", "fever and a rash that does not blanch", "fever and irritability"],
    3: ["vomiting and fewer wet nappies", "cough and fever", "fever with no other symptoms"],
    4: ["a minor fall with a swollen wrist", "a cut on the chin", "a lump in the groin"],
    5: ["a mild rash", "a cold", "a check of a healing scrape", "ear pain", "cough for three days"],
}
CHILD_COMPLAINTS = {  # 4 to 8 years
    2: ["fever and a rash that does not blanch", "a fall from a climbing frame", "abdominal pain and vomiting"],
    3: ["abdominal pain", "cough and fever", "vomiting and diarrhoea"],
    4: ["a minor fall with a swollen wrist", "a cut on the chin", "wheezing with a cough"],
    5: ["a mild rash", "a cold", "a check of a healing scrape", "ear pain", "a sore throat"],
}
INFANT_FEVER_COMPLAINTS = ["fever and poor feeding", "fever and irritability"]  # under 3 months: ESI 2
TODDLER_FEVER_COMPLAINTS = ["fever and ear pulling", "fever and a runny nose"]  # T > 39 C: ESI 3
# ESI 1 triggers. Each comes with the stories it fits (story, youngest age in years), and
# `_physiology` sets the vital signs and mental status that go with it, so the trigger, the
# story and the numbers agree.
ESI1_STORIES = {
    "intubation": [("respiratory failure", 0), ("an overdose with decreased responsiveness", 13),
                   ("major trauma after a motorcycle crash", 16)],
    "chest tube": [("major trauma after a motorcycle crash", 16), ("a stab wound to the chest", 14)],
    "central line": [("septic shock", 0)],
    "defibrillation": [("a cardiac arrest", 0)],
    "bag-valve-mask ventilation": [("respiratory failure", 0)],
    "naloxone for altered mentation": [("an overdose with decreased responsiveness", 13)],
    "vasopressors": [("septic shock", 0)],
    "major fluid resuscitation": [("septic shock", 0), ("major trauma after a motorcycle crash", 16)],
    "pulseless": [("a cardiac arrest", 0)],
    "apneic": [("respiratory failure", 0)],
    "severe respiratory distress": [("anaphylaxis with stridor", 0), ("a severe asthma attack", 2)],
    "unresponsive": [("an overdose with decreased responsiveness", 13), ("a collapse at home", 40)],
    "hypoxia": [("respiratory failure", 0), ("shortness of breath", 0)],
}
# High-risk situations: (complaint, risk, sex or None, youngest and oldest age in years).
HIGH_RISK_STORIES = [
    ("crushing chest pain", "chest pain suspicious for ACS", None, 35, 120),
    ("sudden weakness of one side", "stroke symptoms", None, 40, 120),
    ("a fall with a deformed lower leg", "open fracture", None, 6, 120),
    ("a stab wound", "penetrating trauma", None, 14, 120),
    ("suicidal thoughts", "suicidal ideation with a plan", None, 12, 120),
    ("lower abdominal pain and a missed period", "possible ectopic pregnancy", "female", 15, 48),
    ("vomiting blood", "GI bleeding", None, 18, 120),
]
ESI1_INTERVENTIONS = ["intubation", "chest tube", "central line", "defibrillation",
                      "bag-valve-mask ventilation", "naloxone for altered mentation", "vasopressors",
                      "major fluid resuscitation"]
BENIGN_INTERVENTIONS = ["IV access", "supplemental oxygen", "cardiac monitor", "saline lock"]
# The care a clinician expects at triage for each chief complaint, as ESI resources
# (medlab.data.esi.RESOURCES) and care that is not one (NOT_RESOURCES): one tuple per
# clinically plausible work-up. Where a complaint has two, they differ in what is done, not
# in what decision point C makes of them (none, one, or two or more resources), so that the
# complaint's level does not change with the work-up drawn.
RESOURCES_BY_COMPLAINT = {
    # ESI 1 stories: the resuscitation decides the level; this is the work-up that goes with it.
    "respiratory failure": [("labs", "x-ray", "IV medication")],
    "an overdose with decreased responsiveness": [("labs", "ECG", "IV fluids"),
                                                  ("labs", "ECG", "IV fluids", "specialty consult")],
    "major trauma after a motorcycle crash": [("labs", "x-ray", "CT", "IV fluids", "specialty consult")],
    "a stab wound to the chest": [("labs", "x-ray", "ultrasound", "specialty consult", "tetanus shot")],
    "septic shock": [("labs", "IV fluids", "IV medication", "x-ray")],
    "a cardiac arrest": [("labs", "ECG", "IV medication")],
    "anaphylaxis with stridor": [("IM medication", "IV medication", "IV fluids", "nebulised medication")],
    "a severe asthma attack": [("nebulised medication", "IV medication", "x-ray", "labs")],
    "a collapse at home": [("labs", "ECG", "CT")],
    # High-risk stories (decision point B)
    "crushing chest pain": [("labs", "ECG", "x-ray", "IV medication")],
    "sudden weakness of one side": [("CT", "labs", "ECG", "specialty consult")],
    "a fall with a deformed lower leg": [("x-ray", "IV medication", "specialty consult", "tetanus shot"),
                                         ("x-ray", "IV medication", "complex procedure")],  # reduced under sedation
    "a stab wound": [("labs", "ultrasound", "CT", "specialty consult", "tetanus shot")],
    "suicidal thoughts": [("labs", "specialty consult")],  # medical clearance, then psychiatry
    "lower abdominal pain and a missed period": [("point-of-care test", "labs", "ultrasound", "specialty consult")],
    "vomiting blood": [("labs", "IV fluids", "IV medication", "specialty consult")],
    # ESI 2 complaint lists: two or more resources, so danger-zone vital signs can decide at D
    "chest pain": [("labs", "ECG", "x-ray"), ("labs", "ECG", "x-ray", "IV medication")],
    "a severe headache": [("CT", "labs", "IV medication")],
    "palpitations": [("ECG", "labs"), ("ECG", "labs", "IV medication")],
    "a fall from a ladder": [("x-ray", "CT"), ("x-ray", "CT", "labs")],
    "fever and poor feeding": [("labs", "IV fluids", "IV medication"), ("labs", "x-ray", "IV medication")],
    "fever and a rash that does not blanch": [("labs", "IV fluids", "IV medication")],
    "fever and irritability": [("labs", "IV medication"), ("labs", "IV medication", "IV fluids")],
    "a fall from a climbing frame": [("x-ray", "CT"), ("x-ray", "complex procedure")],  # reduced under sedation
    "abdominal pain and vomiting": [("labs", "ultrasound", "IV fluids")],
    # ESI 3: two or more resources
    "abdominal pain": [("labs", "ultrasound", "IV medication"), ("labs", "CT", "IV medication")],
    "fever and cough": [("labs", "x-ray", "oral medication"), ("labs", "x-ray", "IV medication")],
    "shortness of breath": [("labs", "x-ray", "nebulised medication"), ("labs", "x-ray", "ECG", "IV medication")],
    "back pain with fever": [("labs", "IV fluids", "IV medication"), ("labs", "CT", "IV medication")],
    "vomiting and diarrhoea": [("labs", "IV fluids"), ("labs", "IV fluids", "IV medication")],
    "a fainting episode": [("labs", "ECG"), ("labs", "ECG", "point-of-care test")],
    "vomiting and fewer wet nappies": [("labs", "IV fluids")],
    "cough and fever": [("x-ray", "labs"), ("x-ray", "nebulised medication")],
    # a urine sample by catheter (a simple procedure) and its tests, the search for a hidden infection
    "fever with no other symptoms": [("simple procedure", "labs", "oral medication")],
    # ESI 4: one resource
    "an ankle injury": [("x-ray", "splint", "crutches"), ("x-ray", "oral medication")],
    "a laceration to the hand": [("simple procedure", "tetanus shot"), ("simple procedure", "simple wound care")],
    "painful urination": [("labs", "oral medication"), ("point-of-care test", "labs", "oral medication")],
    "an abscess on the arm": [("simple procedure", "oral medication")],  # incision and drainage
    "a minor fall with a swollen wrist": [("x-ray", "splint"), ("x-ray", "sling")],
    "a cut on the chin": [("simple procedure", "simple wound care")],
    "wheezing with a cough": [("nebulised medication", "oral medication")],
    "a lump in the groin": [("specialty consult",)],  # a hernia that goes back: the surgeons see it
    # ESI 5: no resources
    "a request for a prescription refill": [("prescription refill",)],
    "a rash": [(), ("oral medication",)],
    "stitches due for removal": [("simple wound care",)],
    "an insect bite": [("simple wound care",), ("oral medication",)],
    "cold symptoms": [(), ("oral medication",)],
    "a sore throat": [("point-of-care test", "oral medication"), ("oral medication",)],
    "ear pain": [("oral medication",)],
    "a mild rash": [(), ("oral medication",)],
    "a cold": [()],
    "a check of a healing scrape": [()],
    "cough for three days": [(), ("oral medication",)],
    "fever and ear pulling": [("oral medication",)],  # the toddler fever rule, not the care, gives ESI 3
    "fever and a runny nose": [("oral medication",)],
}
# Normal vital signs per age band: heart rate, respiratory rate, systolic and diastolic pressure,
# each (low, high). Danger zones (medlab.data.esi) lie above the rates.
NORMAL_VITALS = {
    "neonate": {"hr": (110, 160), "rr": (30, 48), "sbp": (60, 85), "dbp": (30, 50)},
    "infant": {"hr": (105, 165), "rr": (28, 46), "sbp": (70, 100), "dbp": (35, 60)},
    "toddler": {"hr": (90, 150), "rr": (22, 36), "sbp": (85, 110), "dbp": (45, 70)},
    "child": {"hr": (70, 125), "rr": (18, 28), "sbp": (90, 115), "dbp": (55, 75)},
    "adolescent": {"hr": (58, 98), "rr": (12, 19), "sbp": (95, 125), "dbp": (55, 80)},
    "adult": {"hr": (58, 98), "rr": (12, 19), "sbp": (100, 145), "dbp": (60, 90)},
}
AGE_BANDS = [("neonate", 7, 28), ("infant", 29, 89), ("toddler", 120, 3 * 365),
             ("child", 4 * 365, 8 * 365 - 1), ("adolescent", 9 * 365, 16 * 365 - 1), ("adult", 16 * 365, 92 * 365)]
AGE_WEIGHTS = [0.05, 0.06, 0.12, 0.09, 0.08, 0.60]
SELF_RATED_PAIN_FROM_YEARS = 4  # younger children cannot rate their pain on a 0-10 scale
FEVER_C = (38.1, 39.0)  # the temperature a complaint of fever comes with


def years(age_days: int) -> float:
    return age_days / 365


def sample_case(rng: random.Random, target: int) -> TriageCase:
    """A plausible case aimed at ESI `target`; `esi_level` still decides its real label.

    Vital signs, pain assessment and complaints follow the patient's age band.
    """
    band, low, high = rng.choices(AGE_BANDS, weights=AGE_WEIGHTS)[0]
    if target <= 2 and band != "adult" and rng.random() < 0.5:
        band, low, high = AGE_BANDS[-1]  # keep most urgent cases adult, as in real departments
    normal = NORMAL_VITALS[band]
    age_days = rng.randint(low, high)
    fields = dict(
        age_days=age_days, sex=rng.choice(["female", "male"]),
        complaint=rng.choice(_complaints(band, max(target, 2))), heart_rate=rng.randint(*normal["hr"]),
        resp_rate=rng.randint(*normal["rr"]), spo2=rng.randint(95, 100),
        temp_c=round(rng.uniform(36.3, 37.6), 1), sbp=rng.randint(*normal["sbp"]), dbp=rng.randint(*normal["dbp"]),
        pain=rng.randint(0, 6) if years(age_days) >= SELF_RATED_PAIN_FROM_YEARS else None,
    )
    if rng.random() < 0.3:
        fields["interventions"] = (rng.choice(BENIGN_INTERVENTIONS),)
    if target == 1:
        _make_esi1(rng, fields, rng.choice(_esi1_triggers(rng)))
    elif target == 2 and band in ("neonate", "infant") and rng.random() < 0.5:
        fields["temp_c"] = round(rng.uniform(38.2, 39.6), 1)  # fever before 3 months: ESI 2
        fields["complaint"] = rng.choice(INFANT_FEVER_COMPLAINTS)
    elif target == 2:
        _make_esi2(rng, fields, normal)
    if target >= 4 and band == "toddler" and rng.random() < 0.3:
        fields["temp_c"] = round(rng.uniform(39.1, 40.2), 1)  # the 3-month-to-3-year fever rule
        fields["complaint"] = rng.choice(TODDLER_FEVER_COMPLAINTS)
    fields["resources"] = expected_resources(rng, fields["complaint"])  # once the complaint is final
    return TriageCase(**_fever_if_complained(rng, fields))


def expected_resources(rng, complaint: str) -> tuple[str, ...]:
    """The care a clinician expects for `complaint`: one of its work-ups in RESOURCES_BY_COMPLAINT."""
    return rng.choice(RESOURCES_BY_COMPLAINT[complaint])


def _fever_if_complained(rng, fields: dict) -> dict:
    """A complaint of fever comes with a temperature of 38 C or more."""
    if "fever" in fields["complaint"] and fields["temp_c"] < 38.0:
        fields["temp_c"] = round(rng.uniform(*FEVER_C), 1)
    return fields


def _complaints(band: str, target: int) -> list[str]:
    if band in ("neonate", "infant", "toddler"):
        return INFANT_COMPLAINTS[target]
    if band == "adolescent":  # no repeat prescriptions of their own yet
        return [c for c in COMPLAINTS[target] if "prescription" not in c]
    return CHILD_COMPLAINTS[target] if band == "child" else COMPLAINTS[target]


def _esi1_triggers(rng) -> list[str]:
    how = rng.choice(["intervention", "intervention", "finding", "unresponsive", "hypoxia"])
    if how == "intervention":
        return ESI1_INTERVENTIONS
    if how == "finding":
        return ["apneic", "pulseless", "severe respiratory distress"]
    return [how]


def _make_esi1(rng, fields, trigger: str) -> None:
    """Make the case ESI 1 through `trigger`, with a story its patient's age allows and the
    physiology the trigger implies."""
    stories = [story for story, youngest in ESI1_STORIES[trigger] if years(fields["age_days"]) >= youngest]
    if not stories:  # stories for older patients only: make the patient an adult old enough for one
        youngest = min(youngest for _, youngest in ESI1_STORIES[trigger])
        fields["age_days"] = rng.randint(max(20, youngest) * 365, 80 * 365)
        stories = [story for story, least in ESI1_STORIES[trigger] if years(fields["age_days"]) >= least]
        adult = NORMAL_VITALS["adult"]
        fields.update(sbp=rng.randint(*adult["sbp"]), dbp=rng.randint(*adult["dbp"]), pain=rng.randint(0, 6))
    if trigger in ESI1_INTERVENTIONS:
        fields["interventions"] = (trigger,)
    elif trigger in ("apneic", "pulseless", "severe respiratory distress"):
        fields["findings"] = (trigger,)
    fields["complaint"] = rng.choice(stories)
    fields["temp_c"] = round(rng.uniform(36.3, 37.6), 1)  # the story decides; septic shock adds fever
    _physiology(rng, fields, trigger)


def _physiology(rng, fields, trigger: str) -> None:
    """Vital signs and mental status that agree with an ESI 1 trigger."""
    hr_high, rr_high = _normal_high(fields["age_days"])
    if trigger == "pulseless":  # cardiac arrest: nothing to measure
        fields.update(heart_rate=0, resp_rate=0, sbp=0, dbp=0, spo2=0, mental_status="unresponsive", pain=None)
    elif trigger == "apneic":
        fields.update(resp_rate=0, spo2=rng.randint(70, 85), mental_status="unresponsive", pain=None)
    elif trigger in ("intubation", "bag-valve-mask ventilation", "defibrillation", "unresponsive"):
        fields.update(mental_status="unresponsive", pain=None)
        if "overdose" in fields["complaint"] and trigger == "unresponsive":
            fields["resp_rate"] = rng.randint(5, 9)  # opioids slow breathing
    elif trigger == "naloxone for altered mentation":
        fields.update(mental_status="lethargic", resp_rate=rng.randint(6, 10))
    elif trigger in ("severe respiratory distress", "hypoxia"):
        fields.update(resp_rate=rr_high + rng.randint(10, 20), heart_rate=hr_high + rng.randint(10, 30),
                      spo2=rng.randint(80, 89) if trigger == "hypoxia" else rng.randint(84, 91))
    else:  # shock or major trauma, on which a chest tube, central line, pressors or fluids were started
        fields.update(mental_status="lethargic", heart_rate=hr_high + rng.randint(20, 45),
                      resp_rate=rr_high + rng.randint(4, 12))
        fields["sbp"] = rng.randint(60, 85) if years(fields["age_days"]) >= 9 else rng.randint(50, 70)
        fields["dbp"] = rng.randint(30, 50)
        if fields["complaint"] == "septic shock":
            fields["temp_c"] = round(rng.uniform(38.6, 40.2), 1)
        if trigger == "chest tube":
            fields["spo2"] = rng.randint(88, 94)


def _normal_high(age_days: int) -> tuple[int, int]:
    band = next(name for name, low, high in reversed(AGE_BANDS) if age_days >= low)
    return NORMAL_VITALS[band]["hr"][1], NORMAL_VITALS[band]["rr"][1]


def _make_esi2(rng, fields, normal):
    how = rng.choice(["high risk", "high risk", "mental", "pain", "danger vitals"])
    stories = high_risk_stories(fields["age_days"], fields["sex"])
    if how == "high risk" and stories:
        fields["complaint"], risk, *_ = rng.choice(stories)
        fields["high_risk"] = (risk,)
    elif how == "mental" or (how == "high risk" and not stories):
        fields["mental_status"] = rng.choice(["confused", "lethargic", "disoriented"])
    elif how == "pain" and fields["pain"] is not None:
        fields["pain"] = rng.randint(7, 10)
    else:
        fields["heart_rate"] = normal["hr"][1] + rng.randint(25, 45)
        fields["resp_rate"] = normal["rr"][1] + rng.randint(5, 12)


def high_risk_stories(age_days: int, sex: str, risk: str | None = None) -> list[tuple]:
    """The high-risk stories that fit a patient of this age and sex (and this risk, if given)."""
    return [story for story in HIGH_RISK_STORIES
            if story[2] in (None, sex) and story[3] <= years(age_days) <= story[4] and risk in (None, story[1])]


def describe_age(age_days: int) -> str:
    if age_days < 60:
        return f"{age_days // 7}-week-old" if age_days >= 14 else f"{age_days}-day-old"
    if age_days < 2 * 365:
        return f"{age_days // 30}-month-old"
    return f"{age_days // 365}-year-old"


def describe_person(case: TriageCase) -> tuple[str, str]:
    """Noun and pronoun: 'boy'/'girl' under 18, 'man'/'woman' after."""
    child = case.age_days < 18 * 365
    if case.sex == "female":
        return ("girl" if child else "woman"), "She"
    return ("boy" if child else "man"), "He"


INTERVENTION_PHRASES = {
    "intubation": "was intubated by paramedics", "chest tube": "has a chest tube placed",
    "central line": "has a central line placed", "defibrillation": "needed defibrillation en route",
    "bag-valve-mask ventilation": "is being ventilated with a bag-valve-mask",
    "naloxone for altered mentation": "needed naloxone for altered mentation",
    "vasopressors": "is on vasopressors", "major fluid resuscitation": "needs major fluid resuscitation",
    "IV access": "has IV access", "supplemental oxygen": "is on supplemental oxygen",
    "cardiac monitor": "is on a cardiac monitor", "saline lock": "has a saline lock",
}


FINDING_PHRASES = {"apneic": "apneic", "pulseless": "pulseless",
                   "severe respiratory distress": "in severe respiratory distress"}


def render_narrative(case: TriageCase, rng: random.Random, vitals: bool = True) -> str:
    """The case as a triage note: every field that ESI decides on is stated in words.

    `vitals=False` leaves out the vital signs and pain, for files (like MIETIC's) that keep
    them in columns of their own.
    """
    noun, pronoun = describe_person(case)
    parts = [
        f"{with_article(describe_age(case.age_days))} {noun} {rng.choice(arrivals(case))} {case.complaint}.",
        f"{pronoun} is {case.mental_status}.",
    ]
    if vitals:
        parts.append(f"{describe_vitals(case)} {describe_pain(case)}")
    for intervention in case.interventions:
        parts.append(f"{pronoun} {INTERVENTION_PHRASES[intervention]}.")
    if case.findings:
        parts.append(f"On arrival {pronoun.lower()} is {' and '.join(FINDING_PHRASES[f] for f in case.findings)}.")
    if case.high_risk:
        parts.append(f"Concern for {', '.join(case.high_risk)}.")
    if case.resources:
        parts.append(f"Expected care: {', '.join(case.resources)}.")
    else:
        parts.append("No tests or treatments are expected.")
    return " ".join(parts)


def arrivals(case: TriageCase) -> list[str]:
    """How this patient can arrive: babies are carried, the critically ill come by ambulance."""
    if case.mental_status == "unresponsive" or case.findings or set(case.interventions) & set(ESI1_INTERVENTIONS):
        return ["arrives by ambulance with", "is brought in by paramedics with"]
    if years(case.age_days) < 2:
        return ["is carried in by a parent with", "is brought in by a parent with", "arrives by ambulance with"]
    if years(case.age_days) < 9:
        return ["is brought in by a parent with", "presents with", "arrives by ambulance with"]
    return ["arrives by ambulance with", "presents with", "is brought in with", "walks in with"]


def describe_vitals(case: TriageCase) -> str:
    """The vital signs, saying "no pulse" or "not breathing" rather than printing a zero."""
    if case.heart_rate == 0:
        return f"No pulse, no recordable blood pressure, not breathing, temperature {case.temp_c} C."
    rate = "not breathing" if case.resp_rate == 0 else f"RR {case.resp_rate}"
    return (f"HR {case.heart_rate}, {rate}, SpO2 {case.spo2}%, BP {case.sbp}/{case.dbp}, "
            f"temperature {case.temp_c} C.")


def describe_pain(case: TriageCase) -> str:
    if case.pain is not None:
        return f"Pain {case.pain}/10."
    if years(case.age_days) < SELF_RATED_PAIN_FROM_YEARS:
        return "Too young to rate pain."
    return "Pain cannot be assessed."


def gold_reasoning(trail: tuple[str, ...], level: int) -> str:
    """The decision trail as the step-by-step reasoning SFT teaches, ending in the level."""
    return "\n".join([*trail, f"ESI level {level}."])


def generate_cases(n: int, seed: int, prefix: str = "esi") -> list[dict]:
    """`n` labelled cases, balanced over targets 1-5, each with narrative, trail and reasoning."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        case = sample_case(rng, target=1 + i % 5)
        level, trail = esi_level(case)
        rows.append({"id": f"{prefix}-{i:05d}", "case": asdict(case),
                     "narrative": render_narrative(case, rng), "level": level,
                     "trail": list(trail), "reasoning": gold_reasoning(trail, level)})
    return rows


def rule_probe_cases(seed: int) -> list[dict]:
    """Cases that test the three rules the ESI GRPO system was tuned for, one kind each.

    Placed intubation / chest tube / central line -> 1 (the reproduced system's rule: patients
    who arrive with one placed during resuscitation, with the story and vital signs that go
    with it; the ESI handbook itself counts the resuscitation, not the line or the drain);
    open fracture or penetrating trauma -> 2 at most; pain >= 7 -> 2 at most.
    """
    rng = random.Random(seed)
    rows = []
    for i, intervention in enumerate(["intubation", "chest tube", "central line"] * 4):
        fields = asdict(sample_case(rng, 3))
        _make_esi1(rng, fields, intervention)
        fields["resources"] = expected_resources(rng, fields["complaint"])  # the new story's work-up
        rows.append(_labelled(TriageCase(**fields), rng, f"probe-lsi-{i:02d}", "life-saving intervention placed"))
    for i, risk in enumerate(["open fracture", "penetrating trauma"] * 6):
        case = _adult(rng, sample_case(rng, 3), 3)
        complaint, *_ = rng.choice(high_risk_stories(case.age_days, case.sex, risk))
        case = _with(case, complaint=complaint, high_risk=(risk,), resources=expected_resources(rng, complaint))
        rows.append(_labelled(case, rng, f"probe-injury-{i:02d}", "open injury"))
    for i in range(12):
        case = _with(_adult(rng, sample_case(rng, 4), 4), pain=rng.randint(7, 10))
        rows.append(_labelled(case, rng, f"probe-pain-{i:02d}", "severe pain"))
    return rows


def _adult(rng, case: TriageCase, target: int) -> TriageCase:
    """`case` as an adult's, with adult vital signs and an adult's complaint for `target` and its
    care: the injury and pain probes need one."""
    if years(case.age_days) >= 18:
        return case
    normal = NORMAL_VITALS["adult"]
    complaint = rng.choice(COMPLAINTS[target])
    fields = dict(age_days=rng.randint(18 * 365, 80 * 365), complaint=complaint,
                  heart_rate=rng.randint(*normal["hr"]), resp_rate=rng.randint(*normal["rr"]),
                  sbp=rng.randint(*normal["sbp"]), dbp=rng.randint(*normal["dbp"]), pain=rng.randint(0, 6),
                  temp_c=round(rng.uniform(36.3, 37.6), 1), resources=expected_resources(rng, complaint))
    return _with(case, **_fever_if_complained(rng, fields))


def _with(case: TriageCase, **changes) -> TriageCase:
    return TriageCase(**{**asdict(case), **changes})


def _labelled(case: TriageCase, rng, row_id: str, rule: str) -> dict:
    level, trail = esi_level(case)
    return {"id": row_id, "rule": rule, "case": asdict(case), "narrative": render_narrative(case, rng),
            "level": level, "trail": list(trail), "reasoning": gold_reasoning(trail, level)}


MIETIC36_LEVELS = {1: 14, 2: 11, 3: 5, 4: 4, 5: 2}  # level mix of MIETIC's 36 retained cases


def mietic_format_rows(seed: int, quota: dict[int, int] = MIETIC36_LEVELS, removed: int = 4) -> list[dict]:
    """Generated cases in MIETIC's sample-file schema, with its quirks: Fahrenheit, pain as
    text when it cannot be assessed, and `removed` rows marked REMOVE by the "experts"."""
    rng = random.Random(seed)
    wanted = dict(quota)
    rows = []
    while any(wanted.values()) or removed:
        case = sample_case(rng, target=rng.randint(1, 5))
        level, _ = esi_level(case)
        keep = wanted.get(level, 0) > 0
        if not keep and not removed:
            continue
        if keep:
            wanted[level] -= 1
        else:
            removed -= 1
        pain = "uta" if case.pain is None else str(case.pain)
        rows.append({
            "acuity": str(level), "chiefcomplaint": case.complaint, "heartrate": measured(case.heart_rate),
            "resprate": str(case.resp_rate), "o2sat": measured(case.spo2), "sbp": measured(case.sbp),
            "dbp": measured(case.dbp), "temperature": f"{case.temp_c * 9 / 5 + 32:.1f}", "pain": pain,
            "tiragecase": render_narrative(case, rng, vitals=False),
            "expert_1": "agree" if keep else "disagree", "expert_2": "agree" if keep else "unclear",
            "Final Decision": "RETAIN" if keep else "REMOVE",
        })
    return rows


def measured(value: int) -> str:
    """A vital sign as MIETIC writes it: blank when nothing could be measured (no pulse)."""
    return str(value) if value else ""


def write_mietic_sample(rows: list[dict], path: str | Path) -> None:
    """Write rows like MIETIC's sample file, byte-order mark included."""
    with Path(path).open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.DictWriter(handle, fieldnames=MIETIC_SAMPLE_HEADER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
