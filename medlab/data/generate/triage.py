"""The course's own ESI cases: sampled, labelled by the algorithm, told as narratives.

The generator samples structured `TriageCase`s, labels each with `esi_level` (never by hand),
and renders the narrative a model reads plus a gold step-by-step reasoning. It also writes
36 benchmark cases in MIETIC's sample-file format, quirks included.

Introduced in notebooks/01_data.ipynb.
"""

from __future__ import annotations

import csv
import random
from dataclasses import asdict
from pathlib import Path

from medlab.data.esi import TriageCase, esi_level
from medlab.data.load.triage import MIETIC_SAMPLE_HEADER

# Chief complaints, grouped by the decision point they usually end at, so that generated cases
# read like real presentations; the label still comes from esi_level alone.
COMPLAINTS = {
    1: ["a cardiac arrest"],  # replaced by the story of the case's ESI 1 trigger
    2: ["chest pain", "a severe headache", "palpitations", "a fall from a ladder", "abdominal pain"],
    3: ["abdominal pain", "fever and cough", "shortness of breath", "back pain with fever",
        "vomiting and diarrhoea", "a fainting episode"],
    4: ["an ankle injury", "a sore throat", "a laceration to the hand", "painful urination", "ear pain"],
    5: ["a request for a prescription refill", "a rash", "stitches due for removal", "an insect bite",
        "cold symptoms"],
}
PAEDIATRIC_COMPLAINTS = {
    2: ["fever and poor feeding", "fever and a rash that does not blanch", "fever and irritability"],
    3: ["vomiting and fewer wet nappies", "cough and fever", "fever and ear pulling"],
    4: ["ear pain", "a minor fall with a swollen wrist", "cough for three days"],
    5: ["a mild rash", "a cold", "a check of a healing scrape"],
}
# An ESI 1 trigger and the complaints it goes with, so the story and the physiology agree.
ESI1_STORIES = {
    "intubation": ["respiratory failure", "overdose with decreased responsiveness",
                   "major trauma after a motorcycle crash"],
    "chest tube": ["major trauma after a motorcycle crash", "a stab wound to the chest"],
    "central line": ["septic shock"],
    "defibrillation": ["a cardiac arrest"],
    "bag-valve-mask ventilation": ["respiratory failure"],
    "naloxone for altered mentation": ["overdose with decreased responsiveness"],
    "vasopressors": ["septic shock"],
    "major fluid resuscitation": ["septic shock", "major trauma after a motorcycle crash"],
    "pulseless": ["a cardiac arrest"],
    "apneic": ["respiratory failure"],
    "severe respiratory distress": ["anaphylaxis with stridor", "a severe asthma attack"],
    "unresponsive": ["overdose with decreased responsiveness", "a collapse at home"],
    "hypoxia": ["respiratory failure", "shortness of breath"],
}
# High-risk situations with the complaint they come with; the third item limits the sex.
HIGH_RISK_STORIES = [
    ("crushing chest pain", "chest pain suspicious for ACS", None),
    ("sudden weakness of one side", "stroke symptoms", None),
    ("a fall with a deformed lower leg", "open fracture", None),
    ("a stab wound", "penetrating trauma", None),
    ("suicidal thoughts", "suicidal ideation with a plan", None),
    ("lower abdominal pain and a missed period", "possible ectopic pregnancy", "female"),
    ("vomiting blood", "GI bleeding", None),
]
ESI1_INTERVENTIONS = ["intubation", "chest tube", "central line", "defibrillation",
                      "bag-valve-mask ventilation", "naloxone for altered mentation", "vasopressors",
                      "major fluid resuscitation"]
BENIGN_INTERVENTIONS = ["IV access", "supplemental oxygen", "cardiac monitor", "saline lock"]
MULTI_RESOURCES = ["labs", "ECG", "x-ray", "CT", "ultrasound", "IV fluids", "IV medication",
                   "specialty consult", "complex procedure"]
SINGLE_RESOURCES = ["x-ray", "labs", "simple procedure", "IM medication", "nebulised medication"]
NON_RESOURCES = ["oral medication", "tetanus shot", "prescription refill", "point-of-care test",
                 "simple wound care", "splint", "crutches"]
# Normal vital signs per age band: (HR low, HR high, RR low, RR high); danger zones lie above.
NORMAL_VITALS = {"neonate": (110, 160, 30, 48), "infant": (105, 165, 28, 46),
                 "toddler": (90, 150, 22, 36), "child": (70, 125, 18, 28), "adult": (58, 98, 12, 19)}
AGE_BANDS = [("neonate", 7, 28), ("infant", 29, 89), ("toddler", 120, 3 * 365),
             ("child", 4 * 365, 8 * 365 - 1), ("adult", 9 * 365, 92 * 365)]
AGE_WEIGHTS = [0.05, 0.06, 0.12, 0.09, 0.68]


def sample_case(rng: random.Random, target: int) -> TriageCase:
    """A plausible case aimed at ESI `target`; `esi_level` still decides its real label."""
    band, low, high = rng.choices(AGE_BANDS, weights=AGE_WEIGHTS)[0]
    if target <= 2 and band != "adult" and rng.random() < 0.5:
        band, low, high = AGE_BANDS[-1]  # keep most urgent cases adult, as in real departments
    hr_lo, hr_hi, rr_lo, rr_hi = NORMAL_VITALS[band]
    fields = dict(
        age_days=rng.randint(low, high), sex=rng.choice(["female", "male"]),
        complaint=rng.choice(_complaints(band, target)), heart_rate=rng.randint(hr_lo, hr_hi),
        resp_rate=rng.randint(rr_lo, rr_hi), spo2=rng.randint(95, 100),
        temp_c=round(rng.uniform(36.3, 37.6), 1), sbp=rng.randint(100, 145), dbp=rng.randint(60, 90),
        pain=rng.choice([None, 0, 1, 2, 3, 4, 5, 6]) if band != "adult" else rng.randint(0, 6),
    )
    if rng.random() < 0.3:
        fields["interventions"] = (rng.choice(BENIGN_INTERVENTIONS),)
    if target == 1:
        _make_esi1(rng, fields)
    elif target == 2 and band in ("neonate", "infant") and rng.random() < 0.5:
        fields["temp_c"] = round(rng.uniform(38.2, 39.6), 1)  # fever before 3 months: ESI 2
        fields["resources"] = ("labs", "x-ray")
    elif target == 2:
        _make_esi2(rng, fields, hr_hi, rr_hi)
    elif target == 3:
        fields["resources"] = tuple(rng.sample(MULTI_RESOURCES, rng.randint(2, 4)))
    elif target == 4:
        fields["resources"] = (rng.choice(SINGLE_RESOURCES),) + _extras(rng)
    else:
        fields["resources"] = _extras(rng)
    if target >= 4 and band == "toddler" and rng.random() < 0.3:
        fields["temp_c"] = round(rng.uniform(39.1, 40.2), 1)  # the 3-month-to-3-year fever rule
    return TriageCase(**fields)


def _complaints(band: str, target: int) -> list[str]:
    if band in ("neonate", "infant", "toddler") and target in PAEDIATRIC_COMPLAINTS:
        return PAEDIATRIC_COMPLAINTS[target]
    return COMPLAINTS[target]


def _make_esi1(rng, fields):
    how = rng.choice(["intervention", "intervention", "finding", "unresponsive", "hypoxia"])
    if how == "intervention":
        trigger = rng.choice(ESI1_INTERVENTIONS)
        fields["interventions"] = (trigger,)
        if trigger in ("intubation", "bag-valve-mask ventilation", "naloxone for altered mentation",
                       "defibrillation"):
            fields["mental_status"], fields["pain"] = "unresponsive", None
        else:  # shock or major trauma: drowsy, fast and soft, whatever else is true
            fields["mental_status"] = "lethargic"
            fields["heart_rate"] = max(fields["heart_rate"], rng.randint(115, 150))
            fields["sbp"], fields["dbp"] = rng.randint(70, 90), rng.randint(35, 55)
    elif how == "finding":
        trigger = rng.choice(["apneic", "pulseless", "severe respiratory distress"])
        fields["findings"] = (trigger,)
        if trigger != "severe respiratory distress":
            fields["mental_status"], fields["pain"] = "unresponsive", None
    elif how == "unresponsive":
        trigger = "unresponsive"
        fields["mental_status"], fields["pain"] = "unresponsive", None
    else:
        trigger = "hypoxia"
        fields["spo2"] = rng.randint(78, 89)
    fields["complaint"] = rng.choice(ESI1_STORIES[trigger])
    fields["resources"] = tuple(rng.sample(MULTI_RESOURCES, 3))


def _make_esi2(rng, fields, hr_hi, rr_hi):
    how = rng.choice(["high risk", "high risk", "mental", "pain", "danger vitals"])
    if how == "high risk":
        stories = [s for s in HIGH_RISK_STORIES if s[2] in (None, fields["sex"])]
        fields["complaint"], risk, _ = rng.choice(stories)
        fields["high_risk"] = (risk,)
    elif how == "mental":
        fields["mental_status"] = rng.choice(["confused", "lethargic", "disoriented"])
    elif how == "pain" and fields["pain"] is not None:
        fields["pain"] = rng.randint(7, 10)
    else:
        fields["heart_rate"] = hr_hi + rng.randint(25, 45)
        fields["resp_rate"] = rr_hi + rng.randint(5, 12)
    fields["resources"] = tuple(rng.sample(MULTI_RESOURCES, rng.randint(2, 3)))


def _extras(rng) -> tuple[str, ...]:
    return tuple(rng.sample(NON_RESOURCES, rng.randint(0, 2)))


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


def render_narrative(case: TriageCase, rng: random.Random, vitals: bool = True) -> str:
    """The case as a triage note: every field that ESI decides on is stated in words.

    `vitals=False` leaves out the vital signs and pain, for files (like MIETIC's) that keep
    them in columns of their own.
    """
    noun, pronoun = describe_person(case)
    arrival = rng.choice(["arrives by ambulance with", "presents with", "is brought in with",
                          "walks in with"])
    pain = "Pain cannot be assessed." if case.pain is None else f"Pain {case.pain}/10."
    parts = [
        f"A {describe_age(case.age_days)} {noun} {arrival} {case.complaint}.",
        f"{pronoun} is {case.mental_status}.",
    ]
    if vitals:
        parts.append(f"HR {case.heart_rate}, RR {case.resp_rate}, SpO2 {case.spo2}%, "
                     f"BP {case.sbp}/{case.dbp}, temperature {case.temp_c} C. {pain}")
    for intervention in case.interventions:
        parts.append(f"{pronoun} {INTERVENTION_PHRASES[intervention]}.")
    if case.findings:
        parts.append(f"On arrival {pronoun.lower()} is {' and '.join(case.findings)}.")
    if case.high_risk:
        parts.append(f"Concern for {', '.join(case.high_risk)}.")
    if case.resources:
        parts.append(f"Expected care: {', '.join(case.resources)}.")
    else:
        parts.append("No tests or treatments are expected.")
    return " ".join(parts)


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

    Placed intubation / chest tube / central line -> 1; open fracture or penetrating
    trauma -> 2 at most; pain >= 7 -> 2 at most.
    """
    rng = random.Random(seed)
    rows = []
    for i, intervention in enumerate(["intubation", "chest tube", "central line"] * 4):
        case = _with(sample_case(rng, 3), interventions=(intervention,))
        rows.append(_labelled(case, rng, f"probe-lsi-{i:02d}", "life-saving intervention placed"))
    for i, risk in enumerate(["open fracture", "penetrating trauma"] * 6):
        case = _with(sample_case(rng, 3), high_risk=(risk,))
        rows.append(_labelled(case, rng, f"probe-injury-{i:02d}", "open injury"))
    for i in range(12):
        case = _with(sample_case(rng, 4), pain=rng.randint(7, 10))
        rows.append(_labelled(case, rng, f"probe-pain-{i:02d}", "severe pain"))
    return rows


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
            "acuity": str(level), "chiefcomplaint": case.complaint, "heartrate": str(case.heart_rate),
            "resprate": str(case.resp_rate), "o2sat": str(case.spo2), "sbp": str(case.sbp),
            "dbp": str(case.dbp), "temperature": f"{case.temp_c * 9 / 5 + 32:.1f}", "pain": pain,
            "tiragecase": render_narrative(case, rng, vitals=False),
            "expert_1": "agree" if keep else "disagree", "expert_2": "agree" if keep else "unclear",
            "Final Decision": "RETAIN" if keep else "REMOVE",
        })
    return rows


def write_mietic_sample(rows: list[dict], path: str | Path) -> None:
    """Write rows like MIETIC's sample file, byte-order mark included."""
    with Path(path).open("w", newline="", encoding="utf-8-sig") as handle:
        writer = csv.DictWriter(handle, fieldnames=MIETIC_SAMPLE_HEADER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
