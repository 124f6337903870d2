"""The Emergency Severity Index (ESI v4) as a pure function of a structured case.

`esi_level(case)` walks the four decision points in order and returns the level with the trail
of decisions that produced it. The course labels every triage case it generates with this
function, and the triage rewards compare a model's answer against it.

ESI levels run from 1 (most urgent) to 5. The decision points:

- **A**: does the patient need an immediate life-saving intervention? -> 1
- **B**: high-risk situation, new confusion/lethargy/disorientation, or pain >= 7/10? -> 2
- **C**: how many distinct resource types will the visit need? none -> 5, one -> 4
- **D**: two or more resources: danger-zone vital signs? -> 2, else 3

Where the handbook says "consider" (ESI 2 for pain >= 7 at B and for danger-zone vital signs at
D; the infant and toddler fever rules), the course always applies the rule, so that the level is
a function of the case: a simplification, declared in data/triage/CARD.md.

Introduced in notebooks/01_data.ipynb.
"""

from __future__ import annotations

from dataclasses import dataclass

# Decision point A. What counts as a life-saving intervention (performed or needed).
# "chest tube" and "central line" follow the reproduced ESI system's rule bonus, not the
# handbook, which counts neither vascular access nor a drain: what saved the patient was the
# resuscitation they were placed for. The course's cases give them only to such patients.
LIFE_SAVING = frozenset({
    "intubation", "surgical airway", "non-invasive ventilation", "bag-valve-mask ventilation",
    "defibrillation", "external pacing", "needle decompression", "chest tube",
    "major fluid resuscitation", "blood transfusion", "vasopressors", "central line",
    "control of major bleeding", "naloxone for altered mentation", "glucose for altered mentation",
})
# Interventions that look urgent but do not make a patient ESI 1.
NOT_LIFE_SAVING = frozenset({
    "IV access", "supplemental oxygen", "cardiac monitor", "ECG", "laboratory tests",
    "saline lock", "nebulised bronchodilator",
})
# Presentations that are ESI 1 whatever else is true.
IMMEDIATE_FINDINGS = frozenset({"apneic", "pulseless", "severe respiratory distress"})

NEW_MENTAL_CHANGES = frozenset({"confused", "lethargic", "disoriented"})
MENTAL_STATUSES = frozenset({"alert", "unresponsive"}) | NEW_MENTAL_CHANGES

# Decision point C. Resource types and how many each counts for.
RESOURCES = {
    "labs": 1,  # blood and urine tests together count once
    "ECG": 1,
    "x-ray": 1,
    "CT": 1, "MRI": 1, "ultrasound": 1, "angiography": 1,
    "IV fluids": 1,
    "IV medication": 1, "IM medication": 1, "nebulised medication": 1,
    "specialty consult": 1,
    "simple procedure": 1,  # laceration repair, urinary catheter
    "complex procedure": 2,  # procedural sedation
}
# Care that is not a resource, however much of it there is.
NOT_RESOURCES = frozenset({
    "history and physical", "point-of-care test", "saline lock", "oral medication",
    "tetanus shot", "prescription refill", "phone call", "simple wound care", "crutches",
    "splint", "sling",
})

# Decision point D. Danger-zone vital signs by age band: (upper age in days, max HR, max RR).
DANGER_ZONE = (
    (90, 180, 50),  # under 3 months
    (3 * 365, 160, 40),  # 3 months to 3 years
    (8 * 365, 140, 30),  # 3 to 8 years
    (None, 100, 20),  # over 8 years
)
DANGER_SPO2 = 92  # below this at any age
ESI1_SPO2 = 90  # below this the patient needs airway support now


@dataclass(frozen=True)
class TriageCase:
    """The structured facts ESI v4 decides on. Every field is stated in the rendered narrative.

    age_days: age in days (a 6-week-old is 42; adults are years * 365).
    sex: "female" or "male".
    complaint: the chief complaint, in words.
    heart_rate, resp_rate: per minute. spo2: percent. temp_c: degrees Celsius.
    sbp, dbp: blood pressure, mmHg (recorded, not used by ESI v4).
    pain: self-rated 0-10, or None when it cannot be assessed.
    mental_status: "alert", "confused", "lethargic", "disoriented" or "unresponsive".
    interventions: interventions performed or needed now (see LIFE_SAVING and NOT_LIFE_SAVING).
    findings: immediate findings (see IMMEDIATE_FINDINGS).
    high_risk: high-risk situations, e.g. "chest pain suspicious for ACS", "open fracture".
    resources: expected resources and other care (see RESOURCES and NOT_RESOURCES).
    """

    age_days: int
    sex: str
    complaint: str
    heart_rate: int
    resp_rate: int
    spo2: int
    temp_c: float
    sbp: int
    dbp: int
    pain: int | None
    mental_status: str = "alert"
    interventions: tuple[str, ...] = ()
    findings: tuple[str, ...] = ()
    high_risk: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()

    def __post_init__(self):
        problems = validate_case(self)
        if problems:
            raise ValueError("invalid triage case: " + "; ".join(problems))


def validate_case(case: TriageCase) -> list[str]:
    """Every field that cannot be used, with what it should be."""
    problems = []
    if case.mental_status not in MENTAL_STATUSES:
        problems.append(f"mental_status {case.mental_status!r} is not one of {sorted(MENTAL_STATUSES)}")
    if case.pain is not None and not 0 <= case.pain <= 10:
        problems.append(f"pain {case.pain} is outside 0-10 (use None when it cannot be assessed)")
    unknown = set(case.interventions) - LIFE_SAVING - NOT_LIFE_SAVING
    if unknown:
        problems.append(f"interventions {sorted(unknown)} are unknown: see LIFE_SAVING, NOT_LIFE_SAVING")
    unknown = set(case.resources) - set(RESOURCES) - NOT_RESOURCES
    if unknown:
        problems.append(f"resources {sorted(unknown)} are unknown: see RESOURCES, NOT_RESOURCES")
    unknown = set(case.findings) - IMMEDIATE_FINDINGS
    if unknown:
        problems.append(f"findings {sorted(unknown)} are unknown: see IMMEDIATE_FINDINGS")
    if case.age_days < 0:
        problems.append("age_days must be >= 0")
    return problems


def esi_level(case: TriageCase) -> tuple[int, tuple[str, ...]]:
    """The ESI level of `case` and the trail of decisions, one line per decision point.

    >>> adult = dict(age_days=50 * 365, sex="male", complaint="ankle injury", heart_rate=80,
    ...              resp_rate=16, spo2=99, temp_c=36.8, sbp=128, dbp=80, pain=4)
    >>> esi_level(TriageCase(**adult, resources=("x-ray",)))[0]
    4
    >>> esi_level(TriageCase(**adult, interventions=("intubation",)))[0]
    1
    """
    trail = []
    reason = life_saving_reason(case)
    if reason:
        return 1, (f"A: {reason} -> ESI 1",)
    trail.append("A: no immediate life-saving intervention needed")

    reason = high_risk_reason(case)
    if reason:
        return 2, (*trail, f"B: {reason} -> ESI 2")
    trail.append("B: not high risk, no new confusion, pain below 7")

    count, counted = resource_count(case)
    listed = ", ".join(counted) if counted else "none"
    if count < 2:
        level = 5 if count == 0 else 4
        trail.append(f"C: resources {listed} = {count} -> ESI {level}")
        fever = toddler_fever(case)
        if fever:
            trail.append(f"fever: {fever} -> ESI 3")
            return 3, tuple(trail)
        return level, tuple(trail)
    trail.append(f"C: resources {listed} = {count} -> check vital signs")

    danger = danger_zone_reason(case)
    if danger:
        return 2, (*trail, f"D: danger-zone vital signs: {danger} -> ESI 2")
    return 3, (*trail, "D: vital signs outside the danger zone -> ESI 3")


def life_saving_reason(case: TriageCase) -> str:
    """Why decision point A makes this ESI 1, or '' when it does not."""
    needed = [i for i in case.interventions if i in LIFE_SAVING]
    if needed:
        return "life-saving intervention: " + ", ".join(needed)
    if case.findings:
        return "immediate finding: " + ", ".join(case.findings)
    if case.mental_status == "unresponsive":
        return "unresponsive"
    if case.spo2 < ESI1_SPO2:
        return f"SpO2 {case.spo2}% < {ESI1_SPO2}%"
    return ""


def high_risk_reason(case: TriageCase) -> str:
    """Why decision point B makes this ESI 2, or '' when it does not."""
    if case.high_risk:
        return "high-risk situation: " + ", ".join(case.high_risk)
    if case.mental_status in NEW_MENTAL_CHANGES:
        return f"new mental status change: {case.mental_status}"
    if case.pain is not None and case.pain >= 7:
        return f"severe pain {case.pain}/10"
    if case.age_days <= 28 and case.temp_c > 38.0:
        return f"fever {case.temp_c} C in a neonate (28 days or younger)"
    if case.age_days <= 90 and case.temp_c > 38.0:
        return f"fever {case.temp_c} C in an infant under 3 months"
    return ""


def resource_count(case: TriageCase) -> tuple[int, list[str]]:
    """Number of distinct resource types, and the ones counted; not-resources are ignored."""
    counted = sorted({r for r in case.resources if r in RESOURCES})
    return sum(RESOURCES[r] for r in counted), counted


def danger_thresholds(age_days: int) -> tuple[int, int]:
    """The highest safe heart rate and respiratory rate for an age."""
    for upper_days, max_hr, max_rr in DANGER_ZONE:
        if upper_days is None or age_days < upper_days:
            return max_hr, max_rr
    raise AssertionError("DANGER_ZONE ends with an open band")


def danger_zone_reason(case: TriageCase) -> str:
    """Which vital signs are in the danger zone for the patient's age, or ''."""
    max_hr, max_rr = danger_thresholds(case.age_days)
    reasons = []
    if case.heart_rate > max_hr:
        reasons.append(f"HR {case.heart_rate} > {max_hr}")
    if case.resp_rate > max_rr:
        reasons.append(f"RR {case.resp_rate} > {max_rr}")
    if case.spo2 < DANGER_SPO2:
        reasons.append(f"SpO2 {case.spo2}% < {DANGER_SPO2}%")
    return ", ".join(reasons)


def toddler_fever(case: TriageCase) -> str:
    """A child of 3 months to 3 years with T > 39.0 C is at least ESI 3."""
    if 90 < case.age_days <= 3 * 365 and case.temp_c > 39.0:
        return f"{case.temp_c} C in a child of 3 months to 3 years"
    return ""
